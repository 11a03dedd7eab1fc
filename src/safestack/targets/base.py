"""The Target protocol: one async method that answers a batch of conversations."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence, runtime_checkable

from ..records import Message


@dataclass(frozen=True)
class GenParams:
    max_new_tokens: int = 96
    temperature: float = 0.0  # 0 → greedy
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def with_(self, **kw) -> "GenParams":
        return replace(self, **kw)


@runtime_checkable
class Target(Protocol):
    """Anything that can answer chat conversations (a local model, an API, a guarded proxy)."""

    name: str

    async def generate(self, conversations: Sequence[Sequence[Message]], params: GenParams) -> list[str]:
        """One reply per conversation, in order."""
        ...


@runtime_checkable
class LoglikTarget(Protocol):
    """A target that exposes log-likelihoods (local models): the log-probability of each continuation as the
    assistant's reply to its conversation. Used by multiple-choice benches (TruthfulQA MC1/MC2, BBQ)."""

    name: str

    async def loglik(self, contexts: Sequence[Sequence[Message]], continuations: Sequence[str]) -> list[tuple[float, int]]:
        """(sum of log-probs of the continuation's tokens, number of those tokens), one per (context, continuation)."""
        ...
