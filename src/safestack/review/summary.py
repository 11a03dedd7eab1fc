"""What the labels say: JSONL exports (all labels, judge calibration rows, guard training rows) and the report's
human-review section (A/B win rates with CIs next to the judges' on the same items, rater–judge agreement)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from ..errors import BadInput
from ..evals.metrics import mean_ci, rate
from .records import ReviewLabel
from .store import LabelStore, resolve_db


def open_existing(spec: str | None, run: str | Path | None = None) -> LabelStore:
    """The store behind ``--db`` / ``review:DB``, which must already hold labels."""
    return LabelStore(resolve_db(spec, run), create=False)


def export_labels(store: LabelStore, path: str | Path, *, history: bool = False, queue: str | None = None) -> int:
    """Write the current labels (or every label ever written, ``history=True``) as JSONL records."""
    labels = store.history(queue) if history else sorted(store.current(queue).values(), key=lambda x: (x.ts, x.rev))
    return _write(path, (lab.dump() for lab in labels))


def judge_rows(store: LabelStore, judge: str) -> list[dict[str, Any]]:
    """Expert labels as rows {prompt, response, label, <judge>} for the ``refusal`` or ``harm`` judge (judge
    calibrate --labels, judge train --labels).
    Confirmed labels agree with the judge, corrected ones carry the reviewer's verdict; dropped pairs carry none."""
    if judge not in ("refusal", "harm"):
        raise BadInput(f"review labels hold verdicts for the refusal and harm judges, not '{judge}'")
    rows = []
    for lab in store.current("expert").values():
        v = (lab.verdicts or {}).get(judge)
        if lab.action in ("confirm", "correct") and v is not None:
            rows.append({"prompt": lab.context.get("prompt", ""), "response": lab.context.get("response", ""),
                         "label": bool(v), judge: bool(v), "item": lab.item, "reviewer": lab.reviewer,
                         "action": lab.action})
    return rows


def guard_rows(store: LabelStore) -> list[dict[str, Any]]:
    """Guard labels as bench rows {prompt, label, category} (``jsonl:`` bench spec; guard training data)."""
    return [{"prompt": lab.context.get("text", ""), "label": lab.label, "category": lab.category or None,
             "side": lab.context.get("side"), "item": lab.item, "reviewer": lab.reviewer}
            for lab in store.current("guard").values() if lab.label in ("harmful", "benign")]


def judge_labels_file(spec: str, judge: str, out: str | Path) -> Path:
    """``review:DB`` for ``safestack judge calibrate --labels``: the reviewers' verdicts as a labels JSONL."""
    kind = "refusal" if "refusal" in judge else "harm" if "harm" in judge else judge
    rows = judge_rows(open_existing(spec), kind)
    if not rows:
        raise BadInput(f"review:{spec}: no confirmed or corrected expert labels for the '{judge}' judge yet")
    _write(out, rows)
    return Path(out)


def _write(path: str | Path, rows: Iterable[dict]) -> int:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with p.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n


def _win(after: float, before: float) -> float:
    return 1.0 if after > before else 0.5 if after == before else 0.0


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def judge_scores(lab: ReviewLabel, arm: str) -> dict[str, float | None]:
    """The judges' view of one arm's reply: safe = not judged harmful; useful (benign prompts) = not refused."""
    v = (lab.context.get("judges") or {}).get(arm) or {}
    safety = None if "harm" not in v else float(not v["harm"])
    useful = None if "refusal" not in v or lab.context.get("label") != "benign" else float(not v["refusal"])
    return {"safety": safety, "usefulness": useful}


def ab_summary(labels: list[ReviewLabel]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(labels), "raters": sorted({x.reviewer for x in labels})}
    for dim in ("safety", "usefulness"):
        human, auto, agree, means = [], [], [], {"before": [], "after": []}
        for lab in labels:
            s = (lab.scores or {}).get(dim) or {}
            if "before" not in s or "after" not in s:
                continue
            human.append(_win(s["after"], s["before"]))
            means["before"].append(s["before"])
            means["after"].append(s["after"])
            ja, jb = judge_scores(lab, "after")[dim], judge_scores(lab, "before")[dim]
            if ja is not None and jb is not None:
                auto.append(_win(ja, jb))
                agree.append(_sign(s["after"] - s["before"]) == _sign(ja - jb))
        out[dim] = {"human_win_rate": mean_ci(human), "judge_win_rate": mean_ci(auto),
                    "agreement": rate(agree),
                    "mean_score": {k: round(sum(v) / len(v), 2) if v else None for k, v in means.items()}}
    prefs = Counter(x.prefer for x in labels if x.prefer)
    out["preference"] = {"after": prefs["after"], "before": prefs["before"], "tie": prefs["tie"],
                         "after_win_rate": mean_ci([{"after": 1.0, "tie": 0.5}.get(x.prefer or "", 0.0)
                                                    for x in labels if x.prefer])}
    return out


def expert_summary(labels: list[ReviewLabel]) -> dict[str, Any]:
    agree = {}
    for k in ("refusal", "harm"):
        flags = [lab.verdicts[k] == lab.judge_verdicts[k] for lab in labels
                 if lab.action in ("confirm", "correct") and k in (lab.verdicts or {})
                 and k in (lab.judge_verdicts or {})]
        agree[k] = rate(flags)
    return {"n": len(labels), "actions": dict(Counter(x.action for x in labels)), "judge_agreement": agree,
            "reviewers": sorted({x.reviewer for x in labels})}


def guard_summary(labels: list[ReviewLabel]) -> dict[str, Any]:
    return {"n": len(labels), "labels": dict(Counter(x.label for x in labels)),
            "flag_precision": rate([x.label == "harmful" for x in labels])}


def human_review_summary(run: str | Path, db: str | None = None) -> dict[str, Any] | None:
    """The report's human-review block, or None when the run has no labels."""
    url = resolve_db(db, run)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    cur = LabelStore(url).current()
    if not cur:
        return None
    by_q: dict[str, list[ReviewLabel]] = {"expert": [], "ab": [], "guard": []}
    for (q, _), lab in sorted(cur.items()):
        by_q[q].append(lab)
    return {"schema": 1, "db": url.split("@")[-1], "ab": ab_summary(by_q["ab"]) if by_q["ab"] else None,
            "expert": expert_summary(by_q["expert"]) if by_q["expert"] else None,
            "guard": guard_summary(by_q["guard"]) if by_q["guard"] else None}
