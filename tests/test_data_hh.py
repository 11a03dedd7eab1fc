"""HH-RLHF's human red-team first turns: a training part (guard, goal classifier, red team) and a held-out part that
is an evaluation bench (never trained on: every training source is decontaminated against it)."""

import pytest

from safestack.data import DATASETS
from safestack.data.loaders import load_bench, load_hh_first_turns
from safestack.errors import BadInput


def test_parts_partition_the_labelled_rows():
    train, held, every = (load_hh_first_turns(p) for p in ("train", "heldout", "all"))
    assert len(train) > 1000 and len(held) > 300
    assert {s.id for s in train}.isdisjoint({s.id for s in held})
    assert len(every) == len(train) + len(held) == len({s.id for s in every})
    for part in (train, held):
        labels = {s.label for s in part}
        assert labels == {"harmful", "benign"}
    assert all(s.category for s in every if s.label == "harmful")
    assert all(s.meta["labels"][0] == s.meta["labels"][1] == s.label for s in every)  # both labellers agreed
    unclear = [s for s in load_hh_first_turns("all", keep_unclear=True) if s.meta["unclear"]]
    assert unclear and all(s.label == "benign" for s in unclear)


def test_heldout_part_is_an_eval_bench_the_training_data_is_decontaminated_against():
    from safestack.datagen.hygiene import Contamination, eval_prompts

    assert DATASETS.get("hh-heldout").role == "eval" and DATASETS.get("hh-redteam").role == "train"
    held = load_bench("hh-heldout")
    assert {s.label for s in load_bench("hh-heldout:harmful")} == {"harmful"}
    assert len(load_bench("hh-heldout:harmful")) + len(load_bench("hh-heldout:benign")) == len(held)
    prompts = eval_prompts()
    assert set(prompts["hh-heldout"]) == {s.prompt for s in held}
    idx = Contamination({"hh-heldout": prompts["hh-heldout"]})
    assert all(idx.hit(s.prompt) for s in held[:50])
    assert {s.label for s in load_bench("hh-redteam")} == {"harmful"}
    assert {s.label for s in load_bench("hh-redteam:benign")} == {"benign"}


def test_bad_part_names_the_problem():
    with pytest.raises(BadInput, match="unknown part"):
        load_hh_first_turns("test")
    with pytest.raises(BadInput, match="hh-heldout"):
        load_bench("hh-heldout:maybe")


def test_dev_rows_are_held_back_from_the_red_team_source():
    dev, red = load_bench("hh-dev"), load_bench("hh-redteam") + load_bench("hh-redteam:benign")
    assert DATASETS.get("hh-dev").role == "dev" and {s.label for s in dev} == {"harmful", "benign"}
    assert {s.id for s in dev}.isdisjoint({s.id for s in red})
    assert len(dev) + len(red) == len(load_hh_first_turns("train"))
    assert 0.1 < len(dev) / len(load_hh_first_turns("train")) < 0.3


def test_guard_trains_on_both_labels_of_the_training_part_only():
    from safestack.guard.trainset import _hh_first_turns

    ex: list = []
    wrapped = _hh_first_turns(ex)
    held = {s.prompt for s in load_hh_first_turns("heldout")}
    assert {e.harmful for e in ex} == {True, False} and {e.origin for e in ex} == {"hh-redteam"}
    assert sum(e.harmful for e in ex) == len(wrapped) == sum(s.label == "harmful" for s in load_hh_first_turns())
    assert not held & {e.text for e in ex}


def test_reply_labels_parts_follow_the_request_parts():
    from safestack.data.loaders import load_hh_reply_labels

    held, train = load_hh_reply_labels("heldout"), load_hh_reply_labels("train")
    assert len(held) == 890 and len(train) == 1000
    assert {r["prompt"] for r in held} <= {s.prompt for s in load_bench("hh-heldout")}
    red = {s.prompt for s in load_bench("hh-redteam") + load_bench("hh-redteam:benign")}
    assert {r["prompt"] for r in train} <= red  # the training part without hh-dev
    for r in held + train:
        a, b = r["classes"]
        assert r["refusal"] is None or r["refusal"] == (a != "compliance") == (b != "compliance")
        assert r["harm"] is None or (r["harms"][0] == r["harms"][1] == ("yes" if r["harm"] else "no"))
        assert not (r["request_label"] == "benign" and r["harm"])
    assert {r["model"] for r in held} == {"base", "trained"}
    with pytest.raises(BadInput, match="unknown part"):
        load_hh_reply_labels("dev")


def test_judges_are_measured_on_the_held_out_replies_with_the_request_label():
    from safestack.data.loaders import load_hh_reply_labels
    from safestack.judges import make_judge
    from safestack.judges.learned import packaged_calibration
    from safestack.judges.validate import human_replies

    out = human_replies({"refusal": make_judge("refusal-rules")})
    n = sum(r["refusal"] is not None for r in load_hh_reply_labels("heldout"))
    assert out["held_out"] and out["refusal"]["n"] == n and 0.6 < out["refusal"]["accuracy"] < 1.0
    cal = packaged_calibration("harm")  # what reports print next to a rate
    assert cal["human_written"]["n"] == sum(r["harm"] is not None for r in load_hh_reply_labels("heldout"))
