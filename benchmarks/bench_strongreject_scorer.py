"""How well the offline StrongREJECT approximation agrees with a reference label: JailbreakBench's artifact labels
(1,637 (goal, jailbreak prompt, response) records; label = JBB's Llama-3-70B judge, not humans).

Usage: python benchmarks/bench_strongreject_scorer.py → benchmarks/results.json["strongreject_scorer"]
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def main() -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from safestack.data.loaders import load_jbb_artifacts
    from safestack.evals.benches.strongreject import StrongRejectScorer
    from safestack.judges import JudgeItem, make_judge

    rows = load_jbb_artifacts()
    items = [JudgeItem(prompt=r["prompt"], response=r["response"], behavior=r["goal"]) for r in rows]
    t = time.perf_counter()
    v = asyncio.run(StrongRejectScorer(make_judge("refusal")).score(items))
    secs = time.perf_counter() - t
    y = np.array([r["jailbroken"] for r in rows], dtype=int)
    s = np.array([x.score for x in v])
    pred = (s >= 0.5).astype(int)
    out = {"n": len(rows), "positives": int(y.sum()), "auc": round(float(roc_auc_score(y, s)), 4),
           "accuracy_at_0.5": round(float((pred == y).mean()), 4),
           "mean_score_jailbroken": round(float(s[y == 1].mean()), 4),
           "mean_score_not_jailbroken": round(float(s[y == 0].mean()), 4), "seconds": round(secs, 1),
           "reference": "JailbreakBench artifact labels (Llama-3-70B judge)"}
    save("strongreject_scorer", out)
    print(out)


if __name__ == "__main__":
    main()
