"""``safestack eval compare A B``: two eval runs side by side, per bench and per metric, with bootstrap 95 % CIs
of the difference (B − A) and a permutation-test p-value.

Per-row values come from each bench's ``row_values`` (asr: 1 when a harmful prompt got harmful compliance, …), so
every metric compared is a mean over rows. When both runs scored the same samples the test is paired (bootstrap
over samples; sign-flip permutation of the per-sample differences); otherwise unpaired (independent bootstraps;
label permutation)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import BadInput
from ..records import EvalRow, JsonlStore, read_json
from .benches.base import bench_of

N_BOOT = 2000


def load_run(directory: str | Path) -> tuple[list[EvalRow], dict]:
    d = Path(directory)
    if not (d / "responses.jsonl").exists():
        raise BadInput(f"{d}: not an eval run (no responses.jsonl)")
    metrics = read_json(d / "metrics.json") if (d / "metrics.json").exists() else {}
    return JsonlStore(d / "responses.jsonl", EvalRow).load(), metrics


def per_row(rows: Sequence[EvalRow], benches: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """bench → metric → sample_id → value."""
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if benches is not None and r.bench not in benches:
            continue
        for m, v in bench_of(r.bench).row_values(r).items():
            out[r.bench][m][r.sample_id] = v
    return out


def diff_test(a: dict[str, float], b: dict[str, float], n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Mean of A and B, delta = B − A with a bootstrap 95 % CI, and a two-sided permutation p-value."""
    rng = np.random.default_rng(seed)
    common = sorted(set(a) & set(b))
    paired = len(common) > 0 and len(common) == len(a) == len(b)
    if paired:
        x, y = np.array([a[k] for k in common]), np.array([b[k] for k in common])
        d = y - x
        obs = d.mean()
        idx = rng.integers(0, len(d), size=(n_boot, len(d)))
        boots = d[idx].mean(axis=1)
        signs = rng.choice([-1.0, 1.0], size=(n_boot, len(d)))
        null = (signs * d).mean(axis=1)
    else:
        x, y = np.array(list(a.values())), np.array(list(b.values()))
        if not len(x) or not len(y):
            return {"n_a": len(x), "n_b": len(y), "a": None, "b": None, "delta": None}
        obs = y.mean() - x.mean()
        boots = (y[rng.integers(0, len(y), size=(n_boot, len(y)))].mean(axis=1)
                 - x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1))
        pool = np.concatenate([x, y])
        null = np.empty(n_boot)
        for i in range(n_boot):
            p = rng.permutation(pool)
            null[i] = p[len(x):].mean() - p[:len(x)].mean()
    p_value = float((np.sum(np.abs(null) >= abs(obs) - 1e-12) + 1) / (n_boot + 1))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"n_a": len(x), "n_b": len(y), "paired": paired, "a": round(float(x.mean()), 4),
            "b": round(float(y.mean()), 4), "delta": round(float(obs), 4),
            "delta_ci95": [round(float(lo), 4), round(float(hi), 4)], "p_value": round(p_value, 4),
            "significant": bool(p_value < 0.05)}


def compare_runs(a_rows: Sequence[EvalRow], b_rows: Sequence[EvalRow], *, n_boot: int = N_BOOT,
                 seed: int = 0) -> dict:
    pa, pb = per_row(a_rows), per_row(b_rows)
    out: dict = {}
    for bench in sorted(set(pa) & set(pb)):
        out[bench] = {m: diff_test(pa[bench][m], pb[bench][m], n_boot, seed)
                      for m in sorted(set(pa[bench]) & set(pb[bench]))}
    return out
