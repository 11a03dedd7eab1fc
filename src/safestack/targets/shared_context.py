"""Log-likelihoods of several continuations of one context, with the context encoded once: exact, fewer tokens.

Multiple-choice benches score every option of a question under the same prompt (BBQ: 3 options after a ~100-token
prompt; TruthfulQA: ~7.6 options after a short question). Scoring each (context, option) row alone sends the
context through the model once per option. Under causal attention the context's hidden states do not depend on
what follows, so one packed row per context serves all its options::

    [ c_0 … c_{m-1} | o1_0 … o1_{a-1} | o2_0 … o2_{b-1} | … | pad … ]
      context         option 1          option 2

* A 4-D attention mask ``[B, 1, W, W]`` lets each option's tokens see the context and their own option's earlier
  tokens, never another option; pads see only themselves (no empty softmax row).
* Position ids restart at ``m`` for every option, so each token keeps the position it has in its own row.
* The predictor of option token ``k`` is the hidden state at option token ``k − 1``; for ``k = 0`` it is the
  context's last token, shared by all options.

The backbone runs on the packed rows; the LM head runs only on the gathered predictor states ``[N, d]`` (N = all
option tokens in the batch) → ``log_softmax`` → the option tokens' log-probs. Tested equal (to float rounding) to
scoring each row alone. Used for attention kernels that take a custom mask (sdpa, eager) on models without final
logit soft-capping and with rows inside any sliding window; otherwise ``HFTarget`` scores row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


@dataclass
class Group:
    context: list[int]
    options: list[list[int]]  # token ids, each non-empty
    slots: list[int]  # where each option's result goes in the caller's output

    @property
    def width(self) -> int:
        return len(self.context) + sum(len(o) for o in self.options)


def group_by_context(pairs: Sequence[tuple[list[int], list[int]]]) -> list[Group]:
    """(context ids, continuation ids) pairs → one ``Group`` per distinct context, options in input order."""
    groups: dict[tuple[int, ...], Group] = {}
    for i, (ctx, tgt) in enumerate(pairs):
        g = groups.setdefault(tuple(ctx), Group(list(ctx), [], []))
        g.options.append(list(tgt))
        g.slots.append(i)
    return list(groups.values())


def supports_packing(model, width: int) -> bool:
    """Whether ``model`` can take the packed rows: a custom-mask attention kernel, no soft-capped logits, no
    sliding window narrower than ``width``, and a backbone / LM head pair to call separately."""
    config = getattr(model, "config", None)
    impl = getattr(config, "_attn_implementation", "sdpa") or "sdpa"
    if impl not in ("sdpa", "eager") or getattr(config, "final_logit_softcapping", None):
        return False
    window = getattr(config, "sliding_window", None) if getattr(config, "use_sliding_window", True) else None
    if window and width > window:
        return False
    try:
        from ..train.frozen_cache import decoder_layers

        decoder_layers(model)
    except ValueError:
        return False
    return model.get_output_embeddings() is not None


def pack(groups: Sequence[Group], pad_id: int, device: Any = "cpu", float_mask: Any = None):
    """Packed batch for ``groups``: ``input_ids`` [B, W], ``position_ids`` [B, W], a 4-D mask [B, 1, W, W] (bool, or
    additive in ``float_mask`` dtype), and per option (in group order) the flat predictor / target indices."""
    import torch

    b, w = len(groups), max(g.width for g in groups)
    ids = torch.full((b, w), pad_id, dtype=torch.long)
    pos = torch.zeros((b, w), dtype=torch.long)
    seg = torch.full((b, w), -1, dtype=torch.long)  # -1 pad, 0 context, j + 1 option j
    pred_idx: list[int] = []  # flat index (row · W + col) of each option token's predictor
    tgt_ids: list[int] = []
    owners: list[tuple[int, int]] = []  # (group, option) per option token
    for r, g in enumerate(groups):
        m = len(g.context)
        ids[r, :m] = torch.tensor(g.context)
        pos[r, :m] = torch.arange(m)
        seg[r, :m] = 0
        col = m
        for j, opt in enumerate(g.options):
            n = len(opt)
            ids[r, col:col + n] = torch.tensor(opt)
            pos[r, col:col + n] = torch.arange(m, m + n)
            seg[r, col:col + n] = j + 1
            pred_idx += [r * w + m - 1] + [r * w + col + k for k in range(n - 1)]
            tgt_ids += opt
            owners += [(r, j)] * n
            col += n
    q, k = seg[:, :, None], seg[:, None, :]
    causal = torch.ones((w, w), dtype=torch.bool).tril()[None]
    allowed = causal & (q >= 0) & ((k == 0) | (k == q))
    allowed |= torch.eye(w, dtype=torch.bool)[None] & (q < 0)
    mask = allowed[:, None]
    if float_mask is not None:
        mask = torch.zeros(mask.shape, dtype=float_mask).masked_fill(~mask, torch.finfo(float_mask).min)
    return (ids.to(device), pos.to(device), mask.to(device), torch.tensor(pred_idx, device=device),
            torch.tensor(tgt_ids, device=device), owners)


def score_groups(model, groups: Sequence[Group], pad_id: int, head_rows: int = 2048) -> list[list[float]]:
    """Σ log p of each option of each group (``[[per option] per group]``), one backbone call for the batch.
    The LM head and log-softmax run over at most ``head_rows`` gathered states at a time ([rows, V] floats)."""
    import torch

    from ..train.frozen_cache import decoder_layers

    inner, _ = decoder_layers(model)
    impl = getattr(model.config, "_attn_implementation", "sdpa") or "sdpa"
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    ids, pos, mask, pred_idx, tgt, owners = pack(groups, pad_id, device, dtype if impl == "eager" else None)
    h = inner(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).last_hidden_state
    flat = h.reshape(-1, h.shape[-1])
    head = model.get_output_embeddings()
    token_lp = torch.empty(len(tgt), dtype=torch.float32)
    for a in range(0, len(tgt), head_rows):
        logits = head(flat[pred_idx[a:a + head_rows]]).float()
        lp = torch.log_softmax(logits, dim=-1)
        token_lp[a:a + head_rows] = lp.gather(1, tgt[a:a + head_rows, None])[:, 0].cpu()
    out = [[0.0] * len(g.options) for g in groups]
    for (r, j), v in zip(owners, token_lp.tolist()):
        out[r][j] += v
    return out
