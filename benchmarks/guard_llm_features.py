"""Which features and fitting settings of the guard's input head generalise to request sources it never saw?

Leave-one-source-out on the guard's plain input examples (harmful requests and benign requests; no attack
wrappers), the same sources, weights and threshold rule as ``guard/train.py``: a logistic head per feature set,
thresholds at 5 % FPR on 5-fold out-of-fold scores grouped by behaviour, recall / FPR of every source when it is
held out. Feature sets: the guard's fast features, and the embedded SmolLM2-135M's residual stream at a few layers
(last prompt token and mean over the prompt; chat template applied), captured once to ``--cache``.
The choice of layer is made on the leave-one-source-out worst source only; evaluation benches are not read here.

``--sweep``: the fast features under fitting settings (C, the static-embedding block's scale, source-balanced
weights), scored by J = ½·(worst harmful-source recall) + ½·(1 − worst benign-source FPR) over sources with ≥ 25
examples at the training rule's threshold, and threshold-free by each held-out source's ROC AUC against the other
class (worst and mean) — what ``GuardTrainConfig``'s input-head settings rest on.

Usage: python benchmarks/guard_llm_features.py [--layers 2,5,8,12,16,20] [--cache runs/guard-llm]
       python benchmarks/guard_llm_features.py --sweep
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def plain_inputs():
    from safestack.guard.train import GuardTrainConfig
    from safestack.guard.trainset import build_trainset

    cfg = GuardTrainConfig()
    ex, _ = build_trainset(cfg.seed, cfg.attacks_per_prompt)
    return [e for e in ex if e.side == "input" and not e.jailbreak], cfg


def capture_llm(texts: list[str], layers: list[int], cache: Path) -> np.ndarray:
    import torch

    from safestack.probes.activations import CaptureSpec, capture
    from safestack.records import Message
    from safestack.targets.default import default_model_dir
    from safestack.targets.hf import HFTarget

    torch.set_num_threads(2)
    t = HFTarget(str(default_model_dir()), device="cpu", dtype="float32")
    t.model.model.layers = t.model.model.layers[:max(layers) + 1]  # nothing above the last layer read is run
    convs = [[Message(role="user", content=x)] for x in texts]
    done = [0]

    def prog(n):
        done[0] += n
        if done[0] % 512 < n:
            print(f"  captured {done[0]}/{len(texts)}", flush=True)

    spec = CaptureSpec(layers=layers, positions=[-1, "mean"], batch_size=16, max_input_tokens=256)
    return np.asarray(capture(t, convs, spec, out=cache / "acts.npy", progress=prog))


def J(r: dict, min_n: int = 25) -> dict:
    rec = [x["recall"] for x in r["sources"] if x.get("n_pos", 0) >= min_n]
    fpr = [x["fpr"] for x in r["sources"] if x.get("n_neg", 0) >= min_n]
    return {"J": round(0.5 * min(rec) + 0.5 * (1 - max(fpr)), 4), "worst_recall": min(rec), "worst_fpr": max(fpr),
            "mean_recall": round(float(np.mean(rec)), 4), "mean_fpr": round(float(np.mean(fpr)), 4)}


def sweep(ex, cfg) -> dict:
    """Fast features, input head: C × static-block scale × source balance (hard-negative weight as configured)."""
    from safestack.guard.features import prepare, shared_space
    from safestack.guard.train import column_scale, source_balanced, weights

    texts = [prepare(e.text, "input") for e in ex]
    y = np.array([int(e.harmful) for e in ex])
    origin, groups = np.array([e.origin for e in ex]), np.array([e.group for e in ex])
    X = shared_space(None, cfg.bits, cfg.max_tokens).fast(texts)
    w0 = weights(ex, np.arange(len(ex)), cfg.hard_negative_weight)
    out = {}
    for bal in (False, True):
        for C in (1.0, 4.0):
            for st in (1.0, 4.0, 8.0, 16.0):
                w = source_balanced(w0, y, origin) if bal else w0
                r = evaluate(X, y, origin, groups, w, C, scale=column_scale(X.shape[1], cfg.bits, st))
                key = f"balance={bal} C={C} static_scale={st}"
                out[key] = {**J(r), "threshold": r["threshold"], "auc_worst": r["auc"]["worst"],
                            "auc_mean": r["auc"]["mean"]}
                print(key, out[key], flush=True)
    return out


def evaluate(X, y, origin, groups, w, C: float, fpr: float = 0.05, scale=None) -> dict:
    """Out-of-fold scores (5 folds grouped by behaviour) → threshold at ``fpr``; leave-one-source-out scores → the
    source table. Sparse (the guard's features): the training code itself (``grouped_oof``, ``loso_scores``, with
    the column ``scale``); dense (activations): the same folds with a standardised logistic head."""
    from safestack.guard.loso import loso_scores, source_table, threshold_at_fpr, worst
    from safestack.guard.train import grouped_oof

    if isinstance(X, np.ndarray):
        oof, lo = _dense_scores(X, y, origin, groups, w, C)
    else:
        oof = grouped_oof(X, y, groups, C, 5, 0, w, scale)
        lo = loso_scores(X, y, origin, w, C, 0, None, scale)
    t = threshold_at_fpr(oof[y == 0], fpr)
    rows = source_table(lo >= t, y, origin)
    return {"threshold": round(t, 4), "worst": worst(rows), "sources": rows, "auc": source_auc(lo, y, origin)}


def _dense_scores(X, y, origin, groups, w, C: float) -> tuple[np.ndarray, np.ndarray]:
    """(out-of-fold, out-of-source) scores of a standardised, class-balanced logistic head on dense features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(tr):
        lr = LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=3000, random_state=0)
        return make_pipeline(StandardScaler(), lr).fit(X[tr], y[tr], logisticregression__sample_weight=w[tr])

    oof = np.zeros(len(y))
    for tr, te in GroupKFold(n_splits=5).split(X, y, groups):
        oof[te] = fit(tr).predict_proba(X[te])[:, 1]
    lo = np.full(len(y), np.nan)
    for o in sorted(set(origin.tolist())):
        te = origin == o
        lo[te] = fit(np.flatnonzero(~te)).predict_proba(X[te])[:, 1]
    return oof, lo


def source_auc(p: np.ndarray, y: np.ndarray, origin: np.ndarray, min_n: int = 25) -> dict:
    """Threshold-free: each held-out source's out-of-source scores against all of the other class's (ROC AUC);
    worst and mean over sources with ≥ ``min_n`` examples of their class."""
    from sklearn.metrics import roc_auc_score

    aucs = {}
    for o in sorted(set(origin.tolist())):
        for c in (0, 1):
            m = (origin == o) & (y == c)
            if m.sum() >= min_n:
                other = y == 1 - c
                s = np.concatenate([p[m], p[other]])
                lab = np.concatenate([np.full(m.sum(), c), np.full(other.sum(), 1 - c)])
                aucs[f"{o}/{'harmful' if c else 'benign'}"] = round(float(roc_auc_score(lab, s)), 4)
    worst_k = min(aucs, key=aucs.get)
    return {"worst": {worst_k: aucs[worst_k]}, "mean": round(float(np.mean(list(aucs.values()))), 4), "by_source": aucs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", default="2,5,8,12,16,20")
    ap.add_argument("--cache", default="runs/guard-llm")
    ap.add_argument("--C", type=float, default=0.05)
    ap.add_argument("--sweep", action="store_true")
    a = ap.parse_args()
    layers = [int(x) for x in a.layers.split(",")]
    cache = Path(a.cache)
    ex, cfg = plain_inputs()
    if a.sweep:
        from _results import save

        res = sweep(ex, cfg)
        best = max(res, key=lambda k: res[k]["J"])
        save("guard_input_sweep", {"results": res, "best": best, "n": len(ex),
                                   "note": "plain inputs (no attack wrappers), leave-one-source-out, threshold at 5 % "
                                           "out-of-fold FPR; no evaluation bench read"})
        print("best:", best, res[best])
        return
    from safestack.guard.features import prepare, shared_space
    from safestack.guard.train import weights

    texts = [prepare(e.text, "input") for e in ex]
    y = np.array([int(e.harmful) for e in ex])
    origin = np.array([e.origin for e in ex])
    groups = np.array([e.group for e in ex])
    w = weights(ex, np.arange(len(ex)), cfg.hard_negative_weight)
    print(f"{len(ex)} plain inputs: {y.sum()} harmful, {len(y) - y.sum()} benign, {len(set(origin))} sources")
    out: dict = {"n": len(ex), "n_harmful": int(y.sum()), "layers": layers}
    t0 = time.time()
    Xf = shared_space(None, cfg.bits, cfg.max_tokens).fast(texts)
    out["fast"] = evaluate(Xf, y, origin, groups, w, cfg.input_C)
    print("fast:", out["fast"]["worst"], f"{time.time() - t0:.0f}s", flush=True)
    t0 = time.time()
    A = capture_llm(texts, layers, cache)
    out["capture_seconds"] = round(time.time() - t0, 1)
    for li, layer in enumerate(layers):
        for pi, pos in enumerate(["last", "mean"]):
            r = evaluate(A[:, li, pi, :], y, origin, groups, w, a.C)
            out[f"llm_L{layer}_{pos}"] = r
            print(f"L{layer} {pos}:", r["worst"], flush=True)
    (cache / "loso.json").write_text(json.dumps(out, indent=1))
    from _results import save

    save("guard_llm_features", {k: ({**J(v), "threshold": v["threshold"]} if isinstance(v, dict) and "sources" in v
                                    else v) for k, v in out.items()})


if __name__ == "__main__":
    main()
