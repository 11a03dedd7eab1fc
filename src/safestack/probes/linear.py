"""Linear probes on activations: cross-validated accuracy per layer, and fitting the probe the circuit breaker
uses at run time (``LinearProbe``, defined with the breaker in ``targets/circuit_breaker.py``).

A probe is standardised logistic regression: ``logit(x) = ((x − μ) / σ) · w + b``, ``x: [..., d]``. Because it
is linear, the logit of a mean of activations equals the mean of their logits — the circuit breaker uses that to
score a window of generated tokens.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import BadInput
from ..targets.circuit_breaker import LinearProbe


def _check(X: np.ndarray, y: np.ndarray) -> None:
    if X.ndim != 2 or len(X) != len(y):
        raise BadInput(f"probe data: expected X [N, d] and y [N], got {X.shape} and {y.shape}")
    if len(set(y.tolist())) != 2:
        raise BadInput("probe data: need both classes")


def fit_probe(X: np.ndarray, y: np.ndarray, layer: int, C: float = 0.1, seed: int = 0) -> LinearProbe:
    """Fit on X [N, d], y [N] ∈ {0, 1}."""
    from sklearn.linear_model import LogisticRegression

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y).astype(int)
    _check(X, y)
    mu, sigma = X.mean(0), X.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=2000, random_state=seed, class_weight="balanced")
    clf.fit((X - mu) / sigma, y)
    return LinearProbe(layer, clf.coef_[0].copy(), float(clf.intercept_[0]), mu, sigma)


def cv_accuracy(X: np.ndarray, y: np.ndarray, folds: int = 5, C: float = 0.1, seed: int = 0) -> dict:
    """Stratified k-fold accuracy (and AUROC) of a probe: {"acc", "acc_std", "auroc", "folds"}."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y).astype(int)
    _check(X, y)
    folds = min(folds, int(np.bincount(y).min()))
    if folds < 2:
        raise BadInput("probe data: fewer than 2 examples of a class, cannot cross-validate")
    accs, aucs = [], []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        p = fit_probe(X[tr], y[tr], -1, C, seed)
        s = p.logit(X[te])
        accs.append(float(np.mean((s > 0) == (y[te] == 1))))
        aucs.append(float(roc_auc_score(y[te], s)))
    return {"acc": round(float(np.mean(accs)), 4), "acc_std": round(float(np.std(accs)), 4),
            "auroc": round(float(np.mean(aucs)), 4), "folds": folds}


def accuracy_by_layer(acts: np.ndarray, y: np.ndarray, layers: Sequence[int], folds: int = 5, C: float = 0.1,
                      held_out: tuple[np.ndarray, np.ndarray] | None = None) -> list[dict]:
    """acts: [N, n_layers, d] → one row per layer with CV accuracy (and held-out accuracy when given:
    a probe fitted on all of ``acts`` scored on ``held_out = (acts_val [M, n_layers, d], y_val [M])``)."""
    rows = []
    for li, l in enumerate(layers):
        r = {"layer": l, **cv_accuracy(acts[:, li], y, folds, C)}
        if held_out is not None:
            p = fit_probe(acts[:, li], y, l, C)
            Xv, yv = held_out
            r["val_acc"] = round(float(np.mean((p.logit(Xv[:, li]) > 0) == (np.asarray(yv) == 1))), 4)
        rows.append(r)
    return rows


def threshold_at_fpr(neg_scores: np.ndarray, max_fpr: float) -> float:
    """The smallest threshold t with share(neg_scores > t) ≤ max_fpr (scores above t fire)."""
    s = np.sort(np.asarray(neg_scores, dtype=np.float64))
    if len(s) == 0:
        raise BadInput("threshold: no negative examples to calibrate on")
    allowed = int(np.floor(max_fpr * len(s)))  # how many negatives may score above t
    return float(s[len(s) - 1 - allowed]) if allowed < len(s) else float(s[0] - 1.0)
