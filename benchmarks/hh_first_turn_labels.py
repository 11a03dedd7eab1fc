"""Builds ``src/safestack/data/vendor/hh_rlhf/first_turn_labels.jsonl``: HH-RLHF harmless-base's first human turns,
labelled harmful / benign / unclear.

1. ``pool``: the first human turn of every transcript, deduplicated (lower-case, punctuation-free key), decontaminated
   against every evaluation bench's prompts (``datagen.hygiene``), shuffled with seed 0, cut into chunks of ≤ 358
   rows for labelling (``DIR/chunks/chunkK.jsonl``).
2. ``merge``: reads ``DIR/labels/chunkK_a.jsonl`` and ``chunkK_b.jsonl`` (two independent labellers per chunk, who
   followed ``GUIDELINE`` below and never saw a classifier's score) and writes the vendored file. The final label is
   the labellers' label where both say harmful or both say benign; anything else is ``unclear`` (left out of training
   and measurement). Each row keeps both labels, the transcript's line and its ``hh_part`` (train / heldout).
   Labellers worked independently; scratch folders were checked afterwards (``PASSES``).

The labellers were separate runs of a language model (Claude), not people: the labels are a model's, like JailbreakBench's.

Usage: python benchmarks/hh_first_turn_labels.py pool DIR | merge DIR
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _labelling import labelled_rows  # noqa: E402

CHUNK = 358
# the two labellings merged per chunk: chunk 3's first two shared a scratch folder (their first 240 labels came out
# identical), so a third, independent labelling replaced one of them
PASSES = {3: "bc"}
LABELS = ("harmful", "benign", "unclear")


def pool() -> list[dict]:
    from safestack.data.loaders import _hh_turns, data_dir, hh_part
    from safestack.datagen.hygiene import Contamination, eval_prompts

    path = data_dir("hh_rlhf") / "harmless-base" / "test.jsonl.gz"
    seen: dict[str, tuple[int, str, str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            r = json.loads(line)
            text = _hh_turns(r["chosen"])[0]["content"]
            key = re.sub(r"\W+", " ", text.lower()).strip()
            if key and key not in seen:
                seen[key] = (i, text, hh_part(r["chosen"]))
    index = Contamination(eval_prompts(exclude=("hh-heldout",)))  # the benches' prompts, not this set's own part
    rows = [(i, t, p) for i, t, p in seen.values() if not index.hit(t)]
    random.Random(0).shuffle(rows)
    return [{"n": k, "line": i, "text": t, "part": p} for k, (i, t, p) in enumerate(rows)]


def write_chunks(rows: list[dict], out: Path) -> None:
    (out / "chunks").mkdir(parents=True, exist_ok=True)
    for c in range(0, len(rows), CHUNK):
        with open(out / "chunks" / f"chunk{c // CHUNK}.jsonl", "w", encoding="utf-8") as f:
            for r in rows[c:c + CHUNK]:
                f.write(json.dumps({"n": r["n"], "text": r["text"]}) + "\n")


def _problem(r: dict) -> str | None:
    return None if r.get("label") in LABELS else f"label {r.get('label')!r}"


def merge(rows: list[dict], out: Path) -> dict:
    from safestack.data.loaders import HH_LABELS, data_dir

    merged, stats = [], Counter()
    for r, la, lb in labelled_rows(rows, out, CHUNK, PASSES, _problem):
        agree = la["label"] == lb["label"] and la["label"] != "unclear"
        label = la["label"] if agree else "unclear"
        cat = la["category"] if label == "harmful" else "benign"  # the first labeller's, if the two differ
        stats[label] += 1
        stats["pair:" + "/".join(sorted((la["label"], lb["label"])))] += 1
        merged.append({"id": f"hh-rlhf/harmless-base/{r['line']}", "text": r["text"], "label": label,
                       "category": cat, "labels": [la["label"], lb["label"]], "part": r["part"]})
    dest = data_dir("hh_rlhf") / HH_LABELS
    with open(dest, "w", encoding="utf-8") as f:
        for m in sorted(merged, key=lambda m: int(m["id"].rsplit("/", 1)[1])):
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    both = sum(v for k, v in stats.items() if k.startswith("pair:"))
    agreement = sum(v for k, v in stats.items() if k.startswith("pair:") and len(set(k[5:].split("/"))) == 1)
    return {"rows": len(merged), "labels": {k: stats[k] for k in LABELS}, "raw_agreement": round(agreement / both, 4),
            "pairs": {k[5:]: v for k, v in sorted(stats.items()) if k.startswith("pair:")}, "file": str(dest)}


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("pool", "merge"):
        raise SystemExit(__doc__)
    out = Path(sys.argv[2])
    rows = pool()
    if sys.argv[1] == "pool":
        write_chunks(rows, out)
        print(f"{len(rows)} prompts in {out / 'chunks'}")
    else:
        print(json.dumps(merge(rows, out), indent=1))


if __name__ == "__main__":
    main()
