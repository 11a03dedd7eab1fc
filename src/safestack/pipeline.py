"""The closed loop behind ``safestack run``: red team → datagen → train → eval before/after → report.

Each stage writes its files into the run directory and is marked done in ``state.json``; ``--resume`` skips done
stages and continues the interrupted one from its own JSONL records or training checkpoints.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rich.console import Console

from .errors import BadInput
from .records import write_json
from .train.config import CheckpointEvalSettings, DPOSettings, from_dict, load_yaml, to_dict


@dataclass
class RedteamSettings:
    sources: list[str] = field(default_factory=lambda: ["harmbench:val", "adv_training"])
    attacks: list[str] = field(default_factory=lambda: ["direct", "roleplay", "refusal_suppression"])
    limit: int | None = 100  # harmful training behaviours (stratified by category); None = all 141
    max_new_tokens: int = 48  # rejected replies are cut to 32 tokens for DPO anyway
    batch_size: int = 32


@dataclass
class DatagenSettings:
    benign_ratio: float = 1.0  # borderline-benign pairs per refusal pair
    max_pairs: int | None = 256  # bounds DPO time on CPU (32 steps at batch 8)
    val_fraction: float = 0.0
    cai_limit: int = 0  # Constitutional AI revisions (critique → revise); needs a capable critic to pay off
    critic: str | None = None  # target spec of the critic/reviser (default: the target itself)
    rlaif_limit: int = 0  # prompts labelled by an AI labeller (two samples, both orders)
    labeller: str | None = None  # target spec of the labeller (default: the target itself)
    constitution: str | None = None  # a constitution YAML replacing the default


@dataclass
class EvalSettings:
    benches: list[str] = field(default_factory=lambda: ["harmbench", "xstest"])
    limit: int | None = None
    max_new_tokens: int = 48
    batch_size: int = 32


@dataclass
class RunConfig:
    target: str = "default"
    seed: int = 0
    taxonomy: str | None = None
    redteam: RedteamSettings = field(default_factory=RedteamSettings)
    datagen: DatagenSettings = field(default_factory=DatagenSettings)
    train: DPOSettings = field(default_factory=DPOSettings)
    # a small held-out safety eval at the start and at every saved checkpoint (curves + degradation flag in the
    # report)
    checkpoint_eval: CheckpointEvalSettings = field(default_factory=lambda: CheckpointEvalSettings(enabled=True))
    eval: EvalSettings = field(default_factory=EvalSettings)


def load_run_config(path: str | None, target: str | None = None) -> RunConfig:
    data = load_yaml(path)
    cfg = from_dict(RunConfig, data, str(path or "config"))
    if target:
        cfg.target = target
    return cfg


STAGES = ("redteam", "eval_before", "datagen", "train", "eval_after", "report")


class RunState:
    def __init__(self, out: Path):
        self.path = out / "state.json"
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {"done": {}}

    def done(self, stage: str) -> bool:
        return stage in self.data["done"]

    def mark(self, stage: str, seconds: float) -> None:
        self.data["done"][stage] = {"seconds": round(seconds, 1), "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.path, self.data)


def run_pipeline(cfg: RunConfig, out: str | Path, *, resume: bool = False, console: Console | None = None,
                 target_factory: Callable[[str], Any] | None = None) -> dict:
    """Run (or resume) the loop; returns report.json's content."""
    from .attacks import make_attacks
    from .data import load_bench
    from .datagen import run_datagen
    from .evals import run_eval, subsample
    from .judges import judge_info, make_judge
    from .records import Attempt, JsonlStore
    from .redteam import run_redteam
    from .report import build_report
    from .targets import GenParams, load_target
    from .taxonomy import load_taxonomy
    from .train.dpo import train_dpo

    console = console or Console(stderr=True)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise BadInput(f"{out} is not empty: pass --resume to continue that run, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", to_dict(cfg))
    state = RunState(out)
    taxonomy = load_taxonomy(cfg.taxonomy)
    attacks = make_attacks(cfg.redteam.attacks)  # validate before any heavy work
    for b in cfg.eval.benches:
        load_bench(b)
    make_target = target_factory or (lambda spec: load_target(spec))
    judges = [make_judge("refusal"), make_judge("harm")]
    jinfo = judge_info(judges)
    timings: dict[str, float] = {}
    base = None

    def base_target():
        nonlocal base
        if base is None:
            base = make_target(cfg.target)
        return base

    def stage(name: str, fn: Callable[[], Any]) -> None:
        if state.done(name):
            console.print(f"[dim]✓ {name} (done, skipped)[/dim]")
            return
        console.rule(f"[bold]{name}")
        t0 = time.time()
        fn()
        state.mark(name, time.time() - t0)
        timings[name] = time.time() - t0

    rt_params = GenParams(max_new_tokens=cfg.redteam.max_new_tokens)
    ev_params = GenParams(max_new_tokens=cfg.eval.max_new_tokens)

    def do_redteam():
        samples = [s for src in cfg.redteam.sources for s in load_bench(src)]
        samples = subsample(samples, cfg.redteam.limit, cfg.seed)
        asyncio.run(run_redteam(base_target(), samples, attacks, judges, out / "redteam", params=rt_params,
                                taxonomy=taxonomy, resume=True, seed=cfg.seed, batch_size=cfg.redteam.batch_size))

    def do_eval(which: str, spec_target):
        asyncio.run(run_eval(spec_target(), cfg.eval.benches, judges, out / which, limit=cfg.eval.limit,
                             params=ev_params, resume=True, batch_size=cfg.eval.batch_size, judge_info=jinfo))

    def do_datagen():
        findings = JsonlStore(out / "redteam" / "findings.jsonl", Attempt).load()
        d = cfg.datagen
        asyncio.run(run_datagen(findings, out / "data", target=base_target(), taxonomy=taxonomy, refusal=judges[0],
                                harm=judges[1], benign_ratio=d.benign_ratio, max_pairs=d.max_pairs,
                                val_fraction=d.val_fraction, params=rt_params, seed=cfg.seed, cai_limit=d.cai_limit,
                                critic=make_target(d.critic) if d.critic else None, rlaif_limit=d.rlaif_limit,
                                labeller=make_target(d.labeller) if d.labeller else None,
                                constitution=d.constitution))

    def do_train():
        path = model_path_of(cfg.target)
        callbacks = []
        if cfg.checkpoint_eval.enabled:
            from .train.checkpoint_eval import CheckpointEvalCallback

            callbacks.append(CheckpointEvalCallback(out / "train", cfg.checkpoint_eval, judges=judges,
                                                    log=console.print))
        train_dpo(path, out / "data" / "train.jsonl", out / "train", cfg.train, callbacks=callbacks,
                  log=console.print)
        if (out / "model").exists():
            shutil.rmtree(out / "model")
        shutil.move(str(out / "train" / "model"), str(out / "model"))

    stage("redteam", do_redteam)
    stage("eval_before", lambda: do_eval("eval_before", base_target))
    stage("datagen", do_datagen)
    base = None  # free the base model before training
    stage("train", do_train)
    stage("eval_after", lambda: do_eval("eval_after", lambda: make_target(f"hf:{out / 'model'}")))
    report = build_report(out)
    state.mark("report", 0.0)
    return report


def model_path_of(spec: str) -> str:
    """The local weights behind a target spec (training needs weights, not an API)."""
    if spec == "default":
        from .targets.default import default_model_dir

        return str(default_model_dir())
    if spec.startswith("hf:"):
        return spec[3:]
    raise BadInput(f"target '{spec}': training needs local weights (default or hf:<path>), not an API target")
