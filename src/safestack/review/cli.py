"""``safestack review``: serve the review queues, export the labels."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..errors import BadInput

review_app = typer.Typer(no_args_is_help=True, help="Human review: expert review of high-severity findings, blind A/B "
                         "ratings, the guard's review queue.")
console = Console(stderr=True)
out_console = Console()
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def build_app(run: Path, *, guard_db: str | None = None, db: str | None = None, reviewers: Path | None = None,
              read_only: bool = False, severity: str | None = None, ab: str | None = None, ab_limit: int = 40,
              tokens_env: str | None = None):
    """The review app for a run directory (validates every input before anything is served)."""
    from ..records import read_json
    from ..taxonomy import load_taxonomy
    from .app import create_review_app, load_reviewers
    from .gate import check_required
    from .items import GuardSource, RunSources
    from .store import LabelStore, resolve_db

    if not run.is_dir():
        raise BadInput(f"--run {run}: run directory not found")
    config = read_json(run / "config.json") if (run / "config.json").exists() else {}
    required = (config.get("review") or {}).get("required") or ["critical", "high"]
    sev = [s.strip() for s in severity.split(",") if s.strip()] if severity else list(required)
    check_required(sev)
    sources = RunSources(run, load_taxonomy(config.get("taxonomy")), sev,
                         ab_dirs=[x.strip() for x in ab.split(",") if x.strip()] if ab else None, ab_limit=ab_limit)
    guard = GuardSource(guard_db) if guard_db else None
    store = LabelStore(resolve_db(db or (config.get("review") or {}).get("db"), run))
    team = load_reviewers(reviewers, tokens_env)
    return create_review_app(sources, store, guard=guard, reviewers=team, read_only=read_only)


@review_app.command("serve")
def serve(run: Path = typer.Option(..., "--run", help="run directory (safestack run / redteam / datagen output)"),
          guard_db: Optional[str] = typer.Option(None, "--guard-db", help="the guard's audit store: sqlite:///PATH "
                                                 "or postgresql://… (its flagged messages form the guard queue)"),
          db: Optional[str] = typer.Option(None, "--db", help="label store URL or path "
                                           "(default: RUN/review/labels.db)"),
          reviewers: Optional[Path] = typer.Option(None, "--reviewers", help="YAML {name: token}; also "
                                                   "SAFESTACK_REVIEW_TOKENS=name:token,…; none → read-only"),
          read_only: bool = typer.Option(False, "--read-only", help="browse only: no labels are written"),
          severity: Optional[str] = typer.Option(None, "--severity", help="expert queue severities (default: the "
                                                 "run's review.required, else critical,high)"),
          ab: Optional[str] = typer.Option(None, "--ab", help="two eval or run dirs BEFORE,AFTER (default: the "
                                           "run's eval_before and eval_after)"),
          ab_limit: int = typer.Option(40, "--ab-limit", help="A/B items sampled (stable; harmful and benign mixed)"),
          host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8765, "--port")):
    """Serve the three review queues (expert, A/B, guard) on http://HOST:PORT (127.0.0.1 unless told otherwise)."""
    import uvicorn

    app = build_app(run, guard_db=guard_db, db=db, reviewers=reviewers, read_only=read_only, severity=severity,
                    ab=ab, ab_limit=ab_limit, tokens_env=os.environ.get("SAFESTACK_REVIEW_TOKENS"))
    st = app.state.review
    if host not in LOOPBACK:
        console.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach it sees the queues, "
                      "and tokens travel without TLS (put it behind an HTTPS proxy)")
    mode = "read-only" if app.state.read_only else "reviewers signed in with a token can label"
    out_console.print(f"review {run}: expert {len(st.expert)} · A/B {len(st.ab)} · guard "
                      f"{len(st.items('guard')) if st.guard else '–'} items; labels → {st.store.url.split('@')[-1]} "
                      f"({mode})\nopen http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@review_app.command("export")
def export(run: Optional[Path] = typer.Option(None, "--run", help="run directory (its review/labels.db)"),
           db: Optional[str] = typer.Option(None, "--db", help="label store URL or path"),
           out: Path = typer.Option(..., "--out", help="JSONL file to write"),
           fmt: str = typer.Option("labels", "--format", help="labels (review records with a schema field) | "
                                   "refusal | harm (judge calibration rows) | guard (bench rows for guard data)"),
           history: bool = typer.Option(False, "--history", help="labels: every revision, not just the current"),
           queue: Optional[str] = typer.Option(None, "--queue", help="labels: only expert | ab | guard")):
    """Export the labels as JSONL."""
    from .records import QUEUES
    from .summary import _write, export_labels, guard_rows, judge_rows, open_existing

    if run is not None and not run.is_dir():
        raise BadInput(f"--run {run}: run directory not found")
    if queue is not None and queue not in QUEUES:
        raise BadInput(f"--queue {queue}: expected one of {', '.join(QUEUES)}")
    store = open_existing(db, run)
    if fmt == "labels":
        n = export_labels(store, out, history=history, queue=queue)
    elif fmt in ("refusal", "harm"):
        n = _write(out, judge_rows(store, fmt))
    elif fmt == "guard":
        n = _write(out, guard_rows(store))
    else:
        raise BadInput(f"--format {fmt}: expected labels, refusal, harm or guard")
    out_console.print(f"{n} rows → {out}")


@review_app.command("token")
def token(name: str = typer.Argument(..., help="the reviewer's name")):
    """Print a new random reviewer token as a line for the --reviewers YAML file."""
    import secrets

    out_console.print(f'{name}: "{secrets.token_urlsafe(24)}"', highlight=False)
