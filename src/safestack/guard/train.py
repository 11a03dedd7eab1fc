"""``safestack guard train``: build the training set, fit the heads, calibrate bands and thresholds on grouped
out-of-fold predictions, save the artifact.

Loss per head: class-balanced, L2-regularised logistic regression,
    L(w, b) = ½‖w‖² + C · Σ_i c_{y_i} · log(1 + exp(−ỹ_i (w·x_i + b))),  ỹ ∈ {−1, +1}, c_y = n / (2 n_y);
X_fast: [n, 2·2^bits + 390] sparse, X_full: [n, 2·2^bits + 390 + 768].
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import sparse

from .classifier import GuardClassifier, Head, Linear
from .features import FeatureSpace, shared_space
from .trainset import Example, build_trainset


HARD_NEGATIVES = frozenset({"borderline", "borderline-genre", "constitution", "benign-extra", "clean-document",
                            "benign-answer"})


@dataclass
class GuardTrainConfig:
    seed: int = 0
    bits: int = 17
    max_tokens: int = 128
    C: float = 4.0
    folds: int = 5
    target_fpr: float = 0.01  # benign out-of-fold FPR the global thresholds aim at
    hard_negative_weight: float = 3.0  # sample weight of borderline-benign examples (look harmful, are not)
    target_recall: float = 0.97  # per-category recall the category thresholds aim at
    category_fpr_floor: float = 0.05  # a category threshold never goes below the one giving this benign FPR
    band_error: float = 0.01  # outside [lo, hi] the fast head's out-of-fold error rate is at most this
    attacks_per_prompt: int = 2


def _fit(X, y, C: float, seed: int, w: np.ndarray | None = None) -> Linear:
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=2000, random_state=seed)
    m.fit(X, y, sample_weight=w)
    return Linear(m.coef_.ravel().astype(np.float32), float(m.intercept_[0]))


def _oof(X, y, groups, C: float, folds: int, seed: int, w: np.ndarray) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    p = np.zeros(len(y), dtype=np.float64)
    for tr, te in GroupKFold(n_splits=folds).split(X, y, groups):
        p[te] = _fit(X[tr], y[tr], C, seed, w[tr]).proba(X[te])
    return p


def threshold_at_fpr(scores_neg: np.ndarray, fpr: float) -> float:
    """The smallest threshold t with mean(scores_neg ≥ t) ≤ fpr."""
    if not len(scores_neg):
        return 0.5
    s = np.sort(scores_neg)[::-1]
    k = int(np.floor(fpr * len(s)))
    return float(np.nextafter(s[k], 1.0)) if k < len(s) else float(s[-1])


def youden(scores: np.ndarray, y: np.ndarray) -> float:
    """The threshold maximising TPR − FPR (used for the output head, whose negatives are noisy JBB labels)."""
    best, bt = -1.0, 0.5
    for t in np.unique(np.round(scores, 4)):
        j = (scores[y == 1] >= t).mean() - (scores[y == 0] >= t).mean()
        if j > best:
            best, bt = j, float(t)
    return bt


def band(fast: np.ndarray, full: np.ndarray, y: np.ndarray, t: float, err: float) -> tuple[float, float]:
    """[lo, hi] around t: below lo the fast head misses ≤ err of what it passes, above hi it wrongly flags ≤ err."""
    order = np.argsort(fast)
    fs, ys = fast[order], y[order]
    lo = 0.0
    for i in range(1, len(fs) + 1):  # largest prefix (lowest scores) whose positive rate ≤ err
        if fs[i - 1] >= t:
            break
        if ys[:i].mean() <= err:
            lo = float(fs[i - 1])
    hi = 1.0
    for i in range(len(fs) - 1, -1, -1):  # largest suffix (highest scores) whose negative rate ≤ err
        if fs[i] < t:
            break
        if (1 - ys[i:]).mean() <= err:
            hi = float(fs[i])
    return lo, max(hi, lo)


def cascade(fast: np.ndarray, full: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.where((fast >= lo) & (fast <= hi), full, fast)


def cached_ctx(space: FeatureSpace, texts: list[str], log: Callable[[str], None]) -> np.ndarray:
    """Contextual embeddings with an on-disk cache ($SAFESTACK_HOME/guard-ctx-<model>.npz): retraining after a
    data change embeds only the new texts (the embedder is frozen, so cached vectors stay valid)."""
    import os

    from ..records import stable_id

    home = Path(os.environ.get("SAFESTACK_HOME", Path.home() / ".cache" / "safestack"))
    path = home / f"guard-ctx-{stable_id(space.path, space.max_tokens)}.npz"
    cache: dict[str, np.ndarray] = {}
    if path.exists():
        z = np.load(path, allow_pickle=False)
        cache = dict(zip(z["keys"].tolist(), z["vecs"]))
    keys = [stable_id(t) for t in texts]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    log(f"contextual embeddings: {len(texts) - len(todo)} cached, {len(todo)} to compute")
    if todo:
        V = space.ctx([texts[i] for i in todo])
        for i, v in zip(todo, V):
            cache[keys[i]] = v
        home.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(cache)), vecs=np.stack(list(cache.values())))
        os.replace(tmp, path)
    return np.stack([cache[k] for k in keys])


def train_guard(out: str | Path, cfg: GuardTrainConfig = GuardTrainConfig(), space: FeatureSpace | None = None,
                log: Callable[[str], None] = print) -> GuardClassifier:
    t0 = time.time()
    space = space or shared_space(None, cfg.bits, cfg.max_tokens)
    ex, summary = build_trainset(cfg.seed, cfg.attacks_per_prompt)
    log(f"training set: {summary['n']} examples ({summary['dropped_contaminated']} dropped as eval-contaminated)")
    texts = [e.text for e in ex]
    Xf = space.fast(texts)
    log(f"fast features {Xf.shape} in {time.time() - t0:.0f}s; contextual embeddings…")
    C = cached_ctx(space, texts, log)
    Xa = sparse.hstack([Xf, sparse.csr_matrix(C)], format="csr")
    log(f"contextual features done at {time.time() - t0:.0f}s")
    side = np.array([e.side for e in ex])
    groups = np.array([e.group for e in ex])
    heads: dict[str, Head] = {}
    oof_report: dict[str, dict] = {}
    cat_thr: dict[str, float] = {}
    specs = {"harmful": (side == "input", np.array([e.harmful for e in ex])),
             "jailbreak": (side == "input", np.array([e.jailbreak for e in ex])),
             "output": (side == "output", np.array([e.harmful for e in ex]))}
    for name, (mask, yall) in specs.items():
        idx = np.flatnonzero(mask)
        y = yall[idx].astype(int)
        w = np.array([cfg.hard_negative_weight if ex[i].source in HARD_NEGATIVES else 1.0 for i in idx])
        of = _oof(Xf[idx], y, groups[idx], cfg.C, cfg.folds, cfg.seed, w)
        oa = _oof(Xa[idx], y, groups[idx], cfg.C, cfg.folds, cfg.seed, w)
        # negatives for the FPR target: benign examples (for 'harmful', plain injections are not counted)
        neg = (y == 0) & np.array([not ex[i].jailbreak for i in idx]) if name == "harmful" else y == 0
        pick = (lambda sc: youden(sc, y)) if name == "output" else (lambda sc: threshold_at_fpr(sc[neg], cfg.target_fpr))
        t = pick(oa)
        for _ in range(3):  # the band brackets the final threshold: band(t) → cascade → t, until it settles
            lo, hi = band(of, oa, y, t, cfg.band_error)
            oc = cascade(of, oa, lo, hi)
            t = pick(oc)
        lo, hi = min(lo, t), max(hi, t)  # the fast head never decides alone next to the threshold
        oc = cascade(of, oa, lo, hi)
        heads[name] = Head(_fit(Xf[idx], y, cfg.C, cfg.seed, w), _fit(Xa[idx], y, cfg.C, cfg.seed, w), lo, hi, t)
        oof_report[name] = {"n": int(len(y)), "positives": int(y.sum()), "threshold": t, "band": [lo, hi],
                            "share_full": float(((of >= lo) & (of <= hi)).mean()),
                            "recall": float((oc[y == 1] >= t).mean()), "fpr": float((oc[neg] >= t).mean()),
                            "recall_fast_only": float((of[y == 1] >= t).mean()),
                            "fpr_fast_only": float((of[neg] >= t).mean())}
        if name == "harmful":
            floor = threshold_at_fpr(oc[neg], cfg.category_fpr_floor)
            cats = np.array([ex[i].category for i in idx])
            for c in sorted(set(cats[y == 1]) - {"unknown", "benign"}):
                sc = oc[(y == 1) & (cats == c)]
                if len(sc) < 10:
                    continue
                q = float(np.quantile(sc, 1 - cfg.target_recall))
                cat_thr[c] = float(max(floor, min(t, q)))
        log(f"head {name}: {oof_report[name]}")

    # category head: multinomial LR on word n-gram hashes ‖ static embedding, taxonomy-labelled harmful examples
    from sklearn.linear_model import LogisticRegression

    d_static = Xf.shape[1] - 384 - 6
    lab = np.array([e.category for e in ex])
    cm = np.array([e.harmful and e.category not in ("unknown", "benign") for e in ex])
    d_words = 2 ** space.bits
    S = sparse.hstack([Xf[cm][:, :d_words], Xf[cm][:, d_static:d_static + 384]], format="csr")
    clf = LogisticRegression(C=10.0, max_iter=3000).fit(S, lab[cm])
    meta = {"config": asdict(cfg), "trainset": summary, "oof": oof_report, "train_seconds": round(time.time() - t0, 1),
            "constitution": "safestack.guard.constitution.CONSTITUTION"}
    model = GuardClassifier(heads, clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32),
                            [str(c) for c in clf.classes_], cat_thr, meta, space)
    model.save(out)
    log(f"saved {out} in {time.time() - t0:.0f}s")
    return model
