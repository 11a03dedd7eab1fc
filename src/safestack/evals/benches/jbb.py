"""JailbreakBench: the 100 JBB-Behaviors harmful goals (10 categories × 10), asked directly (``jbb``), and a
replay of the vendored attack artifacts — each (method, source model) jailbreak prompt sent to the target
(``jbb:artifacts`` for every method, or ``jbb:PAIR``, ``jbb:GCG``, ``jbb:JBC``, ``jbb:DSN``,
``jbb:prompt_with_random_search``, optionally ``jbb:PAIR/vicuna-13b-v1.5``). Replayed prompts are judged against
the behaviour's goal; ASR is reported by method, by source model and by JBB category.

The JBB-Behaviors CSV itself is not in the snapshot; the 100 goals (with behaviour and category) are read from
the artifact files, where every file lists all 100.
"""

from __future__ import annotations

import json
from typing import Sequence

from ...data.loaders import data_dir
from ...errors import BadInput
from ...records import EvalRow, Sample, harmful
from ..metrics import group_rates
from .base import BenchSpec, bench, default_summary


def _files():
    return sorted((data_dir("jbb") / "attack-artifacts").glob("*/*/*.json"))


def _records(path) -> list[dict]:
    d = json.loads(path.read_text(encoding="utf-8"))
    return d.get("jailbreaks", []) if isinstance(d, dict) else []


def load_behaviors() -> list[Sample]:
    goals: dict[int, dict] = {}
    for f in _files():
        for x in _records(f):
            goals.setdefault(int(x["index"]), x)
    return [Sample(id=f"jbb/{i}", prompt=x["goal"], label="harmful", category=x["category"], source="jbb",
                   meta={"behavior": x["goal"], "jbb_behavior": x["behavior"]}) for i, x in sorted(goals.items())]


def methods() -> list[str]:
    return sorted({f.parent.parent.name for f in _files()})


def load_artifacts(which: str = "artifacts") -> list[Sample]:
    method, _, model = which.partition("/")
    if method != "artifacts" and method not in methods():
        raise BadInput(f"jbb: unknown attack method '{method}' (artifacts, {', '.join(methods())})")
    out = []
    for f in _files():
        m, src = f.parent.parent.name, f.stem
        if (method != "artifacts" and m != method) or (model and src != model):
            continue
        for x in _records(f):
            if not x.get("prompt"):
                continue  # the attack found no jailbreak for this goal
            out.append(Sample(id=f"jbb/{m}/{src}/{x['index']}", prompt=x["prompt"], label="harmful", category=m,
                              source=f"jbb:{m}", meta={"behavior": x["goal"], "method": m, "source_model": src,
                                                       "jbb_category": x["category"],
                                                       "jailbroken_on_source": bool(x.get("jailbroken"))}))
    if not out:
        raise BadInput(f"jbb:{which}: no artifact prompts (source models: see `safestack datasets show jbb`)")
    return out


def load(arg: str) -> list[Sample]:
    return load_behaviors() if not arg else load_artifacts(arg)


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
                "JailbreakBench: 100 behaviours direct, or replay of the attack artifacts (PAIR, GCG, JBC, …)",
                load, summarize=summarize, licence="MIT",
                specs=["jbb", "jbb:artifacts", *(f"jbb:{m}" for m in ("PAIR", "GCG", "JBC", "DSN",
                                                                       "prompt_with_random_search"))]))
