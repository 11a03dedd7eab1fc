"""Dynamic batching for a server in front of a local model.

Concurrent requests that arrive within ``max_wait_ms`` of each other are sent to the target as one
``generate`` batch (grouped by identical generation parameters), up to ``max_batch`` conversations. A local
``hf:`` model decodes a batch of B in far less than B × the time of one, so requests/s grows with concurrency
— the same idea as vLLM's continuous batching, at request granularity.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Sequence

from ..records import Message
from ..targets.base import GenParams, Target


@dataclass
class _Job:
    conv: list[Message]
    params: GenParams
    fut: asyncio.Future = field(repr=False)


class Batcher:
    def __init__(self, target: Target, *, max_batch: int = 16, max_wait_ms: float = 10.0):
        self.target = target
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        self.batches: list[int] = []  # sizes of the batches sent (for stats/tests)

    async def generate(self, conv: Sequence[Message], params: GenParams) -> str:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(list(conv), params, fut))
        return await fut

    async def _run(self) -> None:
        q = self._queue
        while True:
            jobs = [await q.get()]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.max_wait
            while len(jobs) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    jobs.append(await asyncio.wait_for(q.get(), timeout))
                except asyncio.TimeoutError:
                    break
            groups: dict[GenParams, list[_Job]] = {}
            for j in jobs:
                groups.setdefault(j.params, []).append(j)
            for params, group in groups.items():
                live = [j for j in group if not j.fut.cancelled()]
                if not live:
                    continue
                self.batches.append(len(live))
                try:
                    outs = await self.target.generate([j.conv for j in live], params)
                except Exception as e:  # noqa: BLE001 — every waiting request gets the error
                    for j in live:
                        if not j.fut.done():
                            j.fut.set_exception(e)
                    continue
                for j, o in zip(live, outs):
                    if not j.fut.done():
                        j.fut.set_result(o)

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._worker = None
