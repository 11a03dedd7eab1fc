"""Judges on replies to human-written requests, against two independent labellers (HH-RLHF first turns answered by
the embedded model before and after the default run; ``data/vendor/hh_rlhf/reply_labels.jsonl``, made by
``benchmarks/hh_reply_labels.py``).

* ``heldout``: replies to ``hh-heldout``'s requests — never trained on, never read while writing a rule: held out.
* ``train``: replies to the training part's requests — its disagreements may be read while improving the judges
  (a development set, not held out).

For each part and judge pair: refusal (non-compliance) and harm accuracy with bootstrap 95 % CIs where both labellers
agreed, per model (base / trained), and the rates a bench reports — ASR (harm on harmful requests) and over-refusal
(refusal on benign requests, off-topic replies excepted) — by the labels and by the judges. Every judge gets the
request's label as ``goal_harmful``, as the benches pass it.

Usage: python benchmarks/judges_human_replies.py [--part train] [--no-save]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _results import save  # noqa: E402

PAIRS = (("refusal", "harm"), ("refusal-rules", "harm-rules"))


def load_rows() -> list[dict]:
    from safestack.data.loaders import load_hh_reply_labels

    return load_hh_reply_labels("all")


def verdicts(rows: list[dict], names: tuple[str, str]) -> tuple[list, list]:
    from safestack.judges import JudgeItem, make_judge

    items = [JudgeItem(prompt=r["prompt"], response=r["reply"], goal_harmful=r["request_label"] == "harmful")
             for r in rows]
    ref, harm = (asyncio.run(make_judge(n).score(items)) for n in names)
    return ref, harm


def block(rows: list[dict], ref: list, harm: list) -> dict:
    from safestack.evals.metrics import rate
    from safestack.judges.validate import agreement

    out = {"n": len(rows)}
    for key, vs in (("refusal", ref), ("harm", harm)):
        have = [(r[key], v.label) for r, v in zip(rows, vs) if r[key] is not None]
        out[key] = agreement([g for g, _ in have], [p for _, p in have])
    harmful = [(r, h) for r, h in zip(rows, harm) if r["request_label"] == "harmful" and r["harm"] is not None]
    benign = [(r, v) for r, v in zip(rows, ref) if r["request_label"] == "benign" and r["refusal"] is not None]
    out["asr"] = {"labels": rate([r["harm"] for r, _ in harmful]), "judge": rate([h.label for _, h in harmful])}
    off = lambda r: r["refusal_class"] == "off_topic"  # noqa: E731
    out["over_refusal"] = {
        "labels": rate([r["refusal"] and not off(r) for r, _ in benign]),
        "judge": rate([v.label and not (v.detail or "").startswith("off_topic") for _, v in benign])}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--part", choices=("train", "all"), default="all",
                    help="train: the development part only (printed, not saved) — for work on the judges")
    args = ap.parse_args()
    rows = [r for r in load_rows() if args.part == "all" or r["part"] == args.part]
    out = {"what": "judges against two labellers (runs of Claude following REPLY_LABELS_GUIDELINE.md) on the embedded "
                   "model's 24-token replies to HH-RLHF first turns; heldout = hh-heldout's requests (held out), "
                   "train = the training part's (a development set)",
           "command": "python benchmarks/judges_human_replies.py",
           "labels": {"rows": len(rows), "refusal_agreed": sum(r["refusal"] is not None for r in rows),
                      "harm_agreed": sum(r["harm"] is not None for r in rows)}}
    for names in PAIRS:
        ref, harm = verdicts(rows, names)
        res = {}
        for part in ("heldout", "train") if args.part == "all" else ("train",):
            for model in ("all", "base", "trained"):
                sel = [i for i, r in enumerate(rows) if r["part"] == part and model in ("all", r["model"])]
                res[f"{part}/{model}"] = block([rows[i] for i in sel], [ref[i] for i in sel], [harm[i] for i in sel])
        out["+".join(names)] = res
        for part in res:
            if part.endswith("/all"):
                b = res[part]
                print(f"{'+'.join(names)} {part}: refusal {b['refusal']['accuracy']:.3f} {b['refusal']['ci95']}, harm "
                      f"{b['harm']['accuracy']:.3f} {b['harm']['ci95']}; ASR labels {b['asr']['labels']['rate']} judge "
                      f"{b['asr']['judge']['rate']}; over-refusal labels {b['over_refusal']['labels']['rate']} judge "
                      f"{b['over_refusal']['judge']['rate']}")
    if not args.no_save and args.part == "all":
        save("judges_human_replies", out)
    else:
        print(json.dumps(out, indent=1)[:3000])


if __name__ == "__main__":
    main()
