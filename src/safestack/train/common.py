"""Pieces every trainer shares: loading the policy, LoRA on the top layers, resuming, merging and saving."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from .config import LoraSettings, TrainSettings, to_dict


def load_policy(model_path: str, device: str = "auto", *, cls=None, **kw):
    """(model, tokenizer, on_cpu): float32 on CPU, bf16 elsewhere; a pad token is always set."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..targets.hf import resolve_device

    on_cpu = resolve_device(device) == "cpu"
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    cls = cls or AutoModelForCausalLM
    model = cls.from_pretrained(model_path, dtype=torch.float32 if on_cpu else torch.bfloat16, **kw)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tok, on_cpu


def lora_config(lora: LoraSettings, model, task_type: str = "CAUSAL_LM", modules_to_save: list[str] | None = None):
    """A peft LoraConfig adapting only the top ``lora.top_layers`` layers (None when LoRA is off: full training)."""
    if not lora.enabled:
        return None
    from peft import LoraConfig

    n_layers = model.config.num_hidden_layers
    top = lora.top_layers
    layers = list(range(max(0, n_layers - top), n_layers)) if top and top < n_layers else None
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=list(lora.target_modules), layers_to_transform=layers, task_type=task_type,
                      modules_to_save=modules_to_save)


@contextmanager
def labelled_positions_only():
    """Let TRL's fused LM head project only the positions that carry a label, on every device.

    TRL (``trainer/utils.add_fused_lm_head``) scores only labelled positions on Triton devices and every position
    elsewhere, so that Neuron does not recompile for each new count. CPUs have no such constraint, and there the LM
    head (576 × 49,152 on SmolLM2: as many MACs per token as 8 decoder layers) was run over prompt and padding
    tokens too — about two thirds of a DPO batch. The per-token log-probs are the same either way (unlabelled
    positions come back as 0 in both paths; tested), only the work differs. Restored on exit.
    """
    import trl.trainer.utils as tu

    original = tu._use_triton
    tu._use_triton = lambda device: True  # noqa: ARG005  (only the "compact" choice in utils reads this name)
    try:
        yield
    finally:
        tu._use_triton = original


def with_checkpoint_eval(callbacks, settings, out: Path, log: Callable = print) -> list:
    """``callbacks`` plus a CheckpointEvalCallback for ``settings`` when enabled and none was passed in
    (`safestack run` passes its own, with the run's judges)."""
    from .checkpoint_eval import CheckpointEvalCallback

    cbs = list(callbacks or [])
    if settings.enabled and not any(isinstance(c, CheckpointEvalCallback) for c in cbs):
        cbs.append(CheckpointEvalCallback(out, settings, log=log))
    return cbs


def training_args(cfg: TrainSettings, ckpt_dir: Path, on_cpu: bool) -> dict[str, Any]:
    """The trainer arguments (transformers / TRL) that come from the settings every method shares."""
    return dict(output_dir=str(ckpt_dir), learning_rate=cfg.learning_rate, num_train_epochs=cfg.epochs,
                max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
                gradient_accumulation_steps=cfg.grad_accum,
                warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps
                lr_scheduler_type=cfg.lr_scheduler, save_strategy="steps", save_steps=cfg.save_steps,
                save_total_limit=2, logging_steps=cfg.logging_steps, seed=cfg.seed, report_to=[],
                dataloader_num_workers=0, activation_checkpointing=cfg.activation_checkpointing,
                **precision_args(on_cpu))


def precision_args(on_cpu: bool) -> dict[str, Any]:
    import torch

    return {"use_cpu": on_cpu, "bf16": not on_cpu and torch.cuda.is_available()}


def resume_point(ckpt_dir: Path, log: Callable = print) -> str | None:
    """The latest complete checkpoint in ``ckpt_dir`` to resume from, or None. A checkpoint is complete once its
    ``trainer_state.json`` (written last) parses; one cut short by a kill is removed, so training redoes only the
    steps after the last complete one."""
    import shutil

    if not ckpt_dir.exists():
        return None
    complete = []
    for d in sorted(ckpt_dir.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])
                    if p.name.rsplit("-", 1)[-1].isdigit() else -1):
        try:
            json.loads((d / "trainer_state.json").read_text())
            complete.append(d)
        except (OSError, ValueError):
            log(f"removing {d}: an incomplete checkpoint (the process stopped while saving it)")
            shutil.rmtree(d, ignore_errors=True)
    if complete:
        log(f"resuming from the last checkpoint: {complete[-1]}")
        return str(complete[-1])
    return None


def save_final(trainer, tok, out: Path, lora_enabled: bool) -> Path:
    """Merge the LoRA adapter (if any) and save a plain HF model to ``out/model`` (loadable as ``hf:out/model``)."""
    final = trainer.model
    if lora_enabled and hasattr(final, "merge_and_unload"):
        final = final.merge_and_unload()
    mdir = out / "model"
    final.save_pretrained(mdir)
    tok.save_pretrained(mdir)
    return mdir


def write_info(out: Path, method: str, trainer, result, secs: float, cfg, **extra) -> dict:
    steps = trainer.state.global_step
    info = {"method": method, "steps": steps, "train_seconds": round(secs, 1),
            "seconds_per_step": round(secs / max(1, steps), 2), "train_loss": result.training_loss,
            "history": [h for h in trainer.state.log_history if "loss" in h], "config": to_dict(cfg), **extra}
    (out / "train.json").write_text(json.dumps(info, indent=2, default=str))
    return info
