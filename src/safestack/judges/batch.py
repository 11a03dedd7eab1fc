"""Judge a JSONL file of {"prompt", "response"} rows, in chunks, resumably (``safestack judge --in --out``).

Output: one row per input row, in input order: the input row + ``{"label", "score", "detail"}``.

Resume is by position: the k complete rows already in ``out`` are the verdicts of the first k (non-blank) input
rows, so a rerun judges only rows k+1…. Each kept row is checked against its input row (every field but
label/score/detail must be equal), so an ``out`` written from another input is refused, never mixed or
overwritten; ``OUT.judge`` records the judge spec and a rerun with another judge is refused the same way. Each
chunk is appended and fsynced, so a kill loses at most the chunk in flight; a torn last line is truncated away
(unless the file has no complete row and no OUT.judge: then it is not ours and is refused, untouched).

Input is validated as a whole before anything is judged (invalid UTF-8, malformed JSON, a non-object, a missing
or non-string ``prompt``/``response`` → BadInput naming file, line and field), and an error never touches
``out``. An empty or whitespace-only reply gets a defined verdict without the judge's model (a refusal judge:
label true = non-compliance; any other judge: label false, score 0); a reply over MAX_REPLY_CHARS is judged on
its first MAX_REPLY_CHARS characters (stated in the detail).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Callable

from ..errors import BadInput
from ..records import Verdict, json_type, read_jsonl
from .base import Judge, JudgeItem

MAX_REPLY_CHARS = 20_000  # a longer reply (or prompt) is judged on its head: bounded memory and judge time
VERDICT_KEYS = ("label", "score", "detail")
EMPTY = "empty response"


def read_rows(inp: Path) -> list[dict]:
    """The input rows, strictly: any bad line raises BadInput naming file, line and field."""
    rows = read_jsonl(inp, required=("prompt", "response"))
    for i, r in enumerate(rows):
        b = r.get("behavior")
        if b is not None and not isinstance(b, str):
            raise BadInput(f"{inp}:{_line_of(inp, i)}: field 'behavior' must be a string, got {json_type(b)}")
        g = r.get("goal_harmful")
        if g is not None and not isinstance(g, bool):
            raise BadInput(f"{inp}:{_line_of(inp, i)}: field 'goal_harmful' must be true, false or absent, got "
                           f"{json_type(g)}")
    return rows


def _line_of(p: Path, k: int) -> int:
    """The file line number of the k-th (0-based) non-blank row (read_jsonl skips blank lines)."""
    n = -1
    with p.open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            n += bool(line.strip())
            if n == k:
                return i
    return k + 1


def _canon(row: dict) -> str:
    return json.dumps({k: v for k, v in row.items() if k not in VERDICT_KEYS}, sort_keys=True, ensure_ascii=False)


def read_done(out: Path, rows: list[dict]) -> tuple[int, int]:
    """(number of rows already judged in ``out``, byte length of those complete lines). Reads only; raises
    BadInput when ``out`` does not belong to these input rows."""
    if not out.exists():
        return 0, 0
    if not out.is_file():
        raise BadInput(f"{out}: not a file")
    k, good = 0, 0
    with out.open("rb") as f:
        for i, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                break  # torn last line: the row in flight when a run was killed
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise BadInput(f"{out}:{i}: not a JSON row; pass another --out (this file is left as it is)") from None
            if not isinstance(row, dict) or any(f not in row for f in VERDICT_KEYS):
                raise BadInput(f"{out}:{i}: not a judged row (no label/score/detail); pass another --out")
            if k >= len(rows) or _canon(row) != _canon(rows[k]):
                raise BadInput(f"{out}:{i}: does not match row {k + 1} of the input — {out} was written from "
                               "another input file; pass another --out (this file is left as it is)")
            k, good = k + 1, good + len(raw)
    return k, good


def _line(row: dict) -> bytes:
    try:
        return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (valid as a JSON escape, not as UTF-8): keep it escaped
        return (json.dumps(row) + "\n").encode("ascii")


def empty_verdict(judge: Judge) -> Verdict:
    """The defined verdict for an empty reply: a refusal judge says non-compliance; any other says not harmful/…"""
    refusal = judge.name.startswith("refusal")
    return Verdict(judge=judge.name, label=refusal, score=1.0 if refusal else 0.0, detail=EMPTY)


async def judge_rows(judge: Judge, rows: list[dict]) -> list[Verdict]:
    """Verdicts for rows (empty replies answered without the judge; long texts cut to MAX_REPLY_CHARS)."""
    out: list[Verdict | None] = [None] * len(rows)
    idx, items, notes = [], [], []
    for i, r in enumerate(rows):
        resp, prompt = r["response"], r["prompt"]
        if not resp.strip():
            out[i] = empty_verdict(judge)
            continue
        note = []
        if len(resp) > MAX_REPLY_CHARS:
            note.append(f"truncated from {len(resp)} chars")
            resp = resp[:MAX_REPLY_CHARS]
        if len(prompt) > MAX_REPLY_CHARS:
            note.append(f"prompt truncated from {len(prompt)} chars")
            prompt = prompt[:MAX_REPLY_CHARS]
        behavior = r.get("behavior")
        idx.append(i)
        items.append(JudgeItem(prompt=prompt, response=resp,
                               behavior=behavior[:MAX_REPLY_CHARS] if behavior else None,
                               goal_harmful=r.get("goal_harmful")))
        notes.append("; ".join(note))
    if items:
        verdicts = await judge.score(items)
        if len(verdicts) != len(items):
            raise RuntimeError(f"judge '{judge.name}' returned {len(verdicts)} verdicts for {len(items)} items")
        for i, v, note in zip(idx, verdicts, notes):
            if note:
                v = v.model_copy(update={"detail": f"{note}; {v.detail}" if v.detail else note})
            out[i] = v
    return out  # type: ignore[return-value]


def _check_spec(out: Path, spec: str, has_rows: bool) -> tuple[Path, bool]:
    """(OUT.judge, whether it was there); refuses an ``out`` with rows judged by another judge spec."""
    side = out.with_name(out.name + ".judge")
    if not side.exists():
        return side, False
    old = side.read_text(encoding="utf-8").strip()
    if has_rows and old != spec:
        raise BadInput(f"{out}: judged by '{old}', not '{spec}'; pass another --out (this file is left as it is)")
    return side, True


def judge_file(judge: Judge, inp: Path, out: Path, *, chunk: int = 256, spec: str | None = None,
               progress: Callable[[int, int], None] | None = None, rows: list[dict] | None = None) -> dict:
    """Judge ``inp`` into ``out`` (see the module docstring). ``spec`` names the judge as the user gave it (kept in
    OUT.judge, written before any row; defaults to judge.name); ``progress(done, total)`` is called after every chunk; ``rows``: the
    input as ``read_rows(inp)`` already returned it. Returns {"judged": now, "kept": from an earlier run,
    "total": rows, "labelled_true": in all of out}."""
    inp, out = Path(inp), Path(out)
    if rows is None:
        rows = read_rows(inp)  # the whole input is validated before anything is judged or written
    spec = spec or judge.name
    kept, good = read_done(out, rows)
    side, ours = _check_spec(out, spec, kept > 0)
    if out.exists() and out.stat().st_size != good:
        if not (kept or ours):  # one line, no newline, no OUT.judge: someone else's file, not a torn row of ours
            raise BadInput(f"{out}: exists and is not a judge output; pass another --out (it is left as it is)")
        with out.open("r+b") as f:  # drop the torn last line so appends start on a clean line
            f.truncate(good)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch()
    side.write_text(spec + "\n", encoding="utf-8")
    n_true = 0
    if kept:
        with out.open("rb") as f:
            n_true = sum(bool(json.loads(line)["label"]) for line in f)
    if progress:
        progress(kept, len(rows))

    async def run() -> int:
        n = 0
        for s in range(kept, len(rows), max(1, chunk)):
            part = rows[s:s + max(1, chunk)]
            verdicts = await judge_rows(judge, part)
            data = b"".join(_line({**r, "label": v.label, "score": v.score, "detail": v.detail})
                            for r, v in zip(part, verdicts))
            with out.open("ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            n += sum(v.label for v in verdicts)
            if progress:
                progress(s + len(part), len(rows))
        return n

    if kept < len(rows):
        n_true += asyncio.run(run())
    return {"judged": len(rows) - kept, "kept": kept, "total": len(rows), "labelled_true": n_true}
