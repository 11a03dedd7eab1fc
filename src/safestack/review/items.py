"""The three review queues, read from a run directory's files and the guard's audit store.

- expert: preference pairs (and red-team findings) in the configured severities — attack, prompt, the model's
  reply, the judges' verdicts; pairs gate training (``review.required``), unpaired findings only feed the judges.
- ab: the same prompt answered by two evals (default: the run's eval before and after training), blind.
- guard: what the guard flagged (its ``review_queue`` table).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, Field

from ..errors import BadInput
from ..records import Attempt, EvalRow, JsonlStore, Message, Pair, Verdict, stable_id
from ..taxonomy import Taxonomy

ARMS = ("before", "after")


class ExpertItem(BaseModel):
    id: str
    kind: str  # pair | finding
    category: str
    severity: str
    attack: str | None = None
    messages: list[Message]
    response: str  # the model's reply (a pair's rejected reply)
    chosen: str | None = None  # a pair's chosen refusal
    pair_kind: str | None = None
    verdicts: dict[str, Verdict] = Field(default_factory=dict)
    gates_training: bool = False

    @property
    def prompt(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


class ABItem(BaseModel):
    id: str
    bench: str
    sample_id: str
    prompt: str
    label: str
    category: str | None = None
    responses: dict[str, str]  # arm → reply
    verdicts: dict[str, dict[str, Verdict]] = Field(default_factory=dict)  # arm → judge → verdict

    @property
    def order(self) -> list[str]:
        """The blind order (A, B): fixed per item, so a reload shows the same sides."""
        return list(ARMS) if int(stable_id("ab-order", self.id), 16) % 2 else list(reversed(ARMS))


class GuardItem(BaseModel):
    id: str
    ts: float
    request_id: str
    side: str
    category: str | None = None
    score: float | None = None
    text: str = ""


def _existing(paths: Sequence[Path]) -> list[Path]:
    return [p for p in paths if p.exists()]


def _round_dirs(run: Path) -> list[Path]:
    rounds = run / "rounds"
    if not rounds.is_dir():
        return []
    return sorted((d for d in rounds.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))


class RunSources:
    """Where a run directory keeps what the queues show; BadInput when it is not a safestack run."""

    def __init__(self, run: str | Path, taxonomy: Taxonomy, severities: Sequence[str] = ("critical", "high"),
                 ab_dirs: Sequence[str | Path] | None = None, ab_limit: int = 40):
        self.run = Path(run)
        if not self.run.is_dir():
            raise BadInput(f"{self.run}: run directory not found")
        self.taxonomy, self.severities, self.ab_limit = taxonomy, tuple(severities), ab_limit
        rounds = _round_dirs(self.run)
        self.findings = _existing([self.run / "findings.jsonl", self.run / "redteam" / "findings.jsonl"]
                                  + [d / "redteam" / "findings.jsonl" for d in rounds])
        self.pairs = _existing([self.run / "pairs.jsonl", self.run / "data" / "pairs.jsonl"]
                               + [d / "data" / "pairs.jsonl" for d in rounds])
        if ab_dirs:
            self.ab_dirs = [eval_dir(Path(d)) for d in ab_dirs]
        else:
            after = next((d / "eval_after" for d in reversed(rounds) if (d / "eval_after").is_dir()),
                         self.run / "eval_after")
            self.ab_dirs = [self.run / "eval_before", after]
        if len(self.ab_dirs) != 2:
            raise BadInput(f"--ab: expected two eval directories (before,after), got {len(self.ab_dirs)}")
        have_ab = all((d / "responses.jsonl").exists() for d in self.ab_dirs)
        if ab_dirs and not have_ab:
            missing = next(d for d in self.ab_dirs if not (d / "responses.jsonl").exists())
            raise BadInput(f"--ab {missing}: no responses.jsonl (an eval or run directory is expected)")
        self.has_ab = have_ab
        if not (self.findings or self.pairs or self.has_ab):
            raise BadInput(f"{self.run}: not a safestack run directory (no findings.jsonl, data/pairs.jsonl or "
                           "eval_before/eval_after responses.jsonl in it)")

    def in_scope(self, category: str | None) -> bool:
        return self.taxonomy.get(category).severity in self.severities

    def expert(self) -> list[ExpertItem]:
        """Pairs in scope first (they gate training), then findings in scope that did not become a pair."""
        attempts = {a.key: a for f in self.findings for a in JsonlStore(f, Attempt).load()}
        by_pair = {stable_id("refusal", k): a for k, a in attempts.items()}
        items: dict[str, ExpertItem] = {}
        for f in self.pairs:
            for p in JsonlStore(f, Pair).load():
                if p.kind == "borderline" or not self.in_scope(p.category) or p.key in items:
                    continue
                items[p.key] = pair_item(p, by_pair.get(p.key), self.taxonomy)
        paired = {a.key for k, a in by_pair.items() if k in items}
        for a in attempts.values():
            if a.label == "harmful" and a.key not in paired and self.in_scope(a.category):
                cat = self.taxonomy.get(a.category)
                items.setdefault(f"f{a.key}", ExpertItem(
                    id=f"f{a.key}", kind="finding", category=cat.id, severity=cat.severity, attack=a.attack,
                    messages=a.messages, response=a.response, verdicts=a.verdicts))
        return list(items.values())

    def ab(self) -> list[ABItem]:
        """Prompts both evals answered, differently; harmful and benign interleaved, a stable sample."""
        if not self.has_ab:
            return []
        a, b = ({(r.bench, r.sample_id): r for r in JsonlStore(d / "responses.jsonl", EvalRow).load()}
                for d in self.ab_dirs)
        items = []
        for k in sorted(set(a) & set(b)):
            ra, rb = a[k], b[k]
            if ra.response.strip() == rb.response.strip():
                continue
            iid = stable_id("ab", ra.bench, ra.sample_id, ra.response, rb.response)
            items.append(ABItem(id=iid, bench=ra.bench, sample_id=ra.sample_id, prompt=ra.prompt, label=ra.label,
                                category=ra.category, responses={"before": ra.response, "after": rb.response},
                                verdicts={"before": ra.verdicts, "after": rb.verdicts}))
        groups = [sorted((i for i in items if i.label == lab), key=lambda i: i.id) for lab in ("harmful", "benign")]
        mixed = [g[i] for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g)]
        return mixed[: self.ab_limit] if self.ab_limit else mixed


def pair_item(p: Pair, a: Attempt | None, taxonomy: Taxonomy) -> ExpertItem:
    cat = taxonomy.get(p.category)
    return ExpertItem(id=p.key, kind="pair", category=cat.id, severity=cat.severity,
                      attack=(a.attack if a else p.meta.get("attack")), messages=p.prompt, response=p.rejected,
                      chosen=p.chosen, pair_kind=p.kind, verdicts=a.verdicts if a else {}, gates_training=True)


def eval_dir(d: Path) -> Path:
    """An eval directory, or a run directory's eval_after."""
    return d if (d / "responses.jsonl").exists() or not (d / "eval_after").is_dir() else d / "eval_after"


class GuardSource:
    """The guard's human-review queue, read-only: ``sqlite:///path`` (must exist) or ``postgresql://…``."""

    SQL = "SELECT id, ts, request_id, side, category, score, text FROM review_queue ORDER BY ts, id"

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///"):])
            if not path.exists():
                raise BadInput(f"--guard-db {path}: guard audit database not found (the guard writes it: "
                               "`safestack guard serve` with audit_url in its config)")
        elif not url.startswith(("postgresql://", "postgres://")):
            raise BadInput(f"--guard-db '{url}': expected sqlite:///<path> or postgresql://…")
        self.items()  # fail now on a file that is not a guard audit database

    def _rows(self) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite:///"):
            path = self.url[len("sqlite:///"):]
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as c:
                    return list(c.execute(self.SQL).fetchall())
            except sqlite3.DatabaseError as e:
                raise BadInput(f"--guard-db {path}: not a guard audit database ({e})") from None
        import psycopg  # type: ignore

        try:
            with psycopg.connect(self.url) as c, c.cursor() as cur:
                cur.execute(self.SQL)
                return list(cur.fetchall())
        except psycopg.Error as e:
            raise BadInput(f"--guard-db {self.url.split('@')[-1]}: {str(e).strip()}") from None

    def items(self) -> list[GuardItem]:
        return [GuardItem(id=str(r[0]), ts=float(r[1]), request_id=str(r[2]), side=str(r[3]), category=r[4],
                          score=r[5], text=r[6] or "") for r in self._rows()]


def verdict_labels(verdicts: dict[str, Verdict]) -> dict[str, bool]:
    return {k: v.label for k, v in verdicts.items() if k in ("refusal", "harm")}


