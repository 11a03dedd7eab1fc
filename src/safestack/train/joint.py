"""DPO and Representation Rerouting trained together: one LoRA adapter, one optimizer, one loss per step.

``method: dpo+rr`` in a run trains DPO then RR (sequential, ``dpo_rr: sequential``) or both at once
(``dpo_rr: joint``, this module). Joint, each DPO step t of T also draws a batch of circuit-breaker and retain rows
(train/rr.py) and adds their terms:

    L(t) = L_DPO+SFT(batch_t) + c_rr(t) · L_rr(cb_t) + c_retain(t) · L_retain(retain_t)
    c_rr(t) = α · (1 − t/(2T)),   c_retain(t) = β · α · t/(2T)                                  (as train/rr.py)

The adapter is DPO's (LoRA on the top layers). Only target layers at or above the first adapted layer can move, so
the RR target layers are those of ``RRSettings`` that lie there (SmolLM2-135M, LoRA on layers 18–29: layer 20); an
empty set is an error. h_orig is the model without the adapter (the starting model), computed once per row and
cached. RR's own ``max_steps``, learning rate and LoRA settings are not used: the DPO trainer's are. The rerouting
forward runs with DPO's prompt sharing paused (it packs chosen/rejected pairs, and the RR batch is not one) and
through the frozen-layer cache (its rows repeat every epoch). Per-step terms go to ``out/rr_log.jsonl``. With
gradient accumulation, every micro-batch of a step adds the same rerouting batch (the batch is a function of the
optimizer step, so a resumed run draws what it would have drawn).
"""

from __future__ import annotations

import random
from contextlib import nullcontext
from typing import Any

import torch

from ..errors import BadInput
from .config import RRSettings
from .rr import OriginalCache, RRLayers, RRLogCallback, RRState, resolve_layers, rr_step_loss
from .rr_data import KINDS, encode_rows, make_collator


def joint_layers(cfg: RRSettings, n_layers: int, adapted: list[int]) -> RRLayers:
    """The RR layers inside DPO's adapter: target layers ≥ the first adapted one (others cannot move)."""
    first = min(adapted)
    target = [l for l in resolve_layers(cfg, n_layers).target if l >= first]
    if not target:
        raise BadInput(f"config: joint DPO+RR needs a rerouting target layer at or above the first LoRA layer {first}"
                       f" (rr.target_layers, e.g. [{max(first, 2 * n_layers // 3)}])")
    retain = target if cfg.retain_layers == "target" else list(range(first, max(target) + 1))
    return RRLayers(target, sorted(adapted), retain)


def step_items(step: int, batch: int, n: int, seed: int) -> list[int]:
    """The ``batch`` item indices of optimizer step ``step``: consecutive slices of a seeded permutation of
    0..n−1, a new permutation each pass, so a resumed run draws what it would have drawn."""
    out = []
    for k in range(step * batch, step * batch + batch):
        perm = list(range(n))
        random.Random(seed * 100_003 + k // n).shuffle(perm)
        out.append(perm[k % n])
    return out


class JointRR:
    """The rerouting and retain terms added to each DPO step (see the module docstring)."""

    def __init__(self, cfg: RRSettings, rows: list[dict], model, tok, adapted: list[int], sharing=None):
        self.cfg, self.tok, self.sharing = cfg, tok, sharing
        self.layers = joint_layers(cfg, model.config.num_hidden_layers, adapted)
        self.sets = {k: encode_rows([r for r in rows if r["kind"] == k], tok, cfg) for k in KINDS}
        for k in KINDS:
            if not self.sets[k]:
                raise BadInput(f"joint DPO+RR: no '{k}' rows in the training pairs (circuit-breaker rows come from "
                               f"pairs of kind {', '.join(cfg.cb_pair_kinds)})")
        self.n_cb, self.n_retain = len(self.sets["circuit_breaker"]), len(self.sets["retain"])
        self.state = RRState(cfg, self.layers, OriginalCache(cfg.orig_cache_mb * 2**20), [])
        self.collate = make_collator(self.sets["circuit_breaker"], self.sets["retain"], tok.pad_token_id)
        self.n = max(self.n_cb, self.n_retain)

    def callback(self, path) -> RRLogCallback:
        return RRLogCallback(path, self.state)

    def fill(self, model) -> None:
        """h_orig for every row, once (the adapter disabled), with the model on its training device."""
        with self._unshared():
            for name, lay in (("circuit_breaker", self.layers.target), ("retain", self.layers.retain)):
                self.state.cache.fill(model, name, self.sets[name], lay, self.tok.pad_token_id,
                                      max(self.cfg.batch_size, 16))

    def loss(self, model, step: int, total: int) -> torch.Tensor:
        """c_rr(t)·L_rr + c_retain(t)·L_retain on step ``step``'s batch (``rr_step_loss``, logged as in RR)."""
        items = [{"cb": i % self.n_cb, "retain": i % self.n_retain}
                 for i in step_items(step, self.cfg.batch_size, self.n, self.cfg.seed)]
        device = next(model.parameters()).device
        inputs = {k: v.to(device) for k, v in self.collate(items).items()}
        with self._unshared():
            return rr_step_loss(model, inputs, self.state, step, total)

    def _unshared(self):
        """DPO's prompt sharing paused (``PairPrefixSharing.paused``), or nothing when there is none."""
        return self.sharing.paused() if self.sharing is not None else nullcontext()

    def summary(self) -> dict[str, Any]:
        return {"target_layers": self.layers.target, "retain_layers": self.layers.retain,
                "n_circuit_breaker": self.n_cb, "n_retain": self.n_retain,
                "originals": {"cached": len(self.state.cache.store), "not_cached": self.state.cache.not_cached,
                              "megabytes": round(self.state.cache.bytes / 2**20, 1)}}


def with_joint_loss(trainer_cls, joint: JointRR):
    """``trainer_cls`` whose loss adds the joint rerouting terms at every step."""

    class _JointTrainer(trainer_cls):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                       num_items_in_batch=num_items_in_batch)
            extra = joint.loss(model, self.state.global_step, self.state.max_steps)
            if return_outputs:
                return out[0] + extra, out[1]
            return out + extra

    return _JointTrainer
