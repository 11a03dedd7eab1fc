"""Which scores should the jailbreak head's threshold be picked on? → benchmarks/results.json "guard_jailbreak_rule".

The jailbreak head's 1 %-FPR threshold picked on out-of-fold scores (5 folds grouped by behaviour) against the same
rule on leave-one-source-out scores (``GuardTrainConfig.jailbreak_threshold_on``, default ``out_of_source``). For
each, read on the leave-one-source-out scores that the last ``safestack guard train`` dumped
($SAFESTACK_HOME/guard-loso-scores.npz): the false-positive rate over held-out benign inputs (the jailbreak head
alone, and with the harmful head at its deployed threshold) and the recall on attack-wrapped requests of held-out
sources. Training sources only; no evaluation bench is read.

Usage: python benchmarks/guard_jailbreak_rule.py   (after `safestack guard train`; ≈ 2 min on 2 cores)
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> dict:
    from _results import save

    from safestack.guard.classifier import default_classifier
    from safestack.guard.features import shared_space
    from safestack.guard.loso import pooled_threshold
    from safestack.guard.train import GuardTrainConfig, input_scores, prepare_data

    home = Path(os.environ.get("SAFESTACK_HOME", Path.home() / ".cache" / "safestack"))
    z = np.load(home / "guard-loso-scores.npz", allow_pickle=True)
    cfg = GuardTrainConfig()
    d = prepare_data(cfg, shared_space(None, cfg.bits, cfg.max_tokens), print)
    idx = np.flatnonzero(d.side == "input")
    if not np.array_equal(d.origin[idx], z["input_origin"]):
        raise SystemExit("the dumped scores are from another training set: run `safestack guard train` first")
    ex = [d.ex[i] for i in idx]
    benign = np.array([not e.harmful and not e.jailbreak for e in ex])
    wrapped = np.array([e.source != e.origin and (e.harmful or e.jailbreak) for e in ex])
    oof = input_scores(d, cfg, print, loso=False)["jailbreak"]
    lo_j, lo_h = z["jailbreak"], z["harmful"]
    t_h = default_classifier().heads["harmful"].threshold
    out = {"fpr_target": cfg.jailbreak_fpr, "harmful_threshold": round(float(t_h), 4), "n_benign": int(benign.sum()),
           "n_wrapped": int(wrapped.sum())}
    for name, sc in (("out_of_fold", oof), ("out_of_source", lo_j)):
        t = pooled_threshold(sc, benign, d.origin[idx], cfg.jailbreak_fpr)
        out[name] = {"threshold": round(t, 4),
                     "heldout_benign_fpr_jailbreak_head": round(float((lo_j[benign] >= t).mean()), 4),
                     "heldout_benign_fpr_both_heads": round(float(((lo_j >= t) | (lo_h >= t_h))[benign].mean()), 4),
                     "heldout_wrapped_recall_jailbreak_head": round(float((lo_j[wrapped] >= t).mean()), 4),
                     "heldout_wrapped_recall_both_heads": round(float(((lo_j >= t) | (lo_h >= t_h))[wrapped].mean()),
                                                                4)}
    save("guard_jailbreak_rule", {**out, "note": "leave-one-source-out scores of the stored guard's training run; "
                                                 "training sources only"})
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
