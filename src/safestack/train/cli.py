"""``safestack train {sft|dpo|rr|reward|safe-rlhf}``: one config dataclass per method, from ``--config`` YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import BadInput

METHODS = ("sft", "dpo", "rr", "reward", "safe-rlhf")


def run_train(method: str, model: str, data: Path, out: Path, config: Path | None, log: Callable = print) -> str:
    """Train with ``method``; returns a one-line summary. ``model`` is a target spec (default, hf:PATH)."""
    from ..targets import model_path_of
    from .config import DPOSettings, RewardSettings, RRSettings, SafeRLHFSettings, SFTSettings, from_dict, load_yaml

    settings = {"sft": SFTSettings, "dpo": DPOSettings, "rr": RRSettings, "reward": RewardSettings,
                "safe-rlhf": SafeRLHFSettings}
    if method not in settings:
        raise BadInput(f"unknown training method '{method}' ({', '.join(METHODS)})")
    if not data.exists():
        raise BadInput(f"{data}: file not found")
    cfg = from_dict(settings[method], load_yaml(config), str(config or "config"))
    if method == "reward":
        from .reward import train_reward

        path = model_path_of(model) if cfg.backbone == "lm" else None
        info = train_reward(path, data, out, cfg, log=log)
        acc = info["accuracy"]
        f = lambda a: "–" if a["accuracy"] is None else f"{a['accuracy'] * 100:.1f}% (n={a['n']})"  # noqa: E731
        return (f"{cfg.kind} model ({cfg.backbone}) → {info['model_dir']}; held-out accuracy: pairs "
                f"{f(acc['data_heldout'])}, HH-RLHF {f(acc['hh_heldout'])}")
    path = model_path_of(model)
    if method == "sft":
        from .sft import train_sft as fn
    elif method == "dpo":
        from .dpo import train_dpo as fn
    elif method == "rr":
        from .rr import train_rr as fn
    else:
        from .safe_rlhf import train_safe_rlhf as fn
    info = fn(path, data, out, cfg, log=log)
    extra = f"; λ final {info['lambda_final']:.3f}" if method == "safe-rlhf" else ""
    if method == "rr" and info.get("last"):
        extra = (f"; rerouting cosine {info['first']['cos_mean']:.3f} → {info['last']['cos_mean']:.3f}, "
                 f"retain loss {info['last']['retain_loss']:.4f} (log: {info['rr_log']})")
    return f"trained {info['steps']} steps in {info['train_seconds']} s → {out / 'model'}{extra}"
