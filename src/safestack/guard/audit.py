"""The audit log: every guard decision (and every rejected request) as a row, plus a human-review queue.

SQLite by default (``sqlite:///path.db``, WAL mode); ``postgresql://…`` uses psycopg when it is installed (it is
not a dependency; the schema is plain SQL). Writes go through one background thread that batches inserts, so the
proxy's event loop never waits on the disk; ``flush()`` waits until everything queued is committed.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import BadInput

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS decisions (
        id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, api_key TEXT,
        side TEXT NOT NULL, action TEXT NOT NULL, flagged INTEGER NOT NULL, category TEXT, score DOUBLE PRECISION,
        detail TEXT, text TEXT, status INTEGER, latency_ms DOUBLE PRECISION)""",
    "CREATE INDEX IF NOT EXISTS decisions_request ON decisions(request_id)",
    """CREATE TABLE IF NOT EXISTS review_queue (
        id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, api_key TEXT,
        side TEXT NOT NULL, category TEXT, score DOUBLE PRECISION, text TEXT, status TEXT NOT NULL)""",
]
_DCOLS = ("id", "ts", "request_id", "api_key", "side", "action", "flagged", "category", "score", "detail", "text",
          "status", "latency_ms")
_RCOLS = ("id", "ts", "request_id", "api_key", "side", "category", "score", "text", "status")


@dataclass
class AuditEvent:
    request_id: str
    side: str  # request | input | document | output
    action: str  # allow | block | redact | flag | rate_limited | unauthorized | too_large | bad_request | error
    flagged: bool = False
    api_key: str | None = None
    category: str | None = None
    score: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    review: bool = False  # also queue it for human review


class AuditLog:
    def __init__(self, url: str = "sqlite:///guard-audit.db", log_text: bool = True, max_text: int = 2000):
        self.url = url
        self.log_text = log_text
        self.max_text = max_text
        self.q: queue.Queue = queue.Queue()
        self.ph = "?"
        self._connect()(self).close()  # create the schema now; fail fast on a bad URL
        self.thread = threading.Thread(target=self._run, daemon=True, name="guard-audit")
        self.thread.start()

    def _connect(self):
        if self.url.startswith("sqlite:///") or self.url == "sqlite://":
            path = self.url[len("sqlite:///"):] or ":memory:"
            if path == ":memory:":
                raise BadInput("audit: an in-memory SQLite database cannot be shared; give a file path")

            def conn(_self):
                c = sqlite3.connect(path, timeout=30, check_same_thread=False)
                c.execute("PRAGMA journal_mode=WAL")
                c.execute("PRAGMA synchronous=NORMAL")
                for s in SCHEMA:
                    c.execute(s)
                c.commit()
                return c
            return conn
        if self.url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg  # type: ignore
            except ImportError:
                raise BadInput(f"audit url {self.url.split('@')[-1]}: PostgreSQL needs psycopg "
                               "(pip install 'psycopg[binary]')") from None
            self.ph = "%s"

            def conn(_self):
                c = psycopg.connect(self.url)
                with c.cursor() as cur:
                    for s in SCHEMA:
                        cur.execute(s)
                c.commit()
                return c
            return conn
        raise BadInput(f"audit url '{self.url}': expected sqlite:///<path> or postgresql://…")

    def record(self, ev: AuditEvent) -> None:
        self.q.put(ev)

    def _rows(self, ev: AuditEvent) -> tuple[tuple, tuple | None]:
        now = time.time()
        text = (ev.text or "")[: self.max_text] if self.log_text and ev.text is not None else None
        d = (uuid.uuid4().hex, now, ev.request_id, ev.api_key, ev.side, ev.action, int(ev.flagged), ev.category,
             ev.score, json.dumps(ev.detail) if ev.detail else None, text, ev.status, ev.latency_ms)
        r = None
        if ev.review:
            r = (uuid.uuid4().hex, now, ev.request_id, ev.api_key, ev.side, ev.category, ev.score,
                 (ev.text or "")[: self.max_text], "pending")
        return d, r

    def _run(self) -> None:
        conn = self._connect()(self)
        dsql = f"INSERT INTO decisions ({','.join(_DCOLS)}) VALUES ({','.join([self.ph] * len(_DCOLS))})"
        rsql = f"INSERT INTO review_queue ({','.join(_RCOLS)}) VALUES ({','.join([self.ph] * len(_RCOLS))})"
        while True:
            item = self.q.get()
            batch = [item]
            while len(batch) < 500:
                try:
                    batch.append(self.q.get_nowait())
                except queue.Empty:
                    break
            events = [b for b in batch if isinstance(b, AuditEvent)]
            if events:
                rows = [self._rows(e) for e in events]
                cur = conn.cursor()
                cur.executemany(dsql, [d for d, _ in rows])
                reviews = [r for _, r in rows if r]
                if reviews:
                    cur.executemany(rsql, reviews)
                conn.commit()
            for b in batch:
                if isinstance(b, threading.Event):
                    b.set()
                self.q.task_done()
            if any(b is None for b in batch):
                conn.close()
                return

    def flush(self, timeout: float = 30.0) -> None:
        ev = threading.Event()
        self.q.put(ev)
        ev.wait(timeout)

    def close(self) -> None:
        self.flush()
        self.q.put(None)
        self.thread.join(timeout=10)

    # ---- reading (tests, benchmarks, review tooling) ---------------------------------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        self.flush()
        conn = self._connect()(self)
        try:
            cur = conn.cursor()
            cur.execute(sql.replace("?", self.ph), params)
            return list(cur.fetchall())
        finally:
            conn.close()


def event_dict(ev: AuditEvent) -> dict:
    return asdict(ev)
