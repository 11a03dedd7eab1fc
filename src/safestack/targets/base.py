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
