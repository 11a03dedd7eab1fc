"""A content-addressed cache of the base model's evaluation (``safestack run``'s "before"): greedy decoding of the
same weights on the same prompts, judged by the same judges, gives the same result, so a second run on the same
model reads it instead of generating it again.

The key hashes everything the result depends on: the model's files (names, sizes and the bytes of its config,
tokenizer and weights' first and last MiB — a change of weights changes those), the bench specs and subset limit,
the decoding settings, the judges (their names and the packaged weights' bytes) and safestack's version. Only local
targets (``default``, ``hf:<dir>``) are cached; a remote API is not assumed deterministic.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Sequence

MIB = 1 << 20
# how benches hand items to the judges; raised when that changes (2: the goal's label is passed to the judges), so an
# eval judged the old way is never read back
JUDGING = 2


def _file_digest(h, f: Path) -> None:
    size = f.stat().st_size
    h.update(f"{f.name}:{size}".encode())
    with f.open("rb") as fh:
        if size <= 2 * MIB or f.suffix in (".json", ".txt", ".model", ".jinja"):
            h.update(fh.read())
        else:
            h.update(fh.read(MIB))
            fh.seek(size - MIB)
            h.update(fh.read(MIB))


def _version() -> str:
    """The installed safestack's version (read from its metadata, not from the package's top, a higher layer)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("safestack")
    except PackageNotFoundError:
        return "unknown"


def eval_key(model_dir: str | Path, benches: Sequence[str], limit: int | None, gen: dict,
             judge_files: Sequence[Path], judges: Sequence[str]) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in Path(model_dir).iterdir() if p.is_file()):
        _file_digest(h, f)
    for f in judge_files:
        if f.exists():
            _file_digest(h, f)
    h.update(json.dumps({"benches": list(benches), "limit": limit, "gen": gen, "judges": list(judges),
                         "version": _version(), "judging": JUDGING}, sort_keys=True).encode())
    return h.hexdigest()[:32]


def cache_dir() -> Path:
    """``$SAFESTACK_EVAL_CACHE``, default ``$SAFESTACK_HOME/cache/eval``."""
    import os

    from ..targets.default import safestack_home

    return Path(os.environ.get("SAFESTACK_EVAL_CACHE") or safestack_home() / "cache" / "eval")


def restore(key: str, dst: Path) -> bool:
    """Copy a cached eval into ``dst``; False when there is none."""
    src = cache_dir() / key
    if not (src / "metrics.json").exists():
        return False
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        shutil.copyfile(f, dst / f.name)
    return True


def store(key: str, src: Path) -> None:
    """Keep a finished eval (written to a temporary name first, so a killed copy is never read)."""
    dst = cache_dir() / key
    if (dst / "metrics.json").exists():
        return
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("responses.jsonl", "metrics.json"):
        if (src / name).exists():
            shutil.copyfile(src / name, tmp / name)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
