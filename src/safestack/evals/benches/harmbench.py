"""HarmBench (test split held out): attack success rate overall and by semantic category (harm judge)."""

from __future__ import annotations

from ...data.loaders import load_harmbench
from .base import BenchSpec, bench


def load(arg: str):
    split, _, func = arg.partition(":")
    return load_harmbench(split or "test", tuple(f for f in func.split(",") if f) or ("standard",))


bench(BenchSpec("harmbench", "generation", ("asr", "asr_by_category", "refusal_rate_harmful"),
                "HarmBench text behaviours (test split, standard): ASR by category", load, licence="MIT",
                specs=["harmbench", "harmbench:test", "harmbench:val", "harmbench:test:standard,contextual"]))
