"""Generate the embedded SmolLM2-135M-Instruct's greedy answers to safestack's own benign prompts, used as benign
*outputs* when training the guard's output head. Run once; `safestack guard train` reads the files if present.

* ``--prompts general`` (default) → src/safestack/guard/data/benign_answers.jsonl: guard.benign, datagen.borderline
  and the borderline genres;
* ``--prompts lookalikes`` → src/safestack/guard/data/lookalike_answers.jsonl: data.contrast's benign look-alikes
  (protection, education, legal, fiction, fields, identity, …) and the casual register's benign goals — a second,
  independent source of the model's benign answers, so neither is the only example of one.

Usage: python benchmarks/gen_guard_benign_answers.py [--prompts general|lookalikes] [--n 192] [--max-new-tokens 96]
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
    from safestack.data.contrast import casual_requests, field_and_identity, lookalikes
    from safestack.datagen.borderline import borderline_prompts
    from safestack.datagen.hygiene import Contamination, decontaminate, eval_prompts
    from safestack.guard.benign import benign_prompts, borderline_genres
    from safestack.records import user
    from safestack.targets import GenParams, load_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", choices=("general", "lookalikes"), default="general")
    ap.add_argument("--n", type=int, default=192)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    a = ap.parse_args()
    if a.prompts == "general":
        prompts = [p for _, p in benign_prompts()] + [s.prompt for s in borderline_prompts(
            lookalike_families=False)] + [p for _, p in borderline_genres()]
    else:
        prompts = [p for _, p in lookalikes() + field_and_identity()] + [t for h, _, _, t in casual_requests()
                                                                        if not h]
    prompts = decontaminate(prompts, lambda t: t, Contamination(eval_prompts()))[0]
    prompts = random.Random(0).sample(prompts, min(a.n, len(prompts)))
    target = load_target("default", batch_size=16)
    answers = asyncio.run(target.generate([user(p) for p in prompts], GenParams(max_new_tokens=a.max_new_tokens)))
    name = "benign_answers.jsonl" if a.prompts == "general" else "lookalike_answers.jsonl"
    out = ROOT / "src/safestack/guard/data" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for p, r in zip(prompts, answers):
            if r.strip():
                f.write(json.dumps({"prompt": p, "response": r, "model": "SmolLM2-135M-Instruct (embedded)",
                                    "max_new_tokens": a.max_new_tokens}, ensure_ascii=False) + "\n")
    print(f"{len(prompts)} answers → {out}")


if __name__ == "__main__":
    main()
