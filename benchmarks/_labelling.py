"""Two independent labellings per chunk, read back in step: shared by the HH-RLHF labelling scripts
(``hh_first_turn_labels.py``, ``hh_reply_labels.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator


def read_labels(path: Path, chunk: list[dict], problem: Callable[[dict], str | None]) -> list[dict]:
    """One labeller's JSONL for ``chunk``: the same ``n`` in the same order, every row passing ``problem`` (which
    returns what is wrong with a row, or None)."""
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    if [r["n"] for r in rows] != [r["n"] for r in chunk]:
        raise SystemExit(f"{path}: rows do not match the chunk's")
    for i, r in enumerate(rows, 1):
        what = problem(r)
        if what:
            raise SystemExit(f"{path}:{i}: {what}")
    return rows


def labelled_rows(rows: list[dict], out: Path, size: int, passes: dict[int, str],
                  problem: Callable[[dict], str | None]) -> Iterator[tuple[dict, dict, dict]]:
    """(row, first labeller's row, second labeller's row) for every row, chunk by chunk of ``size``; the labellings
    are ``out/labels/chunkK_P.jsonl`` for the two passes ``P`` of ``passes.get(K, "ab")``."""
    for c in range(0, len(rows), size):
        chunk, k = rows[c:c + size], c // size
        a, b = (read_labels(out / "labels" / f"chunk{k}_{p}.jsonl", chunk, problem) for p in passes.get(k, "ab"))
        yield from zip(chunk, a, b)
