"""``safestack eval``: benches → target → judges → responses.jsonl + metrics.json."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..data import bench_name, load_bench
from ..engine import WorkItem, run_work
from ..errors import BadInput
from ..judges.base import Judge, JudgeItem
from ..records import EvalRow, JsonlStore, Sample, stable_id, user, write_json
from ..targets.base import GenParams, Target
from .metrics import bench_metrics

RESPONSES = "responses.jsonl"
METRICS = "metrics.json"


def subsample(samples: list[Sample], limit: int | None, seed: int = 0) -> list[Sample]:
    """A deterministic, label- and category-stratified subset of ``limit`` samples (all when limit is None)."""
    if limit is None or limit >= len(samples):
        return samples
    if limit <= 0:
        raise BadInput(f"--limit must be positive, got {limit}")
    import random

    rng = random.Random(seed)
    by: dict[tuple, list[Sample]] = {}
    for s in samples:
        by.setdefault((s.label, s.category), []).append(s)
    for v in by.values():
        rng.shuffle(v)
    out: list[Sample] = []
    while len(out) < limit:  # round-robin over strata
        for v in by.values():
            if v and len(out) < limit:
                out.append(v.pop())
    return sorted(out, key=lambda s: s.id)


def sample_work(samples: Sequence[Sample], bench: str, params: GenParams) -> list[WorkItem]:
    """One single-turn request per sample, judged against its goal, stored as an ``EvalRow`` of ``bench``."""
    work = []
    for s in samples:
        key = stable_id(bench, s.id, s.prompt, params.max_new_tokens)

        def build(resp, verdicts, s=s, key=key):
            return EvalRow(key=key, bench=bench, sample_id=s.id, prompt=s.prompt, response=resp, label=s.label,
                           category=s.category, meta=s.meta, verdicts=verdicts)

        work.append(WorkItem(key, user(s.prompt),
                             lambda r, s=s: JudgeItem(prompt=s.prompt, response=r, behavior=s.meta.get("behavior")),
                             build))
    return work


async def run_eval(target: Target, benches: Sequence[str], judges: Sequence[Judge], out: str | Path, *,
                   limit: int | None = None, params: GenParams | None = None, resume: bool = True,
                   batch_size: int = 32, show_progress: bool = True, judge_info: dict | None = None) -> dict:
    params = params or GenParams()
    out = Path(out)
    store = JsonlStore(out / RESPONSES, EvalRow)
    if not resume:
        store.reset()
    loaded = {spec: subsample(load_bench(spec), limit) for spec in benches}  # validate every spec first
    for spec, samples in loaded.items():
        name = bench_name(spec)
        work = sample_work(samples, name, params)
        await run_work(work, target, judges, store, params, batch_size=batch_size, description=f"eval {name}",
                       show_progress=show_progress)
    metrics = compute_metrics(store.load(), [bench_name(b) for b in benches])
    metrics["judge"] = judge_info or {}
    metrics["target"] = getattr(target, "name", "?")
    write_json(out / METRICS, metrics)
    return metrics


def compute_metrics(rows: Sequence[EvalRow], benches: Sequence[str]) -> dict:
    out: dict = {}
    for b in benches:
        br = [r for r in rows if r.bench == b]
        out[b] = bench_metrics(br, refused=lambda r: bool(r.verdicts.get("refusal") and r.verdicts["refusal"].label),
                               harmful=lambda r: bool(r.verdicts.get("harm") and r.verdicts["harm"].label))
    return out
