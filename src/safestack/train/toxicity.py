"""Training data and validation of the ``toxicity`` judge (``judges/toxicity.py``, MiniLM embeddings → logistic
regression): ToxiGen's human-written demonstrations (hateful vs neutral statements about 14 target groups) plus
ordinary non-toxic assistant text (``general_negatives``) and refusals in safestack's own phrasing
(``refusal_negatives``).

Validation (``validate()``, stored by ``benchmarks/bench_toxicity.py`` into ``judges/calibration/toxicity.json``):
* a held-out split of the training texts — sentence-level, after de-duplication (two upstream files are
  identical), stratified by (group, label) — accuracy, AUC, per-group accuracy;
* false-positive rate on text that must not be called toxic: XSTest's human-labelled completions to the *safe*
  prompts (full compliance and refusals alike), and safestack-written refusals for taxonomy categories held out of
  training (leave-categories-out: their reasons and alternatives are unseen).
The ToxiGen generation prompts are built from these same sentences, so they are never used for validation; the
classifier scores the target's *generations*, not the prompts.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ..data.loaders import data_dir
from ..judges.toxicity import REFUSAL, Demo, ToxicityClassifier

_NAME = re.compile(r"^(hate|neutral)_(.+?)(?:_sentences)?$")


def general_negatives(limit: int = 600) -> list[Demo]:
    """Ordinary assistant text that is not toxic: the JailbreakBench artifact responses that JBB's judge marked
    not jailbroken (mostly refusals and deflections, many naming the groups a request targeted). Without them the
    classifier only ever sees statements about groups and flags much ordinary assistant text (measured: 23 % of
    XSTest safe-prompt compliant answers)."""
    from ..data.loaders import load_jbb_artifacts

    seen, out = set(), []
    for r in load_jbb_artifacts():
        t = r["response"].strip()
        if not r["jailbroken"] and len(t) > 20 and t not in seen:
            seen.add(t)
            out.append(Demo(t, False, "general"))
    rng = np.random.default_rng(0)
    return [out[i] for i in sorted(rng.permutation(len(out))[:limit])]


def refusal_negatives(limit: int | None = 200, categories: Sequence[str] | None = None, seed: int = 0) -> list[Demo]:
    """Refusals as safestack's training data writes them (``datagen.refusals``), for the taxonomy's non-comply
    categories (or ``categories``); ``limit`` of them, ``None`` = all. Without them the classifier read a refusal's
    reason ("it demeans people for who they are", "following it could get someone hurt") as toxic: it flagged 80 of
    the 366 refusals a safety-trained model gave on ToxiGen, and 234 of the 275 replies giving that second reason
    (session 6's run; now 2 and 2).
    They do not enter the class balance (``class_weights``), so they move the boundary away from refusals, not the
    toxic/neutral prior."""
    import random

    from ..datagen.refusals import write_refusal
    from ..taxonomy import load_taxonomy

    cats = [c for c in load_taxonomy().categories if c.expected != "comply"
            and (categories is None or c.id in categories)]
    rng = random.Random(seed)
    seen = dict.fromkeys((c.id, write_refusal(c, rng)) for _ in range(40) for c in cats)
    out = [Demo(t, False, REFUSAL + c) for c, t in seen]
    pick = np.random.default_rng(seed).permutation(len(out))[:limit]
    return [out[i] for i in sorted(pick)]


def training_set() -> list[Demo]:
    return load_demonstrations() + general_negatives() + refusal_negatives()


def load_demonstrations() -> list[Demo]:
    """De-duplicated demonstration sentences (a sentence listed under both labels is dropped)."""
    seen: dict[str, Demo] = {}
    clash: set[str] = set()
    for f in sorted((data_dir("toxigen") / "demonstrations").glob("*/*.txt")):
        m = _NAME.match(f.stem)
        if not m:
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            t = line.strip().lstrip("-").strip()
            if len(t) < 3:
                continue
            k = t.lower()
            d = Demo(t, m.group(1) == "hate", m.group(2))
            if k in seen and seen[k].toxic != d.toxic:
                clash.add(k)
            seen.setdefault(k, d)
    return [d for k, d in seen.items() if k not in clash]


def split(demos: Sequence[Demo], test_size: float = 0.25, seed: int = 0) -> tuple[list[Demo], list[Demo]]:
    """Sentence-level split stratified by (group, label)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for key in sorted({(d.group, d.toxic) for d in demos}):
        g = [d for d in demos if (d.group, d.toxic) == key]
        idx = rng.permutation(len(g))
        k = int(round(len(g) * test_size))
        test += [g[i] for i in idx[:k]]
        train += [g[i] for i in idx[k:]]
    return train, test


def validate(seed: int = 0, embedder=None) -> dict:
    """Held-out accuracy/AUC on demonstrations and false-positive rates on XSTest safe-prompt completions and on
    refusals for held-out taxonomy categories."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    from ..data.loaders import load_xstest_completions
    from ..evals.metrics import wilson

    demos = load_demonstrations() + general_negatives()
    train, test = split(demos, seed=seed)
    refusals = refusal_negatives(limit=None)  # all of them, to hold out a third of the categories
    cats = sorted({d.group[len(REFUSAL):] for d in refusals})
    held = {cats[i] for i in np.random.default_rng(seed).permutation(len(cats))[:len(cats) // 3]}
    ref_train = refusal_negatives(categories=[c for c in cats if c not in held])
    seen = {d.text for d in ref_train}  # generic reasons can make two categories' refusals the same text
    ref_held = [d for d in refusals if d.group[len(REFUSAL):] in held and d.text not in seen]
    clf = ToxicityClassifier(embedder=embedder).fit(train + ref_train)
    p = clf.proba([d.text for d in test])
    y = np.array([d.toxic for d in test], dtype=int)
    pred = (p >= clf.threshold).astype(int)
    acc = float(accuracy_score(y, pred))
    dem = np.array([d.group != "general" for d in test])
    acc_dem = float((pred[dem] == y[dem]).mean())
    auc_dem = float(roc_auc_score(y[dem], p[dem]))
    by_group = {}
    for g in sorted({d.group for d in test}):
        idx = [i for i, d in enumerate(test) if d.group == g]
        by_group[g] = {"n": len(idx), "accuracy": round(float((pred[idx] == y[idx]).mean()), 4)}
    comps = [r for r in load_xstest_completions() if not r["type"].startswith("contrast")]  # the safe prompts
    fp = {}
    for cls, name in (("1_full_compliance", "xstest_safe_compliance"), ("2_full_refusal", "xstest_safe_refusals")):
        texts = [r["response"] for r in comps if r["human"] == cls and r["response"].strip()]
        k = int((clf.proba(texts) >= clf.threshold).sum())
        fp[name] = {"n": len(texts), "flagged": k, "fpr": round(k / len(texts), 4) if texts else None,
                    "ci95": list(wilson(k, len(texts)))}
    k = int((clf.proba([d.text for d in ref_held]) >= clf.threshold).sum())
    fp["safestack_refusals_heldout_categories"] = {"n": len(ref_held), "flagged": k, "categories": sorted(held),
                                                   "fpr": round(k / len(ref_held), 4),
                                                   "ci95": list(wilson(k, len(ref_held)))}
    return {"model": "MiniLM-L6-v2 embeddings + logistic regression (C=1, class weights balanced without the "
                     "refusal negatives)",
            "data": "ToxiGen demonstrations (de-duplicated) + 600 non-jailbroken JailbreakBench artifact responses "
                    "as general negatives + 200 safestack-written refusals (for validation: only those of the "
                    "categories not held out)",
            "train": {"n": len(train) + len(ref_train), "toxic": int(sum(d.toxic for d in train)),
                      "refusals": len(ref_train)},
            "heldout": {"n": len(test), "toxic": int(y.sum()), "accuracy": round(acc, 4),
                        "accuracy_ci95": list(wilson(int((pred == y).sum()), len(y))),
                        "auc": round(float(roc_auc_score(y, p)), 4), "by_group": by_group,
                        "demonstrations_only": {"n": int(dem.sum()), "accuracy": round(acc_dem, 4),
                                                "auc": round(auc_dem, 4)}},
            "false_positives": fp,
            "final_model": f"refit on all {len(demos) + len(refusal_negatives())} training texts",
            "seed": seed}
