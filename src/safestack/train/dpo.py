"""Safety DPO with LoRA on TRL's DPOTrainer; the adapter is merged so ``DIR/model`` loads as ``hf:DIR/model``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .common import (labelled_positions_only, lora_config, resume_point, save_final, training_args,
                     with_checkpoint_eval)
from .config import DPOSettings, RRSettings


def load_pairs(path: str | Path, keep_kind: bool = False) -> list[dict[str, Any]]:
    """TRL conversational preference rows (prompt/chosen/rejected as message lists) or flat strings; with
    ``keep_kind``, each row's ``kind`` (refusal / borderline …, None when absent) too."""
    from ..records import read_jsonl

    rows = read_jsonl(path)
    if not rows:
        raise BadInput(f"{path}: no training rows")
    out = []
    for i, r in enumerate(rows, 1):
        for f in ("prompt", "chosen", "rejected"):
            if f not in r:
                raise BadInput(f"{path}:{i}: missing field '{f}'")
        conv = lambda v: [{"role": "user", "content": v}] if isinstance(v, str) else v  # noqa: E731
        reply = lambda v: [{"role": "assistant", "content": v}] if isinstance(v, str) else v  # noqa: E731
        out.append({"prompt": conv(r["prompt"]), "chosen": reply(r["chosen"]), "rejected": reply(r["rejected"]),
                    "chosen_open": open_flag(r, "chosen_open", path, i),
                    "rejected_open": open_flag(r, "rejected_open", path, i)})
        if keep_kind:
            out[-1]["kind"] = r.get("kind")
    return out


def open_flag(row: dict, field: str, path, line: int) -> bool:
    """A pair's ``chosen_open`` / ``rejected_open`` (``completion_open``): false when absent."""
    v = row.get(field, False)
    if not isinstance(v, bool):
        raise BadInput(f"{path}:{line}: field '{field}' must be true or false, got {v!r}")
    return v


def truncate_rejected(row: dict, tok, n: int) -> dict:
    """Cut the rejected reply to ``n`` tokens: what DPO must push down is how it starts. A cut reply is open (no
    end-of-turn token after it: DPO must not push down stopping). (The chosen reply is kept whole.)"""
    msgs = [dict(m) for m in row["rejected"]]
    ids = tok(msgs[-1]["content"], add_special_tokens=False).input_ids
    if len(ids) > n:
        msgs[-1]["content"] = tok.decode(ids[:n])
        return {**row, "rejected": msgs, "rejected_open": True}
    return {**row, "rejected": msgs}


def end_of_turn_ids(tok) -> list[int]:
    """The tokens the chat template writes after an assistant message's content (SmolLM2: ``<|im_end|>\n``)."""
    mark = "\u2063safestack-reply-end\u2063"
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": mark}],
                                   tokenize=False)
    tail = text.split(mark, 1)[1] if mark in text else ""
    return tok(tail, add_special_tokens=False).input_ids if tail else [tok.eos_token_id]


def drop_end(ids: list[int], end: list[int]) -> list[int]:
    """``ids`` without the end-of-turn tokens ``end`` at its end (unchanged when it does not end with them)."""
    if end and len(ids) > len(end) and ids[-len(end):] == end:
        return ids[:-len(end)]
    return ids


def open_ended(dataset, tok):
    """Tokenized DPO rows with the end-of-turn tokens removed from each open (cut) completion: a reply cut by a
    generation limit is trained as a beginning, not as a whole reply that stops there."""
    end = end_of_turn_ids(tok)

    def strip(ex):
        new = {f"{side}_ids": drop_end(ex[f"{side}_ids"], end) if ex.get(f"{side}_open") else ex[f"{side}_ids"]
               for side in ("chosen", "rejected")}
        # an open completion that does not end with the end-of-turn tokens is left as it is: counted for a warning
        new["_open_unchanged"] = sum(bool(ex.get(f"{side}_open")) and new[f"{side}_ids"] == ex[f"{side}_ids"]
                                     for side in ("chosen", "rejected"))
        return new

    out = dataset.map(strip)
    if "_open_unchanged" not in out.column_names:  # an empty dataset
        return out
    missed = sum(out["_open_unchanged"])
    out = out.remove_columns("_open_unchanged")
    if missed:
        import warnings

        warnings.warn(f"{missed} open completions do not end with the chat template's end-of-turn tokens "
                      f"{tok.decode(end)!r}; they are trained as they are", stacklevel=2)
    return out


def length_grouped_order(lengths: list[int], batch_size: int, seed: int) -> list[int]:
    """Indices sorted by length, cut into batches, the batches shuffled (seeded): each batch holds similar lengths
    (little padding) while the order over batches stays random."""
    import random

    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    random.Random(seed).shuffle(batches)
    return [i for b in batches for i in b]


def pair_sizes(row: dict, tok) -> tuple[int, int, int]:
    """Tokens of the prompt (chat template with the generation prompt) and of the chosen and the rejected answer,
    each with its end token unless it is open."""
    prompt = tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    n = len(tok(prompt, add_special_tokens=False).input_ids)
    a, r = (len(tok(row[k][-1]["content"], add_special_tokens=False).input_ids) + (not row.get(f"{k}_open"))
            for k in ("chosen", "rejected"))
    return n, a, r


def pair_length(sizes: tuple[int, int, int], packed: bool = False) -> int:
    """The padded width a pair of ``pair_sizes`` needs: the longer of prompt+chosen and prompt+rejected, or with
    ``packed`` (prompt sharing) prompt+chosen+rejected."""
    n, a, r = sizes
    return n + (a + r if packed else max(a, r))


def train_dpo(model_path: str, data: str | Path | list[dict], out: str | Path, cfg: DPOSettings | None = None,
              *, callbacks: list | None = None, log=print, joint_rr: RRSettings | None = None) -> dict:
    """Train, merge, save to ``out/model``; checkpoints in ``out/checkpoints`` (resumed if present). With
    ``joint_rr``, every step also adds the rerouting and retain terms of those settings (train/joint.py)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from ..targets.hf import resolve_device

    cfg = cfg or DPOSettings()
    out = Path(out)
    if isinstance(data, list):
        rows, kinds = data, [str(r.get("kind", "")) for r in data]
    else:
        rows = load_pairs(data, keep_kind=True)
        kinds = [str(r.pop("kind") or "") for r in rows]
    device = resolve_device(cfg.device)
    on_cpu = device == "cpu"
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32 if on_cpu else torch.bfloat16)
    if cfg.max_rejected_tokens:
        rows = [truncate_rejected(r, tok, cfg.max_rejected_tokens) for r in rows]
    # padded width of each pair as the model sees it (packed when prompts are shared): for the reference pass's
    # sort and the megabatch sampler; each pair is tokenized once (length grouping reads the unpacked width)
    need = cfg.precompute_ref_log_probs or cfg.megabatch > 0 or cfg.length_grouped
    sizes = [pair_sizes(r, tok) for r in rows] if need else []
    lengths = [pair_length(z, packed=cfg.share_prompt) for z in sizes] if need else [0] * len(rows)
    order = None
    if cfg.length_grouped and len(rows) > cfg.batch_size:
        order = length_grouped_order([pair_length(z) for z in sizes], cfg.batch_size * cfg.grad_accum, cfg.seed)
    elif cfg.precompute_ref_log_probs:
        # the reference pass reads the dataset in order, in batches: sorted by length they carry little padding
        # (a random batch of the demo's pairs is ~39 % padding). Training still samples at random (RandomSampler),
        # so the sort changes which rows share a training batch by chance only, not how random they are.
        order = sorted(range(len(rows)), key=lambda i: lengths[i])
    if order is not None:
        rows, kinds, lengths = ([x[i] for i in order] for x in (rows, kinds, lengths))
    ckpt_dir = out / "checkpoints"
    args = DPOConfig(
        **training_args(cfg, ckpt_dir, on_cpu), beta=cfg.beta, loss_type=list(cfg.loss_type),
        loss_weights=list(cfg.loss_weights) if cfg.loss_weights else None,
        max_length=cfg.max_length, truncation_mode="keep_start",
        precompute_ref_log_probs=cfg.precompute_ref_log_probs, precompute_ref_batch_size=max(cfg.batch_size, 16),
        remove_unused_columns=False, disable_tqdm=False,
        train_sampling_strategy="sequential" if cfg.length_grouped else "random",
    )
    peft_cfg = lora_config(cfg.lora, model)  # None: full fine-tuning
    cache = None
    if peft_cfg is not None:
        from peft import get_peft_model
        from transformers import set_seed

        set_seed(cfg.seed)  # the adapter's random init, as TRL would seed it
        model = get_peft_model(model, peft_cfg)
        k = min(peft_cfg.layers_to_transform) if peft_cfg.layers_to_transform else 0
        if cfg.cache_frozen_layers and k > 0:
            from .frozen_cache import FrozenPrefixCache

            cache = FrozenPrefixCache(model, k).install()
    sharing = None
    if cfg.share_prompt:
        from .prefix_share import PairPrefixSharing

        sharing = PairPrefixSharing(model).install()  # its pre-hook runs before the cache's (prepend)
    callbacks = with_checkpoint_eval(callbacks, cfg.checkpoint_eval, out, log)
    joint = None
    if joint_rr is not None:
        joint = _joint(joint_rr, data, model, tok, peft_cfg, sharing)
        callbacks = callbacks + [joint.callback(out / "rr_log.jsonl")]
    t0 = time.time()
    class _OpenEndDPOTrainer(DPOTrainer):  # cut (open) completions are trained without an end-of-turn token
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return open_ended(super()._prepare_dataset(dataset, processing_class, args, dataset_name), tok)

    trainer_cls = _OpenEndDPOTrainer
    if cfg.megabatch > 0 and not cfg.length_grouped:
        from .batching import StratifiedMegabatchSampler

        sampler = StratifiedMegabatchSampler(lengths, kinds, cfg.batch_size * cfg.grad_accum, cfg.megabatch, cfg.seed)

        class _MegabatchDPOTrainer(_OpenEndDPOTrainer):
            def _get_train_sampler(self, train_dataset=None):
                ds = train_dataset if train_dataset is not None else self.train_dataset
                if ds is not None and len(ds) == len(sampler):  # TRL dropped no row: lengths line up
                    return sampler
                return super()._get_train_sampler(train_dataset)

        trainer_cls = _MegabatchDPOTrainer
    if joint is not None:
        from .joint import with_joint_loss

        trainer_cls = with_joint_loss(trainer_cls, joint)
    with labelled_positions_only():  # the reference pass runs in the constructor, the policy passes in train()
        trainer = trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                             callbacks=callbacks)
        if joint is not None:
            joint.fill(trainer.model)  # h_orig once, on the training device
        result = trainer.train(resume_from_checkpoint=resume_point(ckpt_dir, log))
    secs = time.time() - t0
    history = [h for h in trainer.state.log_history if "loss" in h]
    cache_stats = None
    if cache is not None:
        cache_stats = {"frozen_layers": cache.k, "hits": cache.hits, "misses": cache.misses,
                       "megabytes": round(cache.bytes / 2**20, 1)}
        cache.uninstall()
    share_stats = None
    if sharing is not None:
        share_stats = {"packed_calls": sharing.packed, "other_calls": sharing.passed,
                       "tokens_before": sharing.tokens_before, "tokens_after": sharing.tokens_after}
        sharing.uninstall()
    save_final(trainer, tok, out, cfg.lora.enabled)
    steps = trainer.state.global_step
    info = {"method": "dpo", "base_model": model_path, "n_pairs": len(rows), "steps": steps,
            "train_seconds": round(secs, 1), "seconds_per_step": round(secs / max(1, steps), 2),
            "train_loss": result.training_loss, "frozen_layer_cache": cache_stats,
            "prompt_sharing": share_stats, "history": history, "config": _cfg_dict(cfg)}
    if joint is not None:
        from .config import to_dict

        info.update(method="dpo+rr (joint)", joint_rr={**joint.summary(), "config": to_dict(joint_rr)})
    (out / "train.json").write_text(json.dumps(info, indent=2, default=str))
    return info


def _joint(rr_cfg: RRSettings, data, model, tok, peft_cfg, sharing):
    """The joint rerouting terms over the pairs' rows (chosen → retain; rejected of ``cb_pair_kinds`` → circuit
    breaker), on the layers DPO's adapter reaches."""
    from .joint import JointRR
    from .rr_data import load_rr_rows, parse_row

    if peft_cfg is None:
        raise BadInput("config: joint DPO+RR trains DPO's LoRA adapter (train.lora.enabled: true)")
    if isinstance(data, list):
        rows = [x for i, r in enumerate(data, 1)
                for x in parse_row(r, f"pairs row {i}", rr_cfg.cb_pair_kinds, rr_cfg.retain_pair_kinds)]
    else:
        rows = load_rr_rows(data, rr_cfg.cb_pair_kinds, rr_cfg.retain_pair_kinds)
    n = model.config.num_hidden_layers
    adapted = sorted(peft_cfg.layers_to_transform) if peft_cfg.layers_to_transform else list(range(n))
    return JointRR(rr_cfg, rows, model, tok, adapted, sharing)


def _cfg_dict(cfg: DPOSettings) -> dict:
    from .config import to_dict

    return to_dict(cfg)
