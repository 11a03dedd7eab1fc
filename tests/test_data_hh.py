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
