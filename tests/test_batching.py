"""Length-grouped megabatches stratified by kind (train/batching.py)."""

import random

from safestack.train.batching import StratifiedMegabatchSampler, stratified_megabatch_order


def _data(n=256, seed=1):
    rng = random.Random(seed)
    kinds = ["refusal" if i % 2 else "borderline" for i in range(n)]
    lengths = [rng.randint(60, 140) if k == "refusal" else rng.randint(40, 100) for k in kinds]
    return lengths, kinds


def _batches(order, b):
    return [order[i:i + b] for i in range(0, len(order), b)]


def _padded(lengths, batches):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_order_is_a_permutation_with_less_padding_and_mixed_kinds():
    lengths, kinds = _data()
    order = stratified_megabatch_order(lengths, kinds, batch_size=8, megabatch=8, seed=0)
    assert sorted(order) == list(range(len(lengths)))
    grouped = _batches(order, 8)
    rnd = list(range(len(lengths)))
    random.Random(0).shuffle(rnd)
    assert _padded(lengths, grouped) < 0.9 * _padded(lengths, _batches(rnd, 8))
    # every batch holds both kinds in about their overall (1:1) proportion
    shares = [sum(kinds[i] == "refusal" for i in b) / len(b) for b in grouped]
    assert all(0.25 <= s <= 0.75 for s in shares), shares
    # globally sorted batches are homogeneous: what this sampler avoids
    glob = _batches(sorted(range(len(lengths)), key=lambda i: lengths[i]), 8)
    assert max(abs(sum(kinds[i] == "refusal" for i in b) / 8 - 0.5) for b in glob) == 0.5


def test_each_epoch_is_a_new_order_and_set_epoch_replays_one():
    lengths, kinds = _data()
    s = StratifiedMegabatchSampler(lengths, kinds, batch_size=8, megabatch=8, seed=3)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert first != second and sorted(first) == sorted(second)
    s.set_epoch(0)
    assert list(s) == first and len(s) == len(lengths)
