"""``safestack eval``: benches → target → judges → responses.jsonl + metrics.json.

Each bench spec resolves to a registered bench (``evals/benches/``) that runs its own way (single-turn generation,
multiple choice by log-likelihood, interactive multi-turn) and summarises its own rows."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import Sequence

from ..data import bench_name, load_bench
from ..errors import BadInput
from ..judges.base import Judge
from ..records import EvalRow, JsonlStore, Sample, write_json
from ..targets.base import GenParams, Target
from .benches.base import BenchContext, bench_of, sample_work  # noqa: F401  (sample_work: used by datagen)

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
    # round-robin over strata, alternating labels (a small limit still gets harmful and benign prompts)
    labels = sorted({k[0] for k in by})
    per_label = [[v for k, v in by.items() if k[0] == lab] for lab in labels]
    strata = [s for group in zip_longest(*per_label) for s in group if s is not None]
    out: list[Sample] = []
    while len(out) < limit:
        for v in strata:
            if v and len(out) < limit:
                out.append(v.pop())
    return sorted(out, key=lambda s: s.id)


def subsample_sources(pools: dict[str, list[Sample]], limit: int | None, seed: int = 0) -> list[Sample]:
    """``limit`` samples spread evenly over sources (each source's share drawn by ``subsample``, stratified by
    category); a source with fewer samples than its share gives the rest to the others."""
    if limit is None:
        return [s for v in pools.values() for s in v]
    out: list[Sample] = []
    left, todo = limit, sorted(pools, key=lambda k: len(pools[k]))
    for i, name in enumerate(todo):
        share = left // (len(todo) - i)
        got = subsample(pools[name], share, seed) if share > 0 else []
        out += got
        left -= len(got)
    return out


def spec_limit(spec: str, limit: int | None) -> int | None:
    """A spec's own subset size (``strongreject@60``), bounded by the run-wide ``limit``."""
    from ..data.loaders import split_limit

    n = split_limit(spec)[1]
    return min(x for x in (n, limit) if x is not None) if (n or limit) else None


async def run_eval(target: Target, benches: Sequence[str], judges: Sequence[Judge], out: str | Path, *,
                   limit: int | None = None, params: GenParams | None = None, resume: bool = True,
                   batch_size: int = 32, show_progress: bool = True, judge_info: dict | None = None) -> dict:
    params = params or GenParams()
    out = Path(out)
    store = JsonlStore(out / RESPONSES, EvalRow)
    if not resume:
        store.reset()
    loaded = {spec: subsample(load_bench(spec), spec_limit(spec, limit)) for spec in benches}  # validate every spec first
    ctx = BenchContext(target, judges, store, params, batch_size=batch_size, show_progress=show_progress)
    for spec, samples in loaded.items():
        await bench_of(spec).run(ctx, bench_name(spec), samples)
    ids = {bench_name(spec): {s.id for s in samples} for spec, samples in loaded.items()}
    metrics = compute_metrics(store.load(), [bench_name(b) for b in benches], ids)
    metrics["judge"] = judge_info or {}
    metrics["target"] = getattr(target, "name", "?")
    write_json(out / METRICS, metrics)
    return metrics


def compute_metrics(rows: Sequence[EvalRow], benches: Sequence[str],
                    ids: dict[str, set[str]] | None = None) -> dict:
    """Each bench's metrics block from its rows (only the samples of this run when ``ids`` is given)."""
    out: dict = {}
    for b in benches:
        br = [r for r in rows if r.bench == b and (ids is None or r.sample_id in ids.get(b, ()))]
        out[b] = bench_of(b).summarize(br)
        out[b].setdefault("bench_kind", bench_of(b).kind)
    return out


async def rejudge(src: str | Path, out: str | Path, judges: Sequence[Judge], judge_info: dict | None = None) -> dict:
    """Re-score a finished eval's replies with ``judges`` (after a judge changed) into ``out``: the same rows with
    those judges' verdicts replaced (other verdicts kept), metrics recomputed. Nothing is generated; ``src`` is not
    touched. Multi-turn rows are judged again turn by turn from their stored turns (needs both a refusal and a harm
    judge among ``judges``)."""
    from ..judges.base import JudgeItem, known_goal
    from ..records import read_json

    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        raise BadInput("eval rejudge: --out must differ from the source run (it is kept as it is)")
    if not (src / RESPONSES).exists() or not (src / METRICS).exists():
        raise BadInput(f"eval rejudge: {src} has no {RESPONSES} and {METRICS}")
    rows = JsonlStore(src / RESPONSES, EvalRow).load()
    old = read_json(src / METRICS)
    benches = [b for b, m in old.items() if isinstance(m, dict) and "bench_kind" in m]
    turns = {b for b in benches if old[b]["bench_kind"] == "multiturn"}
    changed: dict[str, int] = {}
    if turns:
        rows, changed = await _rejudge_turns(rows, turns, judges)
    for j in judges:
        todo = [r for r in rows if j.name in r.verdicts and r.bench not in turns]
        items = [JudgeItem(prompt=r.prompt, response=r.response, behavior=r.meta.get("behavior"),
                           goal_harmful=known_goal(r.label)) for r in todo]
        new = await j.score(items) if items else []
        changed[j.name] = changed.get(j.name, 0) + sum(v.label != r.verdicts[j.name].label for r, v in zip(todo, new))
        for r, v in zip(todo, new):
            r.verdicts[j.name] = v
    store = JsonlStore(out / RESPONSES, EvalRow)
    store.reset()
    store.append(rows)
    metrics = compute_metrics(rows, benches)
    metrics["judge"] = judge_info or old.get("judge", {})
    metrics["target"] = old.get("target", "?")
    metrics["rejudged"] = {"from": str(src), "verdicts_changed": changed}
    write_json(out / METRICS, metrics)
    return metrics


async def _rejudge_turns(rows: list[EvalRow], benches: set[str], judges: Sequence[Judge]) -> tuple[list, dict]:
    """Multi-turn rows judged again at every stored turn (``multiturn.turn_items``); (rows, conversations whose
    decisive verdict changed, per judge)."""
    from ..engine import judge_all
    from .benches.multiturn import rejudged, turn_items

    names = {j.name for j in judges}
    if not {"refusal", "harm"} <= names:
        raise BadInput(f"eval rejudge: {', '.join(sorted(benches))} needs a refusal and a harm judge to judge its "
                       "turns again")
    conv = [r for r in rows if r.bench in benches]
    per_row = [turn_items(r) for r in conv]
    verdicts = iter(await judge_all(list(judges), [it for items in per_row for it in items]))  # one call for all
    new = [rejudged(r, [next(verdicts) for _ in items]) for r, items in zip(conv, per_row)]
    changed = {n: sum(b.verdicts[n].label != a.verdicts[n].label for a, b in zip(conv, new)) for n in names}
    it = iter(new)
    return [next(it) if r.bench in benches else r for r in rows], changed
