"""Features for the guard classifier, all from frozen parts (nothing here is trained).

* ``fast``: hashed word 1–2-grams and character 3–5-grams (``HashingVectorizer``, l2-normalised), the mean of
  MiniLM's frozen *input* token embeddings (no transformer pass: a table lookup), and a few shape features
  (length, symbol and upper-case ratios, injection-rule hits). About 0.1–2 ms per message on one core.
* ``ctx``: MiniLM (all-MiniLM-L6-v2) contextual sentence embeddings, mean-pooled: the first ``max_tokens``
  tokens, and for long texts also the last ``max_tokens`` (jailbreak templates often put the request at the end).
  About 10 ms for a short message, 20–40 ms for a long one on 2 cores.

Shapes: ``fast(texts)`` → scipy CSR [n, 2·2^bits + 384 + 6]; ``ctx(texts)`` → ndarray [n, 768].
"""

from __future__ import annotations

import math
import os
import re
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import sparse

from ..embed import pad_ids
from ..text import normalize, strip_persona
from .injection import rule_hits

N_SHAPE = 6
_SYM = re.compile(r"[^\w\s]")
_UP = re.compile(r"[A-Z]")


def shape_features(text: str) -> list[float]:
    n = max(len(text), 1)
    words = text.split()
    long_words = sum(len(w) > 20 for w in words)
    return [math.log1p(len(text)) / 8.0, len(_SYM.findall(text)) / n, len(_UP.findall(text)) / n,
            min(long_words, 10) / 10.0, min(rule_hits(text), 5) / 5.0, min(text.count("\n"), 40) / 40.0]


def prepare(text: str, side: str = "input") -> str:
    """The text the guard's features read — the judges' view of it: ``safestack.text.normalize`` (NFKC, typographic
    quotes and dashes, zero-width characters, markdown), and for outputs also without persona / mode prefixes
    (``strip_persona``: "DAN: …", "[🔓JAILBREAK] …"). Training and scoring both go through it."""
    t = normalize(text if isinstance(text, str) else str(text))
    return normalize(strip_persona(t)) if side == "output" and t else t


class FeatureSpace:
    """Holds the frozen MiniLM pieces (tokenizer, token-embedding table, encoder) and the hashing settings."""

    def __init__(self, minilm: str | Path | None = None, bits: int = 17, max_tokens: int = 128):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sklearn.feature_extraction.text import HashingVectorizer
        from transformers import AutoTokenizer

        from ..embed import minilm_path

        self.path = str(minilm or minilm_path())
        self.bits = bits
        self.max_tokens = max_tokens
        self.tok = AutoTokenizer.from_pretrained(self.path)
        self.words = HashingVectorizer(n_features=2 ** bits, ngram_range=(1, 2), alternate_sign=False,
                                       norm="l2", lowercase=True)
        self.chars = HashingVectorizer(n_features=2 ** bits, analyzer="char_wb", ngram_range=(3, 5),
                                       alternate_sign=False, norm="l2", lowercase=True)
        self._model = None
        self._table: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from transformers import AutoModel

                    m = AutoModel.from_pretrained(self.path).eval()
                    self._table = m.get_input_embeddings().weight.detach().numpy().astype(np.float32)
                    self._model = m
                    m.requires_grad_(False)  # frozen; never switch the global grad mode (it breaks training later)
        return self._model

    @property
    def table(self) -> np.ndarray:
        if self._table is None:
            _ = self.model
        return self._table

    @property
    def dim_fast(self) -> int:
        return 2 * 2 ** self.bits + self.table.shape[1] + N_SHAPE

    def static(self, texts: Sequence[str]) -> np.ndarray:
        """Mean of frozen MiniLM input-token embeddings (special tokens excluded), l2-normalised: [n, 384]."""
        ids = self.tok(list(texts), add_special_tokens=False, truncation=True, max_length=2048)["input_ids"]
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        for i, row in enumerate(ids):
            if row:
                v = self.table[row].mean(0)
                out[i] = v / (np.linalg.norm(v) + 1e-8)
        return out

    def fast(self, texts: Sequence[str]) -> sparse.csr_matrix:
        texts = list(texts)
        dense = np.hstack([self.static(texts), np.array([shape_features(t) for t in texts], dtype=np.float32)])
        return sparse.hstack([self.words.transform(texts), self.chars.transform(texts),
                              sparse.csr_matrix(dense)], format="csr", dtype=np.float32)

    def ctx(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """[n, 768]: contextual embedding of the head and of the tail (the head again for short texts)."""
        import torch

        model, texts = self.model, list(texts)
        ids = self.tok(texts, add_special_tokens=False, truncation=True, max_length=100_000)["input_ids"]
        m = self.max_tokens - 2
        heads = [r[:m] for r in ids]
        tails = [r[-m:] if len(r) > m else None for r in ids]
        chunks = heads + [t for t in tails if t is not None]
        vecs = np.zeros((len(chunks), 384), dtype=np.float32)
        order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
        cls, sep = self.tok.cls_token_id, self.tok.sep_token_id
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            inp, att = pad_ids([[cls] + chunks[i] + [sep] for i in idx])
            with torch.inference_mode():
                h = model(input_ids=inp, attention_mask=att).last_hidden_state
            mask = att.unsqueeze(-1).float()
            v = (h * mask).sum(1) / mask.sum(1)
            v = torch.nn.functional.normalize(v, dim=-1)
            vecs[idx] = v.numpy()
        out = np.zeros((len(texts), 768), dtype=np.float32)
        out[:, :384] = vecs[:len(texts)]
        k = len(texts)
        for i, t in enumerate(tails):
            if t is None:
                out[i, 384:] = out[i, :384]
            else:
                out[i, 384:] = vecs[k]
                k += 1
        return out


_shared: dict[str, FeatureSpace] = {}
_shared_lock = threading.Lock()


def shared_space(minilm: str | None = None, bits: int = 17, max_tokens: int = 128) -> FeatureSpace:
    key = f"{minilm}:{bits}:{max_tokens}"
    with _shared_lock:
        if key not in _shared:
            _shared[key] = FeatureSpace(minilm, bits, max_tokens)
        return _shared[key]
