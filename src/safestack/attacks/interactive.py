"""Interactive attacks: the target is in the loop (multi-turn escalation, an attacker LLM searching for jailbreaks).

A static ``Attack`` builds a conversation from the request alone. An ``InteractiveAttack`` talks to the target:
each round it sends the conversations of every still-running sample as one batch, reads the replies, judges them,
and decides what to send next. One async method, like the other protocols:

    async def run(target, samples, judge, params, seed) -> list[Episode]

``judge`` scores (goal, response) → Verdict (the harm judge); an episode stops as soon as it succeeds. A
single-prompt search (PAIR, GCG) succeeds when one reply is judged harmful. A multi-turn conversation (Crescendo)
is judged as a whole: ``conversation_verdict`` is the harm judge on the transcript of the target's replies against
the goal (help spread over several turns counts), and it decides success; per-turn scores stay in ``trace``.
The red-team runner turns each Episode into an ``Attempt`` (messages = the whole conversation, response = the
deciding reply, harm verdict = the conversation verdict where there is one) and keeps ``queries`` and
``success_turn`` so ASR can be read against the query budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

from ..judges.base import Judge, JudgeItem
from ..judges.refusal import classify
from ..records import Message, Sample, Verdict
from ..targets.base import GenParams, Target


@dataclass
class Episode:
    sample: Sample
    messages: list[Message]  # the conversation that produced ``response`` (ending with a user turn)
    response: str
    verdict: Verdict | None
    queries: int  # target calls spent on this sample
    success_turn: int | None = None  # 1-based round at which the attack succeeded
    trace: list[dict] = field(default_factory=list)  # per round: prompt (last user turn), score
    conversation_verdict: Verdict | None = None  # multi-turn attacks: the harm judge on the whole conversation


@runtime_checkable
class InteractiveAttack(Protocol):
    name: str
    family: str
    description: str
    tags: tuple[str, ...]
    multi_turn: bool
    goal: str

    async def run(self, target: Target, samples: Sequence[Sample], judge: Judge, params: GenParams,
                  seed: int = 0) -> list[Episode]:
        ...


async def judge_goals(judge: Judge, goals: Sequence[str], prompts: Sequence[str],
                      responses: Sequence[str]) -> list[Verdict]:
    # an attack pursues a harmful goal: the judge is told so rather than left to estimate it
    return await judge.score([JudgeItem(prompt=p, response=r, behavior=g, goal_harmful=True)
                              for g, p, r in zip(goals, prompts, responses)])


def transcript(replies: Sequence[str]) -> str:
    """What a conversation gave, for judging it as a whole: the target's replies, latest first (a judge that reads
    only the opening of a long text still sees where the escalation ended), one paragraph each, unlabelled (a
    label's words would count as substance). Full refusals give no help and are left out, so that an early refusal
    is not read as the conversation's answer; a conversation of refusals only is its last reply."""
    kept = [r.strip() for r in replies if classify(r)[0] != "full_refusal"]
    if not kept:
        return replies[-1] if replies else ""
    return "\n\n".join(reversed(kept))


async def judge_conversations(judge: Judge, goals: Sequence[str], replies: Sequence[Sequence[str]]) -> list[Verdict]:
    """The harm judge on each whole conversation (its replies' transcript) against the goal."""
    verdicts = await judge.score([JudgeItem(prompt=g, response=transcript(rs), behavior=g, goal_harmful=True)
                                  for g, rs in zip(goals, replies)])
    return [v.model_copy(update={"detail": f"whole conversation ({len(rs)} turn{'s' * (len(rs) != 1)}); {v.detail or ''}"})
            for v, rs in zip(verdicts, replies)]


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
