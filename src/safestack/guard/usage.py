"""OpenAI ``usage`` for the guard proxy's responses.

``prompt_tokens``: counted with the upstream's own tokenizer when the proxy holds one (``default`` / ``hf:``
targets: the chat template applied to the messages exactly as the target renders them, so the count is what the
model reads); for an ``openai:`` upstream, whose tokenizer the proxy does not have (and may not download), a
documented estimate in OpenAI's own rule of thumb: about 4 characters of English per token, plus 4 tokens of
chat-format overhead per message and 3 priming the reply, ``3 + Σ (4 + ⌈chars/4⌉)``.
``completion_tokens``: the same tokenizer on the reply text, or ``⌈chars/4⌉``. The method used is reported in the
``x-safestack-usage`` response header (``tokenizer`` or ``estimate``).
"""

from __future__ import annotations

import math
from typing import Sequence

from ..records import Message


def estimate_text(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def estimate_messages(messages: Sequence[Message]) -> int:
    return 3 + sum(4 + estimate_text(m.content) for m in messages)


class UsageCounter:
    """Counts tokens for one upstream target: its tokenizer when it has one, else the estimate."""

    def __init__(self, target):
        self.tok = getattr(target, "tokenizer", None)
        self.render = getattr(target, "render", None)
        self.method = "tokenizer" if self.tok is not None and callable(self.render) else "estimate"

    def _count(self, text: str, special: bool) -> int:
        return len(self.tok(text, add_special_tokens=special)["input_ids"])

    def prompt(self, messages: Sequence[Message]) -> int:
        if self.method == "tokenizer":
            try:
                return self._count(self.render(list(messages)), False)
            except Exception:  # noqa: BLE001 — a tokenizer that cannot render these messages: estimate instead
                pass
        return estimate_messages(messages)

    def completion(self, text: str) -> int:
        if self.method == "tokenizer":
            try:
                return self._count(text, False)
            except Exception:  # noqa: BLE001
                pass
        return estimate_text(text)

    def usage(self, messages: Sequence[Message], text: str) -> dict[str, int]:
        p, c = self.prompt(messages), self.completion(text)
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
