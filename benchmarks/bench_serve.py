"""Scale-out path: requests/s of the ``openai:`` target against a local OpenAI-compatible server, by concurrency.

``safestack serve --target default`` runs in its own process (as vLLM would); the red-team/eval client is
``OpenAITarget`` with ``concurrency`` = c, sending ``--requests`` distinct HarmBench prompts (greedy,
``--max-tokens``). Measured with the server's dynamic batching (``--max-batch 16``) and without (``--max-batch 1``).

Usage: python benchmarks/bench_serve.py [--requests 32] [--max-tokens 32] [--conc 1,2,4,8,16]
→ benchmarks/results.json["serve_throughput"]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
from _results import save  # noqa: E402
from bench_guard import _wait  # noqa: E402
from conftest import free_port  # noqa: E402


def start_server(max_batch: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).parent / "safestack"
    proc = subprocess.Popen([str(exe), "serve", "--target", "default", "--port", str(port), "--max-batch",
                             str(max_batch), "--max-wait-ms", "15"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + "/healthz")
    except RuntimeError:
        proc.kill()
        raise
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--conc", default="1,2,4,8,16")
    args = ap.parse_args()
    from safestack.data import load_bench
    from safestack.records import user
    from safestack.targets import GenParams
    from safestack.targets.openai_compat import OpenAITarget

    prompts = [s.prompt for s in load_bench("harmbench:val")][:args.requests]
    params = GenParams(max_new_tokens=args.max_tokens)
    out: dict = {"requests": len(prompts), "max_tokens": args.max_tokens, "server": "safestack serve --target default",
                 "runs": {}}
    for max_batch in (16, 1):
        proc, url = start_server(max_batch)
        try:
            t = OpenAITarget("default", url + "/v1", concurrency=1)
            asyncio.run(t.generate([user("warm up")], params))
            rows = []
            for c in [int(x) for x in args.conc.split(",")]:
                t = OpenAITarget("default", url + "/v1", concurrency=c, timeout=600)
                t0 = time.perf_counter()
                replies = asyncio.run(t.generate([user(p) for p in prompts], params))
                dt = time.perf_counter() - t0
                rows.append({"concurrency": c, "seconds": round(dt, 2), "requests_per_s": round(len(prompts) / dt, 3),
                             "empty_replies": sum(not r for r in replies)})
                print(f"max_batch={max_batch} c={c}: {rows[-1]}", flush=True)
            out["runs"][f"max_batch_{max_batch}"] = rows
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    save("serve_throughput", out)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
