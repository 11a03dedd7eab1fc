"""Generate src/safestack/guard/data/model_replies.jsonl: the embedded SmolLM2-135M-Instruct's greedy replies to
harmful requests from the guard's *training* sources (HarmfulQA, DangerousQA, AdvBench, HarmBench val, the casual
register), each labelled by safestack's default `harm` and `refusal` judges (their leave-one-source-out accuracy:
docs/judges.md). The guard's output head trains on them as a second source of real model replies — harmful ones
where the harm judge says the reply helps, benign (refusals, evasions, off-topic text) where it says not — next to
JailbreakBench's responses, so neither source is the only example of what a harmful reply looks like.
Prompts are decontaminated against every evaluation bench. Run once; `safestack guard train` reads the file.

Usage: python benchmarks/gen_guard_model_replies.py [--per-source 80] [--max-new-tokens 96]
"""

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def prompts(per_source: int) -> list[tuple[str, str]]:
    from safestack.data import load_harmbench, load_harmbench_extra
    from safestack.data.contrast import casual_requests
    from safestack.data.loaders import load_red_instruct
    from safestack.datagen.hygiene import Contamination, decontaminate, eval_prompts

    rng = random.Random(0)
    pools = {"harmfulqa": [s.prompt for s in load_red_instruct("harmfulqa")],
             "dangerousqa": [s.prompt for s in load_red_instruct("dangerousqa")],
             "advbench": [s.prompt for s in load_harmbench_extra("advbench")],
             "harmbench-val": [s.prompt for s in load_harmbench("val", ("standard",))],
             "casual": [t for h, _, _, t in casual_requests(0) if h]}
    index = Contamination(eval_prompts())
    out = []
    for name, pool in pools.items():
        kept = decontaminate(pool, lambda t: t, index)[0]
        out += [(name, p) for p in rng.sample(kept, min(per_source, len(kept)))]
    return out


def main() -> None:
    from safestack.judges import make_judge
    from safestack.judges.base import JudgeItem
    from safestack.records import user
    from safestack.targets import GenParams, load_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--per-source", type=int, default=80)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    a = ap.parse_args()
    rows = prompts(a.per_source)
    target = load_target("default", batch_size=16)
    replies = asyncio.run(target.generate([user(p) for _, p in rows], GenParams(max_new_tokens=a.max_new_tokens)))
    items = [JudgeItem(p, r) for (_, p), r in zip(rows, replies)]
    harm = asyncio.run(make_judge("harm").score(items))
    ref = asyncio.run(make_judge("refusal").score(items))
    out = ROOT / "src/safestack/guard/data/model_replies.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for (src, p), r, h, rf in zip(rows, replies, harm, ref):
            if r.strip():
                f.write(json.dumps({"source": src, "prompt": p, "response": r, "harm": bool(h.label),
                                    "harm_score": round(float(h.score), 4), "refusal": bool(rf.label),
                                    "refusal_detail": rf.detail, "judges": "harm, refusal (safestack defaults)",
                                    "model": "SmolLM2-135M-Instruct (embedded)", "max_new_tokens": a.max_new_tokens},
                                   ensure_ascii=False) + "\n")
    n_h = sum(v.label for v in harm)
    print(f"{len(rows)} replies → {out}: {n_h} harmful by the harm judge, {sum(v.label for v in ref)} refusals")


if __name__ == "__main__":
    main()
