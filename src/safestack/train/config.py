"""One config dataclass per training method, shared by Python, YAML (``--config``) and the CLI."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar


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
class CheckpointEvalSettings:
    """A small safety eval at every saved checkpoint (train/checkpoint_eval.py). Benches are held-out eval data:
    the HarmBench test subset measures ASR, the XSTest-safe subset over-refusal."""

    enabled: bool = False
    asr_bench: str = "harmbench"
    over_refusal_bench: str = "xstest:safe"
    limit: int = 16  # prompts per bench (stratified, deterministic)
    max_new_tokens: int = 24  # as the run's eval, so its step 0 and final points can be read from eval before/after
    batch_size: int = 32  # the 16 + 16 prompts decode as one batch
    at_start: bool = True  # also evaluate the model before the first step (the baseline of the curves)


LRScheduler = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                      "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay"]


@dataclass(kw_only=True)
class TrainSettings:
    """What every training method shares: the optimiser's schedule, batching, checkpoints, device and LoRA. Each
    method's settings derive from it and only override a default where the method needs another (e.g. RR's
    learning rate); ``train/common.training_args`` turns these into the trainer's arguments."""

    learning_rate: float = 1e-3
    epochs: float = 1.0  # passes over the data; a positive max_steps takes precedence (as in transformers)
    max_steps: int = -1
    batch_size: int = 8
    grad_accum: int = 1
    warmup_ratio: float = 0.05  # share of the total steps
    lr_scheduler: LRScheduler = "cosine"
    save_steps: int = 50
    logging_steps: int = 5
    seed: int = 0
    device: str = "auto"  # auto → cuda if available, else cpu (use_cpu=True, bf16=False); or cpu, cuda, cuda:N
    # recompute the forward pass in the backward one to save memory: ~20 % slower, and a 135M model does not need
    # the memory; TRL turns it on by default, so it is set explicitly. Turn it on for large models.
    activation_checkpointing: bool = False
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass(kw_only=True)
class PolicySettings(TrainSettings):
    """Methods that train the model that answers (all but reward models)."""

    # `safestack train <method>`: a small safety eval at every checkpoint (`safestack run` configures its own)
    checkpoint_eval: CheckpointEvalSettings = field(default_factory=CheckpointEvalSettings)


@dataclass(kw_only=True)
class WholeSequenceSettings:
    """Methods trained on whole (prompt + reply) sequences."""

    max_length: int = 256  # tokens; longer sequences are cut


@dataclass(kw_only=True)
class DPOSettings(PolicySettings, WholeSequenceSettings):
    """Safety DPO. Defaults are tuned for SmolLM2-135M on 2 CPU cores (see benchmarks/)."""

    beta: float = 0.1
    loss_type: list[str] = field(default_factory=lambda: ["sigmoid", "sft"])  # DPO + NLL on chosen (RPO)
    loss_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])
    epochs: float = 2.0
    save_steps: int = 32  # the run's 64 steps: checkpoints (and checkpoint evals) at 32 and 64
    max_rejected_tokens: int | None = 32  # rejected replies cut to this many tokens (the opening decides refusal)
    precompute_ref_log_probs: bool = True
    # memoise the frozen bottom layers' output per sequence (LoRA on the top layers only): the reference pass and
    # every epoch then skip them — see train/frozen_cache.py
    cache_frozen_layers: bool = True
    # batches of similar length (sorted, then the batch order shuffled): a random batch of the demo's pairs is ~39 %
    # padding, which costs as much compute as real tokens. Off by default: in the demo it cut the train stage
    # 949 → 570 s, but held-out ASR came out 13.2 % instead of 6.3 % (homogeneous batches, same order each epoch)
    length_grouped: bool = False
    # N > 0: batches of similar length within random megabatches of N batches, stratified by pair kind and
    # reshuffled every epoch (train/batching.py); 0: random batches. Same data: train stage 475 → 405 s,
    # held-out HarmBench ASR 0.6 → 3.1 %, XSTest-safe over-refusal 1.2 → 1.6 % (README)
    megabatch: int = 8
    # pack each pair's chosen and rejected rows into one, sharing their prompt (train/prefix_share.py): the same
    # log-probs and gradients from ~30 % fewer tokens through every layer
    share_prompt: bool = True


RENAMED = {"gradient_checkpointing": "activation_checkpointing"}  # old field name → the one name used now


def from_dict(cls: type[C], data: dict[str, Any] | None, where: str = "config") -> C:
    """Build a (nested) dataclass from a dict, naming unknown, mistyped or out-of-choice fields."""
    data = dict(data or {})
    names = {f.name: f for f in dataclasses.fields(cls)}
    for old, new in RENAMED.items():
        if old in data and new in names:
            raise BadInput(f"{where}: field '{old}' is now called '{new}'")
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise BadInput(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(names)})")
    check_choices(cls, data, where)
    defaults = cls() if _all_defaults(cls) else None
    kw = {}
    for k, v in data.items():
        default = getattr(defaults, k, None)
        if dataclasses.is_dataclass(default) and isinstance(v, dict):
            # over the field's own default (which may differ from its class's defaults), not a fresh instance
            kw[k] = from_dict(type(default), _deep_merge(dataclasses.asdict(default), v), f"{where}.{k}")
        elif default is not None and isinstance(default, (int, float)) and not isinstance(default, bool) \
                and not isinstance(v, (int, float)) and v is not None:  # None: an optional number left unset
            raise BadInput(f"{where}: field '{k}' must be a number, got {v!r}")
        else:
            kw[k] = v
    return cls(**kw)


def check_choices(cls: type, values: dict[str, Any], where: str = "config") -> None:
    """Every ``Literal`` field of ``cls`` among ``values`` holds one of its choices (else BadInput naming the field):
    the same check for YAML, CLI and configs built in Python."""
    hints = typing.get_type_hints(cls)
    for k, v in values.items():
        choices = typing.get_args(hints[k]) if k in hints and typing.get_origin(hints[k]) is Literal else ()
        if choices and v not in choices:
            raise BadInput(f"{where}: field '{k}' must be one of {', '.join(map(str, choices))}, got {v!r}")


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _all_defaults(cls) -> bool:
    try:
        cls()
        return True
    except TypeError:
        return False


def load_yaml(path: str | Path | None) -> dict[str, Any]:
    from ..records import read_yaml

    return read_yaml(path, "config file") if path else {}


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


@dataclass(kw_only=True)
class SFTSettings(PolicySettings, WholeSequenceSettings):
    """Supervised fine-tuning on the chosen replies (refusals for harmful prompts, helpful answers for benign ones),
    loss on completion tokens only (TRL's SFTTrainer, prompt-completion format)."""

    save_steps: int = 25


@dataclass(kw_only=True)
class RewardSettings(TrainSettings, WholeSequenceSettings):
    """A helpfulness reward model (kind=helpful) or a safety cost model (kind=cost: high = harmful compliance).

    backbone ``minilm``: frozen MiniLM embeddings of prompt and reply + a linear Bradley–Terry head (seconds on CPU);
    backbone ``lm``: the given causal LM with a scalar head (AutoModelForSequenceClassification) + LoRA, trained
    with TRL's RewardTrainer."""

    kind: Literal["helpful", "cost"] = "helpful"
    backbone: Literal["minilm", "lm"] = "minilm"
    hh_rlhf: int = 0  # add up to N HH-RLHF harmless-base pairs from safestack's train part (0 = none, -1 = all)
    heldout_fraction: float = 0.2  # of the --data pairs, chosen deterministically by content hash
    balance_sources: bool = True  # minilm: HH pairs weigh as much in total as the --data pairs
    l2: float = 1.0  # minilm head: L2 strength of the logistic Bradley–Terry head (sklearn C = 1/l2)
    warmup_ratio: float = 0.0
    lr_scheduler: LRScheduler = "linear"
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(top_layers=None))


@dataclass(kw_only=True)
class SafeRLHFSettings(PolicySettings):
    """Safe RLHF on TRL's GRPOTrainer.

    mode ``lagrange``: r = r_help − λ·max(0, c − τ), with λ ← max(0, λ + η·(E[c] − τ)) after every step;
    mode ``mix``: r = α·r_help + (1 − α)·r_safe with r_safe = 1 − c (λ unused).
    r_help ∈ [0, 1] comes from a helpfulness reward model (``help_model``) or the rule-based checks
    (``help_model: rules``); c ∈ [0, 1] from a cost model (``cost_model``) or the rules (``cost_model: rules``).
    The KL penalty to the reference is GRPO's ``beta``."""

    mode: Literal["lagrange", "mix"] = "lagrange"
    help_model: str = "rules"  # path of a reward model saved by `safestack train reward`, or "rules"
    cost_model: str = "rules"  # path of a cost model (kind=cost), or "rules"
    tau: float = 0.25  # cost threshold τ
    lambda_init: float = 0.5
    lambda_lr: float = 2.0  # dual-ascent step η
    lambda_max: float | None = 20.0
    alpha: float = 0.5  # mix mode
    beta: float = 0.05  # KL coefficient to the reference (GRPO)
    rule_weights: dict[str, float] | None = None  # override the principles' weights (by check name, see
    #   datagen/constitution.yaml)
    num_generations: int = 4  # completions per prompt: a step's batch_size completions are batch_size / N prompts
    max_completion_length: int = 32
    max_prompt_tokens: int = 96  # prompts cut (from the left) to this many tokens
    temperature: float = 1.0
    learning_rate: float = 5e-4
    max_steps: int = 30
    warmup_ratio: float = 0.0
    lr_scheduler: LRScheduler = "linear"
    save_steps: int = 10
    logging_steps: int = 1


@dataclass(kw_only=True)
class RRSettings(PolicySettings):
    """Representation Rerouting ("circuit breakers", Zou et al. 2024; train/rr.py): LoRA trained so that the
    representations of harmful completions point away from the original ones while those of retain data stay put.

        L = c_rr(t) · ReLU(cos(h_lora, h_orig))   (circuit-breaker set)
          + c_retain(t) · ‖h_lora − h_orig‖₂      (retain set)
        c_rr(t) = α · (1 − t / (2T)),   c_retain(t) = β · α · t / (2T)      (t = step, T = max_steps)

    (``rerouting: cosine``, ``retain_scale: absolute``: the paper's terms; ``angle`` / ``relative``: the float32
    variants of train/rr.py, whose gradients do not vanish at the start.)

    Layer ``l`` is the residual stream after decoder layer ``l`` (0-based, as in probes/). The forward pass stops
    at the deepest target layer: layers above it are neither run nor adapted during training. RR is defined by
    steps: ``max_steps`` is T and must be set (``epochs`` is not used); a step takes ``batch_size`` circuit-breaker
    rows and as many retain rows (one forward). α = 10, r = α_lora = 16,
    150 steps and a constant lr are the reference implementation's Llama-3-8B values; the batch size and sequence
    lengths are cut for 2 CPU cores; rerouting, retain_scale, β = 5 and lr 3e-4 were chosen on the dev set
    `contrast:dev` at 40 steps (benchmarks/rr_dev_variants.py), never on an evaluation bench."""

    target_layers: list[int] | None = None  # None: [N // 3, 2N // 3] of the model's N layers (10, 20 of 30)
    transform_layers: list[int] | None = None  # layers given LoRA; None: 0..max(target_layers), as the paper
    alpha: float = 10.0  # α of the coefficient schedule
    retain_layers: Literal["target", "all"] = "target"  # retain loss at the target layers, or at every layer
    #   0..max(target) (the reference code's choice: tighter, and N/|targets| × more cached originals)
    retain_scale: Literal["absolute", "relative"] = "relative"  # ‖h_lora − h_orig‖₂ as is, or divided by ‖h_orig‖₂
    retain_weight: float = 5.0  # β: c_retain(t) = β · α · t / (2T)
    rerouting: Literal["cosine", "angle"] = "angle"  # ReLU(cos θ), or ReLU(1 − 2θ/π) (non-vanishing at θ = 0)
    init_b_std: float = 0.0  # LoRA B drawn from N(0, std²) instead of 0 (see train/rr.py break_symmetry)
    cb_tokens: Literal["completion", "all"] = "completion"  # rerouting loss over the harmful completion only, or
    #   also over the prompt (the reference code masks request + response alike)
    cb_pair_kinds: list[str] = field(default_factory=lambda: ["refusal"])  # preference-pair input: kinds whose
    #   rejected reply is a harmful completion (circuit-breaker set); every pair's chosen reply goes to retain
    retain_pair_kinds: list[str] | None = None  # preference-pair input: kinds whose chosen reply goes to the retain
    #   set (None: every kind; [borderline]: benign answers only, so refusals are not pinned)
    learning_rate: float = 3e-4
    max_steps: int = 150  # T of the schedule
    max_prompt_length: int = 128  # prompt tokens (chat-rendered), cut from the left: the latest turn is kept
    max_completion_length: int = 64  # completion tokens (with the end token), cut from the right
    warmup_ratio: float = 0.0
    lr_scheduler: LRScheduler = "constant"
    orig_cache_mb: float = 2048.0  # originals cached per example up to this size; the rest are recomputed each
    #   step with the adapter disabled
    cache_frozen_layers: bool = True  # memoise layers below min(transform_layers) (train/frozen_cache.py)
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(r=16, alpha=16, top_layers=None))  # top_layers
    #   must stay None: RR picks its layers with transform_layers


RRConfig = RRSettings  # alias
