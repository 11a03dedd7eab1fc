"""Does a fine-tuned small encoder (``guard_encoder_model.py``; measured here, not shipped) generalise to request
sources it never saw better than the guard's linear head on fast features?

Leave-source-group-out on the guard's plain input examples (harmful and benign requests, no attack wrappers):
the sources are dealt into ``--folds`` groups (largest first, round-robin); for each group both models are trained
on every other source and score the held-out ones, so each source is scored by a model that never saw it (nor
a few other sources: stricter than leave-one-source-out). Same protocol for both models: the training sources are
split 80/20 by behaviour group; the model is fitted on the 80 %, its threshold is the 5 %-FPR point of the 20 %'s
benign scores (recall never looked at). Reported per source, worst first, and threshold-free (each held-out
source's ROC AUC against the other class). No evaluation bench is read here.

Usage: python benchmarks/guard_encoder_loso.py [--folds 6] [--layers 3] [--epochs 3] [--out runs/guard-encoder]
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


def source_folds(origin: np.ndarray, k: int) -> dict[str, int]:
    names, counts = np.unique(origin, return_counts=True)
    order = [names[i] for i in np.argsort(-counts, kind="stable")]
    return {o: (i % (2 * k) if i % (2 * k) < k else 2 * k - 1 - i % (2 * k)) for i, o in enumerate(order)}


def val_split(groups: np.ndarray, frac: float = 0.2) -> np.ndarray:
    from safestack.records import stable_id

    return np.array([int(stable_id("guard-val", g), 16) % 100 < frac * 100 for g in groups])


def run(ex, cfg, a) -> dict:
    import torch

    from guard_llm_features import J, source_auc
    from guard_encoder_model import EncoderConfig, fit_encoder
    from safestack.guard.features import prepare, shared_space
    from safestack.guard.loso import fit_linear, source_table, threshold_at_fpr, worst
    from safestack.guard.train import weights

    torch.set_num_threads(2)
    texts = [prepare(e.text, "input") for e in ex]
    y = np.array([int(e.harmful) for e in ex])
    origin, groups = np.array([e.origin for e in ex]), np.array([e.group for e in ex])
    w = weights(ex, np.arange(len(ex)), cfg.hard_negative_weight)
    fold = source_folds(origin, a.folds)
    fid = np.array([fold[o] for o in origin])
    val = val_split(groups)
    X = shared_space(None, cfg.bits, cfg.max_tokens).fast(texts)
    ecfg = EncoderConfig(layers=a.layers, epochs=a.epochs, lr=a.lr, max_tokens=a.max_tokens)
    p = {"linear": np.full(len(y), np.nan), "encoder": np.full(len(y), np.nan)}
    flag = {k: np.zeros(len(y), dtype=bool) for k in p}
    thr: dict[str, list] = {k: [] for k in p}
    for k in range(a.folds):
        te = fid == k
        fit, va = ~te & ~val, ~te & val
        t0 = time.time()
        lin = fit_linear(X[fit], y[fit], cfg.input_C, 0, w[fit])
        sc = {"linear": (lin.proba(X[va]), lin.proba(X[te]))}
        enc = fit_encoder([texts[i] for i in np.flatnonzero(fit)], y[fit, None], w[fit], ["harmful"], ecfg,
                          log=print)
        sc["encoder"] = (enc.scores([texts[i] for i in np.flatnonzero(va)])[:, 0],
                         enc.scores([texts[i] for i in np.flatnonzero(te)])[:, 0])
        for name, (sv, st) in sc.items():
            t = threshold_at_fpr(sv[y[va] == 0], 0.05)
            thr[name].append(round(t, 4))
            p[name][te], flag[name][te] = st, st >= t
        held = sorted(set(origin[te].tolist()))
        print(f"fold {k}: held out {held} ({te.sum()}), {time.time() - t0:.0f}s; thresholds "
              f"{ {n: thr[n][-1] for n in thr} }", flush=True)
        for name in p:
            rows = source_table(flag[name], y, origin, te)
            print(f"  {name}: " + ", ".join(f"{r['source']} {r.get('recall', r.get('fpr'))}" for r in rows), flush=True)
    out = {"n": len(y), "folds": a.folds, "encoder_settings": {"layers": a.layers, "epochs": a.epochs, "lr": a.lr,
                                                      "max_tokens": a.max_tokens},
           "fold_of_source": fold}
    for name in p:
        rows = source_table(flag[name], y, origin)
        out[name] = {**J({"sources": rows}), "worst": worst(rows), "thresholds": thr[name], "sources": rows,
                     "auc": source_auc(p[name], y, origin)}
    out["scores"] = {n: [round(float(v), 5) for v in p[n]] for n in p}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--out", default="runs/guard-encoder")
    ap.add_argument("--save", action="store_true", help="write the summary to benchmarks/results.json")
    a = ap.parse_args()
    from guard_llm_features import plain_inputs

    ex, cfg = plain_inputs()
    t0 = time.time()
    res = run(ex, cfg, a)
    res["seconds"] = round(time.time() - t0, 1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"L{a.layers}-e{a.epochs}-f{a.folds}"
    (out / f"{tag}.json").write_text(json.dumps(res, indent=1))
    for name in ("linear", "encoder"):
        r = res[name]
        print(name, {k: r[k] for k in ("J", "worst_recall", "worst_fpr", "mean_recall", "mean_fpr")},
              "AUC worst", r["auc"]["worst"], "mean", r["auc"]["mean"])
    if a.save:  # one entry per setting (tag), next to the others already stored
        from _results import RESULTS, save

        old = json.loads(RESULTS.read_text()).get("guard_encoder_loso", {}) if RESULTS.exists() else {}
        old = {k: v for k, v in old.items() if k not in ("machine", "at")}
        keep = ("J", "worst_recall", "worst_fpr", "mean_recall", "mean_fpr", "thresholds")
        old[tag] = {n: {**{k: res[n][k] for k in keep}, "auc_worst": res[n]["auc"]["worst"],
                        "auc_mean": res[n]["auc"]["mean"],
                        "by_source": {x["source"]: x.get("recall", x.get("fpr")) for x in res[n]["sources"]}}
                    for n in ("linear", "encoder")}
        old[tag]["encoder"]["settings"] = res["encoder_settings"]
        old[tag]["seconds"] = res["seconds"]
        save("guard_encoder_loso", old)


if __name__ == "__main__":
    main()
