"""JailbreakBench: the 100 JBB-Behaviors harmful goals (10 categories × 10), asked directly (``jbb``), and a
replay of the vendored attack artifacts — each (method, source model) jailbreak prompt sent to the target
(``jbb:artifacts`` for every method, or ``jbb:PAIR``, ``jbb:GCG``, ``jbb:JBC``, ``jbb:DSN``,
``jbb:prompt_with_random_search``, optionally ``jbb:PAIR/vicuna-13b-v1.5``). Replayed prompts are judged against
the behaviour's goal; ASR is reported by method, by source model and by JBB category.

The JBB-Behaviors CSV itself is not in the snapshot; the 100 goals (with behaviour and category) are read from
the artifact files, where every file lists all 100.
"""

from __future__ import annotations

from typing import Sequence

from ...records import EvalRow, harmful
from ..metrics import group_rates
from .base import BenchSpec, bench, default_summary


def summarize(rows: Sequence[EvalRow]) -> dict:
    out = default_summary(rows)
    replay = [r for r in rows if "method" in r.meta]
    if replay:
        out["asr_by_method"] = group_rates(replay, lambda r: r.meta["method"], harmful)
        out["asr_by_source_model"] = group_rates(replay, lambda r: f"{r.meta['method']}/{r.meta['source_model']}",
                                                 harmful)
        out["asr_by_jbb_category"] = group_rates(replay, lambda r: r.meta.get("jbb_category"), harmful)
    return out


bench(BenchSpec("jbb", "generation", ("asr", "asr_by_category", "asr_by_method"),
                "ASR on the behaviours asked directly, or on the replayed attack artifacts by method, source model "
                "and JBB category", summarize=summarize))
