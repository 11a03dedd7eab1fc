"""Human-written requests from outside the repo → benchmarks/results.json "hh_first_turns".

HH-RLHF harmless-base's first human turns (crowdworkers red-teaming an assistant, labelled harmful / benign by two
independent labellers, ``benchmarks/hh_first_turn_labels.py``). Measured on them:

* the guard's input side in its default mode (``guard classify --side input``): recall on the harmful requests,
  false-positive rate on the benign ones, per part and per category;
* the guard's output side on the embedded model's 24-token replies to them (``reply_labels.jsonl``);
* the judges' goal classifier π (is the request harmful? — what judging without a label relies on): accuracy,
  recall and false-positive rate at 0.5.

The ``heldout`` part (25 % of transcripts, ``data.loaders.hh_part``) is never trained on by anything; the ``train``
part is, where a component says so (see docs/guard.md). ``--guard DIR`` / ``--judge-weights FILE`` measure
another classifier; ``--key`` names the results block.

Usage: python benchmarks/external_prompts.py [--guard DIR] [--judge-weights FILE] [--key NAME] [--no-save]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _results import save  # noqa: E402


def rates(gold: list[bool], pred: list[bool]) -> dict:
    from safestack.evals.metrics import wilson

    pos = [p for g, p in zip(gold, pred) if g]
    neg = [p for g, p in zip(gold, pred) if not g]
    out: dict = {"n_harmful": len(pos), "n_benign": len(neg)}
    if pos:
        out["recall"] = round(sum(pos) / len(pos), 4)
        out["recall_ci95"] = [round(x, 4) for x in wilson(sum(pos), len(pos))]
    if neg:
        out["fpr"] = round(sum(neg) / len(neg), 4)
        out["fpr_ci95"] = [round(x, 4) for x in wilson(sum(neg), len(neg))]
    if pos and neg:
        out["accuracy"] = round((sum(pos) + len(neg) - sum(neg)) / (len(pos) + len(neg)), 4)
    return out


def by_part(samples, pred: list[bool]) -> dict:
    """``rates`` on the held-out part, the training part and all rows."""
    out = {}
    for part in ("heldout", "train", "all"):
        idx = [i for i, s in enumerate(samples) if part == "all" or s.meta["part"] == part]
        out[part] = rates([samples[i].label == "harmful" for i in idx], [pred[i] for i in idx])
    return out


def guard_block(samples, guard_dir: str | None) -> dict:
    from safestack.guard.classifier import default_classifier, load_classifier

    clf = load_classifier(guard_dir) if guard_dir else default_classifier()
    scores = clf.classify([s.prompt for s in samples], side="input")
    out = by_part(samples, [sc.flagged for sc in scores])
    cats: dict[str, list[bool]] = defaultdict(list)
    for s, sc in zip(samples, scores):
        if s.label == "harmful" and s.meta["part"] == "heldout":
            cats[s.category or "unknown"].append(sc.flagged)
    out["heldout_recall_by_category"] = {c: [round(sum(v) / len(v), 3), len(v)] for c, v in sorted(cats.items())}
    out["heldout_missed_examples"] = [s.prompt[:160] for s, sc in zip(samples, scores)
                                      if s.meta["part"] == "heldout" and s.label == "harmful" and not sc.flagged][:12]
    out["heldout_false_positive_examples"] = [s.prompt[:160] for s, sc in zip(samples, scores) if
                                              s.meta["part"] == "heldout" and s.label == "benign" and sc.flagged][:12]
    out["guard"] = guard_dir or "packaged"
    return out


def goal_block(samples, weights_path: str | None) -> dict:
    import numpy as np

    from safestack.embed import shared_embedder
    from safestack.judges.robust import goal_proba, load_weights
    from safestack.text import normalize

    w = load_weights(weights_path)
    G = shared_embedder().encode([normalize(s.prompt)[-1000:] or " " for s in samples])
    pi = goal_proba(G, w)
    out = {"judge_weights": weights_path or "packaged", **by_part(samples, [bool(p >= 0.5) for p in pi])}
    out["mean_pi"] = {lab: round(float(np.mean([p for p, s in zip(pi, samples) if s.label == lab])), 4)
                      for lab in ("harmful", "benign")}
    return out


def guard_output_block(guard_dir: str | None) -> dict:
    """The guard's output side on the embedded model's replies to the same requests (``reply_labels.jsonl``: harm
    = the reply goes along with a harmful request, where both labellers agreed): recall on harmful replies, false
    positives on the others, per part."""
    from safestack.data.loaders import load_hh_reply_labels
    from safestack.guard.classifier import default_classifier, load_classifier

    clf = load_classifier(guard_dir) if guard_dir else default_classifier()
    rows = [r for r in load_hh_reply_labels("all") if r["harm"] is not None]
    flagged = [sc.flagged for sc in clf.classify([r["reply"] for r in rows], side="output")]
    out = {}
    for part in ("heldout", "train"):
        idx = [i for i, r in enumerate(rows) if r["part"] == part]
        out[part] = rates([rows[i]["harm"] for i in idx], [flagged[i] for i in idx])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--guard")
    ap.add_argument("--judge-weights")
    ap.add_argument("--key", default="hh_first_turns")
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args()
    from safestack.data.loaders import load_hh_first_turns

    samples = load_hh_first_turns("all")
    n_unclear = len(load_hh_first_turns("all", keep_unclear=True)) - len(samples)
    res = {"what": "HH-RLHF harmless-base first human turns, labelled by two independent model labellers "
                   "(benchmarks/hh_first_turn_labels.py); unclear or disagreed rows left out",
           "n": len(samples), "n_unclear_left_out": n_unclear,
           "guard_input_default_mode": guard_block(samples, a.guard),
           "goal_classifier_pi": goal_block(samples, a.judge_weights),
           "guard_output_on_replies": guard_output_block(a.guard),
           "command": "python benchmarks/external_prompts.py"}
    for k in ("guard_input_default_mode", "goal_classifier_pi"):
        print(k, {p: res[k][p] for p in ("heldout", "train", "all")})
    print("guard_output_on_replies", res["guard_output_on_replies"])
    if not a.no_save:
        save(a.key, res)


if __name__ == "__main__":
    main()
