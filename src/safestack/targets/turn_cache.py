"""Conversations that go on turn by turn reuse the keys and values of the turns before them (HF targets).

A multi-turn bench or attack (scripted escalation, Crescendo, PAIR's history) sends the whole conversation again at
every turn, so turn k re-encodes turns 1…k−1: on 2 CPU cores the prefill of a 400-token conversation costs most of
the turn. After each generation ``TurnCache`` keeps the keys and values of every conversation under way (one with
an assistant turn): prompt + generated tokens, up to the end token. The next call looks up, for each row, the
longest stored prefix of its tokens and feeds only the rest. Under causal attention a token's keys and values
depend only on the tokens before it, so a prefix cut from a longer row is exact (to float rounding: the numbers
were computed in another batch).

Rows with different cached lengths share a batch as ``[pad | cached prefix | pad | own tokens]`` with the pads
masked; positions come from the mask, as in ``HFTarget._batch``. In bf16 on a GPU, keys computed while decoding can
differ from a prefill's in the last bits, so a greedy reply may change where two tokens were nearly tied.

Only targets that own their weights use it (a model passed in may be trained between calls), only for models whose
cache is one plain key/value pair per layer (no sliding window, no recurrent layers, no length-dependent RoPE:
``turn_cache_suits``), and never while a forward hook is installed (probes' interventions change keys and values the
cache cannot see). Servers turn it off. A batch's tensors are kept without a copy while any of its rows is stored
and count in full against ``max_mb``; rows are dropped oldest first past it, and a row used as a prefix is dropped
(its continuation replaces it).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass
class Block:
    """One generated batch's per-layer keys and values [batch, heads, width, head_dim], kept without a copy while
    any of its rows is stored; counted in full against the cache's budget until then."""
    kv: list[tuple[Any, Any]]
    nbytes: int
    live: int = 0


@dataclass
class Entry:
    """One row's stored tokens: row ``row`` of ``block``'s tensors, at columns ``cols``."""
    ids: tuple[int, ...]
    block: Block
    row: int
    cols: Any  # LongTensor [len(ids)]

    def layer(self, i: int, n: int) -> tuple[Any, Any]:
        """Layer ``i``'s keys and values of the first ``n`` tokens: [heads, n, head_dim]."""
        k, v = self.block.kv[i]
        return k[self.row].index_select(1, self.cols[:n]), v[self.row].index_select(1, self.cols[:n])


class TurnCache:
    """Stored (tokens → per-layer keys/values) of recent rows, looked up by longest common prefix."""

    def __init__(self, max_mb: float = 1024.0, min_tokens: int = 32):
        self.max_bytes = int(max_mb * 2**20)
        self.min_tokens = min_tokens  # shorter matches are left to the shared-prefix path
        self.entries: OrderedDict[int, Entry] = OrderedDict()
        self.by_head: dict[tuple[int, ...], set[int]] = {}  # first min_tokens tokens → entry ids
        self.bytes = 0  # every block with a stored row, in full
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
        head = self.by_head[e.ids[:self.min_tokens]]
        head.discard(eid)
        if not head:
            del self.by_head[e.ids[:self.min_tokens]]
        e.block.live -= 1
        if not e.block.live:
            self.bytes -= e.block.nbytes
        return e

    def put_block(self, kv: list[tuple[Any, Any]], rows: Sequence[tuple[Sequence[int], int, Any]]) -> None:
        """Store a generated batch's rows ``(ids, row, cols)``; rows too short to be matched, rows already stored
        and batches larger than the whole budget are not kept."""
        block = Block(kv, sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv))
        if block.nbytes > self.max_bytes:
            return
        for ids, row, cols in rows:
            ids = tuple(ids)
            if len(ids) < self.min_tokens + 1 or any(
                    self.entries[eid].ids == ids for eid in self.by_head.get(ids[:self.min_tokens], ())):
                continue  # a row seen twice in one batch is stored once
            eid, self._next = self._next, self._next + 1
            self.entries[eid] = Entry(ids, block, row, cols)
            self.by_head.setdefault(ids[:self.min_tokens], set()).add(eid)
            block.live += 1
        if block.live:
            self.bytes += block.nbytes
        while self.bytes > self.max_bytes and self.entries:
            self.take(next(iter(self.entries)))

    def clear(self) -> None:
        self.entries.clear()
        self.by_head.clear()
        self.bytes = 0

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "tokens_reused": self.tokens_reused,
                "entries": len(self.entries), "megabytes": round(self.bytes / 2**20, 1)}


_LENGTH_DEPENDENT_ROPE = {"dynamic", "longrope"}  # keys depend on the sequence's length: a stored prefix is stale


def turn_cache_suits(model) -> bool:
    """An attention kernel that takes a mask with holes (sdpa, eager), full attention in every layer, no sliding or
    chunked window, a position encoding that does not depend on the sequence's length (stored keys stay exact
    when the conversation grows)."""
    from .shared_context import sliding_window

    config = getattr(model, "config", None)
    if config is None or (getattr(config, "_attn_implementation", "sdpa") or "sdpa") not in ("sdpa", "eager"):
        return False
    if sliding_window(config) or getattr(config, "attention_chunk_size", None):
        return False
    if set(getattr(config, "layer_types", None) or ()) - {"full_attention"}:
        return False
    rope = getattr(config, "rope_scaling", None) or getattr(config, "rope_parameters", None) or {}
    return not (isinstance(rope, dict) and rope.get("rope_type", rope.get("type")) in _LENGTH_DEPENDENT_ROPE)


def hooked(model) -> bool:
    """Whether a forward hook sits on any module (an intervention the stored keys and values did not see)."""
    return any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def cached_batch(cache: TurnCache, seqs: list[list[int]], pad: int, device, config,
                 plain_cost: int | None = None) -> dict | None:
    """``generate()`` inputs reusing stored prefixes, or None (the caller's plain path) when no row has one, when
    the cached layout would prefill no fewer tokens than the plain path's ``plain_cost``, or be over twice as wide."""
    import torch
    from transformers import DynamicCache

    found = [cache.match(x) for x in seqs]
    own_max = max(len(x) - n for x, (n, _) in zip(seqs, found))
    too_wide = max(n for n, _ in found) + own_max > 2 * max(len(x) for x in seqs)
    if not any(eid is not None for _, eid in found) or too_wide or (
            plain_cost is not None and len(seqs) * own_max >= plain_cost):
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
    ref = next(e for e in entries if e is not None).block.kv
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


def store_rows(cache: TurnCache, enc: dict, gen, past, eos_ids: set[int],
               keep: Sequence[bool] | None = None) -> None:
    """Keep each row's keys and values: its unmasked input tokens and its generated tokens up to and including
    the first end token (the last generated token was never fed, so it has none); only rows with ``keep`` set when
    it is given. The batch's cache tensors are kept as they are; each entry points at its row and columns."""
    import torch
    from transformers.cache_utils import DynamicCache, DynamicLayer

    if type(past) is not DynamicCache or any(type(layer) is not DynamicLayer for layer in past.layers):
        return  # static, offloaded, quantized or sliding caches: nothing to store
    width = enc["input_ids"].shape[1]
    mask = enc["attention_mask"].tolist()
    inputs = enc["input_ids"].tolist()
    new = gen[:, width:].tolist()
    kv_len = past.get_seq_length()
    kv = [(layer.keys, layer.values) for layer in past.layers]
    rows = []
    for r, (m, x, g) in enumerate(zip(mask, inputs, new)):
        if keep is not None and not keep[r]:
            continue
        cut = next((j + 1 for j, t in enumerate(g) if t in eos_ids), len(g))
        cut = min(cut, kv_len - width)  # generated tokens that have keys and values
        real = [c for c in range(width) if m[c]]
        cols = real + list(range(width, width + cut))
        rows.append(([x[c] for c in real] + g[:cut], r, torch.tensor(cols, device=kv[0][0].device)))
    cache.put_block(kv, rows)
