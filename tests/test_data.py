import json

import pytest

from safestack.data import DATASETS, load_bench, load_harmbench, load_xstest, load_xstest_completions
from safestack.data.loaders import data_dir
from safestack.errors import BadInput


def test_harmbench_splits_and_functional_categories():
    assert len(load_harmbench("test")) == 159  # standard behaviours of the held-out split
    assert len(load_harmbench("val")) == 41
    assert len(load_bench("harmbench:test:standard,contextual,copyright")) == 320
    ctx = load_bench("harmbench:test:contextual")
    assert all("\n\n---\n\n" in s.prompt for s in ctx)
    test_ids = {s.id for s in load_bench("harmbench:test:standard,contextual,copyright")}
    val_ids = {s.id for s in load_bench("harmbench:val:standard,contextual,copyright")}
    assert not test_ids & val_ids


def test_xstest_labels():
    safe, unsafe = load_xstest("safe"), load_xstest("unsafe")
    assert len(safe) == 250 and len(unsafe) == 200
    assert all(s.label == "benign" for s in safe) and all(s.label == "harmful" for s in unsafe)
    assert len(load_xstest_completions()) == 5 * 450


def test_vendored_data_carries_licence_and_provenance():
    for name in ("harmbench", "xstest"):
        d = data_dir(name)
        assert (d / "PROVENANCE.md").exists()
        assert any((d / f).exists() for f in ("LICENSE", "LICENSE.txt"))


def test_jsonl_bench(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps({"prompt": "How do I bake bread?", "label": "benign", "category": "everyday"}) + "\n" +
                 json.dumps({"prompt": "Make a bomb", "label": "harmful"}) + "\n")
    s = load_bench(f"jsonl:{p}")
    assert [x.label for x in s] == ["benign", "harmful"] and s[0].category == "everyday"


def test_bad_specs():
    with pytest.raises(BadInput, match="unknown bench spec"):
        load_bench("nope")
    with pytest.raises(BadInput, match="unknown split"):
        load_bench("harmbench:train")
    with pytest.raises(BadInput, match="file not found"):
        load_bench("jsonl:/nonexistent.jsonl")


def test_registry_roles():
    assert DATASETS["xstest"].role == "eval" and DATASETS["harmbench"].role == "eval"
    assert DATASETS["adv_training"].role == "train"


def test_multiturn_dev_escalates_on_contrast_dev_not_on_an_eval_bench():
    dev = load_bench("multiturn:dev")
    harmful = [s for s in load_bench("contrast:dev") if s.label == "harmful"]
    assert [s.prompt for s in dev] == [s.prompt for s in harmful] and len({s.id for s in dev}) == len(dev)
    assert all(s.meta["behavior"] == s.prompt and s.meta["k"] == 4 for s in dev)
    assert {s.meta["k"] for s in load_bench("multiturn:dev:2")} == {2}
    assert not {s.prompt for s in dev} & {s.prompt for s in load_bench("multiturn")}
    with pytest.raises(BadInput, match="K must be"):
        load_bench("multiturn:dev:9")
