"""HarmBench (test split held out): attack success rate overall and by semantic category (harm judge)."""

from __future__ import annotations

from .base import BenchSpec, bench


bench(BenchSpec("harmbench", "generation", ("asr", "asr_by_category", "refusal_rate_harmful"),
                "ASR overall and by semantic category (harm judge)"))
