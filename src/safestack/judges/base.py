"""The Judge protocol and the judge registry.

A judge scores (prompt, response) pairs. ``label`` true means the judged property holds: for ``refusal`` the
response refuses; for ``harm`` it gives real help toward a harmful request. ``score`` is in [0, 1].
Judges are registered as factories with metadata where they are defined (inspect_ai style).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, runtime_checkable

from ..errors import BadInput
from ..records import Verdict


@dataclass(frozen=True)
class JudgeItem:
    prompt: str
    response: str
    behavior: str | None = None  # the underlying harmful goal when the prompt is an attack wrapper
    context: tuple[str, ...] = ()  # earlier turns, for multi-turn judging

    @property
    def goal(self) -> str:
        return self.behavior or self.prompt


@runtime_checkable
class Judge(Protocol):
    name: str

    async def score(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        ...


@dataclass
class JudgeSpec:
    name: str
    factory: Callable[..., Judge]
    description: str
    tags: list[str] = field(default_factory=list)
    calibration: Callable[[], dict | None] | None = None  # where its calibration is stored, if not judges/calibration


JUDGES: dict[str, JudgeSpec] = {}


def judge(name: str, description: str, tags: Sequence[str] = (), calibration: Callable[[], dict | None] | None = None):
    """Register a judge factory under ``name``."""

    def deco(factory):
        JUDGES[name] = JudgeSpec(name, factory, description, list(tags), calibration)
        return factory

    return deco


def make_judge(name: str, **kw) -> Judge:
    from . import harm, hf_cls, learned, llm_judge, refusal, toxicity  # noqa: F401  (registration)

    if name not in JUDGES:
        raise BadInput(f"unknown judge '{name}' (available: {', '.join(sorted(JUDGES))})")
    return JUDGES[name].factory(**kw)
