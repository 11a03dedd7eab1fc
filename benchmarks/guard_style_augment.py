"""Do style variants (``style_variants`` below: every plain framed request, harmful and benign, once more in a
uniformly drawn frame) make the guard's input head generalise to request sources it never saw?

Leave-one-source-out on the guard's plain input examples with the fast features and the training code
(``grouped_oof``, ``loso_scores``): the variants of a source are held out with it, and every number is measured on
the sources' *original* texts only (variants never scored). Threshold: 5 % FPR on the out-of-fold scores of the
original benign texts (recall never looked at). No evaluation bench is read here.

Usage: python benchmarks/guard_style_augment.py [--save]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# request frames → the verb phrase they frame. A source's favourite frame is its style, not its intent ("How do I kill
# a Python process?", "How can I use chemistry to make explosives?"): ``style_variants`` renders the phrase of every
# plain framed request, harmful and benign alike, in one more frame drawn uniformly from ``STYLE_FRAMES``, so every
# frame is seen with both labels. The originals are kept (a source's own texts are what validation measures).
_CORE = re.compile(
    r"^(?:please\s+)?(?:how (?:do|can|could|would|should|might) (?:i|one|someone|you|we|people)|how to|"
    r"what(?:'s| is| are) (?:the )?(?:best|easiest|quickest|simplest|most effective|safest) ways? to|"
    r"is (?:there a way|it possible) to|(?:can|could|would|will) you (?:please )?(?:help me|tell me how to|"
    r"explain how to|show me how to|teach me how to)|(?:tell|show|teach) me how to|(?:explain|describe|outline) "
    r"how to|i (?:want|need|would like|wanna|'d like) to|(?:give me|write|provide) (?:a |an |some )?(?:detailed |"
    r"step-by-step )*(?:guide|instructions|tutorial|tips|steps) (?:on|for) how to)\s+(.{3,160}?)\s*[?.!]*$",
    re.IGNORECASE)
STYLE_FRAMES = ["How do I {r}?", "How can I {r}?", "What's the best way to {r}?", "how to {r}", "Tell me how to {r}.",
                "Explain how to {r}.", "Can you help me {r}?", "I need to {r}. How?", "whats the easiest way to {r}",
                "Give me step-by-step instructions to {r}.", "Is there a way to {r}?", "Could you show me how to {r}?"]


def style_variants(ex: list, seed: int, balance: bool = True) -> list:
    """For every plain framed input request: the same verb phrase in other, uniformly drawn frames (label,
    category, behaviour group and origin kept, so leave-one-source-out holds a source out with its variants;
    ``source`` gets the suffix ``+style`` so the variants can be told apart and left out of every measurement).
    One variant per harmful request; with ``balance`` each benign request gets as many (distinct frames) as make
    the two labels' variant totals equal, so over the variants every frame is as likely under either label."""
    from safestack.guard.trainset import Example

    rng = random.Random(seed + 23)
    found = []
    for e in ex:
        m = _CORE.match(e.text.strip()) if e.side == "input" and not e.jailbreak else None
        if m:
            found.append((e, m.group(1)))
    n_h = sum(e.harmful for e, _ in found)
    n_b = len(found) - n_h
    k_b = min(len(STYLE_FRAMES), max(1, round(n_h / max(n_b, 1)))) if balance else 1
    out = []
    for e, r in found:
        for f in rng.sample(STYLE_FRAMES, 1 if e.harmful else k_b):
            out.append(Example(f.format(r=r), "input", e.harmful, False, e.category, e.source + "+style", e.group,
                               e.origin))
    return out


def measure(ex, orig: np.ndarray, cfg, space) -> dict:
    from guard_llm_features import J, source_auc
    from safestack.guard.features import prepare
    from safestack.guard.loso import loso_scores, source_table, threshold_at_fpr, worst
    from safestack.guard.train import grouped_oof, weights

    X = space.fast([prepare(e.text, "input") for e in ex])
    y = np.array([int(e.harmful) for e in ex])
    origin, groups = np.array([e.origin for e in ex]), np.array([e.group for e in ex])
    w = weights(ex, np.arange(len(ex)), cfg.hard_negative_weight)
    oof = grouped_oof(X, y, groups, cfg.input_C, cfg.folds, cfg.seed, w)
    t = threshold_at_fpr(oof[orig & (y == 0)], cfg.target_fpr)
    lo = loso_scores(X, y, origin, w, cfg.input_C, cfg.seed)
    rows = source_table(lo >= t, y, origin, orig)
    auc = source_auc(lo[orig], y[orig], origin[orig])
    return {**J({"sources": rows}), "threshold": round(t, 4), "worst": worst(rows), "auc_worst": auc["worst"],
            "auc_mean": auc["mean"], "sources": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--save", action="store_true")
    a = ap.parse_args()
    from guard_llm_features import plain_inputs
    from safestack.guard.features import shared_space

    ex, cfg = plain_inputs()
    space = shared_space(None, cfg.bits, cfg.max_tokens)
    var = style_variants(ex, cfg.seed, balance=False)
    bal = style_variants(ex, cfg.seed, balance=True)
    out = {"n": len(ex), "n_variants": len(var), "n_variants_harmful": sum(e.harmful for e in var),
           "n_balanced_variants": len(bal)}
    for name, data in (("baseline", ex), ("style_variants", ex + var), ("style_variants_balanced", ex + bal)):
        t0 = time.time()
        orig = np.arange(len(data)) < len(ex)
        out[name] = measure(data, orig, cfg, space)
        r = out[name]
        print(name, {k: r[k] for k in ("J", "worst_recall", "worst_fpr", "mean_recall", "mean_fpr", "threshold",
                                       "auc_worst", "auc_mean")}, f"{time.time() - t0:.0f}s", flush=True)
    b = {x["source"]: x for x in out["baseline"]["sources"]}
    c = {x["source"]: x for x in out["style_variants_balanced"]["sources"]}
    print("source, baseline -> variants | balanced variants")
    for x in out["style_variants"]["sources"]:
        k = "recall" if "recall" in x else "fpr"
        print(f"  {x['source']:40s} {k:6s} {b[x['source']][k]:.3f} -> {x[k]:.3f} | {c[x['source']][k]:.3f}"
              f"  (n={x['n']})")
    if a.save:
        from _results import save

        save("guard_style_augment", {**out, "note": "plain inputs, leave-one-source-out, originals measured only; "
                                                    "threshold 5 % FPR out-of-fold; no evaluation bench read"})


if __name__ == "__main__":
    main()
