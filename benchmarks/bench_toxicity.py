"""Validate the ToxiGen toxicity classifier (MiniLM + logistic regression) and store the result with it.

Usage: python benchmarks/bench_toxicity.py → benchmarks/results.json["toxicity_classifier"] and
src/safestack/judges/calibration/toxicity.json (shown next to every ToxiGen number) and the shipped weights
src/safestack/judges/calibration/toxicity_weights.json (refit on the whole training set).
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import save  # noqa: E402


def main() -> None:
    from safestack.judges.toxicity import ToxicityClassifier, weights_path
    from safestack.train.toxicity import training_set, validate

    t = time.perf_counter()
    v = validate()
    v["seconds"] = round(time.perf_counter() - t, 1)
    dest = Path(__file__).parent.parent / "src/safestack/judges/calibration/toxicity.json"
    dest.write_text(json.dumps(v, indent=2) + "\n")
    ToxicityClassifier().fit(training_set()).save(weights_path())  # the shipped model: refit on everything
    save("toxicity_classifier", {k: v[k] for k in ("heldout", "false_positives", "seconds")})
    print(json.dumps({k: v[k] for k in ("heldout", "false_positives")}, indent=1))


if __name__ == "__main__":
    main()
