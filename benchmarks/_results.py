"""benchmarks/results.json: one block per benchmark, with the machine it ran on."""

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results.json"


def save(name: str, result: dict) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result = dict(result)
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    result["at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    data[name] = result
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
