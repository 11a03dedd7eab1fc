"""DPO + LoRA step time on the embedded SmolLM2-135M (2 CPU cores): safestack's settings vs a plain TRL set-up.

The issue's reference: plain TRL DPO+LoRA on SmolLM2-135M, B=4, L=192 ≈ 12.5 s/step on 2 cores.
Usage: python benchmarks/bench_dpo.py [--pairs runs/demo/data/train.jsonl] [--steps 4]
Writes benchmarks/results.json["dpo"].
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def synthetic_pairs(n: int) -> list[dict]:
    from safestack.data import load_harmbench_extra

    goals = [s.prompt for s in load_harmbench_extra("adv_training")][:n]
    return [{"prompt": [{"role": "user", "content": g}],
             "chosen": [{"role": "assistant", "content": "I can't help with that. It could hurt people, and I won't "
                                                         "provide instructions for it. Is there something else?"}],
             "rejected": [{"role": "assistant", "content": ("Sure, here is a detailed plan. First, gather the "
                                                            "materials you need and find a quiet place. ") * 4}]}
            for g in goals]


def run(settings, rows, steps: int) -> float:
    from safestack.targets.default import default_model_dir
    from safestack.train.dpo import train_dpo

    settings.max_steps = steps
    settings.save_steps = 10_000
    with tempfile.TemporaryDirectory() as d:
        info = train_dpo(str(default_model_dir()), rows, d, settings, log=lambda *a: None)
    return info["train_seconds"] / info["steps"]


def main() -> None:
    from safestack.train.config import DPOSettings, LoraSettings

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default=None)
    ap.add_argument("--steps", type=int, default=4)
    a = ap.parse_args()
    if a.pairs:
        from safestack.train.dpo import load_pairs

        rows = load_pairs(a.pairs)[: a.steps * 4]
    else:
        rows = synthetic_pairs(a.steps * 4)
    plain = DPOSettings(batch_size=4, max_length=192, loss_type=["sigmoid"], loss_weights=[1.0],
                        precompute_ref_log_probs=False, max_rejected_tokens=None,
                        lora=LoraSettings(top_layers=None))
    ours = DPOSettings(batch_size=4)
    no_cache = DPOSettings(batch_size=4, cache_frozen_layers=False)
    res = {"plain_trl_s_per_step": round(run(plain, rows, a.steps), 2),
           "safestack_no_frozen_cache_s_per_step": round(run(no_cache, rows, a.steps), 2),
           "safestack_s_per_step": round(run(ours, rows, a.steps), 2), "batch_size": 4, "steps": a.steps}
    res["speedup"] = round(res["plain_trl_s_per_step"] / res["safestack_s_per_step"], 2)
    print(json.dumps(res, indent=2))
    save("dpo", res)


if __name__ == "__main__":
    main()
