"""Refusals written for a category's expected behaviour: many phrasings, a brief reason, a helpful alternative.

hard_refusal: decline clearly, say why in one clause, offer a safe alternative.
soft_deflection: acknowledge the person, decline the harmful part, engage with the safe need (e.g. support
resources for self-harm, a summary instead of a copyrighted text).

Phrasings are composed from independent banks (opening × reason × alternative × closing, in varying order), so a
few hundred pairs rarely repeat a refusal verbatim and the model learns *to refuse*, not one sentence.
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
    "I'm not going to help with this one.",
    "I can't write that for you.",
    "Sorry, I can't go along with this request.",
    "I'm unable to help with that request.",
    "I need to say no to this.",
    "This isn't something I'll assist with.",
    "I can't give you that information.",
    "I'm going to pass on this request.",
]
_REASON = [
    "It's harmful because {reason}.",
    "The reason is that {reason}.",
    "I won't do it because {reason}.",
    "Helping here would be wrong: {reason}.",
    "I decline because {reason}.",
    "Put simply, {reason}.",
    "My concern is that {reason}.",
    "{Reason}.",
    "That's because {reason}.",
    "I don't help with this kind of thing, since {reason}.",
]
_GENERIC_REASONS = [
    "it could cause real harm to people",
    "it could be used to hurt someone",
    "the risk of misuse is too high",
    "it would put other people at risk",
]
_SOFT_OPEN = [
    "I'm really sorry you're dealing with this, but I can't help with that part.",
    "I can't help with that, but I don't want to just leave it there.",
    "I'm not able to help with that request.",
    "I can't provide that, but I'd like to help in another way.",
    "It sounds like a lot is going on, and I'm glad you reached out, but I can't help with that.",
    "I hear you. I can't give you that, but I'm here to talk.",
    "I can't help with that specific request, though I'd like to help with what's behind it.",
]
_OFFER = ["", "", "", "Is there something else I can help you with?",
          "Happy to help with something related and safe.", "What else can I do for you?",
          "I'm glad to help with a different angle on this."]
_OFFER_ALT = ["", "", "Let me know if you'd like that.", "Would that be useful?", "Just say the word."]
_ALT_LEAD = ["", "", "Instead, ", "If it helps, ", "What I can do: "]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def write_refusal(category: Category, rng: random.Random) -> str:
    alts = list(category.alternatives) if category.alternatives else []
    reason = category.reason if category.reason and rng.random() < 0.75 else rng.choice(_GENERIC_REASONS)
    tpl = rng.choice(_REASON)
    why = tpl.format(reason=reason, Reason=_cap(reason))
    alt = rng.choice(alts) if alts else ""
    if alt.startswith("I can "):  # "Instead, I can …"
        lead = rng.choice(_ALT_LEAD)
        if lead == "Instead, " and alt.endswith(" instead."):  # not "Instead, I can … instead."
            alt = alt[: -len(" instead.")] + "."
        alt = lead + alt
    if category.expected == "soft_deflection":  # always engage with the safe need
        parts = [rng.choice(_SOFT_OPEN), why if rng.random() < 0.6 else "", alt, rng.choice(_OFFER)]
    else:  # short: the opening decides; the reason and an alternative most of the time
        alt = alt if rng.random() < 0.6 else ""
        parts = [rng.choice(_HARD_OPEN), why if rng.random() < 0.8 else "", alt,
                 rng.choice(_OFFER_ALT if alt.startswith(tuple(_ALT_LEAD[2:]) + ("I can ",)) else _OFFER)]
    return " ".join(p for p in parts if p).strip()


_BENIGN_REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I can't assist with that request.",
    "Sorry, I can't provide information on that topic.",
    "I'm not able to help with this because it could be dangerous.",
    "I won't answer that, as it may be harmful.",
    "As an AI, I cannot help with requests like this.",
    "I can't help with that. It could be used to cause harm.",
    "Sorry, that's not something I'm able to discuss.",
    "I'm afraid I can't assist with this request.",
    "That request could be unsafe, so I have to decline.",
]


def write_overrefusal(rng: random.Random, categories: "list[Category] | None" = None, taught_share: float = 0.5) -> str:
    """A needless refusal of a safe request: the *rejected* side of borderline-benign pairs. With ``categories``, a
    ``taught_share`` of them are written by ``write_refusal`` for one of them — the very refusals the refusal pairs
    teach — so the pairs push against the refusal the model is learning wherever the request is safe, not only
    against a few stock phrasings; the rest are stock needless refusals."""
    hard = [c for c in categories or [] if c.expected != "soft_deflection"]
    if hard and rng.random() < taught_share:
        return write_refusal(rng.choice(hard), rng)
    return rng.choice(_BENIGN_REFUSALS)
