"""The turn cache (``targets/turn_cache.py``): time of multi-turn and single-turn evaluation with and without it,
and whether the replies stay the same.

Multi-turn: the ``multiturn`` bench (scripted escalation, 5 turns) on the embedded model. Single-turn: XSTest (no
prefix to reuse: the cache's bookkeeping is pure overhead there). Each side runs twice, alternated, on a freshly
loaded target; the faster of the two is reported (on 2 shared cores one run can be 30 % slower than the next).

Usage: python benchmarks/bench_turn_cache.py [--multiturn multiturn@16] [--single xstest@120]
→ results.json["turn_cache"]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _results import save  # noqa: E402


def run(bench: str, cache_mb: float, judges) -> tuple[float, list, dict]:
    from safestack.evals.runner import run_eval
    from safestack.records import read_jsonl
    from safestack.targets import GenParams
    from safestack.targets.default import default_model_dir
    from safestack.targets.hf import HFTarget

    t = HFTarget(str(default_model_dir()), turn_cache_mb=cache_mb)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        m = asyncio.run(run_eval(t, [bench], judges, d, params=GenParams(max_new_tokens=24), batch_size=128,
                                 show_progress=False))
        secs = time.time() - t0
        rows = sorted(read_jsonl(Path(d) / "responses.jsonl"), key=lambda r: r["sample_id"])
    replies = [[x["response"] for x in r["meta"]["turns"]] if "turns" in r["meta"] else [r["response"]]
               for r in rows]
    stats = t.turn_cache.stats() if t.turn_cache else {}
    key = bench.split("@")[0]
    return secs, replies, {"asr": m[bench].get("asr"), "over_refusal": m[bench].get("over_refusal"), **stats,
                           "bench_key": key}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--multiturn", default="multiturn@16")
    ap.add_argument("--single", default="xstest@120")
    args = ap.parse_args()
    from safestack.judges import make_judge

    judges = [make_judge("refusal"), make_judge("harm")]
    out: dict = {}
    for bench in (args.multiturn, args.single):
        runs = [run(bench, mb, judges) for mb in (1024.0, 0.0, 1024.0, 0.0)]  # alternated: timing noise is large
        on = min(runs[0::2], key=lambda x: x[0])
        off = min(runs[1::2], key=lambda x: x[0])
        turns = [(a, b) for ra, rb in zip(on[1], off[1]) for a, b in zip(ra, rb)]
        out[bench] = {"seconds_with_cache": round(on[0], 1), "seconds_without": round(off[0], 1),
                      "speedup": round(off[0] / on[0], 2), "replies_identical": round(
                          sum(a == b for a, b in turns) / max(1, len(turns)), 4), "n_replies": len(turns),
                      "with_cache": on[2], "without_cache": off[2]}
        print(bench, out[bench], flush=True)
    out["command"] = "python benchmarks/bench_turn_cache.py " + " ".join(sys.argv[1:])
    save("turn_cache", out)


if __name__ == "__main__":
    main()
