"""Where a causal LM keeps its decoder layers, and hooks on their outputs (the residual stream).

Shared by the targets that look inside a local model (packed scoring, the circuit breaker), training (the frozen-
prefix cache, representation rerouting) and the probes.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

from ..errors import BadInput


def decoder_stack(model) -> Any:
    """(the decoder's inner model, its layer list) of a causal LM, through a PEFT wrapper when there is one: what
    the frozen-prefix cache and the packed scorer call directly."""
    m = model
    for attr in ("get_base_model",):
        if hasattr(m, attr):
            m = m.get_base_model()
    inner = getattr(m, getattr(m, "base_model_prefix", "model"), None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ValueError(f"cannot find the decoder layers of {type(m).__name__}")
    return inner, layers


def decoder_layers(model) -> list:
    """The decoder blocks of a causal LM (Llama/Mistral/Qwen/GPT-NeoX/GPT-2 layouts)."""
    for path in ("model.layers", "model.decoder.layers", "gpt_neox.layers", "transformer.h"):
        obj = model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
            return list(obj)
        except AttributeError:
            continue
    raise BadInput(f"{type(model).__name__}: cannot find decoder layers (probes support Llama-style models)")


def _out_tensor(output):
    return output[0] if isinstance(output, tuple) else output


def _replace_out(output, new):
    return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new


@contextlib.contextmanager
def residual_hooks(model, layers: Sequence[int], fn: Callable[[int, "object"], "object | None"]) -> Iterator[None]:
    """Call ``fn(layer, hidden [B, T, d])`` on the output of each listed decoder layer; a non-None return value
    replaces the layer's output. Hooks are removed on exit, also on error."""
    blocks = decoder_layers(model)
    bad = [l for l in layers if not 0 <= l < len(blocks)]
    if bad:
        raise BadInput(f"layers {bad} out of range (the model has {len(blocks)} layers: 0..{len(blocks) - 1})")
    handles = []
    for l in layers:
        def hook(_mod, _inp, output, l=l):
            new = fn(l, _out_tensor(output))
            return None if new is None else _replace_out(output, new)

        handles.append(blocks[l].register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
