"""One config dataclass per training method, shared by Python, YAML (``--config``) and the CLI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..errors import BadInput

C = TypeVar("C")


@dataclass
class LoraSettings:
    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    # adapt only the top N transformer layers (None = all): backprop then stops there, ~2x faster on CPU
    top_layers: int | None = 12
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                              "gate_proj", "up_proj", "down_proj"])


@dataclass
class DPOSettings:
    """Safety DPO. Defaults are tuned for SmolLM2-135M on 2 CPU cores (see benchmarks/)."""

    beta: float = 0.1
    loss_type: list[str] = field(default_factory=lambda: ["sigmoid", "sft"])  # DPO + NLL on chosen (RPO)
    loss_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])
    learning_rate: float = 1e-3
    epochs: float = 2.0
    max_steps: int = -1
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256
    max_rejected_tokens: int | None = 32  # rejected replies cut to this many tokens (the opening decides refusal)
    warmup_ratio: float = 0.05
    lr_scheduler: str = "cosine"
    precompute_ref_log_probs: bool = True
    # memoise the frozen bottom layers' output per sequence (LoRA on the top layers only): the reference pass and
    # every epoch then skip them — see train/frozen_cache.py
    cache_frozen_layers: bool = True
    # TRL turns activation (gradient) checkpointing on by default: it saves memory by recomputing the forward in
    # the backward pass — ~20 % slower, and a 135M model does not need the memory. Turn it on for large models.
    activation_checkpointing: bool = False
    save_steps: int = 25
    logging_steps: int = 5
    seed: int = 0
    device: str = "auto"  # auto → cuda if available, else cpu (use_cpu=True, bf16=False)
    lora: LoraSettings = field(default_factory=LoraSettings)


def from_dict(cls: type[C], data: dict[str, Any] | None, where: str = "config") -> C:
    """Build a (nested) dataclass from a dict, naming unknown or mistyped fields."""
    data = dict(data or {})
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(names)})")
    defaults = cls() if _all_defaults(cls) else None
    kw = {}
    for k, v in data.items():
        default = getattr(defaults, k, None)
        if dataclasses.is_dataclass(default) and isinstance(v, dict):
            kw[k] = from_dict(type(default), v, f"{where}.{k}")
        elif default is not None and isinstance(default, (int, float)) and not isinstance(default, bool) \
                and not isinstance(v, (int, float)):
            raise BadInput(f"{where}: field '{k}' must be a number, got {v!r}")
        else:
            kw[k] = v
    return cls(**kw)


def _all_defaults(cls) -> bool:
    try:
        cls()
        return True
    except TypeError:
        return False


def load_yaml(path: str | Path | None) -> dict[str, Any]:
    if not path:
        return {}
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise BadInput(f"{p}: invalid YAML ({e})") from None
    if not isinstance(data, dict):
        raise BadInput(f"{p}: expected a mapping at the top level")
    return data


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
