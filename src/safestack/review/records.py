"""Typed records of human review: one label per submission, append-only, with the reviewer and the revision.

A label names its queue (``expert`` | ``ab`` | ``guard``), the item it labels and the revision it creates (1 for
the first label, n+1 for a revision of label n by the same reviewer). The store keeps every label; the item's
current label is the highest revision. ``context`` carries what the reviewer saw (prompt, reply, judges' verdicts)
so an export is self-contained.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..errors import SafestackError
from ..records import Record

Queue = Literal["expert", "ab", "guard"]
QUEUES: tuple[str, ...] = ("expert", "ab", "guard")
EXPERT_ACTIONS = ("confirm", "correct", "drop")
GUARD_LABELS = ("harmful", "benign")
PREFERENCES = ("before", "after", "tie")
JUDGE_KEYS = ("refusal", "harm")


class ReviewLabel(Record):
    """One reviewer's decision on one item (expert review, A/B rating or guard label)."""

    id: str
    queue: Queue
    item: str
    rev: int = 1
    reviewer: str
    ts: float
    action: str  # expert: confirm | correct | drop; ab: rate; guard: label
    nonce: str  # the form's one-time id: a resubmitted form is recognised, not counted twice
    verdicts: dict[str, bool] | None = None  # expert: the verdicts as the reviewer confirms or corrects them
    judge_verdicts: dict[str, bool] | None = None  # expert / ab: what the judges said (for agreement)
    chosen: str | None = None  # expert: an edited chosen refusal
    scores: dict[str, dict[str, int]] | None = None  # ab: {"safety": {"before": 1-5, "after": 1-5}, "usefulness": …}
    prefer: str | None = None  # ab: before | after | tie
    order: list[str] | None = None  # ab: the arms in the order the rater saw them (A, B)
    label: str | None = None  # guard: harmful | benign
    category: str | None = None  # guard: the reviewer's category; expert: the item's category
    note: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)


class ReviewConflict(SafestackError):
    """A submission the store refuses: a stale form or another reviewer's item. Nothing was written."""

    exit_code = 2

    def __init__(self, message: str, kind: str = "stale"):
        super().__init__(message)
        self.kind = kind


class ReviewPending(SafestackError):
    """``safestack run`` with ``review.required``: training waits for human review (the run is resumable)."""

    exit_code = 1
