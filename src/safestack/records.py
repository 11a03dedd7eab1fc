"""Typed records of the safety loop and the append-only JSONL files that hold them.

Every arrow of the loop (taxonomy → attacks → responses → verdicts → findings → pairs → eval) is a file of these
records. Each line carries a ``schema`` version. Files are appended one record per line and flushed with ``fsync``,
so a ``kill -9`` loses at most the record in flight; a torn last line is ignored on read and ``--resume`` skips
every record whose ``key`` is already written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Generic, Iterable, Iterator, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import BadInput

SCHEMA = 1

Role = Literal["system", "user", "assistant", "tool"]
Label = Literal["harmful", "benign"]


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_: int = Field(SCHEMA, alias="schema")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Message(BaseModel):
    role: Role
    content: str


Conversation = list[Message]


def user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


def stable_id(*parts: Any) -> str:
    """A short content hash: the identity of a record across runs (used by --resume and the caches)."""
    h = hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return h[:16]


class Sample(Record):
    """One benchmark item: a request, whether it is harmful, and where it came from."""

    id: str
    prompt: str
    label: Label
    category: str | None = None
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)


class Verdict(Record):
    """A judge's decision on one response. ``label`` true means the judged property holds (e.g. it refuses)."""

    judge: str
    label: bool
    score: float
    detail: str | None = None


def judged(record: Any, judge: str) -> bool:
    """Whether ``judge`` said yes on a judged record (an ``Attempt`` or an ``EvalRow``): ``refusal`` — the reply does
    not comply; ``harm`` — it gives real help toward a harmful goal; ``toxicity``, ``truthful``, …. False when that
    judge did not see the record. The one place a verdict becomes a boolean."""
    v = record.verdicts.get(judge)
    return bool(v and v.label)


def refused(record: Any) -> bool:
    """The refusal judge called the reply a non-compliance (a full or partial refusal, a deflection, off-topic)."""
    return judged(record, "refusal")


def harmful(record: Any) -> bool:
    """The harm judge found real, actionable help toward a harmful goal in the reply."""
    return judged(record, "harm")


class JudgedMixin:
    """``.refused`` and ``.harmful`` on records that carry ``verdicts``."""

    @property
    def refused(self) -> bool:
        return refused(self)

    @property
    def harmful(self) -> bool:
        return harmful(self)


class Attempt(Record, JudgedMixin):
    """One attack on one sample: the conversation sent, the target's answer and the judges' verdicts."""

    key: str
    sample_id: str
    prompt: str
    label: Label
    category: str | None = None
    attack: str
    family: str
    messages: list[Message]
    response: str
    verdicts: dict[str, Verdict] = Field(default_factory=dict)
    multi_turn: bool = False  # the attack declares a real multi-turn conversation (counted in multi-turn ASR)
    n_shots: int | None = None  # fabricated dialogues before the request (few-/many-shot attacks)
    request: str | None = None  # content hash of (messages, generation params): the run's response-cache key
    queries: int | None = None  # interactive attacks: target calls spent
    success_turn: int | None = None  # interactive attacks: the round at which the attack succeeded
    trace: list[dict[str, Any]] | None = None  # interactive attacks: per round prompt and scores


class Pair(Record):
    """A preference pair in TRL's conversational format: prompt messages, one chosen and one rejected reply."""

    key: str
    prompt: list[Message]
    chosen: str
    rejected: str
    kind: Literal["refusal", "borderline", "helpful", "revision", "rlaif"]
    category: str | None = None
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    # a reply cut by a generation limit (not ended by its writer): trained without an end-of-turn token after it,
    # so that training does not teach stopping where the limit happened to fall
    chosen_open: bool = False
    rejected_open: bool = False


class EvalRow(Record, JudgedMixin):
    """One evaluated response (``safestack eval`` → responses.jsonl)."""

    key: str
    bench: str
    sample_id: str
    prompt: str
    response: str
    label: Label
    category: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    verdicts: dict[str, Verdict] = Field(default_factory=dict)


R = TypeVar("R", bound=Record)


def read_jsonl(path: str | Path, *, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Read user-supplied JSONL strictly: a bad line raises BadInput naming file, line and field."""
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: file not found")
    rows = []
    try:
        with p.open(encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise BadInput(f"{p}:{i}: malformed JSON ({e.msg} at column {e.colno})") from None
                if not isinstance(row, dict):
                    raise BadInput(f"{p}:{i}: expected a JSON object, got {json_type(row)}")
                for field in required:
                    if field not in row:
                        raise BadInput(f"{p}:{i}: missing field '{field}'")
                    if not isinstance(row[field], str):
                        raise BadInput(f"{p}:{i}: field '{field}' must be a string, got {json_type(row[field])}")
                rows.append(row)
    except UnicodeDecodeError:  # text mode decodes in blocks: find the line from the bytes
        data = p.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            line, col = data.count(b"\n", 0, e.start) + 1, e.start - data.rfind(b"\n", 0, e.start)
            raise BadInput(f"{p}:{line}: invalid UTF-8 (byte 0x{data[e.start]:02x} at column {col})") from None
        raise
    return rows


def json_type(v: Any) -> str:
    """The JSON name of a parsed value's type (for error messages)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), type(v).__name__)


class JsonlStore(Generic[R]):
    """An append-only JSONL file of one record type, keyed for resume.

    ``append`` writes and fsyncs one line per record; ``load`` ignores a torn final line (the record in flight when
    the process was killed) and truncates it away so the next append starts on a clean line.
    """

    def __init__(self, path: str | Path, model: type[R], key: str = "key"):
        self.path = Path(path)
        self.model = model
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> list[R]:
        if not self.path.exists():
            return []
        out: list[R] = []
        good_bytes = 0
        with self.path.open("rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # torn last line: the record in flight at a kill
                try:
                    out.append(self.model.model_validate_json(raw))
                except ValidationError as e:
                    raise BadInput(f"{self.path}:{len(out) + 1}: invalid {self.model.__name__} record: {e.errors()[0]['loc']}") from None
                good_bytes += len(raw)
        if self.path.stat().st_size != good_bytes:
            with self.path.open("r+b") as f:
                f.truncate(good_bytes)
        return out

    def keys(self) -> set[str]:
        return {getattr(r, self.key) for r in self.load()}

    def append(self, records: R | Iterable[R]) -> None:
        if isinstance(records, Record):
            records = [records]
        with self.path.open("a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r.dump(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)

    def __iter__(self) -> Iterator[R]:
        return iter(self.load())


def write_json(path: str | Path, obj: Any) -> None:
    """Write a JSON summary atomically (temp file + rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, p)


def read_yaml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """A user-supplied YAML mapping; missing file, bad YAML or a non-mapping raise BadInput naming the file."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: {what} not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise BadInput(f"{p}: invalid YAML ({e})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{p}: expected a mapping at the top level")
    return data


def read_json(path: str | Path) -> Any:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: file not found")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BadInput(f"{p}:{e.lineno}: malformed JSON ({e.msg})") from None
