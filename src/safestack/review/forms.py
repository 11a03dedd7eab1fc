"""Submitted forms → review labels, validated field by field (a bad form is a 400 naming the field)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..errors import BadInput
from ..taxonomy import Taxonomy
from .items import ABItem, ExpertItem, GuardItem, verdict_labels
from .records import EXPERT_ACTIONS, GUARD_LABELS, ReviewLabel

SCORE_FIELDS = ("safety", "usefulness")


def _bool(form: dict[str, str], name: str) -> bool:
    v = form.get(name)
    if v not in ("true", "false"):
        raise BadInput(f"field '{name}': choose yes or no")
    return v == "true"


def base_rev(form: dict[str, str]) -> int:
    try:
        return int(form.get("rev", ""))
    except ValueError:
        raise BadInput("field 'rev' is missing: reload the page and submit again") from None


def _common(form: dict[str, str], queue: str, item: str, reviewer: str, action: str) -> dict[str, Any]:
    nonce = form.get("nonce", "")
    if len(nonce) < 16:
        raise BadInput("field 'nonce' is missing: reload the page and submit again")
    note = (form.get("note") or "").strip() or None
    return {"id": uuid.uuid4().hex, "queue": queue, "item": item, "reviewer": reviewer, "ts": time.time(),
            "action": action, "nonce": nonce, "note": note}


def expert_label(item: ExpertItem, form: dict[str, str], reviewer: str) -> ReviewLabel:
    action = form.get("action", "")
    if action not in EXPERT_ACTIONS:
        raise BadInput(f"field 'action': expected one of {', '.join(EXPERT_ACTIONS)}")
    judged = verdict_labels(item.verdicts)
    verdicts: dict[str, bool] | None = None
    if action == "confirm":
        verdicts = dict(judged)
    elif action == "correct":
        verdicts = {k: _bool(form, k) for k in ("refusal", "harm")}
    chosen = (form.get("chosen") or "").strip() or None
    if chosen is not None and (item.chosen is None or chosen == item.chosen.strip()):
        chosen = None  # only an edit of a pair's chosen refusal is kept
    if action == "correct" and chosen is None and all(verdicts.get(k) == v for k, v in judged.items()) \
            and judged.keys() >= {"refusal", "harm"}:
        raise BadInput("nothing corrected: the verdicts equal the judges' and the chosen refusal is unchanged "
                       "(use confirm)")
    ctx = {"prompt": item.prompt, "response": item.response, "category": item.category, "severity": item.severity,
           "attack": item.attack, "kind": item.kind, "chosen": item.chosen,
           "scores": {k: v.score for k, v in item.verdicts.items()}}
    return ReviewLabel(**_common(form, "expert", item.id, reviewer, action), verdicts=verdicts,
                       judge_verdicts=judged or None, chosen=chosen if action != "drop" else None,
                       category=item.category, context=ctx)


def _score(form: dict[str, str], name: str, side: str) -> int:
    v = form.get(f"{name}_{side}", "")
    if v not in ("1", "2", "3", "4", "5"):
        raise BadInput(f"field '{name}' for response {side}: pick a score from 1 to 5")
    return int(v)


def ab_label(item: ABItem, form: dict[str, str], reviewer: str) -> ReviewLabel:
    """Scores come in as A/B (what the rater saw) and are stored per arm (before/after)."""
    order = item.order
    arm = dict(zip("AB", order))
    scores = {name: {arm[s]: _score(form, name, s) for s in "AB"} for name in SCORE_FIELDS}
    prefer = form.get("prefer", "")
    if prefer not in ("A", "B", "tie"):
        raise BadInput("field 'prefer': choose A, B or tie")
    ctx = {"prompt": item.prompt, "bench": item.bench, "sample_id": item.sample_id, "label": item.label,
           "category": item.category, "responses": item.responses,
           "judges": {a: verdict_labels(v) for a, v in item.verdicts.items()}}
    return ReviewLabel(**_common(form, "ab", item.id, reviewer, "rate"), scores=scores,
                       prefer="tie" if prefer == "tie" else arm[prefer], order=order, context=ctx)


def guard_label(item: GuardItem, form: dict[str, str], reviewer: str, taxonomy: Taxonomy) -> ReviewLabel:
    label = form.get("label", "")
    if label not in GUARD_LABELS:
        raise BadInput(f"field 'label': expected {' or '.join(GUARD_LABELS)}")
    cat = (form.get("category") or "").strip() or None
    ids = {c.id for c in taxonomy.categories}
    if cat is not None and cat not in ids:
        raise BadInput(f"field 'category': unknown category '{cat}'")
    if label == "benign":
        cat = "benign" if "benign" in ids else None
    ctx = {"text": item.text, "side": item.side, "guard_category": item.category, "guard_score": item.score,
           "request_id": item.request_id}
    return ReviewLabel(**_common(form, "guard", item.id, reviewer, "label"), label=label, category=cat, context=ctx)
