"""Conversations that go on turn by turn reuse the keys and values of the turns before them (HF targets).

A multi-turn bench or attack (scripted escalation, Crescendo, PAIR's history) sends the whole conversation again at
every turn, so turn k re-encodes turns 1…k−1: on 2 CPU cores the prefill of a 400-token conversation costs most of
the turn. After each generation ``TurnCache`` keeps every row's keys and values (prompt + generated tokens, up to
the end token); the next call looks up, for each row, the longest stored prefix of its tokens and feeds only the
rest. Under causal attention a token's keys and values depend only on the tokens before it, so a prefix cut from a
longer row is exact (to float rounding: the numbers were computed in another batch).

Rows with different cached lengths share a batch as ``[pad | cached prefix | pad | own tokens]`` with the pads
masked; positions come from the mask, as in ``HFTarget._batch``. Only targets that own their weights use it (a
model passed in may be trained between calls), and only for models whose cache is one plain key/value pair per
layer (no sliding window, no recurrent layers: ``supports_packing``). Stored entries are dropped oldest first past
``max_mb`` (each counts its row's share of the batch's tensors, which are kept without a copy); an entry used as a
prefix is dropped (its continuation replaces it).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass
class Entry:
    """One row's stored tokens; their keys and values stay in the batch's cache tensors (no copy when storing):
    row ``row`` of ``kv``'s per-layer [batch, heads, width, head_dim] tensors, at columns ``cols``."""
    ids: tuple[int, ...]
    kv: list[tuple[Any, Any]]
    row: int
    cols: Any  # LongTensor [len(ids)]
    nbytes: int  # this row's share of the batch's tensors

    def layer(self, i: int, n: int) -> tuple[Any, Any]:
        """Layer ``i``'s keys and values of the first ``n`` tokens: [heads, n, head_dim]."""
        k, v = self.kv[i]
        return k[self.row].index_select(1, self.cols[:n]), v[self.row].index_select(1, self.cols[:n])


class TurnCache:
    """Stored (tokens → per-layer keys/values) of recent rows, looked up by longest common prefix."""

    def __init__(self, max_mb: float = 1024.0, min_tokens: int = 32):
        self.max_bytes = int(max_mb * 2**20)
        self.min_tokens = min_tokens  # shorter matches are left to the shared-prefix path
        self.entries: OrderedDict[int, Entry] = OrderedDict()
        self.by_head: dict[tuple[int, ...], set[int]] = {}  # first min_tokens tokens → entry ids
        self.bytes = 0
        self._next = 0
        self.hits = self.misses = self.tokens_reused = 0

    def match(self, ids: Sequence[int]) -> tuple[int, int | None]:
        """(length, entry id) of the longest stored prefix of ``ids`` that leaves at least one own token; (0, None)
        under ``min_tokens``."""
        best, best_id = 0, None
        limit = len(ids) - 1
        if limit < self.min_tokens:
            return 0, None
        for eid in self.by_head.get(tuple(ids[:self.min_tokens]), ()):
            e = self.entries[eid].ids
            n, m = 0, min(limit, len(e))
            while n < m and e[n] == ids[n]:
                n += 1
            if n > best:
                best, best_id = n, eid
        return (best, best_id) if best >= self.min_tokens else (0, None)

    def take(self, eid: int) -> Entry:
        e = self.entries.pop(eid)
        self.by_head[e.ids[:self.min_tokens]].discard(eid)
        self.bytes -= e.nbytes
        return e

    def put(self, ids: Sequence[int], kv: list[tuple[Any, Any]], row: int, cols: Any) -> None:
        if len(ids) < self.min_tokens + 1:
            return
        nbytes = sum(k[row].numel() * k.element_size() + v[row].numel() * v.element_size() for k, v in kv)
        ids = tuple(ids)
        same = [eid for eid in self.by_head.get(ids[:self.min_tokens], ()) if self.entries[eid].ids == ids]
        if nbytes > self.max_bytes or same:  # a row seen twice in one batch is stored once
            return
        eid, self._next = self._next, self._next + 1
        e = Entry(ids, kv, row, cols, nbytes)
        self.entries[eid] = e
        self.by_head.setdefault(e.ids[:self.min_tokens], set()).add(eid)
        self.bytes += nbytes
        while self.bytes > self.max_bytes:
            self.take(next(iter(self.entries)))

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "tokens_reused": self.tokens_reused,
                "entries": len(self.entries), "megabytes": round(self.bytes / 2**20, 1)}


def cached_batch(cache: TurnCache, seqs: list[list[int]], pad: int, device, config) -> dict | None:
    """``generate()`` inputs reusing stored prefixes, or None when no row has one (the caller's plain path)."""
    import torch
    from transformers import DynamicCache

    found = [cache.match(x) for x in seqs]
    if not any(eid is not None for _, eid in found):
        cache.misses += len(seqs)
        return None
    taken = {eid: cache.take(eid) for eid in {eid for _, eid in found if eid is not None}}  # rows may share one
    entries = [taken[eid] if eid is not None else None for _, eid in found]
    lens = [n for n, _ in found]
    lmax = max(lens)
    own = [x[n:] for x, n in zip(seqs, lens)]
    smax = max(len(o) for o in own)
    rows, masks = [], []
    for x, n, o in zip(seqs, lens, own):
        rows.append([pad] * (lmax - n) + x[:n] + [pad] * (smax - len(o)) + o)
        masks.append([0] * (lmax - n) + [1] * n + [0] * (smax - len(o)) + [1] * len(o))
    ref = next(e for e in entries if e is not None).kv
    layers = []
    for li, (k0, v0) in enumerate(ref):
        k = k0.new_zeros((len(seqs), k0.shape[1], lmax, k0.shape[3]))
        v = v0.new_zeros((len(seqs), v0.shape[1], lmax, v0.shape[3]))
        for r, (e, n) in enumerate(zip(entries, lens)):
            if e is not None:
                k[r, :, lmax - n:], v[r, :, lmax - n:] = e.layer(li, n)
        layers.append((k.to(device), v.to(device)))
    cache.hits += sum(e is not None for e in entries)
    cache.misses += sum(e is None for e in entries)
    cache.tokens_reused += sum(lens)
    return {"input_ids": torch.tensor(rows, device=device), "attention_mask": torch.tensor(masks, device=device),
            "past_key_values": DynamicCache(ddp_cache_data=layers, config=config)}


def store_rows(cache: TurnCache, enc: dict, gen, past, eos_ids: set[int]) -> None:
    """Keep each row's keys and values: its unmasked input tokens and its generated tokens up to and including
    the first end token (the last generated token was never fed, so it has none). The batch's cache tensors are
    kept as they are; each entry points at its row and columns."""
    import torch

    width = enc["input_ids"].shape[1]
    mask = enc["attention_mask"].tolist()
    inputs = enc["input_ids"].tolist()
    new = gen[:, width:].tolist()
    kv_len = past.get_seq_length()
    kv = [(layer.keys, layer.values) for layer in past.layers]
    for r, (m, x, g) in enumerate(zip(mask, inputs, new)):
        cut = next((j + 1 for j, t in enumerate(g) if t in eos_ids), len(g))
        cut = min(cut, kv_len - width)  # generated tokens that have keys and values
        cols = [c for c in range(width) if m[c]] + list(range(width, width + cut))
        cache.put([x[c] for c in range(width) if m[c]] + g[:cut], kv, r,
                  torch.tensor(cols, device=kv[0][0].device))
