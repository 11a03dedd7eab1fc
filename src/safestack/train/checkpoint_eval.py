"""Safety at every checkpoint: a TrainerCallback that runs a small held-out safety eval (ASR on a HarmBench-test
subset, over-refusal on an XSTest-safe subset) on the model being trained each time a checkpoint is saved, appends
a ``CheckpointEval`` record to ``DIR/checkpoint_evals.jsonl``, and flags the checkpoint where safety degrades.

Works with any transformers/TRL trainer (SFT, DPO, GRPO): pass ``CheckpointEvalCallback(out, settings)`` in
``callbacks``. The model is evaluated in memory with its LoRA adapter attached (no merge, no reload).
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Sequence

from pydantic import Field

from ..records import JsonlStore, Record
from .config import CheckpointEvalSettings

EVALS = "checkpoint_evals.jsonl"


class CheckpointEval(Record):
    key: str
    step: int
    checkpoint: str | None = None
    asr: float | None
    asr_ci95: list[float] | None = None
    over_refusal: float | None
    over_refusal_ci95: list[float] | None = None
    n_harmful: int = 0
    n_benign: int = 0
    seconds: float = 0.0
    meta: dict = Field(default_factory=dict)


def evaluate_model(model, tokenizer, out_dir: Path, cfg: CheckpointEvalSettings, judges=None) -> dict:
    """Run the eval subsets on an in-memory model; returns {asr, asr_ci95, over_refusal, over_refusal_ci95, n_*}."""
    from ..data import bench_name
    from ..evals.runner import run_eval
    from ..judges import make_judge
    from ..targets.base import GenParams
    from ..targets.hf import HFTarget

    judges = judges or [make_judge("refusal"), make_judge("harm")]
    device = str(next(model.parameters()).device)
    target = HFTarget(model=model, tokenizer=copy.deepcopy(tokenizer), device=device, batch_size=cfg.batch_size,
                      name="checkpoint")
    benches = [cfg.asr_bench, cfg.over_refusal_bench]
    m = asyncio.run(run_eval(target, benches, judges, out_dir, limit=cfg.limit, resume=False,
                             params=GenParams(max_new_tokens=cfg.max_new_tokens), batch_size=cfg.batch_size,
                             show_progress=False))
    return _point(m[bench_name(cfg.asr_bench)], m[bench_name(cfg.over_refusal_bench)])


def _point(a: dict, o: dict) -> dict:
    """A checkpoint point from the ASR bench's and the over-refusal bench's metrics blocks."""
    return {"asr": a["asr"], "asr_ci95": a["asr_ci95"], "over_refusal": o["over_refusal"],
            "over_refusal_ci95": o["over_refusal_ci95"], "n_harmful": a["n_harmful"], "n_benign": o["n_benign"]}


def point_from_eval(eval_dir: str | Path, cfg: CheckpointEvalSettings, max_new_tokens: int) -> dict | None:
    """The checkpoint-eval numbers read from a full eval of the same model (``safestack run``: eval_before is the
    model at step 0, eval_after the final one), or None when that eval lacks a prompt of the subsets or generated
    a different number of tokens. Same prompts, decoding and judges' verdicts — nothing is generated twice."""
    from ..data import bench_name, load_bench
    from ..evals.runner import RESPONSES, compute_metrics, subsample
    from ..records import EvalRow

    path = Path(eval_dir) / RESPONSES
    if max_new_tokens != cfg.max_new_tokens or not path.exists():
        return None
    rows = {r.sample_id: r for r in JsonlStore(path, EvalRow).load()}
    picked, names = [], []
    for spec in (cfg.asr_bench, cfg.over_refusal_bench):
        name = bench_name(spec)
        ids = [s.id for s in subsample(load_bench(spec), cfg.limit)]
        if any(i not in rows for i in ids):
            return None
        picked += [rows[i].model_copy(update={"bench": name}) for i in ids]
        names.append(name)
    m = compute_metrics(picked, names)
    return _point(m[names[0]], m[names[1]])


def eval_covers(cfg: CheckpointEvalSettings, benches: Sequence[str], limit: int | None, gen_tokens: int) -> bool:
    """Whether an eval of ``benches`` (``limit``, ``gen_tokens`` new tokens) will hold every prompt of the checkpoint
    subsets, so that ``point_from_eval`` can read the final point from it — decided on sample ids, as it reads."""
    from ..data import load_bench
    from ..data.loaders import split_limit
    from ..evals.runner import spec_limit, subsample

    if gen_tokens != cfg.max_new_tokens:
        return False
    source = lambda spec: spec if spec.startswith("jsonl:") else split_limit(spec)[0].split(":")[0]  # noqa: E731
    for spec in (cfg.asr_bench, cfg.over_refusal_bench):
        # only the eval benches that read the same data can hold its prompts (BBQ's 58k need not be loaded)
        have = {s.id for b in benches if source(b) == source(spec)
                for s in subsample(load_bench(b), spec_limit(b, limit))}
        if not all(s.id in have for s in subsample(load_bench(spec), cfg.limit)):
            return False
    return True


def record_point(out: str | Path, step: int, res: dict, source: str, cfg: CheckpointEvalSettings,
                 checkpoint: str | None = None) -> CheckpointEval | None:
    """Append a checkpoint-eval record taken from elsewhere (``point_from_eval``) unless that step has one."""
    store = JsonlStore(Path(out) / EVALS, CheckpointEval)
    key = f"step-{step}"
    if key in store.keys():
        return None
    rec = CheckpointEval(key=key, step=step, checkpoint=checkpoint, seconds=0.0,
                         meta={"asr_bench": cfg.asr_bench, "over_refusal_bench": cfg.over_refusal_bench,
                               "limit": cfg.limit, "from": source}, **res)
    store.append(rec)
    return rec


try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object


class CheckpointEvalCallback(TrainerCallback):
    """on_save (and optionally on_train_begin): evaluate, append to ``out/checkpoint_evals.jsonl``. Steps already
    recorded are skipped, so a resumed run continues the same curve."""

    def __init__(self, out: str | Path, cfg: CheckpointEvalSettings | None = None, *, judges=None, log=print,
                 skip_final: bool = False):
        self.out = Path(out)
        self.skip_final = skip_final  # the caller evaluates the final model itself (``safestack run``: eval after)
        self.cfg = cfg or CheckpointEvalSettings(enabled=True)
        self.store = JsonlStore(self.out / EVALS, CheckpointEval)
        self._judges = judges
        self.log = log

    def _judges_once(self):
        if self._judges is None:
            from ..judges import make_judge

            self._judges = [make_judge("refusal"), make_judge("harm")]
        return self._judges

    def _run(self, args, state, model, tokenizer, checkpoint: str | None):
        key = f"step-{state.global_step}"
        if not state.is_world_process_zero or key in self.store.keys() or model is None or tokenizer is None:
            return
        was_training = model.training
        t0 = time.time()
        try:
            res = evaluate_model(model, tokenizer, self.out / "checkpoint_evals" / key, self.cfg, self._judges_once())
        finally:
            model.train(was_training)
        rec = CheckpointEval(key=key, step=state.global_step, checkpoint=checkpoint, seconds=round(time.time() - t0, 1),
                             meta={"asr_bench": self.cfg.asr_bench, "over_refusal_bench": self.cfg.over_refusal_bench,
                                   "limit": self.cfg.limit}, **res)
        self.store.append(rec)
        self.log(f"checkpoint eval @ step {rec.step}: ASR {rec.asr} · over-refusal {rec.over_refusal} "
                 f"({rec.seconds} s)")

    @staticmethod
    def _tok(kwargs):
        return kwargs.get("processing_class") or kwargs.get("tokenizer")

    def on_train_begin(self, args, state, control, **kwargs):
        if self.cfg.at_start and state.global_step == 0:
            self._run(args, state, kwargs.get("model"), self._tok(kwargs), None)

    def on_save(self, args, state, control, **kwargs):
        if self.skip_final and state.max_steps and state.global_step >= state.max_steps:
            return
        ckpt = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
        self._run(args, state, kwargs.get("model"), self._tok(kwargs), ckpt)


def load_evals(out: str | Path) -> list[CheckpointEval]:
    p = Path(out)
    p = p if p.suffix == ".jsonl" else p / EVALS
    return sorted(JsonlStore(p, CheckpointEval).load(), key=lambda r: r.step)


def flag_degradation(rows: Sequence[CheckpointEval]) -> dict:
    """The first checkpoint where safety degrades: its ASR (or over-refusal) point estimate lies above the Wilson
    95 % upper bound of the best (lowest) value seen at an earlier checkpoint. Returns
    {"step": int | None, "reasons": [...], "by_step": {step: [reasons]}}."""
    rows = sorted(rows, key=lambda r: r.step)
    by_step: dict[int, list[str]] = {}
    best: dict[str, CheckpointEval] = {}
    for r in rows:
        reasons = []
        for metric in ("asr", "over_refusal"):
            v = getattr(r, metric)
            b = best.get(metric)
            if v is None:
                continue
            if b is not None:
                bv, ci = getattr(b, metric), getattr(b, f"{metric}_ci95")
                if ci and v > ci[1]:
                    reasons.append(f"{metric} {v:.3f} > {ci[1]:.3f} (upper 95% bound at step {b.step}, "
                                   f"where it was {bv:.3f})")
            if b is None or v < getattr(b, metric):
                best[metric] = r
        if reasons:
            by_step[r.step] = reasons
    first = min(by_step) if by_step else None
    return {"step": first, "reasons": by_step.get(first, []), "by_step": by_step}


def plot_curves(rows: Sequence[CheckpointEval], path: str | Path, title: str = "safety at each checkpoint") -> Path:
    """ASR and over-refusal per checkpoint with 95 % CI bands; the first degraded checkpoint is marked (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r.step)
    steps = [r.step for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    for metric, colour, name in (("asr", "#c0392b", "ASR (HarmBench test subset)"),
                                 ("over_refusal", "#2471a3", "over-refusal (XSTest safe subset)")):
        ys = [getattr(r, metric) for r in rows]
        if all(y is None for y in ys):
            continue
        ax.plot(steps, [100 * (y or 0) for y in ys], marker="o", color=colour, label=name)
        cis = [getattr(r, f"{metric}_ci95") or [y or 0, y or 0] for r, y in zip(rows, ys)]
        ax.fill_between(steps, [100 * c[0] for c in cis], [100 * c[1] for c in cis], color=colour, alpha=0.15)
    flag = flag_degradation(rows)
    if flag["step"] is not None:
        ax.axvline(flag["step"], color="black", linestyle="--", linewidth=1)
        ax.annotate("safety degrades", (flag["step"], 95), rotation=90, va="top", ha="right", fontsize=8)
    ax.set_xlabel("training step")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    from ..figures import save_png

    return save_png(fig, path)
