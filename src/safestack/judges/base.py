"""The Judge protocol and the judge registry.

A judge scores (prompt, response) pairs. ``label`` true means the judged property holds: for ``refusal`` the
response refuses; for ``harm`` it gives real help toward a harmful request. ``score`` is in [0, 1].
Judges are registered as factories with metadata where they are defined (inspect_ai style).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable

from ..records import Verdict
from ..registry import Registry


@dataclass(frozen=True)
class JudgeItem:
    prompt: str
    response: str
    behavior: str | None = None  # the underlying harmful goal when the prompt is an attack wrapper
    context: tuple[str, ...] = ()  # earlier turns, for multi-turn judging
    # what the caller knows about the goal: True when it comes from a set labelled harmful (a bench's harmful half,
    # a red-team source), False when labelled benign, None when unknown (a judge that needs it estimates it)
    goal_harmful: bool | None = None

    @property
    def goal(self) -> str:
        return self.behavior or self.prompt


def known_goal(label: str | None) -> bool | None:
    """``JudgeItem.goal_harmful`` from a sample's label: harmful → True, benign → False, anything else → None."""
    return {"harmful": True, "benign": False}.get(label or "")


@runtime_checkable
class Judge(Protocol):
    name: str

    async def score(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        ...


@dataclass
class JudgeSpec:
    name: str
    kind: str  # what ``label`` true means: refusal | harm | toxicity | rubric (the grader's rubric decides)
    description: str
    factory: Callable[..., Judge]
    tags: tuple[str, ...] = ()
    calibration: Callable[[], dict | None] | None = None  # where its calibration is stored, if not judges/calibration


def _load_all() -> None:
    from . import harm, hf_cls, learned, llm_judge, refusal, toxicity  # noqa: F401  (registration)


JUDGES: Registry[JudgeSpec] = Registry("judge", _load_all)


def judge(name: str, kind: str, description: str, tags: Sequence[str] = (),
          calibration: Callable[[], dict | None] | None = None):
    """Register a judge factory under ``name``; ``kind`` says what its ``label`` true means."""

    def deco(factory):
        JUDGES.add(JudgeSpec(name, kind, description, factory, tuple(tags), calibration))
        return factory

    return deco


def make_judge(name: str, **kw) -> Judge:
    return JUDGES.spec(name).factory(**kw)
