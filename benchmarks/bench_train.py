"""Step time of SFT, reward-model and safe-RLHF training on the embedded SmolLM2-135M (CPU), each against a plain TRL
set-up (TRL's defaults: gradient checkpointing on, LoRA on every layer).

Usage: python benchmarks/bench_train.py [--pairs runs/demo/data/train.jsonl] [--steps 3]
Writes benchmarks/results.json["train"]. The first step (warm-up, allocations) is excluded: the step time is
(train seconds of a run with steps+1 steps − one with 1 step) / steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402
from bench_dpo import synthetic_pairs  # noqa: E402


def timed(fn, cfg, steps: int) -> float:
    """Seconds per step after the first."""
    secs = []
    for n in (1, steps + 1):
        cfg.max_steps = n
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            fn(cfg, d)
            secs.append(time.perf_counter() - t)
    return round((secs[1] - secs[0]) / steps, 2)


def main() -> None:
    from safestack.targets.default import default_model_dir
    from safestack.train.config import LoraSettings, RewardSettings, SafeRLHFSettings, SFTSettings
    from safestack.train.reward import train_reward
    from safestack.train.safe_rlhf import train_safe_rlhf
    from safestack.train.sft import train_sft

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default=None)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    model = str(default_model_dir())
    if a.pairs:
        from safestack.train.dpo import load_pairs

        rows = load_pairs(a.pairs)
        raw = [json.loads(x) for x in Path(a.pairs).read_text().splitlines() if x.strip()]
        rows = [{**r, "kind": w.get("kind")} for r, w in zip(rows, raw)][: 8 * (a.steps + 1)]
    else:
        rows = [{**r, "kind": "refusal"} for r in synthetic_pairs(8 * (a.steps + 1))]
    quiet = lambda *x: None  # noqa: E731
    plain = dict(activation_checkpointing=True, lora=LoraSettings(top_layers=None))
    res: dict = {"steps": a.steps, "model": "SmolLM2-135M-Instruct", "data": a.pairs or "synthetic"}

    for name, fn, mk in [
        ("sft", lambda c, d: train_sft(model, rows, d, c, log=quiet),
         lambda **k: SFTSettings(batch_size=8, max_length=256, save_steps=10_000, **k)),
        ("reward_lm", lambda c, d: train_reward(model, [{**r, "kind": None} for r in rows], d, c, log=quiet),
         lambda **k: RewardSettings(kind="helpful", backbone="lm", batch_size=8, max_length=256, heldout_fraction=0.0,
                                    save_steps=10_000, **{"lora": LoraSettings(), **k})),
        ("safe_rlhf", lambda c, d: train_safe_rlhf(model, [{"prompt": r["prompt"], "label": "harmful"} for r in rows],
                                                   d, c, log=quiet),
         lambda **k: SafeRLHFSettings(batch_size=8, num_generations=4, max_completion_length=32, save_steps=10_000,
                                      **k)),
    ]:
        ours = timed(fn, mk(), a.steps)
        base = timed(fn, mk(**plain), a.steps)
        res[name] = {"safestack_s_per_step": ours, "plain_trl_s_per_step": base, "speedup": round(base / ours, 2)}
        print(name, res[name], flush=True)
    # the fast reward backbone: frozen MiniLM + a Bradley–Terry linear head (one fit, no steps)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        train_reward(None, rows, d, RewardSettings(kind="cost", heldout_fraction=0.0), log=quiet)
    res["reward_minilm_fit_seconds"] = {"pairs": len(rows), "seconds": round(time.perf_counter() - t, 2)}
    print(json.dumps(res, indent=2))
    save("train", res)


if __name__ == "__main__":
    main()
