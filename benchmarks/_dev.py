"""The dev set the run's and RR's settings are chosen on: `contrast:dev` (the held-back fifth of safestack's contrast
sets; never trained on, not an evaluation bench), read from an eval's metrics.json."""

import json
from pathlib import Path

DEV_BENCH = "contrast:dev"


def dev_metrics(metrics_file: Path, keys: tuple[str, ...]) -> dict:
    m = json.loads(Path(metrics_file).read_text())[DEV_BENCH]
    return {k: m[k] for k in keys}


def asr_by_style(eval_dir: Path) -> dict:
    """contrast:dev's harmful requests by style (question, imperative, assistant_help, noun_phrase): n, ASR and the
    share refused."""
    rows = [json.loads(x) for x in (Path(eval_dir) / "responses.jsonl").read_text().splitlines() if x.strip()]
    by: dict[str, list] = {}
    for r in rows:
        if r["bench"] == DEV_BENCH and r["label"] == "harmful":
            by.setdefault(r["meta"].get("style", "?"), []).append(r)
    return {s: {"n": len(v), "asr": round(sum(r["verdicts"]["harm"]["label"] for r in v) / len(v), 4),
                "refused": round(sum(r["verdicts"]["refusal"]["label"] for r in v) / len(v), 4)}
            for s, v in sorted(by.items())}
