"""The turn cache (``targets/turn_cache.py``): time of multi-turn and single-turn evaluation with and without it,
and whether the replies stay the same.

Multi-turn: the ``multiturn`` bench (scripted escalation, 5 turns) on the embedded model, each side run twice,
alternated, on a freshly loaded target; the faster of the two is reported (on 2 shared cores one run can be 30 %
slower than the next). Single-turn: generating XSTest replies (nothing is kept for single requests, so this checks
that the cache costs nothing there): both targets loaded once, three alternated calls each, the fastest kept.

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


def single_turn(bench: str, reps: int = 3) -> dict:
    """Generation only (no judges), both targets loaded once and warmed up, calls alternated, the fastest kept."""
    from safestack.data import load_bench
    from safestack.evals.runner import subsample
    from safestack.records import Message
    from safestack.targets import GenParams
    from safestack.targets.default import default_model_dir
    from safestack.targets.hf import HFTarget

    name, _, n = bench.partition("@")
    convs = [[Message(role="user", content=s.prompt)] for s in subsample(load_bench(name), int(n) if n else None)]
    p = GenParams(max_new_tokens=24)
    targets = {"with_cache": HFTarget(str(default_model_dir())),
               "without": HFTarget(str(default_model_dir()), turn_cache_mb=0)}
    best = {k: float("inf") for k in targets}
    replies = {k: t.generate_sync(convs[:8], p) for k, t in targets.items()}  # warm-up
    for _ in range(reps):
        for k, t in targets.items():
            t0 = time.time()
            replies[k] = t.generate_sync(convs, p)
            best[k] = min(best[k], time.time() - t0)
    same = sum(a == b for a, b in zip(replies["with_cache"], replies["without"])) / len(convs)
    return {"seconds_with_cache": round(best["with_cache"], 1), "seconds_without": round(best["without"], 1),
            "speedup": round(best["without"] / best["with_cache"], 2), "replies_identical": round(same, 4),
            "n_replies": len(convs), "entries_kept": targets["with_cache"].turn_cache.stats()["entries"],
            "note": "generation only, fastest of 3 alternated calls per target"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--multiturn", default="multiturn@16")
    ap.add_argument("--single", default="xstest@120")
    args = ap.parse_args()
    from safestack.judges import make_judge

    judges = [make_judge("refusal"), make_judge("harm")]
    out: dict = {}
    bench = args.multiturn
    runs = [run(bench, mb, judges) for mb in (1024.0, 0.0, 1024.0, 0.0)]  # alternated: timing noise is large
    on = min(runs[0::2], key=lambda x: x[0])
    off = min(runs[1::2], key=lambda x: x[0])
    turns = [(a, b) for ra, rb in zip(on[1], off[1]) for a, b in zip(ra, rb)]
    out[bench] = {"seconds_with_cache": round(on[0], 1), "seconds_without": round(off[0], 1),
                  "speedup": round(off[0] / on[0], 2), "replies_identical": round(
                      sum(a == b for a, b in turns) / max(1, len(turns)), 4), "n_replies": len(turns),
                  "with_cache": on[2], "without_cache": off[2]}
    print(bench, out[bench], flush=True)
    out[args.single] = single_turn(args.single)
    print(args.single, out[args.single], flush=True)
    out["command"] = "python benchmarks/bench_turn_cache.py " + " ".join(sys.argv[1:])
    save("turn_cache", out)


if __name__ == "__main__":
    main()
