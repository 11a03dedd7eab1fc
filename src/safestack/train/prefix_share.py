"""Share each preference pair's prompt between its chosen and rejected rows: exact, and ~30 % fewer tokens.

TRL's DPO forward (the reference pass and every training step) sends the backbone one right-padded batch
``[chosen_1 … chosen_B, rejected_1 … rejected_B]`` of shape ``[2B, T]``. Row ``i`` and row ``i + B`` begin with the
same prompt, which in the run's data is ~60 % of a pair's tokens. Under causal attention, the hidden states of a
shared prefix are the same in both rows, so this module packs each pair into ONE row of width ``W``::

    [ p_0 … p_{m-1} | p_m  c_{m+1} … c_{m+a-1} | p_m  r_{m+1} … r_{m+b-1} ]
      shared prefix   chosen branch              rejected branch

* ``m + 1`` is the length of the common prefix of the two rows.
* The last common token ``p_m`` is repeated at the head of each branch. Its hidden state predicts the first token
  of its branch, and the two branches predict different tokens.
* A 4-D attention mask (``[B, 1, W, W]``) lets each branch see the prefix and itself, never the other branch.
* Position ids restart at ``m`` for each branch, so every real token keeps its original position.

The backbone's output ``h ∈ R^{B × W × d}`` is gathered back to ``R^{2B × T × d}``:

* chosen row ``i`` is packed row ``i`` at positions ``0 … m+a−1``;
* rejected row ``i`` is the prefix ``0 … m−1`` followed by the rejected branch.

TRL's fused LM head, its log-probs, entropies and losses then run unchanged on that tensor. The gather is
differentiable, so gradients are the same too, up to float rounding; tested against the unpacked forward. Hooks on
the decoder stack (``FrozenPrefixCache``) see the packed call: ``install`` registers its pre-hook first
(``prepend=True``).

Applies only when the decoder stack is called on a ``[2B, T]`` right-padded batch with a 2-D mask and no KV cache,
and every pair shares at least ``min_shared`` tokens. Any other call passes through untouched: generation, a
checkpoint eval, a batch that is not made of pairs. It is off for attention kernels that take no custom mask
(flash, flex), and for rows longer than a sliding attention window (the 4-D mask would replace the window's).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..targets.shared_context import additive_mask, sliding_window


@dataclass
class _Plan:
    rows: int  # 2B
    width: int  # T
    gather: Any  # LongTensor [2B, T]: index into the packed [B·W] positions (pads point at 0)


class PairPrefixSharing:
    def __init__(self, model, min_shared: int = 4):
        from ..targets.modeling import decoder_stack

        self.inner, _ = decoder_stack(model)
        import inspect

        config = getattr(self.inner, "config", None)
        impl = getattr(config, "_attn_implementation", "sdpa") or "sdpa"
        takes = inspect.signature(self.inner.forward).parameters
        # flash / flex kernels take no custom 4-D mask; a backbone must accept explicit positions
        self.enabled = impl in ("sdpa", "eager") and "position_ids" in takes and "attention_mask" in takes
        # a custom mask replaces the sliding-window masks too: only rows shorter than the window are packed
        self.window = sliding_window(config)
        self.float_mask = impl == "eager"
        self.min_shared = min_shared
        self._plans: list[_Plan | None] = []
        self._handles: list[Any] = []
        self.packed = self.passed = 0
        self.tokens_before = self.tokens_after = 0

    # -- install / uninstall -----------------------------------------------------------------------------------------
    def install(self) -> "PairPrefixSharing":
        if self.enabled and not self._handles:
            self._handles = [self.inner.register_forward_pre_hook(self._pre, with_kwargs=True, prepend=True),
                             self.inner.register_forward_hook(self._post, with_kwargs=True, prepend=True)]
        return self

    def uninstall(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._plans.clear()

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.uninstall()

    @contextmanager
    def paused(self):
        """Forwards inside run unpacked (a batch that is not chosen/rejected pairs, whose per-layer states a hook
        reads in the caller's layout); the hooks are back afterwards if they were installed."""
        was = bool(self._handles)
        self.uninstall()
        try:
            yield self
        finally:
            if was:
                self.install()

    # -- hooks -------------------------------------------------------------------------------------------------------
    def _pre(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        plan = None
        if (ids is not None and ids.dim() == 2 and ids.shape[0] % 2 == 0 and ids.shape[0] >= 2
                and mask is not None and mask.dim() == 2 and not kwargs.get("use_cache")
                and kwargs.get("past_key_values") is None and kwargs.get("inputs_embeds") is None
                and kwargs.get("position_ids") is None and not (self.window and ids.shape[1] > self.window)):
            packed = self.pack(ids, mask)
            if packed is not None:
                new_ids, pos, mask4, plan = packed
                args = ()
                kwargs = {**kwargs, "input_ids": new_ids, "attention_mask": mask4, "position_ids": pos}
                self.packed += 1
                self.tokens_before += int(ids.numel())
                self.tokens_after += int(new_ids.numel())
        if plan is None:
            self.passed += 1
        self._plans.append(plan)
        return args, kwargs

    def _post(self, module, args, kwargs, output):
        plan = self._plans.pop() if self._plans else None
        if plan is None:
            return output
        h = output.last_hidden_state  # [B, W, d]
        flat = h.reshape(-1, h.shape[-1])
        output.last_hidden_state = flat[plan.gather.reshape(-1)].view(plan.rows, plan.width, h.shape[-1])
        return output

    # -- packing -----------------------------------------------------------------------------------------------------
    def pack(self, ids, mask):
        """(ids [B, W], position_ids [B, W], mask [B, 1, W, W], plan), or None when the batch is not pairs."""
        import torch

        two_b, t = ids.shape
        b = two_b // 2
        lens = mask.sum(dim=1)
        # right padding only: every row's real tokens come first
        if not bool((mask == (torch.arange(t, device=mask.device)[None, :] < lens[:, None]).to(mask.dtype)).all()):
            return None
        lc, lr = lens[:b], lens[b:]
        same = (ids[:b] == ids[b:]) & (torch.arange(t, device=ids.device)[None, :] < torch.minimum(lc, lr)[:, None])
        common = torch.where(same.all(dim=1), torch.minimum(lc, lr), (~same).int().argmax(dim=1))
        if int(common.min()) < self.min_shared:
            return None
        m = common - 1  # shared positions 0 … m−1; token m opens each branch
        a, r = lc - m, lr - m  # branch lengths (each starts with token m)
        widths = m + a + r
        w = int(widths.max())
        dev = ids.device
        base = (torch.arange(b, device=dev) * w)[:, None]
        m_, a_, r_ = m[:, None], a[:, None], r[:, None]
        col = torch.arange(w, device=dev)[None, :]  # packed column
        first = col < m_ + a_  # prefix + chosen branch: copied from the chosen row
        second = ~first & (col < m_ + a_ + r_)  # rejected branch: rejected row's position col − a
        new_ids = torch.where(first, ids[:b].gather(1, col.clamp(max=t - 1).expand(b, w)),
                              torch.where(second, ids[b:].gather(1, (col - a_).clamp(0, t - 1)), 0))
        pos = torch.where(first, col, torch.where(second, col - a_, 0))
        branch = torch.where(col < m_, 0, torch.where(first, 1, torch.where(second, 2, -1)))
        tc = torch.arange(t, device=dev)[None, :]  # position in the unpacked rows
        gather = torch.cat([torch.where(tc < m_ + a_, base + tc, 0),
                            torch.where(tc < m_, base + tc, torch.where(tc < m_ + r_, base + a_ + tc, 0))])
        q = branch[:, :, None]
        k = branch[:, None, :]
        causal = torch.ones((w, w), dtype=torch.bool, device=dev).tril()
        allowed = causal[None] & (k >= 0) & ((k == 0) | (k == q)) & (q >= 0)
        allowed |= torch.eye(w, dtype=torch.bool, device=dev)[None] & (q < 0)  # pads see themselves: no empty softmax row
        mask4 = allowed[:, None]
        if self.float_mask:
            dtype = self.inner.dtype if hasattr(self.inner, "dtype") else torch.float32
            mask4 = additive_mask(mask4, dtype)
        return new_ids, pos, mask4, _Plan(rows=two_b, width=t, gather=gather)
