"""The label store: append-only, SQLite by default (``sqlite:///path.db``), PostgreSQL by URL (``postgresql://…``,
with psycopg installed) — the same URLs as the guard's audit log.

One table, ``review_labels``: a label is never updated or deleted. ``UNIQUE(nonce)`` makes a resubmitted form a
no-op and ``UNIQUE(queue, item, rev)`` makes two racing submissions on one revision end as one label and one
"stale" answer, so no label is lost or counted twice.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import BadInput
from .records import ReviewConflict, ReviewLabel

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS review_labels (
        id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, queue TEXT NOT NULL, item TEXT NOT NULL,
        rev INTEGER NOT NULL, reviewer TEXT NOT NULL, action TEXT NOT NULL, nonce TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL, UNIQUE (queue, item, rev))""",
    "CREATE INDEX IF NOT EXISTS review_labels_item ON review_labels(queue, item)",
]
COLS = ("id", "ts", "queue", "item", "rev", "reviewer", "action", "nonce", "body")


def default_db(run: str | Path) -> str:
    return f"sqlite:///{Path(run) / 'review' / 'labels.db'}"


def resolve_db(spec: str | None, run: str | Path | None = None) -> str:
    """A store URL from ``--db``: a URL, a ``.db`` path, a run directory (its review/labels.db), or None (the run's)."""
    if not spec:
        if run is None:
            raise BadInput("review: no label store given (pass --db URL or --run DIR)")
        return default_db(run)
    if spec.startswith(("sqlite:///", "postgresql://", "postgres://")):
        return spec
    p = Path(spec)
    return default_db(p) if p.is_dir() else f"sqlite:///{p}"


def when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


class LabelStore:
    """Append and read review labels. ``create=False`` refuses a SQLite file that does not exist yet."""

    def __init__(self, url: str, *, create: bool = True):
        self.url = url
        self.ph = "?"
        if url.startswith("sqlite:///"):
            self.path: Path | None = Path(url[len("sqlite:///"):])
            if not self.path.exists():
                if not create:
                    raise BadInput(f"review labels {self.path}: file not found (label something with "
                                   "`safestack review serve` first)")
                self.path.parent.mkdir(parents=True, exist_ok=True)
        elif url.startswith(("postgresql://", "postgres://")):
            self.path = None
            self.ph = "%s"
            try:
                import psycopg  # type: ignore  # noqa: F401
            except ImportError:
                raise BadInput(f"review db {url.split('@')[-1]}: PostgreSQL needs psycopg "
                               "(pip install 'psycopg[binary]')") from None
        else:
            raise BadInput(f"review db '{url}': expected sqlite:///<path> or postgresql://…")
        with self._tx() as cur:
            for s in SCHEMA:
                cur.execute(s)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction; SQLite takes the write lock up front so check-then-insert is atomic."""
        if self.path is not None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                cur = conn.cursor()
                try:
                    yield cur
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()
            return
        import psycopg  # type: ignore

        with psycopg.connect(self.url) as conn:  # commits on success, rolls back on an exception
            with conn.cursor() as cur:
                yield cur

    def _select(self, cur, where: str = "", params: tuple = ()) -> list[ReviewLabel]:
        sql = f"SELECT body FROM review_labels {where} ORDER BY ts, rev".replace("?", self.ph)
        cur.execute(sql, params)
        return [ReviewLabel.model_validate_json(row[0]) for row in cur.fetchall()]

    def history(self, queue: str | None = None) -> list[ReviewLabel]:
        """Every label ever written (oldest first)."""
        with self._tx() as cur:
            return self._select(cur, "WHERE queue = ?" if queue else "", (queue,) if queue else ())

    def current(self, queue: str | None = None) -> dict[tuple[str, str], ReviewLabel]:
        """(queue, item) → the item's latest label."""
        out: dict[tuple[str, str], ReviewLabel] = {}
        for lab in self.history(queue):
            k = (lab.queue, lab.item)
            if k not in out or lab.rev > out[k].rev:
                out[k] = lab
        return out

    def get(self, queue: str, item: str) -> ReviewLabel | None:
        with self._tx() as cur:
            rows = self._select(cur, "WHERE queue = ? AND item = ?", (queue, item))
        return max(rows, key=lambda r: r.rev) if rows else None

    def add(self, label: ReviewLabel, base_rev: int) -> tuple[ReviewLabel, bool]:
        """Append ``label`` as revision ``base_rev + 1`` of its item. Returns (label, True) when written, or
        (the label already written by this form, False) for a resubmission. Raises ReviewConflict, writing
        nothing, when the item moved on since the form was rendered or belongs to another reviewer."""
        try:
            with self._tx() as cur:
                dup = self._select(cur, "WHERE nonce = ?", (label.nonce,))
                if dup:
                    return dup[0], False
                rows = self._select(cur, "WHERE queue = ? AND item = ?", (label.queue, label.item))
                check_submission(max(rows, key=lambda r: r.rev) if rows else None, label, base_rev)
                label = label.model_copy(update={"rev": base_rev + 1})
                values = (label.id, label.ts, label.queue, label.item, label.rev, label.reviewer, label.action,
                          label.nonce, label.model_dump_json(by_alias=True, exclude_none=True))
                cur.execute(f"INSERT INTO review_labels ({','.join(COLS)}) VALUES ({','.join([self.ph] * 9)})",
                            values)
            return label, True
        except ReviewConflict:
            raise
        except Exception as e:  # a racing submission won the unique key (SQLite serialises; PostgreSQL may race)
            if "unique" not in str(e).lower() and "integrity" not in type(e).__name__.lower():
                raise
            with self._tx() as cur:
                dup = self._select(cur, "WHERE nonce = ?", (label.nonce,))
            if dup:
                return dup[0], False
            raise ReviewConflict(f"{label.queue} item {label.item} was labelled by someone else at the same moment; "
                                 "reload the page — nothing was recorded", "stale") from None


def check_submission(cur: ReviewLabel | None, label: ReviewLabel, base_rev: int) -> None:
    """One reviewer per item; a form only applies to the revision it was rendered against."""
    if cur is not None and cur.reviewer != label.reviewer:
        raise ReviewConflict(f"{label.queue} item {label.item} was already reviewed by {cur.reviewer} at "
                             f"{when(cur.ts)} ({cur.action}); one reviewer per item — your label was not recorded",
                             "taken")
    have = cur.rev if cur else 0
    if base_rev != have:
        now = f"it is now at revision {have}" + (f" ({cur.action} at {when(cur.ts)})" if cur else " (unlabelled)")
        raise ReviewConflict(f"{label.queue} item {label.item} changed since this form was opened: {now}; reload the "
                             "page and submit again — nothing was recorded", "stale")
