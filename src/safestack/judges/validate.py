"""How well the learned judges hold on text they were not trained on.

* ``leave_one_source_out``: for every training source (``sources.SOURCES``), a model trained on all the others
  (their augmentations included) judges that source's rows (its augmentations included). Reported per source and
  per augmentation, with bootstrap 95 % CIs; the worst source is the headline.
* ``leave_one_family_out``: within XSTest, each model family's human-labelled completions judged by a model that
  saw neither them nor their augmentations (the other sources are in every fold).
* ``regression``: any judge on the hand-checked regression file (``tests/data/judge_regression.jsonl``: typographic
  text, persona prefixes, off-topic replies, soft refusals, benign on-topic answers, controls), written by hand
  apart from the training sources and never trained on; accuracy per error class.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import BadInput
from ..records import read_jsonl
from .calibrate import binary_stats, bootstrap_ci, items_of

FitPredict = Callable[[Sequence[int], Sequence[int]], np.ndarray]  # (train rows, test rows) → [n_test, 2] probabilities

KEYS = ("refusal", "harm")


def agreement(gold: Sequence[bool], pred: Sequence[bool], n_boot: int = 500) -> dict:
    """Accuracy with its bootstrap 95 % CI, Cohen's kappa and the confusion counts of ``pred`` against ``gold``."""
    s = binary_stats(gold, pred)
    ci = bootstrap_ci(gold, pred, n_boot)
    return {"n": s["n"], "accuracy": round(s["accuracy"], 4), "ci95": ci["accuracy"], "kappa": round(s["kappa"], 4),
            "confusion": s["confusion"]}


def scored(rows: Sequence[dict], p: np.ndarray, idx: Sequence[int]) -> dict:
    """{refusal|harm: {all: stats, by_aug: {aug: stats}}} for the rows ``idx`` given probabilities ``p`` [n, 2]."""
    out = {}
    for k, key in enumerate(KEYS):
        have = [(j, rows[i]) for j, i in enumerate(idx) if rows[i].get(key) is not None]
        if not have:
            continue
        gold = [bool(r[key]) for _, r in have]
        pred = [bool(p[j, k] >= 0.5) for j, _ in have]
        by_aug = {}
        for aug in sorted({r.get("aug") or "original" for _, r in have}):
            sel = [t for t, (_, r) in enumerate(have) if (r.get("aug") or "original") == aug]
            by_aug[aug] = agreement([gold[t] for t in sel], [pred[t] for t in sel], 200)
        out[key] = {**agreement(gold, pred), "by_aug": by_aug}
    return out


def leave_one_source_out(rows: Sequence[dict], fit_predict: FitPredict, sources: Sequence[str],
                         log: Callable[[str], None] = print) -> dict:
    folds = {}
    for s in sources:
        test = [i for i, r in enumerate(rows) if r["source"] == s]
        train = [i for i, r in enumerate(rows) if r["source"] != s]
        if not test:
            raise BadInput(f"leave-one-source-out: no rows of source '{s}'")
        log(f"leave out {s}: train on {len(train)} rows, judge {len(test)}")
        folds[s] = scored(rows, fit_predict(train, test), test)
        log("  " + "; ".join(f"{k} {folds[s][k]['accuracy']:.3f}" for k in KEYS if k in folds[s]))
    return {"split": "leave-one-source-out: each source judged by a model trained on the other sources only "
                     "(augmentations travel with their source)",
            "by_source": folds, "worst": worst(folds)}


def worst(folds: dict) -> dict:
    out = {}
    for key in KEYS:
        have = [(s, f[key]["accuracy"]) for s, f in folds.items() if key in f]
        if have:
            s, a = min(have, key=lambda t: t[1])
            out[key] = {"source": s, "accuracy": a, "ci95": folds[s][key]["ci95"]}
    return out


def leave_one_family_out(rows: Sequence[dict], fit_predict: FitPredict, log: Callable[[str], None] = print) -> dict:
    fams = sorted({r.get("group") for r in rows if r["source"] == "xstest"})
    folds, p_all, idx_all = {}, [], []
    for fam in fams:
        test = [i for i, r in enumerate(rows) if r["source"] == "xstest" and r.get("group") == fam and not r["aug"]]
        train = [i for i, r in enumerate(rows) if not (r["source"] == "xstest" and r.get("group") == fam)]
        log(f"XSTest, leave out family {fam}: train on {len(train)} rows, judge {len(test)}")
        p = fit_predict(train, test)
        folds[fam] = scored(rows, p, test)
        p_all.append(p)
        idx_all += test
    pooled = scored(rows, np.vstack(p_all), idx_all)
    return {"split": "XSTest human labels, leave-one-model-family-out (gpt4, llama2, mistral); the other sources "
                     "in every fold", "pooled": pooled, "by_family": folds}


def load_regression(path: str | Path) -> list[dict]:
    rows = read_jsonl(path, required=("prompt", "response"))
    for i, r in enumerate(rows, 1):
        for key in KEYS:
            if not isinstance(r.get(key), bool):
                raise BadInput(f"{path}:{i}: field '{key}' must be true or false")
    return rows


def regression(judges: dict, rows: Sequence[dict]) -> dict:
    """{judge name: {"accuracy", "ci95", "by_class": {error_class: accuracy}}} — ``judges`` maps a label key
    (refusal | harm) to a judge; each is scored against that key."""
    out = {}
    items = items_of(rows)
    for key, judge in judges.items():
        pred = [v.label for v in asyncio.run(judge.score(items))]
        gold = [bool(r[key]) for r in rows]
        by = {}
        for c in sorted({r.get("error_class", "all") for r in rows}):
            sel = [i for i, r in enumerate(rows) if r.get("error_class", "all") == c]
            by[c] = round(sum(pred[i] == gold[i] for i in sel) / len(sel), 4)
        out[key] = {"judge": getattr(judge, "spec_name", judge.name), **agreement(gold, pred), "by_class": by}
    return out


def halves(judges: dict, rows: Sequence[dict]) -> dict:
    """The regression file's two halves by id: ``dev_half`` (odd ids: its failures were read while writing the rules
    — not held out) and ``test_half`` (even ids: never read — held out)."""

    def odd(r):
        digits = "".join(ch for ch in str(r.get("id", "")) if ch.isdigit())
        return int(digits or 0) % 2 == 1

    return {"dev_half": regression(judges, [r for r in rows if odd(r)]),
            "test_half": regression(judges, [r for r in rows if not odd(r)])}


def human_replies(judges: dict) -> dict | None:
    """``judges`` ({refusal|harm: judge}) on the embedded model's replies to human-written requests, held-out part
    (``data.loaders.load_hh_reply_labels``: two labellers; rows they disagreed on left out; each judge gets the
    request's label as the benches pass it). None when the file is not installed."""
    from ..data.loaders import load_hh_reply_labels

    try:
        rows = load_hh_reply_labels("heldout")
    except BadInput:  # the file is not installed
        return None
    out = {"data": "replies to human-written requests (HH-RLHF held-out first turns), two labellers", "held_out": True}
    for key, judge in judges.items():
        have = [r for r in rows if r.get(key) is not None]
        if not have:
            continue
        items = items_of([{"prompt": r["prompt"], "response": r["reply"],
                           "goal_harmful": r["request_label"] == "harmful"} for r in have])
        pred = [v.label for v in asyncio.run(judge.score(items))]
        out[key] = agreement([bool(r[key]) for r in have], pred)
    return out


def model_human_replies(model) -> dict | None:
    """A trained model's ``refusal`` and ``harm`` judges on the held-out replies to human-written requests."""
    from .learned import LearnedJudge

    return human_replies({k: LearnedJudge(k, model=model) for k in KEYS})


def model_regression(model, path: str | Path) -> dict:
    """A trained model's ``refusal`` and ``harm`` judges on the regression file: all of it and its two halves."""
    from .learned import LearnedJudge

    rows = load_regression(path)
    if not rows:
        raise BadInput(f"{path}: no rows")
    js = {k: LearnedJudge(k, model=model) for k in KEYS}
    return {"file": Path(path).name, **regression(js, rows), **halves(js, rows)}
