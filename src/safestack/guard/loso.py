"""Leave-one-source-out (LOSO) validation for the guard's heads, and thresholds chosen from it.

A *source* is where a training text comes from (``trainset.Example.origin``: HarmfulQA, AdvBench, a look-alike
family, a ToxiGen group, …; attack-wrapped requests share the source of the request they wrap). For each source S a
head is fitted on every other source and scores S: ``loso_scores`` → one out-of-source score per example, which is
what a new kind of traffic would get.

Thresholds are Neyman–Pearson on those scores, recall is never looked at when choosing them: ``pooled_threshold``
(the default) keeps the out-of-source false-positive rate over all benign sources together at or below the target;
``per_source_threshold`` keeps *every* benign source at or below it (measured: with the fast features this pushes
the thresholds to ≈ 0.99, where out-of-source recall collapses — docs/guard.md). Reported numbers for a held-out
benign source S use the threshold chosen *without* S (``exclude=S``), so a source never validates its threshold.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .classifier import Linear


def fit_linear(X, y, C: float, seed: int, w: np.ndarray | None = None, scale: np.ndarray | None = None) -> Linear:
    """Class-balanced, L2-regularised logistic regression (liblinear). ``scale`` [d] multiplies the feature columns
    while fitting — a per-block regularisation: a column scaled by s costs 1/s² as much weight — and is folded back
    into the weights, so the returned head reads unscaled features: w·x = w'·(s⊙x)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=2000, random_state=seed)
    Xs = X if scale is None else (X @ sparse.diags(scale.astype(np.float32)) if sparse.issparse(X) else X * scale)
    m.fit(Xs, y, sample_weight=w)
    coef = m.coef_.ravel() if scale is None else m.coef_.ravel() * scale
    return Linear(coef.astype(np.float32), float(m.intercept_[0]))


def loso_scores(X, y: np.ndarray, origins: np.ndarray, w: np.ndarray, C: float, seed: int,
                log: Callable[[str], None] | None = None, scale: np.ndarray | None = None) -> np.ndarray:
    """p[i] = P(y=1) for example i from a head fitted without any example of i's source."""
    p = np.full(len(y), np.nan)
    for o in sorted(set(origins.tolist())):
        te = origins == o
        tr = ~te
        if len(set(y[tr].tolist())) < 2:
            continue
        p[te] = fit_linear(X[tr], y[tr], C, seed, w[tr], scale).proba(X[te])
    if log:
        log(f"  LOSO over {len(set(origins.tolist()))} sources done")
    return p


def threshold_at_fpr(scores_neg: np.ndarray, fpr: float) -> float:
    """The smallest threshold t with mean(scores_neg ≥ t) ≤ fpr."""
    if not len(scores_neg):
        return 0.0
    s = np.sort(scores_neg)[::-1]
    k = int(np.floor(fpr * len(s)))
    return float(np.nextafter(s[k], 1.0)) if k < len(s) else float(s[-1])


def pooled_threshold(scores: np.ndarray, neg: np.ndarray, origins: np.ndarray, fpr: float,
                     exclude: str | None = None, **_) -> float:
    """Smallest threshold keeping the FPR over all benign sources together (``exclude`` left out) ≤ ``fpr``."""
    return threshold_at_fpr(scores[neg & (origins != exclude)], fpr)


def per_source_threshold(scores: np.ndarray, neg: np.ndarray, origins: np.ndarray, fpr: float, min_n: int = 25,
                         exclude: str | None = None, floor: float = 0.0) -> float:
    """Smallest threshold keeping every benign source's FPR ≤ ``fpr``; sources with fewer than ``min_n`` negatives
    are pooled into one constraint (one odd text of a 12-text source must not set the threshold alone); ``exclude``
    is left out of every constraint; never below ``floor``."""
    t = floor
    small = np.zeros(len(neg), dtype=bool)
    for o in sorted(set(origins[neg].tolist()) - {exclude}):
        m = neg & (origins == o)
        if m.sum() >= min_n:
            t = max(t, threshold_at_fpr(scores[m], fpr))
        else:
            small |= m
    if small.any():
        t = max(t, threshold_at_fpr(scores[small], fpr))
    return t


def source_table(flag: np.ndarray, y: np.ndarray, origins: np.ndarray, mask: np.ndarray | None = None) -> list[dict]:
    """Per source: n, recall on its positives, FPR on its negatives; worst first (lowest recall, then highest FPR)."""
    mask = np.ones(len(y), dtype=bool) if mask is None else mask
    rows = []
    for o in sorted(set(origins[mask].tolist())):
        m = mask & (origins == o)
        r = {"source": o, "n": int(m.sum())}
        pos, neg = m & (y == 1), m & (y == 0)
        if pos.any():
            r["n_pos"], r["recall"] = int(pos.sum()), round(float(flag[pos].mean()), 4)
        if neg.any():
            r["n_neg"], r["fpr"] = int(neg.sum()), round(float(flag[neg].mean()), 4)
        rows.append(r)
    return sorted(rows, key=lambda r: (r.get("recall", 2.0), -r.get("fpr", 0.0)))


def worst(rows: list[dict], min_n: int = 10) -> dict:
    """The worst recall and the worst FPR over sources with at least ``min_n`` examples of that kind."""
    rec = [r for r in rows if r.get("n_pos", 0) >= min_n]
    fp = [r for r in rows if r.get("n_neg", 0) >= min_n]
    out = {}
    if rec:
        w = min(rec, key=lambda r: r["recall"])
        out["recall"] = {"source": w["source"], "value": w["recall"], "n": w["n_pos"]}
    if fp:
        w = max(fp, key=lambda r: r["fpr"])
        out["fpr"] = {"source": w["source"], "value": w["fpr"], "n": w["n_neg"]}
    return out
