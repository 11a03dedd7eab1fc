"""Log-likelihoods of many continuations, with every shared prefix encoded once: exact, far fewer tokens.

Multiple-choice benches score every option of a question under the same prompt (BBQ: 3 options after a ~100-token
prompt, and each BBQ context comes with two questions, ambiguous and disambiguated; TruthfulQA: ~7.6 options after
a short question). Scoring each (context, option) row alone sends the shared text through the model again and
again. Under causal attention a token's hidden state depends only on the tokens before it, so the sequences are
merged into a prefix tree and one packed row holds a whole subtree in depth-first order::

    [ system turn + context | question 1 | opt a | opt b | opt c | question 2 | opt a | opt b | opt c | pad … ]

* A 4-D attention mask ``[B, 1, W, W]`` lets each token see itself and its ancestors in the tree, nothing else;
  pads see only themselves (no empty softmax row).
* Position ids are tree depths, so each token keeps the position it has in its own sequence.
* The predictor of a continuation token is its parent's hidden state (for the first token: the context's last).

The backbone runs on the packed rows; the LM head runs only on the gathered predictor states ``[N, d]`` (N = all
continuation tokens in the batch) → ``log_softmax`` → the tokens' log-probs. Tested equal (to float rounding) to
scoring each row alone. A row holds at most ``max_width`` tokens: a subtree cut there is continued in the next row,
whose copy of the shared prefix is encoded again. Used for attention kernels that take a custom mask (sdpa, eager),
models with attention in every layer, no logit scaling outside the LM head and sequences inside any sliding window
(``supports_packing``), after one check against the row-by-row path on the first inputs; otherwise ``HFTarget``
scores row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class Row:
    """One packed row: a prefix tree of token sequences laid out in depth-first order (a node's ancestors come
    before it). ``parent[c]`` is column ``c``'s parent column (-1 at a root), ``depth[c]`` its position id."""
    tokens: list[int] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    targets: list[tuple[int, int, int]] = field(default_factory=list)  # (pair index, predictor column, token)

    @property
    def width(self) -> int:
        return len(self.tokens)


def common_prefix(seqs: Sequence[Sequence[int]], limit: int) -> int:
    """Length of the longest prefix all ``seqs`` share, at most ``limit``."""
    first = seqs[0]
    n = max(0, limit)
    for x in seqs[1:]:
        k = 0
        while k < n and x[k] == first[k]:
            k += 1
        n = k
        if not n:
            break
    return n


def pack_rows(pairs: Sequence[tuple[list[int], list[int]]], max_width: int = 512) -> list[Row]:
    """(context ids, continuation ids) pairs → packed rows of at most ``max_width`` tokens (a longer single
    sequence gets a row of its own). Sequences are inserted in sorted order, so each one's longest shared prefix
    with everything already in the row is its shared prefix with the previous one: it adds only the tokens after
    that prefix. Identical contexts share every context token; BBQ's ambiguous and disambiguated contexts, and its
    two questions per context, share their common head too."""
    order = sorted(range(len(pairs)), key=lambda i: pairs[i][0] + pairs[i][1])
    rows: list[Row] = []
    row, prev, cols = None, [], []  # cols[k]: column of the previous sequence's token k in ``row``
    for i in order:
        ctx, tgt = pairs[i]
        if not ctx or not tgt:
            raise ValueError("loglik packing: every context and continuation needs at least one token")
        seq = ctx + tgt
        k = common_prefix([prev, seq], min(len(prev), len(seq))) if row is not None else 0
        if row is None or (row.width + len(seq) - k > max_width and row.width):
            row, k = Row(), 0
            rows.append(row)
        cols = cols[:k]
        for d in range(k, len(seq)):
            row.parent.append(cols[d - 1] if d else -1)
            row.depth.append(d)
            row.tokens.append(seq[d])
            cols.append(row.width - 1)
        m = len(ctx)
        row.targets += [(i, cols[m + j - 1], tok) for j, tok in enumerate(tgt)]
        prev = seq
    return rows


# scaling applied between the backbone and the logits by the ForCausalLM forward (Cohere, Granite, MiniCPM …):
# ``score_rows`` calls the backbone and the LM head itself and would skip it
_LOGIT_SCALING = ("final_logit_softcapping", "logit_scale", "logits_scaling", "scale_emb", "dim_model_base")
_ATTENTION_LAYERS = {"full_attention", "sliding_attention", "chunked_attention"}


def sliding_window(config) -> int | None:
    """The attention window a config imposes, if any (a custom 4-D mask replaces the model's window masks, so rows
    longer than it must not be packed)."""
    return getattr(config, "sliding_window", None) if getattr(config, "use_sliding_window", True) else None


def additive_mask(mask, dtype):
    """A bool mask (True = visible) as eager attention's additive one: 0 where visible, the dtype's minimum where not."""
    import torch

    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)


def supports_packing(model, width: int) -> bool:
    """Whether ``model`` can take the packed rows: a custom-mask attention kernel, attention in every layer (a
    recurrent or convolution layer ignores the mask and would mix sibling options), no scaling of logits outside
    the LM head, no sliding window narrower than ``width``, and a backbone / LM head pair to call separately.
    ``HFTarget`` also compares the two paths once on real inputs before trusting this."""
    config = getattr(model, "config", None)
    impl = getattr(config, "_attn_implementation", "sdpa") or "sdpa"
    if impl not in ("sdpa", "eager") or any(getattr(config, k, None) not in (None, 1, 1.0) for k in _LOGIT_SCALING):
        return False
    if set(getattr(config, "layer_types", None) or ()) - _ATTENTION_LAYERS:
        return False
    window = sliding_window(config)
    if window and width > window:
        return False
    try:
        from .modeling import decoder_stack

        decoder_stack(model)
    except ValueError:
        return False
    return model.get_output_embeddings() is not None


def pack(rows: Sequence[Row], pad_id: int, device: Any = "cpu", float_mask: Any = None):
    """Batch for ``rows``: ``input_ids`` [B, W], ``position_ids`` [B, W], a 4-D mask [B, 1, W, W] — column ``k``
    visible from ``q`` iff ``k`` is ``q`` or its ancestor; pads see only themselves — (bool, or additive in the
    ``float_mask`` dtype), the flat predictor index and target token of every continuation token, and its pair."""
    import numpy as np
    import torch

    b, w = len(rows), max(r.width for r in rows)
    ids = np.full((b, w), pad_id, dtype=np.int64)
    pos = np.zeros((b, w), dtype=np.int64)
    allowed = np.zeros((b, w, w), dtype=bool)
    pred, tgt, owner = [], [], []
    for r, row in enumerate(rows):
        n = row.width
        ids[r, :n] = row.tokens
        pos[r, :n] = row.depth
        anc = allowed[r]
        for c, p in enumerate(row.parent):
            if p >= 0:
                anc[c] = anc[p]
            anc[c, c] = True
        anc[np.arange(n, w), np.arange(n, w)] = True
        for i, col, tok in row.targets:
            pred.append(r * w + col)
            tgt.append(tok)
            owner.append(i)
    mask = torch.from_numpy(allowed)[:, None]
    if float_mask is not None:
        mask = additive_mask(mask, float_mask)
    return (torch.from_numpy(ids).to(device), torch.from_numpy(pos).to(device), mask.to(device),
            torch.tensor(pred, device=device), torch.tensor(tgt, device=device), owner)


def score_rows(model, rows: Sequence[Row], pad_id: int, head_rows: int = 2048) -> dict[int, float]:
    """Σ log p of the continuation of every pair in ``rows`` ({pair index: sum}), one backbone call.
    The LM head and log-softmax run over at most ``head_rows`` gathered states at a time ([rows, V] floats)."""
    import torch

    from .modeling import decoder_stack

    inner, _ = decoder_stack(model)
    impl = getattr(model.config, "_attn_implementation", "sdpa") or "sdpa"
    emb = model.get_input_embeddings().weight
    float_mask = (emb.dtype if emb.dtype.is_floating_point else torch.float32) if impl == "eager" else None
    ids, pos, mask, pred_idx, tgt, owner = pack(rows, pad_id, emb.device, float_mask)
    h = inner(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).last_hidden_state
    flat = h.reshape(-1, h.shape[-1])
    head = model.get_output_embeddings()
    token_lp = torch.empty(len(tgt), dtype=torch.float32)
    for a in range(0, len(tgt), head_rows):
        logits = head(flat[pred_idx[a:a + head_rows]]).float()
        lp = torch.log_softmax(logits, dim=-1)
        token_lp[a:a + head_rows] = lp.gather(1, tgt[a:a + head_rows, None])[:, 0].cpu()
    out: dict[int, float] = {}
    for i, v in zip(owner, token_lp.tolist()):
        out[i] = out.get(i, 0.0) + v
    return out
