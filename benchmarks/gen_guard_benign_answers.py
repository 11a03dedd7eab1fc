"""Generate src/safestack/guard/data/benign_answers.jsonl: the embedded SmolLM2-135M-Instruct's greedy answers to
safestack's own benign prompts (guard.benign + datagen.borderline), used as benign *outputs* when training the
guard's output head. Run once; `safestack guard train` reads the file if present.

Usage: python benchmarks/gen_guard_benign_answers.py [--n 192] [--max-new-tokens 96]
"""

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    from safestack.datagen.borderline import borderline_prompts
    from safestack.guard.benign import benign_prompts, borderline_genres
    from safestack.records import user
    from safestack.targets import GenParams, load_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=192)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    a = ap.parse_args()
    prompts = [p for _, p in benign_prompts()] + [s.prompt for s in borderline_prompts()] + \
        [p for _, p in borderline_genres()]
    prompts = random.Random(0).sample(prompts, min(a.n, len(prompts)))
    target = load_target("default", batch_size=16)
    answers = asyncio.run(target.generate([user(p) for p in prompts], GenParams(max_new_tokens=a.max_new_tokens)))
    out = ROOT / "src/safestack/guard/data/benign_answers.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for p, r in zip(prompts, answers):
            if r.strip():
                f.write(json.dumps({"prompt": p, "response": r, "model": "SmolLM2-135M-Instruct (embedded)",
                                    "max_new_tokens": a.max_new_tokens}, ensure_ascii=False) + "\n")
    print(f"{len(prompts)} answers → {out}")


if __name__ == "__main__":
    main()
