"""Safety SFT on TRL's SFTTrainer: the chosen reply of each pair (a refusal for a harmful request, a helpful answer
for a borderline-benign one) is the target; loss on completion tokens only. LoRA (top layers) or full training;
checkpoints in ``out/checkpoints`` are resumed; the result is merged into ``out/model``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..errors import BadInput
from .common import (labelled_positions_only, load_policy, lora_config, resume_point, save_final, training_args,
                     with_checkpoint_eval, write_info)
from .config import SFTSettings


def load_sft_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows for SFT from a JSONL file: preference pairs (prompt + chosen; rejected is ignored), prompt/completion
    rows, or ``{"messages": [...]}`` conversations ending with the assistant reply. Strings become single messages."""
    from ..records import read_jsonl
    from .dpo import open_flag

    rows = read_jsonl(path)
    if not rows:
        raise BadInput(f"{path}: no training rows")
    out = []
    for i, r in enumerate(rows, 1):
        if "messages" in r:
            msgs = r["messages"]
            if not isinstance(msgs, list) or not msgs or msgs[-1].get("role") != "assistant":
                raise BadInput(f"{path}:{i}: field 'messages' must be a list ending with an assistant message")
            out.append({"prompt": msgs[:-1], "completion": msgs[-1:],
                        "completion_open": open_flag(r, "completion_open", path, i)})
            continue
        target = "chosen" if "chosen" in r else "completion"
        for f in ("prompt", target):
            if f not in r:
                raise BadInput(f"{path}:{i}: missing field '{f}' (pairs need prompt+chosen, or use prompt+completion "
                               "or messages)")
        p, c = r["prompt"], r[target]
        is_open = open_flag(r, f"{target}_open", path, i)
        out.append({"prompt": [{"role": "user", "content": p}] if isinstance(p, str) else p,
                    "completion": [{"role": "assistant", "content": c}] if isinstance(c, str) else c,
                    "completion_open": is_open})
    return out


_TOKEN_COLUMNS = ("input_ids", "attention_mask", "completion_mask", "assistant_masks", "labels")


def open_ended_sft(dataset, tok):
    """Tokenized SFT rows with the end-of-turn tokens removed from each open (cut) completion (see
    ``dpo.open_ended``): every per-token column loses the same trailing positions."""
    from .dpo import drop_end, end_of_turn_ids

    end = end_of_turn_ids(tok)

    def strip(ex):
        if not ex.get("completion_open"):
            return {}
        keep = len(drop_end(ex["input_ids"], end))
        return {k: ex[k][:keep] for k in _TOKEN_COLUMNS if ex.get(k) is not None}

    return dataset.map(strip)


def train_sft(model_path: str, data: str | Path | list[dict], out: str | Path, cfg: SFTSettings | None = None,
              *, callbacks: list | None = None, log=print) -> dict:
    """Train, merge, save to ``out/model``; ``out/train.json`` holds the loss history and timing."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    cfg = cfg or SFTSettings()
    out = Path(out)
    rows = data if isinstance(data, list) else load_sft_rows(data)
    model, tok, on_cpu = load_policy(model_path, cfg.device)
    ckpt_dir = out / "checkpoints"
    args = SFTConfig(**training_args(cfg, ckpt_dir, on_cpu), max_length=cfg.max_length, completion_only_loss=True,
                     disable_tqdm=False)
    cbs = with_checkpoint_eval(callbacks, cfg.checkpoint_eval, out, log)
    t0 = time.time()
    class _OpenEndSFTTrainer(SFTTrainer):  # cut (open) completions are trained without an end-of-turn token
        def _prepare_dataset(self, dataset, processing_class, args, *a, **kw):
            return open_ended_sft(super()._prepare_dataset(dataset, processing_class, args, *a, **kw), tok)

    with labelled_positions_only():
        trainer = _OpenEndSFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                             peft_config=lora_config(cfg.lora, model), callbacks=cbs)
        result = trainer.train(resume_from_checkpoint=resume_point(ckpt_dir, log))
    secs = time.time() - t0
    save_final(trainer, tok, out, cfg.lora.enabled)
    return write_info(out, "sft", trainer, result, secs, cfg, base_model=model_path, n_rows=len(rows))


def chosen_nll(model_dir: str | Path, rows: list[dict], max_tokens: int | None = None) -> float:
    """Mean negative log-likelihood per token of the chosen replies (rows with ``prompt`` messages and ``chosen``),
    each scored after its chat-rendered prompt; sequences cut to ``max_tokens``. The SFT metric."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    m = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tot, n = 0.0, 0
    for r in rows:
        prompt = tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
        ids = tok(prompt + r["chosen"][0]["content"], return_tensors="pt").input_ids[:, :max_tokens]
        k = len(tok(prompt).input_ids)
        with torch.no_grad():
            lp = m(ids).logits[0, :-1].log_softmax(-1)
        tgt = ids[0, 1:]
        tok_lp = lp[torch.arange(len(tgt)), tgt][k - 1:]
        tot -= tok_lp.sum().item()
        n += len(tok_lp)
    return tot / n
