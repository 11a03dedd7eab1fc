"""Judge calibration against labelled data: accuracy, precision, recall, F1 and Cohen's κ with bootstrap CIs,
a confusion matrix and examples of failures.

Label files are JSONL rows ``{"prompt", "response", "label": bool, "behavior"?, "group"?}`` (``group`` e.g. the
model that wrote the response, for per-group breakdowns). Built-in label sets:

* ``xstest-human``: XSTest's 2,250 completions (5 models) with two human annotations each; refusal = full or
  partial refusal (the XSTest paper's convention).
* ``xstest-harm``: the 1,000 of them answering XSTest's 200 unsafe prompts; harmful = the humans' "full
  compliance" (help with an unsafe request) — human labels for the harm judge.
* ``jbb-judge``: JailbreakBench artifacts (goal, jailbreak prompt, target response) with JBB's own judge label
  (Llama-3-70B, not human) — for the harm judge.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Sequence

from ..errors import BadInput
from ..records import read_jsonl
from .base import Judge, JudgeItem


def binary_stats(gold: Sequence[bool], pred: Sequence[bool]) -> dict:
    tp = sum(g and p for g, p in zip(gold, pred))
    tn = sum((not g) and (not p) for g, p in zip(gold, pred))
    fp = sum((not g) and p for g, p in zip(gold, pred))
    fn = sum(g and (not p) for g, p in zip(gold, pred))
    n = tp + tn + fp + fn
    acc = (tp + tn) / n if n else 0.0
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    # Cohen's kappa: (p_o − p_e) / (1 − p_e)
    pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n) if n else 0.0
    kappa = (acc - pe) / (1 - pe) if pe < 1 else 1.0
    return {"n": n, "accuracy": acc, "precision": prec, "recall": rec, "f1": f1, "kappa": kappa,
            "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}}


def bootstrap_ci(gold: Sequence[bool], pred: Sequence[bool], n_boot: int = 1000, seed: int = 0) -> dict:
    """95% percentile bootstrap intervals for every statistic of ``binary_stats``."""
    rng = random.Random(seed)
    idx = list(range(len(gold)))
    keys = ("accuracy", "precision", "recall", "f1", "kappa")
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n_boot):
        b = [rng.choice(idx) for _ in idx]
        s = binary_stats([gold[i] for i in b], [pred[i] for i in b])
        for k in keys:
            samples[k].append(s[k])
    out = {}
    for k, v in samples.items():
        v.sort()
        out[k] = [round(v[int(0.025 * n_boot)], 4), round(v[int(0.975 * n_boot) - 1], 4)]
    return out


def builtin_labels(name: str) -> list[dict]:
    if name == "xstest-human":
        from ..data import load_xstest_completions

        return [{"prompt": r["prompt"], "response": r["response"], "label": r["human"] != "1_full_compliance",
                 "group": r["model"], "family": model_family(r["model"])} for r in load_xstest_completions()]
    if name == "xstest-harm":
        from ..data import load_xstest_completions

        return [{"prompt": r["prompt"], "response": r["response"], "label": r["human"] == "1_full_compliance",
                 "group": r["model"], "family": model_family(r["model"])}
                for r in load_xstest_completions() if r["type"].startswith("contrast")]
    if name == "jbb-judge":
        from ..data.loaders import load_jbb_artifacts

        return [{"prompt": r["prompt"], "behavior": r["goal"], "response": r["response"], "label": r["jailbroken"],
                 "group": r["method"]} for r in load_jbb_artifacts()]
    raise BadInput(f"unknown built-in label set '{name}' (xstest-human, xstest-harm, jbb-judge, or a JSONL file)")


def model_family(model: str) -> str:
    """XSTest's five completion sets come from three model families (llama2orig/llama2new share weights)."""
    for fam in ("llama2", "mistral", "gpt4"):
        if model.startswith(fam):
            return fam
    return model


# label sets drawn from the same responses: training on one is training on the other's rows
CORPUS = {"xstest-human": "xstest", "xstest-harm": "xstest", "jbb-judge": "jbb"}


def corpus_of(labels: str) -> str:
    return CORPUS.get(labels, labels)


def training_sources(trained_on: dict) -> list[dict]:
    """A weights file's ``trained_on``: ``{"sources": [{"labels", "key", "groups"}, …]}`` or one such dict."""
    if not trained_on:
        return []
    return list(trained_on.get("sources") or [trained_on])


def held_out_rows(judge: Judge, rows: Sequence[dict], data: str) -> tuple[list[dict], str | None]:
    """Drop the rows a learned judge was trained on (same label set — or one from the same corpus — and group);
    raises if nothing is left."""
    srcs = [t for t in training_sources(getattr(judge, "trained_on", None) or {})
            if t.get("labels") and corpus_of(t["labels"]) == corpus_of(data)]
    if not srcs:
        return list(rows), None
    keep, notes = list(rows), []
    for t in srcs:
        key, seen = t.get("key", "group"), set(t.get("groups") or [])
        keep = [r for r in keep if str(r.get(key)) not in seen] if seen else []
        notes.append(f"{key} not in {sorted(seen)} (trained on {t['labels']})")
    if not keep:
        raise BadInput(f"judge '{judge.name}' was trained on all of '{data}' (or its corpus): calibrating on it would "
                       f"score the judge on its own training data; use other labels or retrain with `safestack judge "
                       f"train --holdout` / `--cv`")
    return keep, f"held out: {'; '.join(notes)} ({len(rows) - len(keep)} training rows excluded)"


def load_labels(spec: str, key: str | None = None) -> list[dict]:
    """A built-in label set, or a JSONL file whose rows carry a bool ``label`` — or, when ``key`` is given (the
    judge's kind: refusal | harm) and a row has no ``label``, that field (the regression file has both)."""
    if Path(spec).exists() or spec.endswith(".jsonl"):
        rows = read_jsonl(spec, required=("prompt", "response"))
        for i, r in enumerate(rows, 1):
            if "label" not in r and key and key in r:
                r["label"] = r[key]
            if not isinstance(r.get("label"), bool):
                raise BadInput(f"{spec}:{i}: field 'label' must be true or false" + (f" (or give field '{key}')" if key
                                                                                       else ""))
        return rows
    return builtin_labels(spec)


def items_of(rows: Sequence[dict]) -> list[JudgeItem]:
    """Rows {"prompt", "response", "behavior"?, "goal_harmful"?} → judge items."""
    return [JudgeItem(prompt=r["prompt"], response=r["response"], behavior=r.get("behavior"),
                      goal_harmful=r.get("goal_harmful")) for r in rows]


def rounded(stats: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in stats.items()}


def calibrate(judge: Judge, rows: Sequence[dict], *, data: str, n_boot: int = 1000, n_failures: int = 6) -> dict:
    rows, split = held_out_rows(judge, rows, data)
    items = items_of(rows)
    verdicts = asyncio.run(judge.score(items))
    gold = [bool(r["label"]) for r in rows]
    pred = [v.label for v in verdicts]
    stats = binary_stats(gold, pred)
    out = {"judge": judge.name, "data": data, **rounded(stats), "ci95": bootstrap_ci(gold, pred, n_boot)}
    if split:
        out["split"] = split
    groups = sorted({r.get("group") for r in rows if r.get("group")})
    if groups:
        out["by_group"] = {g: round(binary_stats([x for x, r in zip(gold, rows) if r.get("group") == g],
                                                 [x for x, r in zip(pred, rows) if r.get("group") == g])["accuracy"], 4)
                           for g in groups}
    fails = [(r, v) for r, v, g in zip(rows, verdicts, gold) if v.label != g]
    out["failures"] = [{"gold": bool(r["label"]), "pred": v.label, "detail": v.detail,
                        "response": r["response"][:240]} for r, v in fails[:n_failures]]
    return out


def save_calibration(cal: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(cal, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
