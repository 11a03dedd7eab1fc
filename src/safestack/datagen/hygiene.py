"""Data hygiene: near-duplicate removal and decontamination against every eval bench (n-gram overlap)."""

from __future__ import annotations

import math

import re
from typing import Callable, Iterable, Sequence, TypeVar

T = TypeVar("T")
_TOK = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    return _TOK.findall(text.lower())


def ngrams(toks: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


class Contamination:
    """Index of eval prompts. A text is contaminated if it shares an ``n``-gram with an eval prompt, or (for short
    texts) its token-set Jaccard similarity with one is ≥ ``jaccard``."""

    def __init__(self, eval_texts: Iterable[str] | dict[str, Iterable[str]], n: int = 8, jaccard: float = 0.6):
        if isinstance(eval_texts, dict):  # {bench: texts}: keep the per-bench counts for the report
            self.sources = {k: len(list(v)) for k, v in eval_texts.items()}
            eval_texts = [t for v in eval_texts.values() for t in v]
        else:
            eval_texts = list(eval_texts)
            self.sources = {"eval": len(eval_texts)}
        self.n = n
        self.jaccard = jaccard
        self.grams: set[tuple[str, ...]] = set()
        self.sets: list[frozenset[str]] = []
        self.postings: dict[str, list[int]] = {}  # token → the eval sets that hold it
        for t in eval_texts:
            tk = tokens(t)
            self.grams |= ngrams(tk, n)
            e = frozenset(tk)
            for w in e:
                self.postings.setdefault(w, []).append(len(self.sets))
            self.sets.append(e)

    def hit(self, text: str) -> bool:
        tk = tokens(text)
        if ngrams(tk, self.n) & self.grams:
            return True
        s = frozenset(tk)
        if not s:
            return False
        return any(len(s & self.sets[i]) / len(s | self.sets[i]) >= self.jaccard for i in self._candidates(s))

    def _candidates(self, s: frozenset[str]) -> set[int]:
        """Prefix filter (exact): Jaccard(s, e) ≥ J needs |s ∩ e| ≥ α = ⌈J·|s|⌉, so e holds at least one of ANY
        |s| − α + 1 tokens of s. Taking s's rarest tokens keeps the candidate lists short; every candidate is then
        checked with the full formula, so the answer is the same as comparing against every eval prompt."""
        alpha = max(1, math.ceil(self.jaccard * len(s) - 1e-9))
        prefix = sorted(s, key=lambda w: (len(self.postings.get(w, ())), w))[: len(s) - alpha + 1]
        return {i for w in prefix for i in self.postings.get(w, ())}


def eval_prompts(exclude: Sequence[str] = ()) -> dict[str, list[str]]:
    """Every prompt of every built-in eval bench, by bench: the held-out HarmBench test split (all functional
    categories), all of XSTest, the JailbreakBench behaviours (goals of the vendored artifacts), and every other
    registered eval bench that ships prompts (StrongREJECT, …)."""
    from ..data import load_harmbench, load_xstest
    from ..data.loaders import load_jbb_artifacts

    hb = load_harmbench("test", ("standard", "contextual", "copyright"))
    out = {"harmbench_test": [s.prompt for s in hb] + [s.meta["behavior"] for s in hb],
           "xstest": [s.prompt for s in load_xstest("all")],
           "jbb": sorted({r["goal"] for r in load_jbb_artifacts() if r.get("goal")})}
    for name, texts in extra_eval_prompts(exclude).items():
        out.setdefault(name, texts)
    return out


def extra_eval_prompts(exclude: Sequence[str] = ()) -> dict[str, list[str]]:
    """Prompts of every registered dataset whose role is ``eval`` (benches added later are covered automatically),
    but those named in ``exclude``."""
    from ..data import DATASETS

    return {name: [s.prompt for s in info.loader()] for name, info in DATASETS.items()
            if info.role == "eval" and name not in ("harmbench", "xstest", *exclude)}  # both covered in full above


def decontaminate(items: Sequence[T], text: Callable[[T], str], index: Contamination) -> tuple[list[T], list[T]]:
    kept, dropped = [], []
    for it in items:
        (dropped if index.hit(text(it)) else kept).append(it)
    return kept, dropped


def dedupe(items: Sequence[T], text: Callable[[T], str], jaccard: float = 0.9) -> list[T]:
    """Drop exact and near duplicates (token-set Jaccard ≥ ``jaccard``), keeping the first."""
    kept: list[T] = []
    seen: list[frozenset[str]] = []
    exact: set[str] = set()
    for it in items:
        t = " ".join(tokens(text(it)))
        if t in exact:
            continue
        s = frozenset(t.split())
        if any(s and len(s & e) / len(s | e) >= jaccard for e in seen):
            continue
        exact.add(t)
        seen.append(s)
        kept.append(it)
    return kept
