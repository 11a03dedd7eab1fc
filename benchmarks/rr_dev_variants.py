"""RR's float32 variants on the dev set: each variant trains RR (``train_rr``) on a run's pairs and is evaluated on
`contrast:dev` (the held-back fifth of safestack's contrast sets: harmful requests in every category and style and
their benign look-alikes; never trained on, not an evaluation bench). The rerouting weight β and the learning rate
of RR's defaults were chosen here; no evaluation bench was looked at.

    python benchmarks/rr_dev_variants.py RUN_DIR [NAME ...]

RUN_DIR holds a finished run (its `data/train.jsonl`: the default run's pairs). Each variant trains into
`RUN_DIR-rr-dev/NAME` and evaluates into `RUN_DIR-rr-dev/NAME/eval`; finished parts are reused. The base model's
and DPO's dev numbers come from `runs/dev-E` (benchmarks/run_dev_settings.py, the default run's settings).
results.json["rr_dev_variants"] gets dev ASR, over-refusal, benign off-topic and answered, and the last log row.
"""

import json
import subprocess
import sys
from pathlib import Path

from _dev import DEV_BENCH
from _dev import dev_metrics as _dev_metrics
from _results import save

from safestack.train.config import RRSettings
from safestack.train.rr import read_rr_log, train_rr

ROOT = Path(__file__).resolve().parent.parent
STEPS = 40  # ≈ the DPO stage's time in the default run (~8 s a step on 2 cores)
VARIANTS = {  # name → RRSettings fields (besides max_steps)
    "angle-relative-b1": {"rerouting": "angle", "retain_scale": "relative", "retain_weight": 1.0,
                          "learning_rate": 3e-4, "init_b_std": 1e-3},
    "angle-relative-b2": {"rerouting": "angle", "retain_scale": "relative", "retain_weight": 2.0,
                          "learning_rate": 3e-4},
    "angle-relative-b5": {"rerouting": "angle", "retain_scale": "relative", "retain_weight": 5.0,
                          "learning_rate": 3e-4, "init_b_std": 1e-3},
}
KEYS = ("asr", "over_refusal", "benign_off_topic", "benign_answered")


def dev_metrics(metrics_file: Path) -> dict:
    return _dev_metrics(metrics_file, KEYS)


def variant(run: Path, name: str) -> dict:
    out = Path(f"{run}-rr-dev") / name
    fields = {"max_steps": STEPS, **VARIANTS[name]}
    if not (out / "model").exists():
        cfg = RRSettings(**fields, save_steps=STEPS // 2)
        cfg.checkpoint_eval.enabled = False
        train_rr("default", run / "data" / "train.jsonl", out, cfg)
    if not (out / "eval" / "metrics.json").exists():
        subprocess.run([str(ROOT / ".venv/bin/safestack"), "eval", "--target", f"hf:{out / 'model'}",
                        "--bench", DEV_BENCH, "--out", str(out / "eval")], check=True)
    last = read_rr_log(out / "rr_log.jsonl")[-1]
    return {"settings": fields, **dev_metrics(out / "eval" / "metrics.json"),
            "last_step": {k: last[k] for k in ("step", "rerouting_loss", "retain_loss", "cos_mean")}}


def main(run: str, names: list[str]) -> dict:
    run_dir = Path(run).resolve()
    result = {"bench": "contrast:dev (dev set, not held out: RR's defaults were chosen on it)", "steps": STEPS,
              "variants": {n: variant(run_dir, n) for n in (names or VARIANTS)}}
    dev_e = ROOT / "runs" / "dev-E"
    for label, part in (("base", "eval_before"), ("dpo", "eval_after")):
        if (dev_e / part / "metrics.json").exists():
            result[label] = dev_metrics(dev_e / part / "metrics.json")
    save("rr_dev_variants", result)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2:]), indent=2))
