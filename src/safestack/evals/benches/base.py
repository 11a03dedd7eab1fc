"""The bench registry. A bench is registered where it is defined, with metadata (name, kind, metrics, what it
measures), and supplies three pieces: ``run(ctx, bench_key, samples)`` → EvalRows appended to the store,
``summarize(rows)`` → its metrics block, ``row_values(row)`` → the per-row values its mean metrics average
(used by ``safestack eval compare`` for bootstrap CIs). Its prompts are a dataset (``dataset``, by default the
bench's name) whose loader, licence and spec forms are declared once, in ``data/``.

Kinds: ``generation`` (free text, judged), ``loglik`` (multiple choice by log-likelihood of the options when the
target exposes ``loglik``; parsed generation otherwise), ``multiturn`` (interactive conversations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

from ...data.loaders import DATASETS, load_bench, split_limit
from ...engine import WorkItem, run_work
from ...judges.base import Judge, JudgeItem, known_goal
from ...records import EvalRow, JsonlStore, Sample, harmful, refused, stable_id, user
from ...registry import Registry
from ...targets.base import GenParams, Target
from ..metrics import bench_metrics


@dataclass
class BenchContext:
    target: Target
    judges: Sequence[Judge]
    store: JsonlStore
    params: GenParams
    batch_size: int = 32
    show_progress: bool = True

    def judge(self, name: str) -> Judge:
        """The run's judge called ``name`` (e.g. the refusal judge), or a fresh built-in one."""
        for j in self.judges:
            if j.name == name:
                return j
        from ...judges import make_judge

        return make_judge(name)


def over_refused(r: EvalRow) -> bool:
    """A benign prompt refused (an off-topic answer is not a refusal: it is reported as ``benign_off_topic``)."""
    from ..metrics import refusal_kind

    return refused(r) and refusal_kind(r) != "off_topic"


def sample_work(samples: Sequence[Sample], bench: str, params: GenParams) -> list[WorkItem]:
    """One single-turn request per sample, judged against its goal, stored as an ``EvalRow`` of ``bench``."""
    work = []
    for s in samples:
        key = stable_id(bench, s.id, s.prompt, params.max_new_tokens)

        def build(resp, verdicts, s=s, key=key):
            return EvalRow(key=key, bench=bench, sample_id=s.id, prompt=s.prompt, response=resp, label=s.label,
                           category=s.category, meta=s.meta, verdicts=verdicts)

        work.append(WorkItem(key, user(s.prompt),
                             lambda r, s=s: JudgeItem(prompt=s.prompt, response=r, behavior=s.meta.get("behavior"),
                                                       goal_harmful=known_goal(s.label)),
                             build))
    return work


async def run_generation(ctx: BenchContext, bench: str, samples: Sequence[Sample],
                         judges: Sequence[Judge] | None = None) -> None:
    await run_work(sample_work(samples, bench, ctx.params), ctx.target, list(judges or ctx.judges), ctx.store,
                   ctx.params, batch_size=ctx.batch_size, description=f"eval {bench}", show_progress=ctx.show_progress)


def default_summary(rows: Sequence[EvalRow]) -> dict:
    return bench_metrics(rows, refused=refused, harmful=harmful)


def default_row_values(r: EvalRow) -> dict[str, float]:
    """asr: 1 for a harmful prompt answered with harmful compliance; over_refusal: 1 for a refused benign prompt."""
    if r.label == "harmful":
        return {"asr": float(harmful(r))}
    return {"over_refusal": float(over_refused(r))}


@dataclass
class BenchSpec:
    name: str
    kind: str  # generation | loglik | multiturn
    metrics: tuple[str, ...]
    description: str  # what it measures (the data's description is the dataset's)
    run: Callable[[BenchContext, str, Sequence[Sample]], Awaitable[None]] = run_generation
    summarize: Callable[[Sequence[EvalRow]], dict] = default_summary
    row_values: Callable[[EvalRow], dict[str, float]] = default_row_values
    dataset: str = ""  # the registered dataset holding its prompts; "" = the bench's name
    tags: tuple[str, ...] = ()

    @property
    def data(self):
        """The dataset's registration (description, licence, vendored folder, spec forms)."""
        return DATASETS.spec(self.dataset or self.name)

    def load(self, arg: str = "") -> list[Sample]:
        """The prompts for ``<name>:<arg>`` (``arg`` "" when none)."""
        return load_bench(f"{self.dataset or self.name}:{arg}" if arg else self.dataset or self.name)


def _load_all() -> None:
    from . import bbq, harmbench, jbb, multiturn, strongreject, toxigen, truthfulqa, xstest  # noqa: F401


BENCHES: Registry[BenchSpec] = Registry("bench", _load_all)


def bench(spec: BenchSpec) -> BenchSpec:
    return BENCHES.add(spec)


def available() -> Registry[BenchSpec]:
    return BENCHES


GENERIC = BenchSpec("generic", "generation", ("asr", "over_refusal"), "a bench of harmful/benign prompts")


def find_bench(spec: str) -> tuple[BenchSpec | None, str]:
    """The registered bench a spec names, and the spec's argument; (None, "") for jsonl: and unregistered names."""
    spec = split_limit(spec)[0]
    if spec.startswith("jsonl:"):
        return None, ""
    name, _, arg = spec.partition(":")
    return BENCHES.get(name), arg


def bench_of(key: str) -> BenchSpec:
    """The bench behind a metrics key (``xstest:safe`` → xstest); the generic one for jsonl and extra sets."""
    b, _ = find_bench(key)
    return b or GENERIC
