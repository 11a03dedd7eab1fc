"""Choose the run's settings without looking at an evaluation bench: `safestack run` with its eval replaced by
`contrast:dev` — the held-back fifth of safestack's contrast sets (harmful requests in every taxonomy category and
style, their benign look-alikes), never trained on and not an evaluation bench.

    python benchmarks/run_dev_settings.py NAME CONFIG.yaml [--reuse RUN_DIR]

NAME's block in results.json gets dev ASR and over-refusal before/after and the stage times. ``--reuse`` copies the
red team and the eval before from an earlier variant's run directory when the variant changes neither.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from _dev import DEV_BENCH, asr_by_style, dev_metrics
from _results import save

ROOT = Path(__file__).resolve().parent.parent


def main(name: str, config: str, reuse: str | None = None) -> dict:
    cfg = yaml.safe_load(Path(config).read_text()) or {}
    cfg.setdefault("eval", {})["benches"] = [DEV_BENCH]
    cfg.setdefault("rounds", {})["max_rounds"] = 1
    out = ROOT / "runs" / f"dev-{name}"
    out.mkdir(parents=True, exist_ok=True)
    cfg_file = out.parent / f"dev-{name}.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    if reuse and not (out / "state.json").exists():
        src = Path(reuse)
        for d in ("redteam", "eval_before"):
            shutil.copytree(src / d, out / d)
        state = json.loads((src / "state.json").read_text())
        state = {"done": {k: state["done"][k] for k in ("redteam", "eval_before")}, "rounds": []}
        (out / "state.json").write_text(json.dumps(state, indent=2))
    subprocess.run([str(ROOT / ".venv/bin/safestack"), "run", "--config", str(cfg_file), "--out", str(out),
                    "--resume"], check=True)
    return record(name, cfg, out)


def record(name: str, cfg: dict, out: Path) -> dict:
    keys = ("n_harmful", "n_benign", "asr", "asr_ci95", "over_refusal", "over_refusal_ci95", "over_refusal_by_category")
    state = json.loads((out / "state.json").read_text())
    data = json.loads((out / "data" / "datagen.json").read_text())
    res = {"command": f"python benchmarks/run_dev_settings.py {name} CONFIG", "config": cfg,
           "held_out": "contrast:dev (never trained on; not an evaluation bench)",
           "before": dev_metrics(out / "eval_before" / "metrics.json", keys),
           "after": dev_metrics(out / "eval_after" / "metrics.json", keys),
           "asr_by_style": {"before": asr_by_style(out / "eval_before"), "after": asr_by_style(out / "eval_after")},
           "pairs": {"n": data["n_pairs"], "by_kind": data["by_kind"], "by_source": data["by_source"]},
           "stage_seconds": {k: v["seconds"] for k, v in state["done"].items()},
           "note": "stage times are only comparable between uncontended runs"}
    save(f"run_dev_{name}", res)
    return res


if __name__ == "__main__":
    args = sys.argv[1:]
    reuse = None
    if "--reuse" in args:
        i = args.index("--reuse")
        reuse = args[i + 1]
        args = args[:i] + args[i + 2:]
    if len(args) == 3 and args[0] == "--record":  # record an existing run directory: --record NAME RUN_DIR
        out = Path(args[2])
        print(json.dumps(record(args[1], json.loads((out / "config.json").read_text()), out), indent=1)[:2000])
    else:
        print(json.dumps(main(args[0], args[1], reuse), indent=1)[:2000])
