"""``safestack guard``: train | classify | serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..errors import BadInput

guard_app = typer.Typer(no_args_is_help=True, help="Runtime guardrails: classifier, PII, injection, proxy.")
console = Console(stderr=True)


@guard_app.command("train")
def train(out: Optional[Path] = typer.Option(None, "--out", help="artifact directory for the new classifier"),
          store: bool = typer.Option(False, "--store", help="instead, rebuild the packaged default classifier "
                                     "(writes into the installed package)"),
          seed: int = typer.Option(0, "--seed"), folds: int = typer.Option(5, "--folds"),
          target_fpr: Optional[float] = typer.Option(None, "--target-fpr", help="harmful head: out-of-fold FPR on "
                                                     "benign inputs (default 0.05)"),
          loso: bool = typer.Option(True, "--loso/--no-loso", help="also validate leave-one-source-out and store "
                                    "the report in guard.json (default; ≈ 8 min in all on 2 cores with the "
                                    "embedding cache)")):
    """Build the training set (taxonomy, constitution, HarmBench val/extras, red-instruct, JBB train half, benign
    look-alikes, content), fit the heads, choose thresholds (harmful and output out-of-fold, jailbreak out-of-source),
    validate leave-one-source-out (docs/guard.md).
    Writes to --out; the packaged default classifier is rebuilt only with --store."""
    from .classifier import default_model_dir
    from .train import GuardTrainConfig, train_guard

    if (out is None) == (not store):
        raise BadInput("guard train: pass --out DIR for a new classifier, or --store to rebuild the packaged default "
                       "(writes into the installed package) — one of the two")
    cfg = GuardTrainConfig(seed=seed, folds=folds, loso=loso)
    if target_fpr is not None:
        cfg.target_fpr = target_fpr
    train_guard(default_model_dir() if store else out, cfg, log=console.print)


@guard_app.command("classify")
def classify(inp: Path = typer.Option(..., "--in"), out: Path = typer.Option(..., "--out"),
             side: str = typer.Option("input", "--side", help="input | output"),
             model: Optional[Path] = typer.Option(None, "--model", help="classifier artifact directory"),
             batch_size: int = typer.Option(64, "--batch-size"),
             mode: str = typer.Option("auto", "--mode", help="auto (inputs fast, outputs cascade) | fast | cascade | full")):
    """Rows {"text", …} → rows + {"flagged", "score", "category"}."""
    from rich.progress import Progress

    from ..records import read_jsonl
    from .classifier import load_classifier

    if side not in ("input", "output"):
        raise BadInput(f"--side: expected input or output, got {side!r}")
    rows = read_jsonl(inp, required=("text",))
    clf = load_classifier(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    n_flag = 0
    with out.open("w", encoding="utf-8") as f, Progress(console=console, transient=True) as prog:
        task = prog.add_task("classifying", total=len(rows))
        for s in range(0, len(rows), batch_size):
            part = rows[s:s + batch_size]
            for r, sc in zip(part, clf.classify([r["text"] for r in part], side, mode)):
                n_flag += sc.flagged
                f.write(json.dumps({**r, "flagged": sc.flagged, "score": round(sc.score, 6),
                                    "category": sc.category}, ensure_ascii=False) + "\n")
            prog.advance(task, len(part))
    Console().print(f"{n_flag}/{len(rows)} flagged ({side}) → {out}")


@guard_app.command("serve")
def serve(upstream: str = typer.Option(..., "--upstream", help="default | hf:<path> | openai:<model>@<base_url>"),
          host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8080, "--port"),
          config: Optional[Path] = typer.Option(None, "--config", help="guard YAML (see GuardConfig)"),
          api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="upstream key variable")):
    """An OpenAI-compatible proxy: input guard → upstream → output guard, with audit log and /metrics."""
    import uvicorn

    from ..targets import load_target
    from .audit import AuditLog
    from .classifier import load_classifier
    from .policy import Guard, load_guard_config
    from .proxy import create_guard_app

    import torch

    cfg = load_guard_config(config)
    torch.set_num_threads(1)  # MiniLM on one intra-op thread; the event loop and the upstream keep the other cores
    target = load_target(upstream, api_key_env=api_key_env, turn_cache_mb=0)  # no timing across users
    guard = Guard(load_classifier(cfg.classifier), cfg)
    guard.classifier.classify(["warm-up"], "input")
    audit = AuditLog(cfg.audit_url, cfg.audit_text)
    app = create_guard_app(target, guard, audit)
    console.print(f"guard proxy for {upstream} on http://{host}:{port}/v1 (audit: {cfg.audit_url})")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=75, backlog=4096)
    finally:
        audit.close()
