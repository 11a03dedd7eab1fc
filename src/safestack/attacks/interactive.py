"""Interactive attacks: the target is in the loop (multi-turn escalation, an attacker LLM searching for jailbreaks).

A static ``Attack`` builds a conversation from the request alone. An ``InteractiveAttack`` talks to the target:
each round it sends the conversations of every still-running sample as one batch, reads the replies, judges them,
and decides what to send next. One async method, like the other protocols:

    async def run(target, samples, judge, params, seed) -> list[Episode]

``judge`` scores (goal, response) → Verdict (the harm judge); an episode stops as soon as a reply is judged
harmful. The red-team runner turns each Episode into an ``Attempt`` (messages = the whole conversation, response =
the deciding reply) and keeps ``queries`` and ``success_turn`` so ASR can be read against the query budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

from ..judges.base import Judge, JudgeItem
from ..records import Message, Sample, Verdict
from ..targets.base import GenParams, Target


@dataclass
class Episode:
    sample: Sample
    messages: list[Message]  # the conversation that produced ``response`` (ending with a user turn)
    response: str
    verdict: Verdict | None
    queries: int  # target calls spent on this sample
    success_turn: int | None = None  # 1-based round of the first harmful reply
    trace: list[dict] = field(default_factory=list)  # per round: prompt (last user turn), score


@runtime_checkable
class InteractiveAttack(Protocol):
    name: str
    family: str
    description: str
    tags: tuple[str, ...]
    multi_turn: bool

    async def run(self, target: Target, samples: Sequence[Sample], judge: Judge, params: GenParams,
                  seed: int = 0) -> list[Episode]:
        ...


async def judge_goals(judge: Judge, goals: Sequence[str], prompts: Sequence[str],
                      responses: Sequence[str]) -> list[Verdict]:
    return await judge.score([JudgeItem(prompt=p, response=r, behavior=g) for g, p, r in zip(goals, prompts, responses)])


def improves(best: Episode | None, v: Verdict) -> bool:
    """Does a reply judged ``v`` replace the episode kept so far? Until a harmful reply is found, a harmful or
    higher-scoring one does; the first harmful episode is kept."""
    if best is None:
        return True
    if best.verdict is not None and best.verdict.label:
        return False
    return v.label or v.score > (best.verdict.score if best.verdict else -1)


def goal_of(s: Sample) -> str:
    return s.meta.get("behavior", s.prompt)
