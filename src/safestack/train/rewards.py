"""Reward functions for RL (TRL's reward-function signature: ``f(prompts, completions, **columns) -> list[float]``).

Rule-based reward: the constitution's weighted binary checks (datagen/constitution.yaml, shared with CAI and
RLAIF). Each check has an axis (``help`` or ``safety``), a weight w, the prompts it applies to (harmful, benign or
all). For one completion,
    score_axis = Σ_i w_i · pass_i / Σ_i w_i    over the applicable principles of that axis (1.0 when none applies),
the helpfulness reward is score_help and the rule-based cost is c = 1 − score_safety (0 on benign prompts, where
no safety principle applies). ``constitution_reward`` scores all axes together.
RM-based rewards wrap a model saved by ``train reward``: σ(s − offset) ∈ [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import BadInput
from ..judges.refusal import classify

def refuses(text: str) -> bool:
    cls, score, _ = classify(text)
    return cls != "full_compliance" and score >= 0.5


@dataclass(frozen=True)
class Principle:
    name: str
    axis: str  # help | safety
    weight: float
    applies: str  # harmful | benign | all
    check: Callable[[str], bool]  # completion text → passes
    text: str = ""


def from_constitution(path: str | None = None) -> list[Principle]:
    """The rule set from the constitution YAML (datagen/constitution.yaml — the same principles CAI and RLAIF
    use): one weighted binary check per (principle, check). Checks of principles for harmful requests form the
    ``safety`` axis, the others ``help``. Category-limited checks (e.g. crisis resources for self-harm) are left
    out here: RL prompts carry a harmful/benign label, not a category."""
    from ..datagen.constitution import CHECKS, load_constitution

    out = []
    for p in load_constitution(path).principles:
        axis = "safety" if p.applies_to == "harmful" else "help"
        for c in p.checks:
            if c.categories:
                continue
            fn = CHECKS[c.check].fn
            out.append(Principle(c.check, axis, c.weight, p.applies_to, lambda t, fn=fn: bool(fn(t, None)), p.text))
    return out


def principles(weights: dict[str, float] | None = None, constitution: str | None = None) -> list[Principle]:
    """The constitution's checks, with weights overridden by check name (a weight of 0 drops one)."""
    base = from_constitution(constitution)
    weights = weights or {}
    unknown = set(weights) - {p.name for p in base}
    if unknown:
        raise BadInput(f"rule_weights: unknown principle(s) {sorted(unknown)} (known: {[p.name for p in base]})")
    out = []
    for p in base:
        w = float(weights.get(p.name, p.weight))
        if w > 0:
            out.append(Principle(p.name, p.axis, w, p.applies, p.check, p.text))
    return out


def rule_scores(texts: Sequence[str], labels: Sequence[str], axis: str | None,
                constitution: Sequence[Principle] | None = None) -> np.ndarray:
    """Weighted share of applicable principles (of ``axis``, or all when None) that each completion passes."""
    constitution = constitution or principles()
    out = np.ones(len(texts))
    for i, (t, lab) in enumerate(zip(texts, labels)):
        num = den = 0.0
        for p in constitution:
            if (axis and p.axis != axis) or p.applies not in ("all", lab):
                continue
            den += p.weight
            num += p.weight * bool(p.check(t))
        if den:
            out[i] = num / den
    return out


def completion_text(c) -> str:
    return c[-1]["content"] if isinstance(c, list) else str(c)


def prompt_conv(p) -> list[dict]:
    return p if isinstance(p, list) else [{"role": "user", "content": str(p)}]


def _labels(label, n: int) -> list[str]:
    if label is None:
        raise BadInput("rule-based rewards need a 'label' column (harmful | benign) in the prompt data")
    return list(label)


# ---- TRL reward functions (scores in [0, 1]) ----------------------------------------------------------------
class RuleHelp:
    """r_help from the rules (axis help)."""

    __name__ = "rule_help"

    def __init__(self, weights: dict[str, float] | None = None):
        self.constitution = principles(weights)

    def __call__(self, prompts, completions, label=None, **kw) -> list[float]:
        return rule_scores([completion_text(c) for c in completions], _labels(label, len(prompts)), "help",
                           self.constitution).tolist()


class RuleCost:
    """c = 1 − score_safety (0 on benign prompts)."""

    __name__ = "rule_cost"

    def __init__(self, weights: dict[str, float] | None = None):
        self.constitution = principles(weights)

    def __call__(self, prompts, completions, label=None, **kw) -> list[float]:
        s = rule_scores([completion_text(c) for c in completions], _labels(label, len(prompts)), "safety",
                        self.constitution)
        return (1.0 - s).tolist()


class ConstitutionReward:
    """All principles together: a standalone rule-based reward for GRPO."""

    __name__ = "constitution"

    def __init__(self, weights: dict[str, float] | None = None):
        self.constitution = principles(weights)

    def __call__(self, prompts, completions, label=None, **kw) -> list[float]:
        return rule_scores([completion_text(c) for c in completions], _labels(label, len(prompts)), None,
                           self.constitution).tolist()


class ModelScore:
    """A trained reward or cost model as a reward function: σ(s(prompt + completion) − offset)."""

    def __init__(self, rm, name: str = "rm"):
        self.rm = rm
        self.__name__ = name

    def __call__(self, prompts, completions, **kw) -> list[float]:
        convs = [prompt_conv(p) + [{"role": "assistant", "content": completion_text(c)}]
                 for p, c in zip(prompts, completions)]
        return self.rm.prob(convs).astype(float).tolist()


def make_source(spec: str, axis: str, weights: dict[str, float] | None = None):
    """``rules`` → the rule-based help or cost function; a path → the reward/cost model saved there."""
    if spec == "rules":
        return RuleHelp(weights) if axis == "help" else RuleCost(weights)
    from .reward import load_reward_model

    rm = load_reward_model(spec)
    want = "helpful" if axis == "help" else "cost"
    if rm.meta.get("kind") not in (None, want):
        raise BadInput(f"{spec}: a '{rm.meta.get('kind')}' model given where a '{want}' model is needed")
    return ModelScore(rm, "rm_help" if axis == "help" else "rm_cost")
