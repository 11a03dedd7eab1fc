"""The refusal direction (Arditi et al. 2024, "Refusal in LLMs is mediated by a single direction").

``r = μ_harmful − μ_benign`` at one layer and the last prompt token (difference of means of residual activations).

* Directional ablation removes ``r̂ = r/‖r‖`` from everything that writes into the residual stream — the
  embeddings, every attention block's output and every MLP's output — so the stream itself carries no component
  along ``r̂`` at any layer or position:  ``x' = x − (x · r̂) r̂``.
* Activation addition adds ``α r`` to the residual stream after one layer, at every position (prompt and
  generated tokens):  ``x' = x + α r``.

Both are context managers installing forward hooks, removed on exit. Their causal effect is measured with the
judges (``measure``): ablation should lower refusals on harmful prompts, addition should raise them on benign ones.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np

from ..errors import BadInput
from ..judges.base import Judge, JudgeItem
from ..records import Sample, user
from ..targets.base import GenParams
from .activations import _out_tensor, _replace_out, decoder_layers, residual_hooks


def diff_of_means(harmful: np.ndarray, benign: np.ndarray) -> np.ndarray:
    """harmful: [N, d], benign: [M, d] → r: [d] = mean(harmful) − mean(benign)."""
    harmful, benign = np.asarray(harmful, dtype=np.float64), np.asarray(benign, dtype=np.float64)
    if harmful.ndim != 2 or benign.ndim != 2 or harmful.shape[1] != benign.shape[1] or not len(harmful) or not len(benign):
        raise BadInput(f"refusal direction: expected [N, d] and [M, d] activations, got {harmful.shape}, {benign.shape}")
    return harmful.mean(0) - benign.mean(0)


def ablate(x, r_hat):
    """x: [..., d], r_hat: [d] unit → x − (x · r̂) r̂  (works for numpy arrays and torch tensors)."""
    return x - (x @ r_hat)[..., None] * r_hat


def _unit_torch(r, like):
    import torch

    r = torch.as_tensor(np.asarray(r), dtype=like.dtype, device=like.device)
    n = torch.linalg.vector_norm(r)
    if float(n) == 0.0:
        raise BadInput("refusal direction: zero vector")
    return r / n


@contextlib.contextmanager
def directional_ablation(model, r: np.ndarray) -> Iterator[None]:
    """Project ``r̂`` out of the embedding output and of every attention and MLP output (all layers, positions)."""
    emb = model.get_input_embeddings()
    r_hat = _unit_torch(r, emb.weight)

    def hook(_mod, _inp, output):
        return _replace_out(output, ablate(_out_tensor(output), r_hat.to(_out_tensor(output).dtype)))

    mods = [emb]
    for block in decoder_layers(model):
        attn = getattr(block, "self_attn", None) or getattr(block, "attn", None)
        mlp = getattr(block, "mlp", None)
        if attn is None or mlp is None:
            raise BadInput(f"{type(block).__name__}: directional ablation needs self_attn and mlp sub-modules")
        mods += [attn, mlp]
    handles = [m.register_forward_hook(hook) for m in mods]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def activation_addition(model, r: np.ndarray, layer: int, alpha: float = 1.0) -> Iterator[None]:
    """Add ``α r`` to the residual stream after decoder layer ``layer`` at every position."""
    import torch

    p = next(model.parameters())
    v = torch.as_tensor(np.asarray(r) * alpha, dtype=p.dtype, device=p.device)
    with residual_hooks(model, [layer], lambda _l, h: h + v.to(h.dtype)):
        yield


async def _judged(target, samples: Sequence[Sample], judges: Sequence[Judge], params: GenParams) -> dict:
    replies = await target.generate([user(s.prompt) for s in samples], params)
    items = [JudgeItem(prompt=s.prompt, response=r, behavior=s.meta.get("behavior")) for s, r in zip(samples, replies)]
    out = {"n": len(samples)}
    for j in judges:
        v = await j.score(items)
        out[f"{j.name}_rate"] = round(sum(x.label for x in v) / max(1, len(v)), 4)
        out[f"_{j.name}"] = [x.label for x in v]
    out["_replies"] = replies
    return out


async def measure(target, samples: Sequence[Sample], judges: Sequence[Judge], params: GenParams,
                  intervention, n_examples: int = 3) -> dict:
    """Generate on ``samples`` without and with ``intervention`` (a context manager) and judge both.

    Returns per-judge rates before/after and a few examples whose refusal verdict flipped."""
    base = await _judged(target, samples, judges, params)
    with intervention:
        after = await _judged(target, samples, judges, params)
    res = {"n": len(samples)}
    for j in judges:
        res[f"{j.name}_before"] = base[f"{j.name}_rate"]
        res[f"{j.name}_after"] = after[f"{j.name}_rate"]
    flips = [i for i in range(len(samples)) if "_refusal" in base and base["_refusal"][i] != after["_refusal"][i]]
    res["examples"] = [{"prompt": samples[i].prompt[:200], "before": base["_replies"][i][:200],
                        "after": after["_replies"][i][:200]} for i in (flips or range(len(samples)))[:n_examples]]
    return res
