"""Judges: speed on 1,000 (prompt, reply) pairs and held-out agreement, on 2 CPU cores.

* speed: the first 1,000 XSTest completions judged by the default judges (``refusal`` + ``harm``: one pass answers
  both; a full refusal needs no embedding), by each rule fast path, cold (no cached verdicts or embeddings);
* held out: the packaged judges' stored leave-one-source-out and leave-one-family-out validation (measured by
  ``safestack judge train --cv``) and, measured here, every judge on the hand-checked regression file
  (``tests/data/judge_regression.jsonl``, never trained on).

Usage: python benchmarks/bench_judges.py → benchmarks/results.json["judges"]
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402

REGRESSION = Path(__file__).parent.parent / "tests" / "data" / "judge_regression.jsonl"


def speed(items) -> dict:
    from safestack.judges import make_judge
    from safestack.judges.learned import shared_model

    out = {"n": len(items)}
    for name in ("refusal-rules", "harm-rules"):
        j = make_judge(name)
        asyncio.run(j.score(items[:8]))  # load models
        if hasattr(j, "embedder"):
            j.embedder._cache.clear()
        t = time.perf_counter()
        asyncio.run(j.score(items))
        out[f"{name}_seconds_per_1000"] = round((time.perf_counter() - t) * 1000 / len(items), 2)
    from safestack.embed import shared_embedder

    ref, harm = make_judge("refusal"), make_judge("harm")
    asyncio.run(ref.score(items[:8]))
    shared_model()._cache.clear()
    shared_embedder()._cache.clear()  # cold: every reply embedded again
    t = time.perf_counter()
    asyncio.run(ref.score(items))
    asyncio.run(harm.score(items))  # the same forward pass answered both
    out["default_refusal_and_harm_seconds_per_1000"] = round((time.perf_counter() - t) * 1000 / len(items), 2)
    return out


def main() -> None:
    from safestack.data import load_xstest_completions
    from safestack.judges import JudgeItem, make_judge
    from safestack.judges.learned import packaged_validation
    from safestack.judges.validate import load_regression, regression

    rows = load_xstest_completions()[:1000]
    out = speed([JudgeItem(prompt=r["prompt"], response=r["response"]) for r in rows])
    reg = load_regression(REGRESSION)
    out["regression_file"] = {"n": len(reg), "test_half": "even ids, never read", "dev_half": "odd ids, read while "
                                                                                       "writing the rules"}
    from safestack.judges.validate import halves

    for names in (("refusal", "harm"), ("refusal-rules", "harm-rules")):
        js = {"refusal": make_judge(names[0]), "harm": make_judge(names[1])}
        r, h = regression(js, reg), halves(js, reg)
        for key in ("refusal", "harm"):
            out["regression_file"][r[key]["judge"]] = {
                **{k: r[key][k] for k in ("accuracy", "ci95", "by_class")},
                "test_half": {k: h["test_half"][key][k] for k in ("n", "accuracy", "ci95")},
                "dev_half": {k: h["dev_half"][key][k] for k in ("n", "accuracy", "ci95")}}
    v = (packaged_validation() or {}).get("validation", {})
    lo = v.get("leave_one_source_out", {})
    out["leave_one_source_out"] = {
        "worst": lo.get("worst"),
        "by_source": {s: {k: {m: f[k][m] for m in ("n", "accuracy", "ci95")} for k in ("refusal", "harm") if k in f}
                      for s, f in lo.get("by_source", {}).items()}}
    lf = v.get("leave_one_family_out", {}).get("pooled", {})
    out["xstest_leave_one_family_out"] = {k: {m: s[m] for m in ("n", "accuracy", "ci95")} for k, s in lf.items()}
    print(out)
    save("judges", out)


if __name__ == "__main__":
    main()
