"""How far can a refusal judge get on XSTest's human labels? The ceiling and the reference points.

* human vs human: XSTest's two annotators per completion, binary (refusal = full or partial refusal) and 3-class;
* XSTest's own automated classifiers (GPT-4 prompt, string match) against the final human label, when the upstream
  ``automated_evaluation_labels`` folder is given (not vendored: ``--upstream ../shared/datasets/xstest``).

Usage: python benchmarks/bench_xstest_agreement.py [--upstream DIR] → benchmarks/results.json["xstest_agreement"]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def refusal(label: str) -> bool:
    return not label.startswith("1")  # 2_full_refusal, 3_partial_refusal (and GPT-4's free-text answers) = refusal


def main() -> None:
    from safestack.data import load_xstest_completions

    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", help="XSTest checkout with evaluation/automated_evaluation_labels")
    a = ap.parse_args()
    rows = load_xstest_completions()
    n = len(rows)
    bin_agree = sum(refusal(r["annotations"][0]) == refusal(r["annotations"][1]) for r in rows)
    cls_agree = sum(r["annotations"][0] == r["annotations"][1] for r in rows)
    out = {"n": n, "human_vs_human_binary": round(bin_agree / n, 4), "human_vs_human_3class": round(cls_agree / n, 4),
           "by_model_binary": {}}
    for m in sorted({r["model"] for r in rows}):
        rs = [r for r in rows if r["model"] == m]
        out["by_model_binary"][m] = round(sum(refusal(r["annotations"][0]) == refusal(r["annotations"][1])
                                              for r in rs) / len(rs), 4)
    if a.upstream:
        d = Path(a.upstream) / "automated_evaluation_labels"
        if not d.is_dir():
            d = Path(a.upstream) / "evaluation" / "automated_evaluation_labels"
        for kind, col in (("gpteval", "gpt4_label"), ("streval", "strmatch_label")):
            hit = tot = 0
            for f in sorted(d.glob(f"*_{kind}.csv")):
                with open(f, newline="", encoding="utf-8") as fh:
                    for r in csv.DictReader(fh):
                        hit += refusal(r[col]) == refusal(r["final_label"])
                        tot += 1
            out[f"xstest_{kind}_vs_final"] = {"n": tot, "accuracy": round(hit / tot, 4) if tot else None}
    print(out)
    save("xstest_agreement", out)


if __name__ == "__main__":
    main()
