"""Residual-stream capture: forward hooks on decoder layers, batched, streamed to a ``.npy`` memmap on disk.

Layer ``l`` (0-based) means the residual stream *after* decoder layer ``l`` (what the layer returns). Positions
are counted from the end of the rendered chat prompt: ``-1`` is its last token (the newline after
``<|im_start|>assistant`` for SmolLM2, Arditi et al.'s "post-instruction" position). With left padding these
indices are the same for every row of a batch. ``"mean"`` averages over the prompt's real (non-pad) tokens.

Output array: ``[N, n_layers, n_positions, d_model]`` float32, rows in the order of the input prompts. A capture
writes one batch at a time and records progress in a sidecar JSON, so an interrupted capture resumes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np

from ..errors import BadInput
from ..records import Message, stable_id
from ..targets.modeling import decoder_layers, residual_hooks

Position = Union[int, str]


@dataclass
class CaptureSpec:
    layers: list[int] | None = None  # None = every layer
    positions: list[Position] = field(default_factory=lambda: [-1])
    batch_size: int = 16
    max_input_tokens: int = 512


def _check_positions(positions: Sequence[Position]) -> None:
    for p in positions:
        if not (p == "mean" or (isinstance(p, int) and p < 0)):
            raise BadInput(f"capture position {p!r}: use negative ints (counted from the prompt end) or 'mean'")


def capture(target, conversations: Sequence[Sequence[Message]], spec: CaptureSpec | None = None,
            out: str | Path | None = None, *, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Residual-stream activations of ``target`` (an HFTarget) on each prompt: ``[N, n_layers, n_pos, d]``.

    With ``out`` the array is a memmap at ``out`` (``.npy``) filled batch by batch; ``out.json`` records how many
    batches are done and a hash of the inputs, so calling again with the same inputs resumes (or returns at once).
    """
    import torch

    spec = spec or CaptureSpec()
    _check_positions(spec.positions)
    model, tok = target.model, target.tokenizer
    n_layers = len(decoder_layers(model))
    layers = list(range(n_layers)) if spec.layers is None else list(spec.layers)
    d = model.config.hidden_size
    texts = [target.render(c) for c in conversations]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # length-bucketed: less padding
    shape = (len(texts), len(layers), len(spec.positions), d)
    ident = stable_id(texts, layers, [str(p) for p in spec.positions], spec.max_input_tokens,
                      getattr(target, "name", ""))
    done_batches = 0
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta_p = out.with_suffix(".json")
        meta = json.loads(meta_p.read_text()) if meta_p.exists() and out.exists() else {}
        if meta.get("id") == ident and tuple(meta.get("shape", ())) == shape:
            arr = np.load(out, mmap_mode="r+")
            done_batches = meta["done_batches"]
        else:
            arr = np.lib.format.open_memmap(out, mode="w+", dtype=np.float32, shape=shape)
            meta = {"id": ident, "shape": list(shape), "layers": layers,
                    "positions": [str(p) for p in spec.positions], "done_batches": 0}
            meta_p.write_text(json.dumps(meta))
    else:
        arr = np.zeros(shape, dtype=np.float32)
    grabbed: dict[int, torch.Tensor] = {}
    starts = list(range(0, len(order), spec.batch_size))
    with torch.no_grad(), residual_hooks(model, layers, lambda l, h: grabbed.__setitem__(l, h)):
        for b, s in enumerate(starts):
            idx = order[s:s + spec.batch_size]
            if b < done_batches:
                if progress:
                    progress(len(idx))
                continue
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                      max_length=spec.max_input_tokens, add_special_tokens=False).to(target.device)
            model(**enc, use_cache=False)
            mask = enc["attention_mask"].unsqueeze(-1).float()  # [B, T, 1]
            block = np.empty((len(idx), len(layers), len(spec.positions), d), dtype=np.float32)
            for li, l in enumerate(layers):
                h = grabbed[l].float()  # [B, T, d]
                for pi, p in enumerate(spec.positions):
                    v = (h * mask).sum(1) / mask.sum(1) if p == "mean" else h[:, p, :]
                    block[:, li, pi, :] = v.cpu().numpy()
            arr[idx] = block
            if out is not None:
                arr.flush()
                meta["done_batches"] = b + 1
                out.with_suffix(".json").write_text(json.dumps(meta))
            if progress:
                progress(len(idx))
    return np.asarray(arr) if out is None else np.load(out, mmap_mode="r")


def response_activations(target, conversations: Sequence[Sequence[Message]], responses: Sequence[str],
                         layers: Sequence[int], batch_size: int = 16,
                         progress: Callable[[int], None] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Teacher-forced replay of recorded replies: for each (prompt, reply) the last prompt token's residual
    ``[n_layers, d]`` and the reply tokens' residuals ``[n_reply_tokens, n_layers, d]`` (the residual of token t is
    what the generation loop sees when token t is fed back in; for the model's own greedy replies this equals the
    live generation up to re-tokenisation of the decoded text)."""
    import torch

    model, tok = target.model, target.tokenizer
    layers = list(layers)
    p_ids = [tok(target.render(c), add_special_tokens=False)["input_ids"][-target.max_input_tokens:]
             for c in conversations]
    r_ids = [tok(r, add_special_tokens=False)["input_ids"] if r else [] for r in responses]
    order = sorted(range(len(p_ids)), key=lambda i: len(p_ids[i]) + len(r_ids[i]))
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(p_ids)
    grabbed: dict[int, torch.Tensor] = {}
    pad = tok.pad_token_id
    with torch.no_grad(), residual_hooks(model, layers, lambda l, h: grabbed.__setitem__(l, h)):
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            seqs = [p_ids[i] + r_ids[i] for i in idx]
            T = max(len(x) for x in seqs)
            ids = torch.tensor([[pad] * (T - len(x)) + x for x in seqs], device=target.device)
            mask = torch.tensor([[0] * (T - len(x)) + [1] * len(x) for x in seqs], device=target.device)
            pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
            model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
            h = torch.stack([grabbed[l] for l in layers], 2).float().cpu().numpy()  # [B, T, n_layers, d]
            for b, i in enumerate(idx):
                n_r = len(r_ids[i])
                last = T - n_r - 1
                out[i] = (h[b, last], h[b, T - n_r:])
            if progress:
                progress(len(idx))
    return out  # type: ignore[return-value]
