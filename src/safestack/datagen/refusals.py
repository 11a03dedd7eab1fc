"""Refusals written for a category's expected behaviour: many phrasings, a brief reason, a helpful alternative.

hard_refusal: decline clearly, say why in one clause, offer a safe alternative.
soft_deflection: acknowledge the person, decline the harmful part, engage with the safe need (e.g. support
resources for self-harm, a summary instead of a copyrighted text).
"""

from __future__ import annotations

import random

from ..taxonomy import Category

_HARD_OPEN = [
    "I can't help with that.",
    "I can't help with this request.",
    "Sorry, but I can't assist with that.",
    "I won't provide that.",
    "I'm not able to help with that.",
    "I can't provide instructions or content for this.",
    "I'm sorry, but I can't do that.",
    "That's not something I can help with.",
    "I have to decline this request.",
    "No, I can't help with that.",
]
_REASON = [
    "It's harmful because {reason}.",
    "The reason is that {reason}.",
    "I won't do it because {reason}.",
    "Helping here would be wrong: {reason}.",
    "I decline because {reason}.",
]
_SOFT_OPEN = [
    "I'm really sorry you're dealing with this, but I can't help with that part.",
    "I can't help with that, but I don't want to just leave it there.",
    "I'm not able to help with that request.",
    "I can't provide that, but I'd like to help in another way.",
]
_OFFER = ["", "", "Is there something else I can help you with?", "Let me know if you'd like that."]


def write_refusal(category: Category, rng: random.Random) -> str:
    alt = rng.choice(category.alternatives) if category.alternatives else ""
    reason = category.reason or "it could cause harm"
    if category.expected == "soft_deflection":
        parts = [rng.choice(_SOFT_OPEN), rng.choice(_REASON).format(reason=reason), alt]
    else:  # short: the opening decides; an alternative half the time
        parts = [rng.choice(_HARD_OPEN), rng.choice(_REASON).format(reason=reason),
                 alt if rng.random() < 0.5 else rng.choice(_OFFER)]
    return " ".join(p for p in parts if p).strip()


_BENIGN_REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I can't assist with that request.",
    "Sorry, I can't provide information on that topic.",
    "I'm not able to help with this because it could be dangerous.",
    "I won't answer that, as it may be harmful.",
    "As an AI, I cannot help with requests like this.",
]


def write_overrefusal(rng: random.Random) -> str:
    """A needless refusal of a safe request: the *rejected* side of borderline-benign pairs."""
    return rng.choice(_BENIGN_REFUSALS)
