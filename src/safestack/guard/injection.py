"""Prompt-injection and jailbreak detection, on user inputs and on retrieved documents / tool output.

Two signals: explicit rules (instruction overrides, persona escapes, fake system/role markers, system-prompt
exfiltration, data exfiltration to a URL or address, encoded payloads) and the classifier's ``jailbreak`` head
(``classifier.GuardClassifier``, passed in). Rules are precise but narrow; the head generalises to paraphrases.
A document is scanned by chunks so a short instruction hidden in a long page is not averaged away.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .classifier import GuardClassifier

_I = re.IGNORECASE
RULES: dict[str, re.Pattern] = {
    "override": re.compile(r"\b(ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}\b(previous|prior|above|"
                           r"earlier|all|any|your|the|system)\b[^.\n]{0,30}\b(instructions?|rules|guidelines|"
                           r"prompts?|polic(y|ies)|directives|restrictions|filters?)", _I),
    "new_instructions": re.compile(r"\b(your|the)\s+(new|real|actual|updated)\s+(task|instructions?|goal|"
                                   r"objective|role)\b", _I),
    "persona_escape": re.compile(r"\b(DAN|do anything now|developer mode|jailbr(ea|o)k(en)?|unfiltered|"
                                 r"no (ethical|moral) (guidelines|restrictions|limits)|without (any )?"
                                 r"(restrictions|filters|limitations|censorship)|never refuses?|"
                                 r"broken free of|no content polic(y|ies))\b", _I),
    "fake_role": re.compile(r"(^|\n)\s*(\[?(system|developer|admin)\]?\s*:|<\|?(system|im_start|im_end)\|?>|"
                            r"</?(system|user|assistant)>|\[(SYSTEM|INST)\b)", _I),
    "prompt_leak": re.compile(r"\b(reveal|print|output|repeat|show|tell me|leak)\b[^.\n]{0,40}\b(system prompt|"
                              r"initial (prompt|instructions)|hidden (prompt|instructions|password)|your "
                              r"(instructions|configuration|prompt)|text above|api key)", _I),
    "exfiltration": re.compile(r"\b(send|forward|post|upload|email|leak)\b[^.\n]{0,60}\b(conversation|chat "
                               r"history|password|credentials|api key|user'?s? data)\b[^.\n]{0,60}"
                               r"(https?://|@|\bto\b)", _I),
    "note_to_ai": re.compile(r"\b(note|message|instructions?) (to|for) (the )?(ai|assistant|llm|language model|"
                             r"chatbot)s?\b", _I),
    "refusal_suppression": re.compile(r"\b(do not|don't|never)\s+(refuse|apologi[sz]e|say (that )?you can'?t|"
                                      r"include (any )?(warnings?|disclaimers?))", _I),
    "policy_claim": re.compile(r"\b(authori[sz]ed|allowed|permitted) (you )?to (bypass|ignore|override)|"
                               r"(safety|content) (guidelines|filters?|polic(y|ies)) (are|is) (now )?"
                               r"(disabled|off|lifted)", _I),
}
_B64 = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}")


def _base64_instruction(text: str) -> bool:
    for m in _B64.finditer(text):
        try:
            dec = base64.b64decode(m.group(0), validate=True).decode("utf-8")
        except Exception:
            continue
        if sum(c.isalpha() or c.isspace() for c in dec) > 0.8 * len(dec):
            return True
    return False


def matched_rules(text: str) -> list[str]:
    hits = [name for name, rx in RULES.items() if rx.search(text)]
    if _base64_instruction(text):
        hits.append("encoded_payload")
    return hits


def rule_hits(text: str) -> int:
    return len(matched_rules(text))


@dataclass
class InjectionResult:
    flagged: bool
    score: float  # max of the jailbreak head's score and the rule score
    rules: list[str] = field(default_factory=list)
    where: str = "input"  # "input" or "document"


def chunks(text: str, size: int = 600, overlap: int = 100) -> list[str]:
    if len(text) <= size:
        return [text]
    return [text[i:i + size] for i in range(0, len(text) - overlap, size - overlap)]


class InjectionDetector:
    """Rules ⊕ the classifier's jailbreak head. A rule from ``strong`` alone flags; other rules add 0.35 each."""

    strong = frozenset({"override", "fake_role", "prompt_leak", "exfiltration", "policy_claim", "persona_escape"})

    def __init__(self, classifier: "GuardClassifier | None" = None, threshold: float | None = None):
        self.classifier = classifier
        self.threshold = threshold

    def rule_score(self, rules: Sequence[str]) -> float:
        if any(r in self.strong for r in rules):
            return 1.0
        return min(1.0, 0.35 * len(rules))

    def check(self, text: str, where: str = "input") -> InjectionResult:
        parts = chunks(text) if where == "document" else [text]
        rules = sorted({r for p in parts for r in matched_rules(p)})
        score = self.rule_score(rules)
        thr = self.threshold
        if self.classifier is not None:
            s = max(self.classifier.jailbreak_scores(parts))
            thr = thr if thr is not None else self.classifier.thresholds["jailbreak"]
            score = max(score, s)
        thr = 0.5 if thr is None else thr
        return InjectionResult(flagged=score >= thr or score >= 1.0, score=float(score), rules=rules, where=where)
