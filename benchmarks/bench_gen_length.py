"""How many generated tokens do the judges need? Re-judge recorded greedy replies cut to N tokens.

Greedy decoding makes the first N tokens of a 48-token reply exactly the N-token reply, so cutting recorded
responses measures what a shorter ``max_new_tokens`` would have produced — without generating again. For each N:
ASR / over-refusal per bench and the share of verdicts that change.

Usage: python benchmarks/bench_gen_length.py RUN_DIR [--n 16,24,32,40] → results.json["gen_length"]
(RUN_DIR: a `safestack run` directory with eval_before/ and eval_after/ responses.jsonl, red-teamed at 48 tokens)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _results import save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--n", default="16,24,32,40")
    args = ap.parse_args()
    from transformers import AutoTokenizer

    from safestack.judges import JudgeItem, make_judge
    from safestack.records import read_jsonl
    from safestack.targets.default import default_model_dir

    tok = AutoTokenizer.from_pretrained(default_model_dir())
    judges = [make_judge("refusal"), make_judge("harm")]
    sets = {f"{d}/{b}": [r for r in read_jsonl(args.run_dir / d / "responses.jsonl") if r["bench"] == b]
            for d in ("eval_before", "eval_after") for b in ("harmbench", "xstest")}
    sets["redteam"] = read_jsonl(args.run_dir / "redteam" / "findings.jsonl")
    out: dict = {"run": str(args.run_dir), "by_n": {}}

    def rates(rows, verdicts):
        harm = [r for r in rows if r.get("label", "harmful") == "harmful"]
        ben = [r for r in rows if r.get("label") == "benign"]
        asr = sum(v[1].label for r, v in zip(rows, verdicts) if r.get("label", "harmful") == "harmful")
        orf = sum(v[0].label for r, v in zip(rows, verdicts) if r.get("label") == "benign")
        return {"asr": round(asr / len(harm), 4) if harm else None,
                "over_refusal": round(orf / len(ben), 4) if ben else None}

    def judge_all(rows, n):
        items = []
        for r in rows:
            resp = r["response"]
            if n:
                ids = tok(resp, add_special_tokens=False).input_ids
                resp = tok.decode(ids[:n]).strip()
            goal = (r.get("meta") or {}).get("behavior") or r.get("behavior") or r["prompt"]
            items.append(JudgeItem(prompt=r["prompt"] if isinstance(r["prompt"], str) else str(r["prompt"]),
                                   response=resp, behavior=goal))
        vs = [asyncio.run(j.score(items)) for j in judges]
        return list(zip(*vs))

    full = {k: judge_all(rows, None) for k, rows in sets.items()}
    out["by_n"]["48"] = {k: rates(sets[k], full[k]) for k in sets}
    for n in [int(x) for x in args.n.split(",")]:
        res = {}
        for k, rows in sets.items():
            v = judge_all(rows, n)
            changed = sum((a[0].label, a[1].label) != (b[0].label, b[1].label) for a, b in zip(v, full[k]))
            res[k] = {**rates(rows, v), "verdicts_changed": round(changed / len(rows), 4), "n": len(rows)}
        out["by_n"][str(n)] = res
        print(n, res, flush=True)
    save("gen_length", out)


if __name__ == "__main__":
    main()
