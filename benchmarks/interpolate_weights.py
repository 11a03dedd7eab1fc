"""Weight interpolation between two checkpoints of one architecture: θ = θ_a + s·(θ_b − θ_a) (WiSE-FT, Wortsman et
al. 2022). Used to make a warm start *between* the base model (refuses ~3 % of harmful requests) and the SFT model
(refuses almost everything, benign questions included) for the safe-RLHF λ-dynamics run (docs/training.md), and
reports the refusal rate of each interpolant on a sample of the pairs file's harmful and benign prompts.

python benchmarks/interpolate_weights.py --a default --b runs/sft/model --s 0.3,0.5 --pairs runs/demo/data/train.jsonl \
    --out runs/interp
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", default="default")
    ap.add_argument("--b", required=True)
    ap.add_argument("--s", default="0.3,0.5")
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--n", type=int, default=24, help="prompts of each kind")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from safestack.judges import make_judge
    from safestack.judges.base import JudgeItem
    from safestack.records import read_jsonl, user
    from safestack.targets import GenParams, model_path_of
    from safestack.targets.hf import HFTarget

    pa, pb = model_path_of(a.a), model_path_of(a.b)
    tok = AutoTokenizer.from_pretrained(pb)
    ma = AutoModelForCausalLM.from_pretrained(pa, dtype=torch.float32).state_dict()
    mb = AutoModelForCausalLM.from_pretrained(pb, dtype=torch.float32)
    sb = {k: v.clone() for k, v in mb.state_dict().items()}
    rows = read_jsonl(a.pairs)
    rng = random.Random(0)
    kinds = {"harmful": [r for r in rows if r.get("kind") == "refusal"],
             "benign": [r for r in rows if r.get("kind") in ("borderline", "helpful")]}
    prompts = {k: [r["prompt"][-1]["content"] for r in rng.sample(v, min(a.n, len(v)))] for k, v in kinds.items()}
    judge = make_judge("refusal")
    out = Path(a.out)
    results = []
    for s in [float(x) for x in a.s.split(",")]:
        with torch.no_grad():
            mb.load_state_dict({k: ma[k] + s * (sb[k] - ma[k]) for k in sb})
        t = HFTarget(model=mb, tokenizer=tok, batch_size=64)
        res = {"s": s}
        for k, ps in prompts.items():
            replies = t.generate_sync([user(p) for p in ps], GenParams(max_new_tokens=32))
            v = asyncio.run(judge.score([JudgeItem(prompt=p, response=r) for p, r in zip(ps, replies)]))
            res[f"refusal_{k}"] = round(sum(bool(x.label) for x in v) / len(v), 3)
        print(json.dumps(res), flush=True)
        results.append(res)
        d = out / f"s{s}"
        mb.save_pretrained(d)
        tok.save_pretrained(d)
    (out / "interpolation.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
