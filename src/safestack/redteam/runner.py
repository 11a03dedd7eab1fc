"""Red teaming: attacks × prompts × target → findings (attempts with verdicts) and the red-team summary."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..attacks.base import Attack
from ..engine import WorkItem, run_work
from ..errors import BadInput
from ..judges.base import Judge, JudgeItem
from ..records import Attempt, JsonlStore, Sample, stable_id, write_json
from ..targets.base import GenParams, Target
from ..taxonomy import Taxonomy
from .report import summarize

FINDINGS = "findings.jsonl"
SUMMARY = "redteam.json"


def attempt_key(sample: Sample, attack: Attack, seed: int) -> str:
    return stable_id(sample.id, sample.prompt, attack.name, seed)


def findings_store(out: str | Path, resume: bool) -> JsonlStore[Attempt]:
    store = JsonlStore(Path(out) / FINDINGS, Attempt)
    if store.path.exists() and store.path.stat().st_size and not resume:
        raise BadInput(f"{store.path} already exists: pass --resume to continue it, or choose another --out")
    return store


async def run_redteam(target: Target, samples: Sequence[Sample], attacks: Sequence[Attack],
                      judges: Sequence[Judge], out: str | Path, *, params: GenParams | None = None,
                      taxonomy: Taxonomy | None = None, resume: bool = False, seed: int = 0,
                      batch_size: int = 32, show_progress: bool = True) -> dict:
    params = params or GenParams()
    store = findings_store(out, resume)
    work = []
    for s in samples:
        goal = s.meta.get("behavior", s.prompt)
        cat = taxonomy.canonical(s.category) if taxonomy else s.category
        for a in attacks:
            msgs = a(s.prompt, seed)

            def build(resp, verdicts, s=s, a=a, msgs=msgs, cat=cat):
                return Attempt(key=attempt_key(s, a, seed), sample_id=s.id, prompt=s.prompt, label=s.label,
                               category=cat, attack=a.name, family=a.family, messages=msgs, response=resp,
                               verdicts=verdicts)

            work.append(WorkItem(attempt_key(s, a, seed), msgs,
                                 lambda r, msgs=msgs, goal=goal: JudgeItem(prompt=msgs[-1].content, response=r,
                                                                           behavior=goal),
                                 build))
    await run_work(work, target, judges, store, params, batch_size=batch_size, description="red teaming",
                   show_progress=show_progress)
    keys = {w.key for w in work}
    attempts = [a for a in store.load() if a.key in keys]
    summary = summarize(attempts, target=getattr(target, "name", "?"))
    write_json(Path(out) / SUMMARY, summary)
    return summary
