"""Representation Rerouting (RR, "circuit breakers"; Zou et al. 2024, arXiv:2406.04313) with LoRA.

Two sets: the **circuit-breaker set** (harmful prompt + harmful completion: the red-team findings) and the
**retain set** (benign prompts with helpful answers, harmful prompts with refusals). With h_orig the frozen
model's residual stream and h_lora the adapted one's, at layer ℓ and token t:

    L_rr     = mean over ℓ ∈ target layers, completion tokens t of CB rows: ReLU(cos(h_lora[ℓ,t], h_orig[ℓ,t]))
    L_retain = mean over ℓ ∈ retain layers, real tokens t of retain rows:   ‖h_lora[ℓ,t] − h_orig[ℓ,t]‖₂
    L        = c_rr(t)·L_rr + c_retain(t)·L_retain,   c_rr = α·(1 − t/(2T)),  c_retain = β·α·t/(2T)

(t = optimizer step, T = max_steps: at the end of training the weights are ¾α and ¼βα (β = 1: the reference code,
whose "progress" runs to 150/300.) Driving the cosine to ≤ 0 sends harmful-completion states away from where the
model's harmful continuation lives, while the retain term pins everything else.

Two variants, for models trained in float32 (``rerouting``, ``retain_scale``; the paper's terms above are the
``cosine`` / ``absolute`` settings). At the start (LoRA B = 0) h_lora = h_orig, where cos = 1 is a maximum and
∇ReLU(cos) = 0; in bf16 rounding noise, made full-size by Adam, moves the model off it, but in float32 the
gradient stays ~1e-9 and the retain term (a cone, gradient 1 per token at any distance) holds the model there:
nothing is learnt. ``angle`` uses ReLU(1 − 2θ/π) (θ the angle; zero where ReLU(cos) is), whose gradient at θ = 0
is 2/(π‖h‖) per token; ``relative`` divides each token's retain distance by ‖h_orig‖ so both terms are on that
scale (SmolLM2's residual norms at layers 10/20 are ~150–250: the absolute term outweighs any rerouting 150×).
``retain_weight`` β scales c_retain. ``init_b_std`` > 0 starts B random instead of 0.

Layer ℓ is the output of decoder layer ℓ (0-based, the convention of probes/). Each step runs one forward over
the CB and retain rows together, through the layers up to the deepest target layer only (the rest cannot change
the loss). h_orig is computed once per example with the adapter disabled and cached (``OriginalCache``); the
adapter is merged into ``out/model`` at the end. Per-step losses and cosines go to ``out/rr_log.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback

from ..errors import BadInput
from ..targets import model_path_of
from .config import RRSettings, check_choices
from .rr_data import KINDS, RRPairs, encode_rows, load_rr_rows, make_collator, pad_rows  # noqa: F401 (re-exported)

RR_LOG = "rr_log.jsonl"


# -- the loss, as pure functions -----------------------------------------------------------------------------------
def rr_coefficients(step: int, total_steps: int, alpha: float, beta: float = 1.0) -> tuple[float, float]:
    """(c_rr, c_retain) = (α·(1 − t/(2T)), β·α·t/(2T)) for step t of T."""
    p = step / (2 * max(1, total_steps))
    return alpha * (1.0 - p), beta * alpha * p


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x: [L, B, T], mask: [B, T] (1 = counted) → Σ m·x / (L·Σ m), a scalar."""
    m = mask.to(x.dtype).expand_as(x)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def token_cosine(h_lora: torch.Tensor, h_orig: torch.Tensor) -> torch.Tensor:
    """cos(h_lora, h_orig) per layer and token, in float32: [L, B, T, d] × 2 → [L, B, T]."""
    return F.cosine_similarity(h_lora.float(), h_orig.float(), dim=-1, eps=1e-8)


def rerouting_loss(h_lora: torch.Tensor, h_orig: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_rr = Σ_{ℓ,b,t} m_bt · ReLU(cos(h_lora[ℓ,b,t], h_orig[ℓ,b,t])) / (L · Σ_{b,t} m_bt).

    h_lora, h_orig: [L, B, T, d] (target layers); mask: [B, T], 1 on the circuit-breaker tokens → scalar."""
    return _masked_mean(torch.relu(token_cosine(h_lora, h_orig)), mask)


def token_angle(h_lora: torch.Tensor, h_orig: torch.Tensor) -> torch.Tensor:
    """θ = atan2(‖h_lora − (h_lora·ô)ô‖, h_lora·ô) with ô = h_orig/‖h_orig‖, in float32: [L, B, T, d] × 2 → [L, B, T]
    (atan2 rather than acos(cos): exact near θ = 0, where acos loses the angle to rounding)."""
    a, o = h_lora.float(), F.normalize(h_orig.float(), dim=-1, eps=1e-8)
    along = (a * o).sum(-1)
    perp = (a - along.unsqueeze(-1) * o).norm(dim=-1)
    return torch.atan2(perp, along)


def angular_rerouting_loss(h_lora: torch.Tensor, h_orig: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_rr = Σ m_bt · ReLU(1 − 2θ[ℓ,b,t]/π) / (L · Σ m_bt), θ the angle of ``token_angle``: zero where ReLU(cos) is
    (θ ≥ 90°), but its gradient does not vanish at θ = 0: ‖∇_h L‖ = 2/(π‖h‖) there, on the scale of the relative
    retain term's 1/‖h‖.  Shapes as ``rerouting_loss``."""
    return _masked_mean(torch.relu(1.0 - token_angle(h_lora, h_orig) * (2.0 / torch.pi)), mask)


def retain_loss(h_lora: torch.Tensor, h_orig: torch.Tensor, mask: torch.Tensor, relative: bool = False) -> torch.Tensor:
    """L_retain = Σ_{ℓ,b,t} m_bt · ‖h_lora[ℓ,b,t] − h_orig[ℓ,b,t]‖₂ / (L · Σ_{b,t} m_bt); with ``relative`` each
    token's distance is divided by ‖h_orig[ℓ,b,t]‖₂.

    h_lora, h_orig: [L, B, T, d] (retain layers); mask: [B, T], 1 on the retain rows' real tokens → scalar."""
    dist = (h_lora.float() - h_orig.float()).norm(dim=-1)
    if relative:
        dist = dist / h_orig.float().norm(dim=-1).clamp_min(1e-6)
    return _masked_mean(dist, mask)


def layer_cosines(h_lora: torch.Tensor, h_orig: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """The masked mean cosine (no ReLU) at each layer: [L, B, T, d] × 2, [B, T] → L floats (for the log)."""
    cos = token_cosine(h_lora.detach(), h_orig.detach())
    return [float(_masked_mean(c[None], mask)) for c in cos]


# -- representations ------------------------------------------------------------------------------------------------
@dataclass
class RRLayers:
    target: list[int]
    transform: list[int]  # layers with LoRA
    retain: list[int]

    @property
    def captured(self) -> list[int]:
        return sorted(set(self.target) | set(self.retain))


def resolve_layers(cfg: RRSettings, n_layers: int) -> RRLayers:
    target = sorted(set(cfg.target_layers)) if cfg.target_layers else sorted({n_layers // 3, 2 * n_layers // 3})
    bad = [l for l in target if not 0 <= l < n_layers]
    if bad or not target:
        raise BadInput(f"config: target_layers {bad or target} out of range (the model has {n_layers} layers: "
                       f"0..{n_layers - 1})")
    top = max(target)
    transform = sorted(set(cfg.transform_layers)) if cfg.transform_layers else list(range(top + 1))
    if any(not 0 <= l <= top for l in transform):
        raise BadInput(f"config: transform_layers {transform} must lie in 0..{top} (the deepest target layer: "
                       "layers above it get no gradient)")
    return RRLayers(target, transform, target if cfg.retain_layers == "target" else list(range(top + 1)))


def _unwrap(model):
    return getattr(model, "module", model)  # DDP → the PeftModel


@contextmanager
def _stack_depth(inner, depth: int):
    """Run only decoder layers 0..depth-1 (their outputs are all the loss reads)."""
    full = inner.layers
    inner.layers = torch.nn.ModuleList(list(full)[:depth])
    try:
        yield
    finally:
        inner.layers = full


def capture(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """Residual stream after each of ``layers``: [L, B, T, d]. The forward stops after the deepest one."""
    from ..targets.modeling import decoder_stack

    inner, blocks = decoder_stack(_unwrap(model))
    grabbed: dict[int, torch.Tensor] = {}
    hooks = [blocks[l].register_forward_hook(lambda _m, _i, o, l=l: grabbed.__setitem__(
        l, o[0] if isinstance(o, tuple) else o)) for l in layers]
    try:
        with _stack_depth(inner, max(layers) + 1):
            model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, logits_to_keep=1)
    finally:
        for h in hooks:
            h.remove()
    return torch.stack([grabbed[l] for l in layers])


def original_states(model, input_ids, attention_mask, layers: Sequence[int]) -> torch.Tensor:
    """h_orig: ``capture`` with the LoRA adapter disabled, without gradients."""
    peft_model = _unwrap(model)
    with peft_model.disable_adapter(), torch.no_grad():
        return capture(peft_model, input_ids, attention_mask, layers)


class OriginalCache:
    """h_orig per example and set (``[L, n, d]`` on the CPU), computed once before training; once ``max_bytes``
    are used the remaining examples are not stored and batches holding them recompute h_orig every step."""

    def __init__(self, max_bytes: float):
        self.max_bytes, self.bytes = max_bytes, 0
        self.store: dict[tuple[str, int], torch.Tensor] = {}
        self.not_cached = 0

    def fill(self, model, name: str, enc: list[dict], layers: Sequence[int], pad_id: int, batch_size: int) -> None:
        device = next(_unwrap(model).parameters()).device
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]["ids"]))  # little padding per batch
        for s in range(0, len(order), batch_size):
            if self.bytes >= self.max_bytes:
                self.not_cached += len(order) - s
                return
            idx = order[s:s + batch_size]
            ids, attn, _ = pad_rows([enc[i] for i in idx], pad_id)
            h = original_states(model, ids.to(device), attn.to(device), layers)
            for b, i in enumerate(idx):
                v = h[:, b, :len(enc[i]["ids"])].to("cpu", copy=True)
                self.store[(name, i)] = v
                self.bytes += v.numel() * v.element_size()

    def gather(self, name: str, idx: Sequence[int], like: torch.Tensor) -> torch.Tensor | None:
        """[L, B, T, d] shaped and placed like ``like`` (zeros past each row's length), or None if one is missing."""
        vs = [self.store.get((name, i)) for i in idx]
        if any(v is None for v in vs):
            return None
        out = like.new_zeros(like.shape)
        for b, v in enumerate(vs):
            out[:, b, :v.shape[1]] = v.to(like.device, like.dtype)
        return out


@dataclass
class RRState:
    cfg: RRSettings
    layers: RRLayers
    cache: OriginalCache
    pending: list[dict]


def rr_losses(model, inputs: dict, rr: RRState) -> dict[str, Any]:
    """One forward over the [2B, T] batch → L_rr and L_retain (tensors) and the per-layer mean cosines."""
    both, B = rr.layers.captured, inputs["cb_index"].shape[0]
    ids, attn, mask = inputs["input_ids"], inputs["attention_mask"], inputs["loss_mask"]
    h = capture(model, ids, attn, both)
    t_sel = [both.index(l) for l in rr.layers.target]
    r_sel = [both.index(l) for l in rr.layers.retain]
    h_cb, h_ret = h[t_sel, :B], h[r_sel, B:]
    o_cb = rr.cache.gather("circuit_breaker", inputs["cb_index"].tolist(), h_cb)
    o_ret = rr.cache.gather("retain", inputs["retain_index"].tolist(), h_ret)
    if o_cb is None or o_ret is None:
        o = original_states(model, ids, attn, both)
        o_cb, o_ret = o[t_sel, :B], o[r_sel, B:]
    reroute = angular_rerouting_loss if rr.cfg.rerouting == "angle" else rerouting_loss
    relative = rr.cfg.retain_scale == "relative"
    return {"rerouting_loss": reroute(h_cb, o_cb, mask[:B]),
            "retain_loss": retain_loss(h_ret, o_ret, mask[B:], relative),
            "cos": layer_cosines(h_cb, o_cb, mask[:B]), "retain_cos": layer_cosines(h_ret, o_ret, mask[B:])}


def rr_step_loss(model, inputs: dict, rr: RRState, step: int, total_steps: int) -> torch.Tensor:
    """c_rr(t)·L_rr + c_retain(t)·L_retain on one batch at step t of T; the terms are queued in ``rr.pending`` for
    ``RRLogCallback`` (used by ``RRTrainer`` and by joint DPO+RR, train/joint.py)."""
    c_rr, c_ret = rr_coefficients(step, total_steps, rr.cfg.alpha, rr.cfg.retain_weight)
    parts = rr_losses(model, inputs, rr)
    loss = c_rr * parts["rerouting_loss"] + c_ret * parts["retain_loss"]
    rr.pending.append({"step": step, "c_rr": c_rr, "c_retain": c_ret, "loss": float(loss.detach()),
                       "rerouting_loss": float(parts["rerouting_loss"].detach()),
                       "retain_loss": float(parts["retain_loss"].detach()), "cos": parts["cos"],
                       "retain_cos": parts["retain_cos"]})
    return loss


class RRTrainer(Trainer):
    loss_is_scaled_for_ga = False  # a per-micro-batch mean: the Trainer divides by the accumulation steps

    def __init__(self, *args, rr: RRState, **kw):
        super().__init__(*args, **kw)
        self.rr = rr

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = rr_step_loss(model, inputs, self.rr, self.state.global_step, self.state.max_steps)
        return (loss, None) if return_outputs else loss


class RRLogCallback(TrainerCallback):
    """One row per optimizer step in ``out/rr_log.jsonl`` (its micro-batches averaged; rank 0's batches):
    step t (0 = before any update), c_rr, c_retain, loss, rerouting_loss, retain_loss, cos (per target layer),
    cos_mean, retain_cos_mean. A resumed run drops the rows from the checkpoint's step on."""

    def __init__(self, path: Path, rr: RRState):
        self.path, self.rr = path, rr

    def on_train_begin(self, args, state, control, **kw):
        if state.is_world_process_zero:
            rows = read_rr_log(self.path) if self.path.exists() else []
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["step"] < state.global_step))

    def on_step_end(self, args, state, control, **kw):
        rows, self.rr.pending = self.rr.pending, []
        if not rows or not state.is_world_process_zero:
            return
        avg = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
        cos = [sum(c) / len(rows) for c in zip(*(r["cos"] for r in rows))]
        row = {"step": rows[0]["step"], **{k: round(avg(k), 6) for k in ("c_rr", "c_retain", "loss",
                                                                         "rerouting_loss", "retain_loss")},
               "cos": {str(l): round(c, 6) for l, c in zip(self.rr.layers.target, cos)},
               "cos_mean": round(sum(cos) / len(cos), 6),
               "retain_cos_mean": round(sum(sum(r["retain_cos"]) / len(r["retain_cos"]) for r in rows) / len(rows), 6)}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def read_rr_log(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# -- training -------------------------------------------------------------------------------------------------------
def check_settings(cfg: RRSettings) -> None:
    check_choices(type(cfg), {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})
    for name in ("init_b_std", "retain_weight"):
        if not isinstance(getattr(cfg, name), (int, float)) or getattr(cfg, name) < 0:
            raise BadInput(f"config: field '{name}' must be a number ≥ 0, got {getattr(cfg, name)!r}")
    for name in ("max_steps", "batch_size", "grad_accum", "max_prompt_length", "max_completion_length"):
        if not isinstance(getattr(cfg, name), int) or getattr(cfg, name) < 1:
            raise BadInput(f"config: field '{name}' must be a positive integer, got {getattr(cfg, name)!r}")
    if not cfg.lora.enabled or cfg.lora.top_layers is not None:
        raise BadInput("config: RR trains a LoRA adapter (lora.enabled: true) on transform_layers "
                       "(leave lora.top_layers unset)")


def prepare_model(model_path: str, cfg: RRSettings):
    """(peft model, tokenizer, on_cpu, RRLayers): the policy with a fresh LoRA adapter on the transform layers
    (B = 0: the model computes exactly what it did before)."""
    from peft import LoraConfig, get_peft_model
    from transformers import set_seed

    from .common import load_policy

    model, tok, on_cpu = load_policy(model_path, cfg.device)
    layers = resolve_layers(cfg, model.config.num_hidden_layers)
    set_seed(cfg.seed)
    lc = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                    target_modules=list(cfg.lora.target_modules), layers_to_transform=layers.transform,
                    task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, lc)
    if cfg.init_b_std > 0:
        break_symmetry(peft_model, cfg.init_b_std)
    return peft_model, tok, on_cpu, layers


def break_symmetry(peft_model, std: float) -> None:
    """B ~ N(0, std²) instead of 0 in every LoRA pair (seeded): at B = 0 the adapted states equal the originals, where
    cos(h_lora, h_orig) = 1 is a maximum and ∇ReLU(cos) vanishes; in float32 nothing moves the model off it."""
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, std)


def train_rr(model_spec_or_path: str, data_path: str | Path | list[dict], out_dir: str | Path,
             cfg: RRSettings | None = None, *, callbacks: list | None = None, log: Callable = print) -> dict:
    """Train RR, merge the adapter into ``out/model`` (loadable as ``hf:out/model``); ``out/rr_log.jsonl`` holds the
    per-step losses and cosines, ``out/train.json`` the summary. ``data_path`` may also be rows as ``load_rr_rows``
    returns them. Checkpoints in ``out/checkpoints`` are resumed."""
    from transformers import TrainingArguments

    from .common import resume_point, save_final, training_args, with_checkpoint_eval, write_info

    cfg = cfg or RRSettings()
    check_settings(cfg)
    out = Path(out_dir)
    rows = data_path if isinstance(data_path, list) else load_rr_rows(data_path, cfg.cb_pair_kinds,
                                                                      cfg.retain_pair_kinds)
    path = model_path_of(model_spec_or_path)
    model, tok, on_cpu, layers = prepare_model(path, cfg)
    sets = {k: encode_rows([r for r in rows if r["kind"] == k], tok, cfg) for k in KINDS}
    prefix = None
    if cfg.cache_frozen_layers and min(layers.transform) > 0:
        from .frozen_cache import FrozenPrefixCache

        prefix = FrozenPrefixCache(model, min(layers.transform)).install()
    args = TrainingArguments(**training_args(cfg, out / "checkpoints", on_cpu), remove_unused_columns=False)
    rr = RRState(cfg, layers, OriginalCache(cfg.orig_cache_mb * 2**20), [])
    cbs = [RRLogCallback(out / RR_LOG, rr)] + with_checkpoint_eval(callbacks, cfg.checkpoint_eval, out, log)
    trainer = RRTrainer(model=model, args=args,
                        train_dataset=RRPairs(len(sets["circuit_breaker"]), len(sets["retain"])),
                        data_collator=make_collator(sets["circuit_breaker"], sets["retain"], tok.pad_token_id),
                        processing_class=tok, callbacks=cbs, rr=rr)
    t0 = time.time()
    for name, lay in (("circuit_breaker", layers.target), ("retain", layers.retain)):  # the model is on its device now
        rr.cache.fill(trainer.model, name, sets[name], lay, tok.pad_token_id, max(cfg.batch_size, 16))
    orig_secs = time.time() - t0
    result = trainer.train(resume_from_checkpoint=resume_point(out / "checkpoints", log))
    secs = time.time() - t0
    if prefix is not None:
        prefix.uninstall()
    save_final(trainer, tok, out, True)
    logged = read_rr_log(out / RR_LOG) if (out / RR_LOG).exists() else []
    return write_info(out, "rr", trainer, result, secs, cfg, base_model=path,
                      n_circuit_breaker=len(sets["circuit_breaker"]), n_retain=len(sets["retain"]),
                      target_layers=layers.target, transform_layers=layers.transform, retain_layers=layers.retain,
                      originals={"cached": len(rr.cache.store), "not_cached": rr.cache.not_cached,
                                 "megabytes": round(rr.cache.bytes / 2**20, 1), "seconds": round(orig_secs, 1)},
                      rr_log=str(out / RR_LOG), first=logged[0] if logged else None,
                      last=logged[-1] if logged else None)
