"""Do trained models still finish their benign answers? Replies that stop early on a list marker or a lead-in.

Safety training on replies cut by a generation limit (the model's own answers, generated at a few dozen tokens) can
teach a model to stop where the cut fell: "To set up a password manager, follow these steps:\n\n1." and then the
end-of-turn token. The evaluation suite reads 24 tokens, so it cannot see this. This benchmark lets each model answer
benign prompts with room to spare (``--tokens``, default 128) and counts the replies that end before the limit
while still open (``datagen.pairs.ends_open``: mid-sentence, on a list marker or a colon) — answers cut short by the
model itself.

Prompts: XSTest's safe prompts (a stratified subset, ``--limit``): only measured here, nothing was tuned on them.

Usage: python benchmarks/bench_reply_ends.py MODEL [MODEL …] [--name NAME] → results.json["reply_ends"]
(MODEL: a target spec such as ``default`` or ``hf:runs/x/model``)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _results import save  # noqa: E402


def measure(spec: str, prompts: list[str], tokens: int) -> dict:
    from safestack.datagen.pairs import ends_open
    from safestack.records import Message
    from safestack.targets import GenParams, load_target

    t = load_target(spec)
    t0 = time.time()
    replies = t.generate_sync([[Message(role="user", content=p)] for p in prompts], GenParams(max_new_tokens=tokens))
    secs = time.time() - t0
    lengths = [len(t.tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies]
    ended = [n < tokens - 2 for n in lengths]  # stopped by its end-of-turn token, not by the limit
    cut_short = [e and ends_open(r) for e, r in zip(ended, replies)]
    examples = [r[-80:] for r, c in zip(replies, cut_short) if c][:5]
    return {"n": len(prompts), "mean_tokens": round(statistics.mean(lengths), 1),
            "median_tokens": statistics.median(lengths), "ended_before_limit": round(sum(ended) / len(ended), 4),
            "ended_open": round(sum(cut_short) / len(cut_short), 4), "examples_ended_open": examples,
            "seconds": round(secs, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--limit", type=int, default=96)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--name", default="reply_ends")
    args = ap.parse_args()
    from safestack.data import load_bench
    from safestack.evals.runner import subsample

    safe = [s for s in load_bench("xstest") if s.label == "benign"]
    prompts = [s.prompt for s in subsample(safe, args.limit, seed=0)]
    out = {"prompts": f"XSTest safe, stratified subset of {len(prompts)} (measured only)", "max_new_tokens": args.tokens,
           "ended_open": "share of replies that end before the limit mid-sentence, on a list marker or a colon",
           "models": {}}
    for spec in args.models:
        out["models"][spec] = measure(spec, prompts, args.tokens)
        print(spec, {k: v for k, v in out["models"][spec].items() if k != "examples_ended_open"}, flush=True)
    out["command"] = "python benchmarks/bench_reply_ends.py " + " ".join(sys.argv[1:])
    save(args.name, out)


if __name__ == "__main__":
    main()
