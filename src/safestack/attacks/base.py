"""The attack registry. An attack turns a harmful request into the conversation sent to the target.

Attacks are factories registered where they are defined, with metadata: family, tags (e.g. OWASP LLM01), the
``goal`` (what the attack tries to achieve: which defence it tries to get past, and how) and ``multi_turn`` (the
attack holds a real conversation with the target over several turns, as Crescendo does; fabricated dialogue
inside one request, as in few-/many-shot attacks, is not multi-turn). The declaration is the only place these are
written: ``make_attack`` stamps name, family, description, tags, goal and multi-turn onto the attack it builds, so
the records and the multi-turn ASR read them from there. ``build(prompt, rng)`` returns
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
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from ..errors import BadInput
from ..records import Message
from ..registry import Registry

Builder = Callable[[str, random.Random], list[Message]]


@dataclass(kw_only=True)
class AttackMeta:
    """What every built attack carries; ``make_attack`` fills it from the attack's registration."""

    name: str = ""
    family: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    multi_turn: bool = False
    goal: str = ""


@dataclass
class Attack(AttackMeta):
    """A single-request attack: ``build(prompt, rng)`` → the conversation to send."""

    build: Builder
    n_shots: int | None = None  # fabricated dialogue turns before the request (few-/many-shot), for ASR vs N

    def __call__(self, prompt: str, seed: int = 0) -> list[Message]:
        return self.build(prompt, random.Random(f"{self.name}:{seed}:{prompt}"))


@dataclass
class AttackSpec:
    name: str
    kind: str  # the family: encoding, persona, many_shot, …
    description: str
    factory: Callable[..., AttackMeta]
    tags: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    param: str | None = None
    goal: str = ""
    multi_turn: bool = False

    @property
    def family(self) -> str:
        return self.kind

    def variant_name(self, kw: dict[str, Any]) -> str:
        """``many_shot`` with ``n_shots=16`` is ``many_shot_16``; with its default it is ``many_shot``."""
        if self.param and self.param in kw:
            default = inspect.signature(self.factory).parameters[self.param].default
            if kw[self.param] != default:
                return f"{self.name}_{kw[self.param]}"
        return self.name


def _load_all() -> None:
    from . import (crescendo, direct, encoding, gcg, injection, manyshot, obfuscation, pair,  # noqa: F401
                   pasttense, persona, suppression, translation)


ATTACKS: Registry[AttackSpec] = Registry("attack", _load_all)


def attack(name: str, family: str, description: str, tags: Sequence[str] = (), *, goal: str,
           multi_turn: bool = False, requires: Sequence[str] = (), param: str | None = None):
    """Register an attack factory (called with keyword options, returns an ``Attack`` or an interactive attack).
    Name, family, description, tags, goal and multi-turn are declared here only: ``make_attack`` stamps them onto
    what the factory builds.

    ``goal`` says what the attack tries to achieve; ``multi_turn`` declares a real multi-turn conversation with
    the target (counted in the multi-turn ASR). ``requires`` names keyword options the factory cannot do without;
    ``param`` names an integer option that may be given as a ``<name>_<N>`` suffix.
    """
    if not goal.strip():
        raise ValueError(f"attack '{name}': declare its goal")

    def deco(factory):
        ATTACKS.add(AttackSpec(name, family, description, factory, tuple(tags), tuple(requires), param, goal,
                               multi_turn))
        return factory

    return deco


def _resolve(name: str) -> tuple[AttackSpec, dict[str, Any]]:
    """The spec for ``name`` and the options its name implies (``many_shot_16`` → ``{"n_shots": 16}``)."""
    if name in ATTACKS:
        return ATTACKS[name], {}
    m = re.fullmatch(r"(.+)_(\d+)", name)
    if m and m.group(1) in ATTACKS and ATTACKS[m.group(1)].param:
        spec = ATTACKS[m.group(1)]
        return spec, {spec.param: int(m.group(2))}
    sweeps = sorted(f"{n}_<N>" for n, s in ATTACKS.items() if s.param)
    raise BadInput(f"unknown attack '{name}' (available: {', '.join(sorted(ATTACKS) + sweeps)}, a family: "
                   f"{', '.join(sorted(ATTACKS.kinds()))}, or all)")


def _accepted(factory: Callable[..., AttackMeta], kw: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(factory).parameters
    return {k: v for k, v in kw.items() if k in params}


def available() -> Registry[AttackSpec]:
    return ATTACKS


def make_attack(name: str, **kw) -> AttackMeta:
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
    options = {**_accepted(spec.factory, kw), **implied}
    atk = spec.factory(**options)
    return replace(atk, name=name if implied else spec.variant_name(options), family=spec.kind,
                   description=spec.description, tags=spec.tags, goal=spec.goal, multi_turn=spec.multi_turn)


def expand_attacks(names: str | Sequence[str]) -> list[str]:
    """Attack names from a selection: ``all``, family names (``encoding,persona``), attack names, ``<name>_<N>``
    variants and ``a+b`` compositions, in the order given."""
    def known(n: str) -> bool:
        for part in n.split("+"):
            _resolve(part)  # raises, naming what is available
        return True

    try:
        return ATTACKS.select(names, known)
    except BadInput as e:
        raise BadInput(f"--attacks: {e}") from None


def plan_attacks(names: str | Sequence[str], resources: Sequence[str] = ()) -> tuple[list[str], dict[str, list[str]]]:
    """(attacks to run, attacks left out → what they need) for a selection when only ``resources`` (e.g.
    ``["attacker"]``) are at hand. An attack named on its own must have what it needs (``BadInput`` naming the
    resource otherwise); one picked through ``all`` or a family is left out, as garak skips probes it cannot run."""
    given = [names] if isinstance(names, str) else list(names)
    explicit = {part.strip() for g in given for part in g.split(",")}
    keep, left_out = [], {}
    for n in expand_attacks(names):
        missing = sorted({r for p in n.split("+") for r in _resolve(p)[0].requires} - set(resources))
        if not missing:
            keep.append(n)
        elif n in explicit:
            raise BadInput(f"--attacks: '{n}' needs a model as {' and as '.join(missing)}: pass --{missing[0]} SPEC "
                           f"(or --{missing[0]} self for the target itself)")
        else:
            left_out[n] = missing
    if not keep:
        raise BadInput(f"--attacks: every selected attack needs a model you did not pass ({', '.join(left_out)})")
    return keep, left_out


def make_attacks(names: str | Sequence[str], **provides: Any) -> list[AttackMeta]:
    """Attacks by name, family or ``all`` (comma-separated string or list). ``provides`` offers resources (e.g.
    ``translator=``) to the attacks whose factories accept them."""
    return [make_attack(n, **(provides if "+" in n else _accepted(_resolve(n)[0].factory, provides)))
            for n in expand_attacks(names)]


def compose(inner: Attack, outer: Attack) -> Attack:
    """Apply ``inner`` then wrap the final user turn with ``outer``."""
    for a in (inner, outer):
        if not isinstance(a, Attack):
            raise BadInput(f"attack '{a.name}' talks to the target turn by turn and cannot be composed with '+'")

    def build(prompt: str, rng: random.Random) -> list[Message]:
        msgs = inner.build(prompt, rng)
        wrapped = outer.build(msgs[-1].content, rng)
        return msgs[:-1] + wrapped

    return Attack(build, inner.n_shots if inner.n_shots is not None else outer.n_shots,
                  name=f"{inner.name}+{outer.name}", family=f"{inner.family}+{outer.family}",
                  description=f"{inner.description} then {outer.description}",
                  tags=tuple(sorted(set(inner.tags) | set(outer.tags))),
                  multi_turn=inner.multi_turn or outer.multi_turn,
                  goal=f"{inner.goal}; then {outer.goal}")
