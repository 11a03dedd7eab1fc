"""SFT moves its metric: mean NLL per token of the chosen replies, and the refusal rate on harmful prompts, on the
held-out part (20 %, by prompt hash) of a pairs file, before and after a bounded SFT+LoRA run on the embedded model.

Usage: python benchmarks/measure_sft.py --pairs runs/demo/data/train.jsonl [--steps 8] → results.json["sft_metric"]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def nll(model_dir: str, rows) -> float:
    from safestack.train.sft import chosen_nll

    return round(chosen_nll(model_dir, rows, max_tokens=256), 4)


def refusal_rate(model_dir: str, prompts) -> float:
    import asyncio

    from safestack.records import Message
    from safestack.targets.base import GenParams
    from safestack.targets.hf import HFTarget
    from safestack.train.rewards import refuses

    t = HFTarget(model_dir, device="cpu", batch_size=16)
    outs = asyncio.run(t.generate([[Message(**m) for m in p] for p in prompts], GenParams(max_new_tokens=24)))
    return round(sum(refuses(o) for o in outs) / len(outs), 4)


def main() -> None:
    from safestack.targets.default import default_model_dir
    from safestack.train.config import SFTSettings
    from safestack.train.reward import split_rows
    from safestack.train.sft import train_sft

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    rows = [json.loads(x) for x in Path(a.pairs).read_text().splitlines() if x.strip()]
    train, held = split_rows(rows, 0.2)
    harmful = [r["prompt"] for r in held if r.get("kind") == "refusal"]
    base = str(default_model_dir())
    res = {"steps": a.steps, "n_train": len(train), "n_heldout": len(held), "n_heldout_harmful": len(harmful),
           "before": {"nll_chosen": nll(base, held), "refusal_rate_harmful": refusal_rate(base, harmful)}}
    with tempfile.TemporaryDirectory() as d:
        sft_rows = [{"prompt": r["prompt"], "completion": r["chosen"]} for r in train]
        info = train_sft(base, sft_rows, d, SFTSettings(max_steps=a.steps, batch_size=8, save_steps=10_000,
                                                        logging_steps=1), log=lambda *x: None)
        res["after"] = {"nll_chosen": nll(f"{d}/model", held), "refusal_rate_harmful": refusal_rate(f"{d}/model", harmful)}
    res["seconds_per_step"] = info["seconds_per_step"]
    res["loss_first_last"] = [info["history"][0]["loss"], info["history"][-1]["loss"]]
    print(json.dumps(res, indent=2))
    save("sft_metric", res)


if __name__ == "__main__":
    main()
