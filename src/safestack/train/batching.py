"""Batches of similar length that stay random and mixed: length grouping within megabatches, stratified by kind.

A random batch of the run's packed pairs is ~31 % padding. Sorting the whole set by length removes it but makes
every batch homogeneous: the long refusal pairs end up together and the short borderline ones together. The order is
also the same in each epoch. In session 3 that doubled held-out ASR. This sampler keeps most of the saving without
those two effects. Each epoch (seeded by ``seed + epoch``):

1. shuffle all rows and cut them into megabatches of ``megabatch × batch_size`` rows;
2. inside a megabatch, rank each row by length *within its kind* (refusal / borderline …) and sort by that
   quantile. Consecutive rows then have similar lengths for their kind, and every batch holds the kinds in about
   their overall proportion;
3. cut the result into batches and shuffle the batches.

Padding on the run's pairs: random 31 %, this sampler (8 batches per megabatch) 17 %, global sort 6 %.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence


def stratified_megabatch_order(lengths: Sequence[int], kinds: Sequence[str], batch_size: int, megabatch: int,
                               seed: int) -> list[int]:
    """One epoch's row order (a permutation of ``range(len(lengths))``) cut into batches of ``batch_size``."""
    if len(lengths) != len(kinds):
        raise ValueError("lengths and kinds differ in size")
    rng = random.Random(seed)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    size = max(1, megabatch) * batch_size
    batches: list[list[int]] = []
    for s in range(0, len(idx), size):
        mb = idx[s:s + size]
        q: dict[int, float] = {}
        for kind in sorted(set(kinds[i] for i in mb)):
            ranked = sorted((i for i in mb if kinds[i] == kind), key=lambda i: (lengths[i], i))
            for r, i in enumerate(ranked):
                q[i] = (r + 0.5) / len(ranked)
        mb.sort(key=lambda i: (q[i], lengths[i], i))
        batches += [mb[b:b + batch_size] for b in range(0, len(mb), batch_size)]
    rng.shuffle(batches)
    return [i for b in batches for i in b]


class StratifiedMegabatchSampler:
    """A torch Sampler yielding ``stratified_megabatch_order`` afresh each epoch (``set_epoch``, which the
    transformers Trainer calls, also on resume, so skipped batches are the same ones)."""

    def __init__(self, lengths: Sequence[int], kinds: Sequence[str], batch_size: int, megabatch: int = 8,
                 seed: int = 0):
        self.lengths, self.kinds = list(lengths), list(kinds)
        self.batch_size, self.megabatch, self.seed = batch_size, megabatch, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(stratified_megabatch_order(self.lengths, self.kinds, self.batch_size, self.megabatch,
                                               self.seed + self.epoch))
