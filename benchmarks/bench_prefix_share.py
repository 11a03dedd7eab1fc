"""Prompt sharing in DPO (train/prefix_share.py): the run's DPO settings with and without it, on a run's real pairs.

Both arms use the same rows, seed and settings: reference pass over ``--n`` pairs, then ``--steps`` steps of 8
pairs. Reports wall seconds of the train call, tokens through the backbone and the final loss (which must agree).
Usage: python benchmarks/bench_prefix_share.py --pairs runs/s4/data/train.jsonl [--n 64] [--steps 8]
Writes benchmarks/results.json["prefix_share"].
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def main() -> None:
    from safestack.pipeline import RunConfig
    from safestack.targets.default import default_model_dir
    from safestack.train.dpo import load_pairs, train_dpo

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    rows = load_pairs(a.pairs)
    rows = random.Random(0).sample(rows, min(a.n, len(rows)))
    res = {"pairs": len(rows), "steps": a.steps}
    for share in (False, True):
        cfg = RunConfig().train  # the run's DPO defaults
        cfg.share_prompt, cfg.max_steps, cfg.save_steps = share, a.steps, 10_000
        with tempfile.TemporaryDirectory() as d:
            info = train_dpo(str(default_model_dir()), rows, d, cfg, log=lambda *x: None)
        key = "shared" if share else "plain"
        res[key] = {"seconds": info["train_seconds"], "final_loss": info["history"][-1]["loss"],
                    "prompt_sharing": info["prompt_sharing"]}
        print(key, json.dumps(res[key]), flush=True)
    res["speedup"] = round(res["plain"]["seconds"] / res["shared"]["seconds"], 2)
    print(json.dumps(res, indent=2))
    save("prefix_share", res)


if __name__ == "__main__":
    main()
