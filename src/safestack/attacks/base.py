"""The attack registry. An attack turns a harmful request into the conversation sent to the target.

Attacks are factories registered where they are defined, with metadata: family, tags (e.g. OWASP LLM01), the
``goal`` (what the attack tries to achieve: which defence it tries to get past, and how) and ``multi_turn`` (the
attack holds a real conversation with the target over several turns, as Crescendo does; fabricated dialogue
inside one request, as in few-/many-shot attacks, is not multi-turn). ``make_attack`` stamps both onto the attack
it builds, so the records and the multi-turn ASR read them from the declaration. ``build(prompt, rng)`` returns
the messages. Compose them with ``compose(a, b)``: ``b`` wraps ``a``'s last user turn.

Two optional pieces of metadata:

* ``param``: the attack takes a numeric option that can be written as a name suffix, so ``many_shot_16`` is
  ``many_shot`` with ``n_shots=16`` (the attack is then named ``many_shot_16``).
* ``requires``: resources the factory needs and that no default can stand in for (e.g. ``("translator",)``).
  ``make_attack`` refuses, with a ``BadInput`` naming the missing resource, when one is not passed.
"""

from __future__ import annotations

import inspect
import random
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

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
    goal: str = ""
    n_shots: int | None = None  # fabricated dialogue turns before the request (few-/many-shot), for ASR vs N

    def __call__(self, prompt: str, seed: int = 0) -> list[Message]:
        return self.build(prompt, random.Random(f"{self.name}:{seed}:{prompt}"))


@dataclass
class AttackSpec:
    name: str
    family: str
    factory: Callable[..., Attack]
    description: str
    tags: list[str] = field(default_factory=list)
    requires: tuple[str, ...] = ()
    param: str | None = None
    goal: str = ""
    multi_turn: bool = False


ATTACKS: dict[str, AttackSpec] = {}


def attack(name: str, family: str, description: str, tags: Sequence[str] = (), *, goal: str,
           multi_turn: bool = False, requires: Sequence[str] = (), param: str | None = None):
    """Register an attack factory (called with keyword options, returns an Attack).

    ``goal`` says what the attack tries to achieve; ``multi_turn`` declares a real multi-turn conversation with
    the target (counted in the multi-turn ASR). ``requires`` names keyword options the factory cannot do without;
    ``param`` names an integer option that may be given as a ``<name>_<N>`` suffix.
    """
    if not goal.strip():
        raise ValueError(f"attack '{name}': declare its goal")

    def deco(factory):
        ATTACKS[name] = AttackSpec(name, family, factory, description, list(tags), tuple(requires), param,
                                   goal, multi_turn)
        return factory

    return deco


def _load_all() -> None:
    from . import (crescendo, direct, encoding, gcg, injection, manyshot, obfuscation, pair,  # noqa: F401
                   pasttense, persona, suppression, translation)


def _resolve(name: str) -> tuple[AttackSpec, dict[str, Any]]:
    """The spec for ``name`` and the options its name implies (``many_shot_16`` → ``{"n_shots": 16}``)."""
    if name in ATTACKS:
        return ATTACKS[name], {}
    m = re.fullmatch(r"(.+)_(\d+)", name)
    if m and m.group(1) in ATTACKS and ATTACKS[m.group(1)].param:
        spec = ATTACKS[m.group(1)]
        return spec, {spec.param: int(m.group(2))}
    sweeps = sorted(f"{n}_<N>" for n, s in ATTACKS.items() if s.param)
    raise BadInput(f"unknown attack '{name}' (available: {', '.join(sorted(ATTACKS) + sweeps)})")


def _accepted(factory: Callable[..., Attack], kw: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(factory).parameters
    return {k: v for k, v in kw.items() if k in params}


def available() -> dict[str, AttackSpec]:
    _load_all()
    return ATTACKS


def make_attack(name: str, **kw) -> Attack:
    _load_all()
    if "+" in name:  # composition: "base64+persona_evil"; each part gets the options it accepts
        parts = [make_attack(p, **_accepted(_resolve(p)[0].factory, kw)) for p in name.split("+")]
        out = parts[0]
        for p in parts[1:]:
            out = compose(out, p)
        return out
    spec, implied = _resolve(name)
    missing = [r for r in spec.requires if kw.get(r) is None]
    if missing:
        raise BadInput(f"attack '{name}' needs a {' and a '.join(missing)}, and none is available: pass "
                       f"{', '.join(f'{r}=...' for r in missing)} (e.g. a model wrapped as one)")
    atk = spec.factory(**{**_accepted(spec.factory, kw), **implied})
    if isinstance(atk, Attack):
        return replace(atk, name=name if implied else atk.name, goal=spec.goal, multi_turn=spec.multi_turn)
    atk.goal, atk.multi_turn = spec.goal, spec.multi_turn  # interactive attacks are plain dataclasses
    return atk


def make_attacks(names: str | Sequence[str], **provides: Any) -> list[Attack]:
    """Attacks by name (comma-separated string or list). ``provides`` offers resources (e.g. ``translator=``)
    to the attacks whose factories accept them."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise BadInput("--attacks: no attack named")
    _load_all()
    return [make_attack(n, **(provides if "+" in n else _accepted(_resolve(n)[0].factory, provides)))
            for n in names]


def compose(inner: Attack, outer: Attack) -> Attack:
    """Apply ``inner`` then wrap the final user turn with ``outer``."""
    for a in (inner, outer):
        if not isinstance(a, Attack):
            raise BadInput(f"attack '{a.name}' talks to the target turn by turn and cannot be composed with '+'")

    def build(prompt: str, rng: random.Random) -> list[Message]:
        msgs = inner.build(prompt, rng)
        wrapped = outer.build(msgs[-1].content, rng)
        return msgs[:-1] + wrapped

    return Attack(f"{inner.name}+{outer.name}", f"{inner.family}+{outer.family}", build,
                  f"{inner.description} then {outer.description}", tuple(sorted(set(inner.tags) | set(outer.tags))),
                  inner.multi_turn or outer.multi_turn, f"{inner.goal}; then {outer.goal}",
                  inner.n_shots if inner.n_shots is not None else outer.n_shots)
