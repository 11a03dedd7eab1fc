"""Guard policy: one config dataclass (Python / YAML / CLI) and the decisions it implies.

Actions: ``block`` (replace the content with a refusal), ``redact`` (PII replaced by ``[KIND]``), ``flag`` (let it
through and put it in the human-review queue), ``allow``. Inputs are checked by the classifier (harmful request,
jailbreak) and the injection detector (user turns, and retrieved documents: ``tool`` messages); outputs by the
classifier's output head and the PII detector, in a sliding window while streaming (``StreamGuard``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence


from ..errors import BadInput
from ..records import Message
from .classifier import GuardClassifier
from .injection import InjectionDetector
from .pii import find_pii, load_ner, redact

Action = Literal["block", "flag", "allow"]
PIIAction = Literal["redact", "block", "flag", "allow"]


@dataclass
class ApiKey:
    key: str
    name: str = ""
    rate: float | None = None  # requests per second; None = the default
    burst: float | None = None


@dataclass
class GuardConfig:
    api_keys: list[ApiKey] = field(default_factory=list)  # empty: no authentication
    default_rate: float | None = None  # requests/s per key (None: unlimited)
    default_burst: float | None = None
    max_request_bytes: int = 256_000
    max_messages: int = 128
    input_action: Action = "block"
    output_action: Action = "block"
    category_actions: dict[str, Action] = field(default_factory=dict)  # per taxonomy category, overrides
    input_pii: PIIAction = "allow"
    output_pii: PIIAction = "redact"
    pii_ner: str | None = None  # names/addresses by a local NER model: hf:<path> | spacy:<model>; None = rules
    check_documents: bool = True
    window_chars: int = 400  # streaming: the output head scores the last window_chars characters…
    stride_chars: int = 80  # …every stride_chars new characters
    holdback_chars: int = 80  # streaming: held back (≥ stride: nothing is sent before a window scored it; PII split over chunks stays whole)
    thresholds: dict[str, float] = field(default_factory=dict)  # head → threshold override
    refusal: str = "I can't help with that request."
    audit_url: str = "sqlite:///guard-audit.db"
    audit_text: bool = True
    classifier: str | None = None  # artifact directory; None = the packaged default
    # auto: inputs fast, outputs cascade (classifier.py); cascade on inputs: +0.6 pt HarmBench recall, 2-4x the p99
    classifier_mode: Literal["auto", "cascade", "fast", "full"] = "auto"
    model_name: str | None = None  # the model id the proxy reports

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, src: str = "config") -> "GuardConfig":
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(data) - names)
        if bad:
            raise BadInput(f"{src}: unknown field(s) {', '.join(bad)} (known: {', '.join(sorted(names))})")
        keys = []
        for i, k in enumerate(data.pop("api_keys", []) or []):
            if isinstance(k, str):
                k = {"key": k}
            if not isinstance(k, dict) or "key" not in k:
                raise BadInput(f"{src}: field 'api_keys[{i}]' needs a 'key'")
            try:
                keys.append(ApiKey(**k))
            except TypeError as e:
                raise BadInput(f"{src}: field 'api_keys[{i}]': {e}") from None
        cfg = cls(api_keys=keys, **data)
        for f, allowed in (("input_action", Action), ("output_action", Action), ("input_pii", PIIAction),
                           ("output_pii", PIIAction), ("classifier_mode", Literal["auto", "cascade", "fast", "full"])):
            if getattr(cfg, f) not in allowed.__args__:
                raise BadInput(f"{src}: field '{f}' must be one of {', '.join(allowed.__args__)}")
        for c, a in cfg.category_actions.items():
            if a not in Action.__args__:
                raise BadInput(f"{src}: field 'category_actions.{c}' must be one of {', '.join(Action.__args__)}")
        return cfg


def load_guard_config(path: str | Path | None) -> GuardConfig:
    if path is None:
        return GuardConfig()
    from ..records import read_yaml

    return GuardConfig.from_dict(read_yaml(path, "config file"), str(path))


@dataclass
class Decision:
    side: str  # input | document | output
    action: str  # allow | block | flag | redact
    flagged: bool
    category: str | None = None
    score: float = 0.0
    rules: list[str] = field(default_factory=list)
    pii: list[str] = field(default_factory=list)
    text: str = ""  # the text that was checked (after redaction when redacted)

    @property
    def detail(self) -> dict:
        return {k: v for k, v in (("rules", self.rules), ("pii", self.pii)) if v}


_SEVERITY = {"allow": 0, "flag": 1, "redact": 2, "block": 3}


class Guard:
    """The checks and the policy. Collaborators (classifier, injection detector) are passed in."""

    def __init__(self, classifier: GuardClassifier, cfg: GuardConfig, injection: InjectionDetector | None = None):
        self.classifier = classifier
        self.cfg = cfg
        classifier.mode = cfg.classifier_mode
        for head, t in cfg.thresholds.items():
            if head not in classifier.heads:
                raise BadInput(f"thresholds.{head}: unknown head (known: {', '.join(classifier.heads)})")
            classifier.heads[head].threshold = float(t)
        self.injection = injection or InjectionDetector(classifier)
        self.ner = load_ner(cfg.pii_ner)

    def _action_for(self, category: str | None, default: str) -> str:
        return self.cfg.category_actions.get(category or "", default)

    def check_input(self, messages: Sequence[Message]) -> tuple[Decision, list[Message]]:
        """The decision on a request and the messages to send upstream (PII-redacted if the policy says so)."""
        users = [m.content for m in messages if m.role == "user"]
        docs = [m.content for m in messages if m.role == "tool"] if self.cfg.check_documents else []
        text = users[-1] if users else ""
        scores = self.classifier.classify(users or [""], "input")
        worst = max(range(len(scores)), key=lambda i: (scores[i].flagged, scores[i].score))
        s = scores[worst]
        inj = self.injection.check(users[worst], "input") if users else None
        d = Decision("input", "allow", s.flagged, s.category, s.score, text=users[worst] if users else text)
        if inj and inj.flagged and not d.flagged:
            d.flagged, d.category, d.score = True, "prompt_injection", inj.score
        if inj:
            d.rules = inj.rules
        for doc in docs:
            r = self.injection.check(doc, "document")
            if r.flagged:
                d = Decision("document", "allow", True, "prompt_injection", r.score, r.rules, text=doc)
                break
        if d.flagged:
            d.action = self._action_for(d.category, self.cfg.input_action)
        out = list(messages)
        if self.cfg.input_pii != "allow" and d.action != "block":
            found = {m.content: find_pii(m.content, ner=self.ner) for m in messages if m.role in ("user", "tool")}
            kinds = sorted({p.kind for ps in found.values() for p in ps})
            if kinds:
                d.pii = kinds
                pa = self.cfg.input_pii
                if _SEVERITY[pa] > _SEVERITY[d.action]:
                    d.action = pa
                if pa == "redact":
                    out = [Message(role=m.role, content=redact(m.content, found[m.content]))
                           if m.content in found else m for m in messages]
        return d, out

    def check_output(self, text: str) -> tuple[Decision, str]:
        """The decision on a complete response and the text to return."""
        w = self.cfg.window_chars  # the same windows the stream guard sees (half-overlapping), worst one wins
        wins = [text[i:i + w] for i in range(0, max(1, len(text) - w + 1), max(1, w // 2))][:64] + [text[-w:]]
        s = max(self.classifier.classify(wins, "output"), key=lambda x: (x.flagged, x.score))
        d = Decision("output", "allow", s.flagged, s.category, s.score, text=text)
        if d.flagged:
            d.action = self._action_for(d.category, self.cfg.output_action)
        if d.action == "block":
            return d, self.cfg.refusal
        found = find_pii(text, ner=self.ner)
        if found and self.cfg.output_pii != "allow":
            d.pii = sorted({p.kind for p in found})
            if _SEVERITY[self.cfg.output_pii] > _SEVERITY[d.action]:
                d.action = self.cfg.output_pii
            if d.action == "block":
                return d, self.cfg.refusal
            if self.cfg.output_pii == "redact":
                text = redact(text, found)
                d.text = text
        return d, text

    def stream(self) -> "StreamGuard":
        return StreamGuard(self)


class StreamGuard:
    """Sliding-window output check for streaming. ``feed(delta)`` → text safe to send now; when the output head
    fires on the last ``window_chars`` (scored every ``stride_chars``) and the action is block, ``stopped`` is set
    and nothing more is released. The last ``holdback_chars`` are held so that PII split across chunks is redacted
    whole; ``finish()`` releases the rest."""

    def __init__(self, guard: Guard):
        self.g = guard
        self.cfg = guard.cfg
        self.text = ""
        self.released = 0  # characters of self.text already handled (sent, redacted)
        self.last_check = 0
        self.stopped: Decision | None = None
        self.decision = Decision("output", "allow", False)
        self.checks = 0

    def _score_window(self) -> None:
        self.checks += 1
        win = self.text[-self.cfg.window_chars:]
        s = self.g.classifier.classify([win], "output")[0]
        if s.score > self.decision.score or s.flagged:
            self.decision.score = max(self.decision.score, s.score)
        if s.flagged:
            action = self.g._action_for(s.category, self.cfg.output_action)
            if _SEVERITY[action] > _SEVERITY[self.decision.action]:
                self.decision.action = action
            self.decision.flagged, self.decision.category = True, s.category
            if action == "block":
                self.stopped = self.decision

    def _release(self, upto: int) -> str:
        if upto <= self.released:
            return ""
        seg_start = self.released
        pending = self.text[seg_start:]
        found = find_pii(pending, ner=self.g.ner) if self.cfg.output_pii != "allow" else []
        for p in found:  # never cut through a PII span
            if p.start < upto - seg_start < p.end:
                upto = seg_start + p.start
        inside = [p for p in found if p.end <= upto - seg_start]
        if inside:
            self.decision.pii = sorted(set(self.decision.pii) | {p.kind for p in inside})
            if self.cfg.output_pii == "block":
                self.decision.action = "block"
                self.stopped = self.decision
                return ""
            if self.cfg.output_pii == "flag" and _SEVERITY[self.decision.action] < 1:
                self.decision.action = "flag"
        chunk = self.text[seg_start:upto]
        if inside and self.cfg.output_pii == "redact":
            chunk = redact(chunk, inside)
            if _SEVERITY[self.decision.action] < 2:
                self.decision.action = "redact"
        self.released = upto
        return chunk

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self.text += delta
        if len(self.text) - self.last_check >= self.cfg.stride_chars:
            self.last_check = len(self.text)
            self._score_window()
            if self.stopped:
                return ""
        upto = len(self.text) - self.cfg.holdback_chars
        if upto <= self.released:
            return ""
        ws = self.text.rfind(" ", self.released, upto)
        return self._release(ws if ws > self.released else self.released)

    def finish(self) -> str:
        if self.stopped:
            return ""
        if len(self.text) > self.last_check or self.checks == 0:
            self.last_check = len(self.text)
            self._score_window()
            if self.stopped:
                return ""
        return self._release(len(self.text))
