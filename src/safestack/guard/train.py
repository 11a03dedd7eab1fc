"""``safestack guard train``: build the training set, fit the heads, choose thresholds and cascade bands on
out-of-fold scores, validate them leave-one-source-out, save the artifact.

Loss per head: class-balanced, L2-regularised logistic regression,
    L(w, b) = ½‖w‖² + C · Σ_i s_i c_{y_i} · log(1 + exp(−ỹ_i (w·x_i + b))),  ỹ ∈ {−1, +1}, c_y = n / (2 n_y),
s_i = ``hard_negative_weight`` for benign look-alikes, else 1; for the input heads the s_i are then rescaled so
every source has the same total weight within its class (``source_balance``), and the static-embedding block is
scaled by ``static_scale`` while fitting (weaker L2 penalty on it; folded back into w). X_fast: [n, 2·2^bits + 390] sparse,
X_full: [n, 2·2^bits + 390 + 768].

Thresholds (Neyman–Pearson, recall never looked at): on 5-fold out-of-fold scores grouped by behaviour, the smallest
at which the FPR over all benign inputs is ≤ ``target_fpr`` (``harmful``, fast scores: inputs are scored fast by
default), and over all benign content ≤ ``output_fpr`` (``output``, on the cascade of fast and full scores: outputs
are scored by the cascade); ``jailbreak``: ≤ ``jailbreak_fpr`` on its leave-one-source-out scores by default
(``jailbreak_threshold_on``). Leave-one-source-out scores (``loso.py``) then measure every source as new traffic at
those thresholds (``guard.json`` "loso", ``benchmarks/bench_guard_loso.py``). Choosing the harmful head's threshold
on the out-of-source scores instead was measured and rejected (docs/guard.md).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from scipy import sparse

from .classifier import GuardClassifier, Head
from .features import FeatureSpace, prepare, shared_space
from .loso import fit_linear, loso_scores, per_source_threshold, pooled_threshold, source_table, worst
from .trainset import Example, build_trainset

# benign sources that look harmful (weighted up: the boundary must be drawn by intent, not by topic words)
HARD_NEGATIVES = frozenset({"borderline", "borderline-genre", "constitution-benign", "benign-extra", "clean-document",
                            "benign-answer", "lookalike", "reply-refusal-goal", "reply-info", "content-benign",
                            "user-content"})


@dataclass
class GuardTrainConfig:
    seed: int = 0
    bits: int = 17
    max_tokens: int = 128
    C: float = 4.0  # output head
    input_C: float = 4.0  # input heads (harmful, jailbreak)
    folds: int = 5
    target_fpr: float = 0.05  # harmful head: out-of-source FPR on benign inputs at most this
    jailbreak_fpr: float = 0.01  # jailbreak head: the same
    # which scores the jailbreak head's threshold is picked on: out_of_source (leave-one-source-out scores: a benign
    # source the head never saw gets at most jailbreak_fpr over all held-out benign inputs) or out_of_fold (5 folds
    # grouped by behaviour, as the harmful head). Measured (benchmarks/guard_jailbreak_rule.py): out of fold, 1 %
    # picked 0.083, where held-out benign inputs read 5.6 %; out of source it picks 0.343 (1.0 %), and held-out
    # attack-wrapped recall goes 0.996 → 0.984 (0.9996 → 0.9989 with the harmful head)
    jailbreak_threshold_on: Literal["out_of_source", "out_of_fold"] = "out_of_source"
    output_fpr: float = 0.10  # output head: out-of-source FPR on benign content at most this
    # pooled (all benign sources together) | worst_source (every source: loso.py)
    threshold_rule: Literal["pooled", "worst_source"] = "pooled"
    min_source_n: int = 25  # worst_source: smaller sources constrain only pooled together; reports: worst over ≥ this
    hard_negative_weight: float = 3.0
    # input heads only; measured leave-one-source-out (benchmarks/guard_llm_features.py --sweep, docs/guard.md):
    # both raise the worst source's AUC but lower the mean one and move the 5 %-FPR threshold up (recall down), so
    # they are off by default
    static_scale: float = 1.0  # the static-embedding block's scale while fitting (fit_linear's ``scale``)
    source_balance: bool = False  # every source the same total weight within its class (``source_balanced``)
    band_error: float = 0.01  # outside [lo, hi] the fast head's out-of-source error rate is at most this
    attacks_per_prompt: int = 2
    # HH-RLHF's human red-team first turns (train part) in the training set: measured, off by default (docs/guard.md:
    # held-out human benign FPR 0.34 -> 0.21, but the 5 %-FPR threshold rose 0.44 -> 0.68 and pooled recall fell)
    hh_redteam: bool = False
    loso: bool = True  # also validate leave-one-source-out (report in guard.json; ~15 min on 2 cores)


def weights(ex: list[Example], idx: np.ndarray, hard: float) -> np.ndarray:
    return np.array([hard if ex[i].source.split(":")[0] in HARD_NEGATIVES else 1.0 for i in idx])


def source_balanced(w: np.ndarray, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """Within each class, every source gets the same total weight (the class total unchanged; relative weights inside
    a source kept): no one source's phrasing dominates what a class looks like (HarmfulQA is half the harmful
    requests)."""
    out = w.astype(np.float64).copy()
    for c in (0, 1):
        m = y == c
        srcs = sorted(set(origins[m].tolist()))
        for o in srcs:
            k = m & (origins == o)
            out[k] = w[k] / w[k].sum() * w[m].sum() / len(srcs)
    return out


def head_weights(d: "Prepared", idx: np.ndarray, y: np.ndarray, cfg: "GuardTrainConfig") -> np.ndarray:
    w = weights(d.ex, idx, cfg.hard_negative_weight)
    return source_balanced(w, y, d.origin[idx]) if cfg.source_balance else w


def grouped_oof(X, y, groups, C: float, folds: int, seed: int, w: np.ndarray,
                scale: np.ndarray | None = None) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    p = np.zeros(len(y), dtype=np.float64)
    for tr, te in GroupKFold(n_splits=folds).split(X, y, groups):
        p[te] = fit_linear(X[tr], y[tr], C, seed, w[tr], scale).proba(X[te])
    return p


def column_scale(n_cols: int, bits: int, static_scale: float) -> np.ndarray | None:
    """Per-column fitting scale: 1 everywhere except the static MiniLM-embedding block (columns 2·2^bits …
    2·2^bits + 383 of the fast features, the same columns of the full ones)."""
    if static_scale == 1.0:
        return None
    s = np.ones(n_cols, dtype=np.float32)
    s[2 * 2 ** bits:2 * 2 ** bits + 384] = static_scale
    return s


def band(fast: np.ndarray, y: np.ndarray, t: float, err: float) -> tuple[float, float]:
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
    return min(lo, t), max(hi, t, lo)


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
    todo = sorted({k: i for i, k in enumerate(keys) if k not in cache}.values())
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


@dataclass
class Prepared:
    ex: list[Example]
    summary: dict
    Xf: sparse.csr_matrix
    Xa: sparse.csr_matrix
    side: np.ndarray
    origin: np.ndarray


def prepare_data(cfg: GuardTrainConfig, space: FeatureSpace, log: Callable[[str], None]) -> Prepared:
    check_config(cfg)
    t0 = time.time()
    ex, summary = build_trainset(cfg.seed, cfg.attacks_per_prompt, hh_redteam=cfg.hh_redteam)
    log(f"training set: {summary['n']} examples ({summary['dropped_contaminated']} dropped as eval-contaminated)")
    texts = [prepare(e.text, e.side) for e in ex]
    Xf = space.fast(texts)
    log(f"fast features {Xf.shape} in {time.time() - t0:.0f}s; contextual embeddings…")
    C = cached_ctx(space, texts, log)
    Xa = sparse.hstack([Xf, sparse.csr_matrix(C)], format="csr")
    return Prepared(ex, summary, Xf, Xa, np.array([e.side for e in ex]), np.array([e.origin for e in ex]))


def input_scales(d: Prepared, cfg: GuardTrainConfig) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The input heads' fitting column scales for the fast and the full features (``column_scale``)."""
    return column_scale(d.Xf.shape[1], cfg.bits, cfg.static_scale), column_scale(d.Xa.shape[1], cfg.bits,
                                                                                   cfg.static_scale)


def input_scores(d: Prepared, cfg: GuardTrainConfig, log, loso: bool) -> dict[str, np.ndarray]:
    """Fast scores of the input heads for every input example, keyed by head: out-of-source (``loso``: a head fitted
    without the example's source) or out-of-fold (5 folds grouped by behaviour: the example's behaviour unseen)."""
    idx = np.flatnonzero(d.side == "input")
    groups = np.array([d.ex[i].group for i in idx])
    sf = input_scales(d, cfg)[0]
    out = {}
    for name in ("harmful", "jailbreak"):
        y = np.array([getattr(d.ex[i], name) for i in idx], dtype=int)
        w = head_weights(d, idx, y, cfg)
        out[name] = (loso_scores(d.Xf[idx], y, d.origin[idx], w, cfg.input_C, cfg.seed, log, sf) if loso else
                     grouped_oof(d.Xf[idx], y, groups, cfg.input_C, cfg.folds, cfg.seed, w, sf))
    return out


def output_scores(d: Prepared, cfg: GuardTrainConfig, log, loso: bool) -> tuple[np.ndarray, np.ndarray]:
    """(fast, full) scores of the output head, out-of-source or out-of-fold (see ``input_scores``)."""
    idx = np.flatnonzero(d.side == "output")
    w = weights(d.ex, idx, cfg.hard_negative_weight)
    y = np.array([d.ex[i].harmful for i in idx], dtype=int)
    if loso:
        return (loso_scores(d.Xf[idx], y, d.origin[idx], w, cfg.C, cfg.seed, log),
                loso_scores(d.Xa[idx], y, d.origin[idx], w, cfg.C, cfg.seed, log))
    groups = np.array([d.ex[i].group for i in idx])
    return (grouped_oof(d.Xf[idx], y, groups, cfg.C, cfg.folds, cfg.seed, w),
            grouped_oof(d.Xa[idx], y, groups, cfg.C, cfg.folds, cfg.seed, w))


def threshold_scores(d: Prepared, cfg: GuardTrainConfig, log) -> tuple[dict, dict | None, dict]:
    """(out-of-fold, out-of-source or None, the scores each input head's threshold is picked on): ``harmful`` on its
    out-of-fold scores, ``jailbreak`` on ``cfg.jailbreak_threshold_on``'s."""
    check_config(cfg)
    s_oof = input_scores(d, cfg, log, loso=False)
    on_source = cfg.jailbreak_threshold_on == "out_of_source"
    s_loso = input_scores(d, cfg, log, loso=True) if cfg.loso or on_source else None
    return s_oof, s_loso, {"harmful": s_oof["harmful"], "jailbreak": (s_loso if on_source else s_oof)["jailbreak"]}


def check_config(cfg: GuardTrainConfig) -> None:
    """Every ``Literal`` field holds one of its choices (BadInput naming the field otherwise)."""
    from ..train.config import check_choices

    check_choices(GuardTrainConfig, asdict(cfg), "guard train")


def rule(cfg: GuardTrainConfig):
    return per_source_threshold if cfg.threshold_rule == "worst_source" else pooled_threshold


def input_thresholds(s: dict[str, np.ndarray], benign: np.ndarray, origins: np.ndarray, cfg: GuardTrainConfig,
                     exclude: str | None = None) -> tuple[float, float]:
    pick = rule(cfg)
    th = pick(s["harmful"], benign, origins, cfg.target_fpr, min_n=cfg.min_source_n, exclude=exclude)
    tj = pick(s["jailbreak"], benign, origins, cfg.jailbreak_fpr, min_n=cfg.min_source_n, exclude=exclude)
    return th, tj


def input_report(d: Prepared, s: dict[str, np.ndarray], s_thr: dict[str, np.ndarray], cfg: GuardTrainConfig) -> dict:
    """Per source, on its out-of-source scores ``s``: recall on its harmful requests (plain and attack-wrapped), FPR
    on its benign requests, at the thresholds the training picks on ``s_thr`` — without the held-out source."""
    idx = np.flatnonzero(d.side == "input")
    ex = [d.ex[i] for i in idx]
    org = d.origin[idx]
    benign = np.array([not e.harmful and not e.jailbreak for e in ex])
    y = np.array([e.harmful or e.jailbreak for e in ex], dtype=int)
    flag = np.zeros(len(ex), dtype=bool)
    for o in sorted(set(org.tolist())):
        m = org == o
        th, tj = input_thresholds(s_thr, benign, org, cfg, exclude=o)
        flag[m] = (s["harmful"][m] >= th) | (s["jailbreak"][m] >= tj)
    # plain: every input that is not an attack-wrapped copy (benign twins that share a source's origin included)
    plain = np.array([e.source == e.origin or not e.jailbreak for e in ex])
    rows = source_table(flag, y, org, plain)
    wrapped = source_table(flag, y, np.array([e.source.split(":")[0] + ":" + e.source.split(":")[-1] for e in ex]),
                           ~plain & (y == 1))
    return {"sources": rows, "wrapped": wrapped, "worst": worst(rows, cfg.min_source_n),
            "worst_wrapped": worst(wrapped, cfg.min_source_n)}


def output_report(d: Prepared, loso: tuple, thr: tuple, lo: float, hi: float, cfg: GuardTrainConfig) -> dict:
    """Per content source: the cascade's out-of-source (``loso`` = (fast, full)) recall / FPR at the threshold picked
    on ``thr`` = (fast, full) scores without the held-out source."""
    idx = np.flatnonzero(d.side == "output")
    org = d.origin[idx]
    y = np.array([d.ex[i].harmful for i in idx], dtype=int)
    sc, st = cascade(*loso, lo, hi), cascade(*thr, lo, hi)
    flag = np.zeros(len(idx), dtype=bool)
    for o in sorted(set(org.tolist())):
        m = org == o
        flag[m] = sc[m] >= rule(cfg)(st, y == 0, org, cfg.output_fpr, min_n=cfg.min_source_n, exclude=o)
    rows = source_table(flag, y, org)
    return {"sources": rows, "worst": worst(rows, cfg.min_source_n),
            "pooled": {"recall": round(float(flag[y == 1].mean()), 4), "fpr": round(float(flag[y == 0].mean()), 4)}}


def loso_report(d: Prepared, cfg: GuardTrainConfig, log, s_thr: dict, o_oof: tuple, lo: float, hi: float,
                s_loso: dict) -> dict:
    """Leave-one-source-out validation of the thresholds picked on ``s_thr`` / ``o_oof`` (each held-out source
    judged at the thresholds picked without it); ``s_loso``: the input heads' out-of-source scores
    (``threshold_scores``)."""
    o_loso = output_scores(d, cfg, log, loso=True)
    _dump_scores(d, s_loso, *o_loso)
    out = {"input": input_report(d, s_loso, s_thr, cfg), "output": output_report(d, o_loso, o_oof, lo, hi, cfg)}
    out["output"]["share_full"] = round(float(((o_loso[0] >= lo) & (o_loso[0] <= hi)).mean()), 4)
    log(f"LOSO worst: input {out['input']['worst']}; output {out['output']['worst']}")
    return out


def output_calibration(fast: np.ndarray, full: np.ndarray, y: np.ndarray, origins: np.ndarray,
                       cfg: GuardTrainConfig) -> tuple[float, float, float]:
    """(lo, hi, threshold) of the output head: the band and the FPR threshold of the cascade settle
    together (band(t) → cascade → t, three rounds); the fast head never decides alone next to the threshold."""
    def pick(sc):
        return rule(cfg)(sc, y == 0, origins, cfg.output_fpr, min_n=cfg.min_source_n)

    t = pick(full)
    for _ in range(3):
        lo, hi = band(fast, y, t, cfg.band_error)
        t = pick(cascade(fast, full, lo, hi))
    return min(lo, t), max(hi, t), t


def train_guard(out: str | Path, cfg: GuardTrainConfig = GuardTrainConfig(), space: FeatureSpace | None = None,
                log: Callable[[str], None] = print) -> GuardClassifier:
    t0 = time.time()
    space = space or shared_space(None, cfg.bits, cfg.max_tokens)
    d = prepare_data(cfg, space, log)
    heads: dict[str, Head] = {}
    report: dict[str, dict] = {}

    # input heads: thresholds on fast scores (harmful out-of-fold, grouped by behaviour; jailbreak as configured),
    # then validated out-of-source
    sf, sa = input_scales(d, cfg)
    idx = np.flatnonzero(d.side == "input")
    benign = np.array([not d.ex[i].harmful and not d.ex[i].jailbreak for i in idx])
    s_oof, s_loso, s_thr = threshold_scores(d, cfg, log)
    thr = dict(zip(("harmful", "jailbreak"), input_thresholds(s_thr, benign, d.origin[idx], cfg)))
    for name in ("harmful", "jailbreak"):
        y = np.array([getattr(d.ex[i], name) for i in idx], dtype=int)
        w = head_weights(d, idx, y, cfg)
        lo, hi = band(s_oof[name], y, thr[name], cfg.band_error)
        heads[name] = Head(fit_linear(d.Xf[idx], y, cfg.input_C, cfg.seed, w, sf),
                           fit_linear(d.Xa[idx], y, cfg.input_C, cfg.seed, w, sa), lo, hi, thr[name])
        log(f"head {name}: threshold {thr[name]:.4f}, band [{lo:.4f}, {hi:.4f}]")

    # output head: cascade of out-of-fold fast and full scores; the band and threshold settle together
    oidx = np.flatnonzero(d.side == "output")
    yo = np.array([d.ex[i].harmful for i in oidx], dtype=int)
    wo = weights(d.ex, oidx, cfg.hard_negative_weight)
    o_oof = output_scores(d, cfg, log, loso=False)
    lo, hi, t = output_calibration(*o_oof, yo, d.origin[oidx], cfg)
    heads["output"] = Head(fit_linear(d.Xf[oidx], yo, cfg.C, cfg.seed, wo),
                           fit_linear(d.Xa[oidx], yo, cfg.C, cfg.seed, wo), lo, hi, t)
    log(f"head output: threshold {t:.4f}, band [{lo:.4f}, {hi:.4f}]")
    if cfg.loso:
        report = loso_report(d, cfg, log, s_thr, o_oof, lo, hi, s_loso)

    clf = category_head(d, space)
    meta = {"config": asdict(cfg), "trainset": d.summary, "loso": report, "train_seconds": round(time.time() - t0, 1),
            "constitution": "safestack.guard.constitution.CONSTITUTION", "normalisation": "features.prepare"}
    model = GuardClassifier(heads, clf.coef_.T.astype(np.float32), clf.intercept_.astype(np.float32),
                            [str(c) for c in clf.classes_], {}, meta, space)
    model.save(out)
    log(f"saved {out} in {time.time() - t0:.0f}s")
    return model


def _dump_scores(d: Prepared, s_in: dict, f_s: np.ndarray, a_s: np.ndarray) -> None:
    """The out-of-source scores, for analysis: $SAFESTACK_HOME/guard-loso-scores.npz (not part of the artifact)."""
    import os

    home = Path(os.environ.get("SAFESTACK_HOME", Path.home() / ".cache" / "safestack"))
    home.mkdir(parents=True, exist_ok=True)
    i, o = d.side == "input", d.side == "output"
    np.savez(home / "guard-loso-scores.npz", input_origin=d.origin[i],
             input_source=np.array([e.source for e in d.ex])[i],
             harmful=s_in["harmful"], jailbreak=s_in["jailbreak"], output_origin=d.origin[o], output_fast=f_s,
             output_full=a_s, input_y=np.array([e.harmful or e.jailbreak for e in d.ex])[i],
             output_y=np.array([e.harmful for e in d.ex])[o])


def category_head(d: Prepared, space: FeatureSpace):
    """Multinomial LR on word n-gram hashes ‖ static embedding, over the taxonomy-labelled harmful examples."""
    from sklearn.linear_model import LogisticRegression

    d_static = d.Xf.shape[1] - 384 - 6
    lab = np.array([e.category for e in d.ex])
    cm = np.array([e.harmful and e.category not in ("unknown", "benign") for e in d.ex])
    d_words = 2 ** space.bits
    S = sparse.hstack([d.Xf[cm][:, :d_words], d.Xf[cm][:, d_static:d_static + 384]], format="csr")
    return LogisticRegression(C=10.0, max_iter=3000).fit(S, lab[cm])
