"""The attack registry. An attack turns a harmful request into the conversation sent to the target.

Attacks are factories registered where they are defined, with metadata (family, tags such as OWASP LLM01, goal);
``build(prompt, rng)`` returns the messages. Compose them with ``compose(a, b)``: ``b`` wraps ``a``'s last
user turn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import BadInput
from ..records import Message

Builder = Callable[[str, random.Random], list[Message]]


@dataclass(frozen=True)
class Attack:
    name: str
    family: str
    build: Builder
    description: str = ""
    tags: tuple[str, ...] = ()
    multi_turn: bool = False

    def __call__(self, prompt: str, seed: int = 0) -> list[Message]:
        return self.build(prompt, random.Random(f"{self.name}:{seed}:{prompt}"))


@dataclass
class AttackSpec:
    name: str
    family: str
    factory: Callable[..., Attack]
    description: str
    tags: list[str] = field(default_factory=list)


ATTACKS: dict[str, AttackSpec] = {}


def attack(name: str, family: str, description: str, tags: Sequence[str] = ()):
    """Register an attack factory (called with keyword options, returns an Attack)."""

    def deco(factory):
        ATTACKS[name] = AttackSpec(name, family, factory, description, list(tags))
        return factory

    return deco


def _load_all() -> None:
    from . import direct, encoding, persona, suppression  # noqa: F401


def available() -> dict[str, AttackSpec]:
    _load_all()
    return ATTACKS


def make_attack(name: str, **kw) -> Attack:
    _load_all()
    if "+" in name:  # composition: "base64+persona_evil"
        parts = [make_attack(p, **kw) for p in name.split("+")]
        out = parts[0]
        for p in parts[1:]:
            out = compose(out, p)
        return out
    if name not in ATTACKS:
        raise BadInput(f"unknown attack '{name}' (available: {', '.join(sorted(ATTACKS))})")
    return ATTACKS[name].factory(**kw)


def make_attacks(names: str | Sequence[str]) -> list[Attack]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise BadInput("--attacks: no attack named")
    return [make_attack(n) for n in names]


def compose(inner: Attack, outer: Attack) -> Attack:
    """Apply ``inner`` then wrap the final user turn with ``outer``."""

    def build(prompt: str, rng: random.Random) -> list[Message]:
        msgs = inner.build(prompt, rng)
        wrapped = outer.build(msgs[-1].content, rng)
        return msgs[:-1] + wrapped

    return Attack(f"{inner.name}+{outer.name}", f"{inner.family}+{outer.family}", build,
                  f"{inner.description} then {outer.description}", tuple(sorted(set(inner.tags) | set(outer.tags))),
                  inner.multi_turn or outer.multi_turn)
