"""``review.required`` in ``safestack run``: training waits until a human has reviewed every pair in the listed
severities; then it trains on the reviewed set.

Applying a pair's current expert label: ``confirm`` keeps it; ``drop`` removes it; ``correct`` with the reply
judged a refusal removes it (a refusal is not the compliance the pair teaches away), and a ``chosen`` written by
the reviewer (on confirm or correct) replaces the pair's chosen refusal.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..errors import BadInput
from ..records import JsonlStore, Pair, write_json
from ..taxonomy import Taxonomy
from .records import ReviewLabel, ReviewPending
from .store import LabelStore, resolve_db

SEVERITIES = ("critical", "high", "medium", "low", "none")


def check_required(required: Sequence[str]) -> None:
    bad = [s for s in required if s not in SEVERITIES]
    if bad:
        raise BadInput(f"review.required: unknown severity {', '.join(map(repr, bad))} "
                       f"(one of {', '.join(SEVERITIES)})")


def carried_over(required: Sequence[str], out: Path) -> list[str]:
    """On ``--resume``, a run that required review keeps requiring it: resuming without the review config must not
    send unreviewed pairs to training."""
    if required or not (out / "config.json").exists():
        return list(required)
    return list(((json.loads((out / "config.json").read_text()).get("review") or {}).get("required")) or [])


def needs_review(p: Pair, taxonomy: Taxonomy, required: Sequence[str]) -> bool:
    return p.kind != "borderline" and taxonomy.get(p.category).severity in required


def expert_labels(db_url: str) -> dict[str, ReviewLabel]:
    """item → current expert label; an absent SQLite store means nothing reviewed yet."""
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        return {}
    return {item: lab for (_, item), lab in LabelStore(db_url).current("expert").items()}


def reviewed_pair(p: Pair, lab: ReviewLabel | None) -> Pair | None:
    """The pair as its expert label leaves it (None: removed from training)."""
    if lab is None or lab.action == "confirm" and not lab.chosen:
        return p
    if lab.action == "drop" or lab.action == "correct" and (lab.verdicts or {}).get("refusal"):
        return None
    if lab.chosen and lab.chosen.strip():
        return p.model_copy(update={"chosen": lab.chosen.strip(), "chosen_open": False,  # an expert's whole reply
                                    "meta": {**p.meta, "review": lab.action}})
    return p


def all_pairs(out: Path) -> list[Pair]:
    files = [out / "data" / "pairs.jsonl"] + sorted((out / "rounds").glob("*/data/pairs.jsonl"))
    return [p for f in files if f.exists() for p in JsonlStore(f, Pair).load()]


def review_gate(required: Sequence[str], rdir: Path, out: Path, data: Path, taxonomy: Taxonomy,
                db: str | None = None) -> Path:
    """Raise ReviewPending while pairs of this round in ``required`` severities lack a label; else write the
    reviewed training file next to ``data`` (+ data/review.json) and return its path."""
    from ..datagen.pairs import to_trl

    db_url = resolve_db(db, out)
    labels = expert_labels(db_url)
    round_pairs = JsonlStore(rdir / "data" / "pairs.jsonl", Pair).load()
    todo = [p for p in round_pairs if needs_review(p, taxonomy, required)]
    pending = [p for p in todo if p.key not in labels]
    if pending:
        by_cat = Counter(p.category or "unknown" for p in pending)
        raise ReviewPending(
            f"review required before training: {len(pending)} of {len(todo)} pairs in {'/'.join(required)}-severity "
            f"categories are not reviewed yet ({', '.join(f'{c} {n}' for c, n in by_cat.most_common())}). Review them "
            f"with `safestack review serve --run {out}`, then continue with `safestack run --out {out} --resume` "
            f"(the review requirement is kept; labels: {db_url})")
    by_row: dict[str, Pair] = {}
    for p in all_pairs(out):
        by_row.setdefault(_row_key(to_trl(p)), p)
    kept, actions = [], Counter()
    lines = [x for x in data.read_text(encoding="utf-8").splitlines() if x.strip()]
    for line in lines:
        p = by_row.get(_row_key(json.loads(line)))
        lab = labels.get(p.key) if p else None
        if lab is not None:
            actions[lab.action] += 1
        q = reviewed_pair(p, lab) if p else None
        if p is None:
            kept.append(line)
        elif q is not None:
            kept.append(json.dumps(to_trl(q), ensure_ascii=False))
    dst = data.with_name(data.stem + "_reviewed.jsonl")
    dst.write_text("".join(x + "\n" for x in kept), encoding="utf-8")
    write_json(rdir / "data" / "review.json", {"required": list(required), "db": db_url.split("@")[-1],
                                               "reviewed": len(todo), "n_in": len(lines), "actions": dict(actions),
                                               "n_train": len(kept), "file": dst.name})
    return dst


_ROW_FIELDS = ("prompt", "chosen", "rejected", "kind", "category")  # not the open flags: older files lack them


def _row_key(row: dict) -> str:
    return json.dumps({k: row.get(k) for k in _ROW_FIELDS}, sort_keys=True, ensure_ascii=False)
