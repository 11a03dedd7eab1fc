"""Targets: ``default`` (embedded SmolLM2-135M-Instruct), ``hf:<path or hub id>``, ``openai:<model>@<base_url>``."""

from __future__ import annotations

from ..errors import BadInput
from .base import GenParams, LoglikTarget, Target

__all__ = ["GenParams", "LoglikTarget", "Target", "load_target", "model_path_of"]


def load_target(spec: str, *, api_key_env: str | None = None, dtype: str = "auto", device: str = "auto",
                batch_size: int = 128, system_prompt: str | None = None, concurrency: int = 8,
                turn_cache_mb: float | None = None) -> Target:
    """A target for ``spec``. ``turn_cache_mb``: local models' cache of earlier turns (``turn_cache.py``; None: the
    target's default, 0: off — servers turn it off, so that no user's timing depends on another's prompts)."""
    if spec == "default":
        from .default import default_model_dir
        from .hf import HFTarget

        return HFTarget(str(default_model_dir()), dtype=dtype, device=device, batch_size=batch_size,
                        name="default", system_prompt=system_prompt, turn_cache_mb=turn_cache_mb)
    if spec.startswith("hf:"):
        from .hf import HFTarget

        path = spec[3:]
        if not path:
            raise BadInput("target 'hf:': missing model path or hub id")
        return HFTarget(path, dtype=dtype, device=device, batch_size=batch_size, system_prompt=system_prompt,
                        turn_cache_mb=turn_cache_mb)
    if spec.startswith("cb:"):  # circuit breaker around a local model: cb:<default|hf:PATH>?probe=FILE[&k=N]
        from .circuit_breaker import parse_cb_spec

        return parse_cb_spec(spec[3:], dtype=dtype, device=device, batch_size=batch_size, system_prompt=system_prompt)
    if spec.startswith("openai:"):
        from .openai_compat import parse_openai_spec

        return parse_openai_spec(spec[7:], api_key_env=api_key_env, concurrency=concurrency,
                                 system_prompt=system_prompt)
    raise BadInput(f"unknown target spec '{spec}' (use default, hf:<path>, openai:<model>@<base_url>, or cb:<default|hf:path>?probe=FILE)")


def model_path_of(spec: str) -> str:
    """The local weights behind a target spec, for training and weight surgery: ``default`` → the embedded model's
    directory, ``hf:PATH`` → PATH, a plain path → itself; API and wrapped targets have no weights to train."""
    if spec == "default":
        from .default import default_model_dir

        return str(default_model_dir())
    if spec.startswith(("openai:", "cb:")):
        raise BadInput(f"target '{spec}': training needs local weights (default or hf:<path>), not an API or "
                       "wrapped target")
    return spec[3:] if spec.startswith("hf:") else spec
