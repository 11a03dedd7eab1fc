"""Generate-and-judge in resumable batches: the shared core of ``redteam`` and ``eval``.

Work items are (key, conversation, judge item, record builder). Finished keys in the store are skipped; each
batch is generated, judged, and appended (fsync) before the next starts, so an interrupted run loses at most
one batch of work and ``--resume`` continues from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .judges.base import Judge, JudgeItem
from .records import JsonlStore, Message, Record, Verdict
from .targets.base import GenParams, Target


@dataclass
class WorkItem:
    key: str
    messages: list[Message]
    judge_item: Callable[[str], JudgeItem]  # response → what the judges see
    build: Callable[[str, dict[str, Verdict]], Record]  # (response, verdicts) → record to store


def progress(transient: bool = False) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), transient=transient)


async def judge_all(judges: Sequence[Judge], items: Sequence[JudgeItem]) -> list[dict[str, Verdict]]:
    out: list[dict[str, Verdict]] = [{} for _ in items]
    for j in judges:
        for d, v in zip(out, await j.score(items)):
            d[j.name] = v
    return out


async def run_work(work: Sequence[WorkItem], target: Target, judges: Sequence[Judge], store: JsonlStore,
                   params: GenParams, *, batch_size: int = 32, description: str = "generating",
                   show_progress: bool = True) -> int:
    """Process every item whose key is not yet in ``store``; returns how many were done now."""
    done = store.keys()
    todo = [w for w in work if w.key not in done]
    todo = list({w.key: w for w in todo}.values())  # identical requests once
    # length-sorted batches: far less padding (one 4k-token prompt padded into a batch costs minutes on CPU)
    todo.sort(key=lambda w: sum(len(m.content) for m in w.messages))
    if not todo:
        return 0
    with progress() as prog:
        task = prog.add_task(description, total=len(todo), visible=show_progress)
        for s in range(0, len(todo), batch_size):
            chunk = todo[s:s + batch_size]
            responses = await target.generate([w.messages for w in chunk], params)
            items = [w.judge_item(r) for w, r in zip(chunk, responses)]
            verdicts = await judge_all(judges, items)
            store.append([w.build(r, v) for w, r, v in zip(chunk, responses, verdicts)])
            prog.advance(task, len(chunk))
    return len(todo)
