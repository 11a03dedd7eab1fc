"""Circuit breaker on the embedded model: per-token overhead, and live ASR / over-refusal on held-out prompts.

Needs a breaker fitted by `safestack probe --target default --out DIR` (DIR/circuit_breaker.json).

Usage: python benchmarks/bench_probe.py --probe DIR/circuit_breaker.json [--limit 40]
  → benchmarks/results.json["probe_circuit_breaker"]

The held-out part runs `safestack eval`'s code path twice — on `default` and on `cb:default?probe=FILE` — over a
stratified subset of HarmBench test and XSTest-safe: the live breaker, not the replay `safestack probe` uses.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True, help="circuit_breaker.json from `safestack probe`")
    ap.add_argument("--limit", type=int, default=40, help="prompts per held-out bench")
    ap.add_argument("--tokens", type=int, default=32)
    a = ap.parse_args()

    from safestack.data import load_bench
    from safestack.evals import run_eval
    from safestack.judges import make_judge
    from safestack.probes.run import measure_overhead
    from safestack.targets import GenParams, load_target

    cb = load_target(f"cb:default?probe={a.probe}", device="cpu")
    prompts = [s.prompt for s in load_bench("xstest:safe")[:8]]
    out = {"overhead": measure_overhead(cb.base, cb.breaker, prompts, tokens=a.tokens, reps=3)}
    judges = [make_judge("refusal"), make_judge("harm")]
    benches = ["harmbench", "xstest:safe"]
    with tempfile.TemporaryDirectory() as d:
        for name, tgt in (("base", cb.base), ("cb", cb)):
            t0 = time.perf_counter()
            m = asyncio.run(run_eval(tgt, benches, judges, Path(d) / name, limit=a.limit,
                                     params=GenParams(max_new_tokens=48), show_progress=False))
            out[name] = {"harmbench_asr": m["harmbench"]["asr"], "xstest_safe_over_refusal":
                         m["xstest:safe"]["over_refusal"], "seconds": round(time.perf_counter() - t0, 1)}
    out["breaker_stats"] = cb.stats
    pj = Path(a.probe).parent / "probe.json"
    if pj.exists():  # the full held-out replay measured by `safestack probe` (same breaker)
        import json

        c = json.loads(pj.read_text())["circuit_breaker"]
        out["probe_replay_full"] = {"held_out": c["held_out"], "held_out_both_probes": c.get("held_out_both_probes"),
                                    "live_check": c.get("live_check"), "overhead": c.get("overhead")}
    out["limit_per_bench"] = a.limit
    out["command"] = f"python benchmarks/bench_probe.py --probe {a.probe} --limit {a.limit}"
    print(out)
    save("probe_circuit_breaker", out)


if __name__ == "__main__":
    main()
