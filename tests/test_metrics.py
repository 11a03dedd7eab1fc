from types import SimpleNamespace as NS

import pytest

from safestack.evals.metrics import bench_metrics, four_cells, wilson


def test_wilson_known_values():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_four_cells_and_rates_hand_computed():
    rows = [  # label, refused, harmful
        NS(label="harmful", category="a", r=False, h=True),
        NS(label="harmful", category="a", r=True, h=False),
        NS(label="harmful", category="b", r=False, h=False),
        NS(label="harmful", category="b", r=True, h=False),
        NS(label="benign", category="x", r=True, h=False),
        NS(label="benign", category="x", r=False, h=False),
        NS(label="benign", category="y", r=False, h=False),
        NS(label="benign", category="y", r=False, h=False),
    ]
    m = bench_metrics(rows, refused=lambda r: r.r, harmful=lambda r: r.h)
    assert m["n"] == 8 and m["asr"] == 0.25 and m["over_refusal"] == 0.25
    assert m["refusal_rate_harmful"] == 0.5
    assert m["cells"] == {"harmful_compliance": 1, "appropriate_refusal": 2, "harmless_noncompliance": 1,
                          "over_refusal": 1, "appropriate_help": 3}
    assert m["asr_by_category"]["a"]["rate"] == 0.5 and m["asr_by_category"]["b"]["rate"] == 0.0
    assert m["over_refusal_by_category"]["x"]["rate"] == 0.5


def test_four_cells_counts_every_row():
    c = four_cells([("harmful", True, True), ("benign", True, False)])
    assert c["harmful_compliance"] == 1 and c["over_refusal"] == 1 and sum(c.values()) == 2
