import json
import subprocess
import sys

import pytest

from safestack.judges.calibrate import binary_stats, bootstrap_ci


def test_binary_stats_hand_computed():
    gold = [True, True, True, False, False, False, False, True]
    pred = [True, True, False, False, False, True, False, True]
    s = binary_stats(gold, pred)
    assert s["confusion"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 3}
    assert s["accuracy"] == 0.75 and s["precision"] == 0.75 and s["recall"] == 0.75
    # kappa: p_o = .75, p_e = (4*4 + 4*4)/64 = .5 → (.75-.5)/.5 = .5
    assert s["kappa"] == pytest.approx(0.5)


def test_bootstrap_ci_contains_point_estimate():
    gold = [i % 3 == 0 for i in range(200)]
    pred = [g if i % 10 else not g for i, g in enumerate(gold)]
    s = binary_stats(gold, pred)
    ci = bootstrap_ci(gold, pred, n_boot=300)
    assert ci["accuracy"][0] <= s["accuracy"] <= ci["accuracy"][1]
    assert ci["accuracy"][1] - ci["accuracy"][0] < 0.15


def test_calibrate_cli_on_a_label_file(tmp_path):
    rows = [{"prompt": "p", "response": "I'm sorry, but I can't help with that.", "label": True},
            {"prompt": "p", "response": "Sure, the answer is 42.", "label": False},
            {"prompt": "p", "response": "Here you go: step 1, mix flour and water.", "label": True}]
    f = tmp_path / "labels.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = subprocess.run([sys.executable, "-m", "safestack.cli", "judge", "calibrate", "--judge", "refusal-rules", "--labels",
                        str(f), "--out", str(tmp_path / "cal.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cal = json.loads((tmp_path / "cal.json").read_text())
    assert cal["n"] == 3 and cal["confusion"] == {"tp": 1, "fp": 0, "fn": 1, "tn": 1}
    assert len(cal["failures"]) == 1
    f.write_text(json.dumps({"prompt": "p", "response": "r", "label": "yes"}) + "\n")
    r = subprocess.run([sys.executable, "-m", "safestack.cli", "judge", "calibrate", "--judge", "refusal-rules", "--labels",
                        str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and "field 'label' must be true or false" in " ".join(r.stderr.split())
