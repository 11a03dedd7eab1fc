"""The dev set the run's and RR's settings are chosen on: `contrast:dev` (the held-back fifth of safestack's contrast
sets; never trained on, not an evaluation bench), read from an eval's metrics.json."""

import json
from pathlib import Path

DEV_BENCH = "contrast:dev"


def dev_metrics(metrics_file: Path, keys: tuple[str, ...]) -> dict:
    m = json.loads(Path(metrics_file).read_text())[DEV_BENCH]
    return {k: m[k] for k in keys}
