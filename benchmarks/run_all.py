"""Run every benchmark in turn (never two at once: the machine has 2 cores)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for f in sorted(HERE.glob("bench_*.py")):
    print(f"== {f.name}", flush=True)
    subprocess.run([sys.executable, str(f)], check=True)
