"""Multiple-choice log-likelihoods (BBQ, TruthfulQA) with and without shared-context packing
(targets/shared_context.py), on the embedded model and the benches' real prompts.

Arms: ``rows`` (one left-padded row per option, batches of up to 128 rows: the old path) and ``shared`` (one packed
row per question, ``--rows`` packed rows per forward). Reports wall seconds, option sequences per second and the
largest absolute difference between the two arms' log-likelihoods (float rounding only).
``bbq_consecutive``: 2·n consecutive BBQ questions from a seeded offset, as a full run reads them.
Usage: python benchmarks/bench_loglik.py [--n 96] [--rows 16]     Writes benchmarks/results.json["loglik"].
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def main() -> None:
    from safestack.data.benches import load_bbq, load_truthfulqa
    from safestack.evals.benches import bbq, truthfulqa
    from safestack.records import user
    from safestack.targets import load_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=96, help="questions per bench")
    ap.add_argument("--rows", type=int, default=16, help="packed rows per forward")
    a = ap.parse_args()
    target = load_target("default")
    target.loglik_rows = a.rows
    res: dict = {"questions_per_bench": a.n, "packed_rows_per_forward": a.rows}
    bbq_samples = load_bbq()
    benches = {"bbq": (bbq_samples, bbq._prompt, lambda s: s.meta["options"]),
               "truthfulqa": (load_truthfulqa(), lambda s: s.prompt, truthfulqa.options),
               # as a full run reads BBQ (file order): a context's questions and versions share their head
               "bbq_consecutive": (bbq_samples, bbq._prompt, lambda s: s.meta["options"])}
    target.loglik_sync([user("warm up")], ["ok"])
    for name, (samples, prompt, options) in benches.items():
        if name.endswith("_consecutive"):
            start = random.Random(0).randrange(len(samples) - 2 * a.n)
            picked = samples[start:start + 2 * a.n]
        else:
            picked = random.Random(0).sample(samples, a.n)
        ctxs, conts = [], []
        for s in picked:
            for o in options(s):
                ctxs.append(user(prompt(s)))
                conts.append(o)
        out = {"sequences": len(conts)}
        scores = {}
        for arm in ("rows", "shared"):
            target.share_context = arm == "shared"
            t0 = time.perf_counter()
            scores[arm] = target.loglik_sync(ctxs, conts)
            dt = time.perf_counter() - t0
            out[arm] = {"seconds": round(dt, 2), "sequences_per_s": round(len(conts) / dt, 1)}
        out["speedup"] = round(out["rows"]["seconds"] / out["shared"]["seconds"], 2)
        out["max_abs_diff"] = float(max(abs(x[0] - y[0]) for x, y in zip(scores["rows"], scores["shared"])))
        res[name] = out
        print(name, out, flush=True)
    save("loglik", res)


if __name__ == "__main__":
    main()
