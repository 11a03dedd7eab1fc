"""Constitutional AI and RLAIF with the embedded SmolLM2-135M as critic / labeller (what a 135M model can do).

Usage: python benchmarks/bench_datagen.py [--findings runs/demo/redteam/findings.jsonl] [--cai 16] [--rlaif 24]
Writes benchmarks/results.json["datagen_cai_rlaif"]. The judges gate every CAI revision and every RLAIF label, so a
weak critic/labeller shows up as a low acceptance / consistency rate rather than as bad training data.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def main() -> None:
    from safestack.datagen.borderline import borderline_prompts
    from safestack.datagen.constitution import load_constitution
    from safestack.datagen.constitutional import cai_stats, constitutional_revisions
    from safestack.datagen.rlaif import rlaif_preferences, rlaif_stats
    from safestack.judges import make_judge
    from safestack.records import Attempt, JsonlStore, Sample
    from safestack.targets import load_target

    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", default="runs/demo/redteam/findings.jsonl")
    ap.add_argument("--cai", type=int, default=16)
    ap.add_argument("--rlaif", type=int, default=24)
    a = ap.parse_args()
    findings = JsonlStore(a.findings, Attempt).load()
    target = load_target("default")
    judges = [make_judge("refusal"), make_judge("harm")]
    const = load_constitution()
    res = {"critic_and_labeller": "default (SmolLM2-135M-Instruct)"}
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        revs = asyncio.run(constitutional_revisions(findings, target, const, judges, Path(d) / "cai", limit=a.cai,
                                                    show_progress=False))
        res["cai"] = {k: v for k, v in cai_stats(revs).items() if k != "examples"}
        res["cai"]["seconds"] = round(time.time() - t0, 1)
        harm = [Sample(id=x.sample_id, prompt=x.prompt, label="harmful", category=x.category)
                for x in findings if x.attack == "direct"][: a.rlaif // 2]
        pool = harm + borderline_prompts(1)[: a.rlaif - len(harm)]
        t0 = time.time()
        prefs = asyncio.run(rlaif_preferences(pool, target, target, const, judges, Path(d) / "rlaif",
                                              show_progress=False))
        res["rlaif"] = rlaif_stats(prefs)
        res["rlaif"]["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(res, indent=2))
    save("datagen_cai_rlaif", res)


if __name__ == "__main__":
    main()
