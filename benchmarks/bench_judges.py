"""Judge throughput: judging 1,000 responses (rule/embedding and learned judges) on 2 CPU cores.

The 1,000 are the first XSTest human-labelled completions (safe and unsafe prompts, several models).

Usage: python benchmarks/bench_judges.py → benchmarks/results.json["judges"]
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def main() -> None:
    from safestack.data import load_xstest_completions
    from safestack.judges import JudgeItem, make_judge

    rows = load_xstest_completions()[:1000]
    items = [JudgeItem(prompt=r["prompt"], response=r["response"]) for r in rows]
    from safestack.judges.harm import substance
    from safestack.judges.refusal import classify

    # the harm judge embeds only replies its rules leave open (not a full refusal, some substance)
    open_ = sum(classify(it.response, it.prompt)[0] != "full_refusal" and substance(it.response) > 0 for it in items)
    out = {"n": len(items), "harm_embedded": open_}
    for name in ("refusal", "harm", "refusal-learned", "harm-learned"):
        j = make_judge(name)
        asyncio.run(j.score(items[:8]))  # load models
        if hasattr(j, "embedder"):  # no cached embeddings: every judge embeds the 1,000 replies itself
            j.embedder._cache.clear()
            j.embedder.__dict__.get("_parts_cache", {}).clear()
        t = time.perf_counter()
        asyncio.run(j.score(items))
        out[f"{name}_seconds_per_1000"] = round((time.perf_counter() - t) * 1000 / len(items), 2)
    print(out)
    save("judges", out)


if __name__ == "__main__":
    main()
