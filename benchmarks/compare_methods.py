"""DPO vs representation rerouting (RR) vs DPO then RR, from the same red team and the same pairs.

    python benchmarks/compare_methods.py RUN_DIR [--held-out-only]   # RUN_DIR: a finished default `safestack run`

For each other method, a sibling run directory (RUN_DIR-rr, RUN_DIR-dpo+rr) starts from copies of RUN_DIR's red
team, eval before and training data, and trains and evaluates on the same held-out suite (one round): rr from the
base model for as many steps as fit in the DPO run's training time (equal wall time), dpo+rr from RUN_DIR's DPO
model for half as many (RR after DPO, as `method: dpo+rr` does; its time is DPO's + that), dpo+rr-joint from the
base model with DPO's steps, each adding the rerouting and retain terms (`dpo_rr: joint`; its time is what that
takes). Then every model (base, dpo, rr, dpo+rr, dpo+rr-joint) meets attacks the training never used:
JailbreakBench's PAIR and GCG artifacts (transfer prompts written against other models) and base64 / many-shot on
HarmBench test behaviours. Every step is resumable (done steps are skipped). Results:
results.json["method_comparison"].
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from _results import save

from safestack.train.config import RRSettings, to_dict

ROOT = Path(__file__).resolve().parent.parent
SAFESTACK = str(ROOT / ".venv/bin/safestack")
UNSEEN_BENCHES = "jbb:PAIR@30,jbb:GCG@30"
UNSEEN_ATTACKS = "base64,many_shot"
UNSEEN_LIMIT = 20
RR_SECONDS_PER_STEP = 7.7  # measured on 2 idle cores (batch 8, the default run's pairs)


def sibling(run: Path, method: str) -> Path:
    out = run.parent / f"{run.name}-{method}"
    if not (out / "state.json").exists():
        out.mkdir(parents=True, exist_ok=True)
        for d in ("redteam", "eval_before", "data"):
            shutil.copytree(run / d, out / d, dirs_exist_ok=True)
        state = json.loads((run / "state.json").read_text())
        keep = {k: state["done"][k] for k in ("redteam", "eval_before", "datagen")}
        (out / "state.json").write_text(json.dumps({"done": keep, "rounds": []}, indent=2))
    cfg = json.loads((run / "config.json").read_text())
    cfg["rounds"]["max_rounds"] = 1
    if method == "dpo+rr-joint":  # DPO's steps from the base model, each with the rerouting terms
        cfg.update(method="dpo+rr", dpo_rr="joint", rr=to_dict(RRSettings()))
        return run_sibling(cfg, out)
    cfg["method"] = "rr"
    cfg["rr"] = to_dict(RRSettings())  # today's RR defaults, not those RUN_DIR was started with
    # equal wall time: RR gets as many steps as fit in the DPO run's training time; DPO+RR adds half that to DPO
    cfg["rr"]["max_steps"] = max(1, int(train_seconds(run) / RR_SECONDS_PER_STEP))
    cfg["rr"]["save_steps"] = max(1, cfg["rr"]["max_steps"] // 2)
    if method == "dpo+rr":  # RR from the DPO model trained by RUN_DIR on the same pairs
        cfg["target"] = f"hf:{run / 'model'}"
        cfg["rr"]["max_steps"] = max(1, cfg["rr"]["max_steps"] // 2)
    return run_sibling(cfg, out)


def run_sibling(cfg: dict, out: Path) -> Path:
    cfg_file = out / "compare.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg))
    subprocess.run([SAFESTACK, "run", "--config", str(cfg_file), "--out", str(out), "--resume"], check=True)
    return out


def unseen(model: str, out: Path) -> dict:
    """The attacks the training never used, on one model (resumable)."""
    ev, rt = out / "unseen_eval", out / "unseen_redteam"
    if not (ev / "metrics.json").exists():
        subprocess.run([SAFESTACK, "eval", "--target", model, "--bench", UNSEEN_BENCHES, "--out", str(ev)],
                       check=True)
    if not (rt / "redteam.json").exists():
        subprocess.run([SAFESTACK, "redteam", "--target", model, "--bench", "harmbench:test", "--limit",
                        str(UNSEEN_LIMIT), "--attacks", UNSEEN_ATTACKS, "--out", str(rt), "--resume"], check=True)
    m = json.loads((ev / "metrics.json").read_text())
    r = json.loads((rt / "redteam.json").read_text())
    res = {k: m[k]["asr"] for k in m if "asr" in m[k]}
    res.update({f"harmbench+{a}": v["rate"] for a, v in r["by_attack"].items()})
    return res


def held_out(eval_dir: Path) -> dict:
    """``bench.metric`` → value for the ASR, over-refusal and MC1 of an eval directory's metrics.json."""
    m = json.loads((eval_dir / "metrics.json").read_text())
    return {f"{k}.{key}": v[key] for k, v in m.items() for key in ("asr", "over_refusal", "mc1") if key in v}


def train_seconds(run: Path) -> float:
    return json.loads((run / "state.json").read_text())["done"]["train"]["seconds"]


def trained(run: Path, earlier_secs: float = 0.0) -> dict:
    """A trained run's training time (plus the training it started from) and its held-out numbers after."""
    return {"train_seconds": round(train_seconds(run) + earlier_secs, 1), "held_out": held_out(run / "eval_after")}


def main(run: Path) -> dict:
    runs = {"dpo": run, "rr": sibling(run, "rr"), "dpo+rr": sibling(run, "dpo+rr"),
            "dpo+rr-joint": sibling(run, "dpo+rr-joint")}
    table = {"base": {"unseen": unseen("default", run.parent / f"{run.name}-base"),
                      "held_out": held_out(run / "eval_before")}}
    dpo_secs = train_seconds(run)
    for method, d in runs.items():
        table[method] = {**trained(d, dpo_secs if method == "dpo+rr" else 0.0),
                         "unseen": unseen(f"hf:{d / 'model'}", d)}
    res = {"command": f"python benchmarks/compare_methods.py {run}", "runs": {k: str(v) for k, v in runs.items()},
           "unseen_attacks": f"{UNSEEN_BENCHES} (eval) + {UNSEEN_ATTACKS} on harmbench:test@{UNSEEN_LIMIT}",
           "table": table}
    save("method_comparison", res)
    return res


def held_out_only(run: Path) -> dict:
    """``--held-out-only``: base, DPO and RR on the run's held-out suite (no DPO+RR, no unseen attacks)."""
    rr = sibling(run, "rr")
    table = {"base": {"held_out": held_out(run / "eval_before")}}
    for method, d in (("dpo", run), ("rr", rr)):
        table[method] = trained(d)
    res = {"command": f"python benchmarks/compare_methods.py {run} --held-out-only",
           "rr_settings": json.loads((rr / "config.json").read_text())["rr"], "table": table}
    save("method_comparison_held_out", res)
    return res


if __name__ == "__main__":
    run_dir = Path(sys.argv[1]).resolve()
    print(json.dumps(held_out_only(run_dir) if "--held-out-only" in sys.argv[2:] else main(run_dir), indent=1))
