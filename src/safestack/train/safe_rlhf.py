"""Safe RLHF on TRL's GRPOTrainer: a helpfulness reward, a safety cost, and a Lagrange multiplier λ updated by dual
ascent on the measured cost after every step.

    lagrange:  r = r_help − λ · max(0, c − τ)          λ ← max(0, λ + η · (E[c] − τ))   (clipped at λ_max)
    mix:       r = α · r_help + (1 − α) · r_safe,      r_safe = 1 − c
    KL:        GRPO's per-token KL to the reference model, weight β (``beta``).

r_help, c ∈ [0, 1] per completion (rules or trained models, see rewards.py). The reward function records each
step's costs; ``LagrangeCallback.on_step_end`` applies the dual-ascent update with their mean. λ, mean cost,
r_help, KL and reward are logged every step (``trainer.state.log_history``) and written to
``out/safe_rlhf_steps.jsonl``; λ survives a resume (it is read back from that file).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import BadInput
from ..records import JsonlStore, Record
from .config import SafeRLHFSettings

STEPS = "safe_rlhf_steps.jsonl"


def dual_ascent(lam: float, mean_cost: float, tau: float, lr: float, lam_max: float | None = None) -> float:
    """One projected dual-ascent step on the Lagrange multiplier: λ' = min(λ_max, max(0, λ + η (E[c] − τ)))."""
    new = max(0.0, lam + lr * (mean_cost - tau))
    return min(new, lam_max) if lam_max is not None else new


def lagrangian_reward(r_help: np.ndarray, cost: np.ndarray, lam: float, tau: float) -> np.ndarray:
    """r = r_help − λ · max(0, c − τ); r_help, cost: (N,) → (N,)."""
    return r_help - lam * np.maximum(0.0, cost - tau)


def mixed_reward(r_help: np.ndarray, cost: np.ndarray, alpha: float) -> np.ndarray:
    """r = α · r_help + (1 − α) · (1 − c); (N,) → (N,)."""
    return alpha * r_help + (1.0 - alpha) * (1.0 - cost)


class LagrangeStep(Record):
    key: str
    step: int
    lam: float  # λ used for this step's rewards
    lam_next: float  # after the dual-ascent update
    mean_cost: float
    mean_r_help: float
    mean_reward: float
    frac_above_tau: float
    kl: float | None = None


class LagrangeState:
    def __init__(self, lam: float):
        self.lam = lam
        self.costs: list[float] = []
        self.helps: list[float] = []
        self.rewards: list[float] = []


class SafeReward:
    """The GRPO reward function: combines r_help and c with the current λ (or α), and records them for the update."""

    __name__ = "safe_rlhf"

    def __init__(self, help_fn, cost_fn, cfg: SafeRLHFSettings, state: LagrangeState):
        self.help_fn, self.cost_fn, self.cfg, self.state = help_fn, cost_fn, cfg, state

    def __call__(self, prompts, completions, log_metric=None, **kw) -> list[float]:
        kw = {k: v for k, v in kw.items() if k not in ("trainer_state", "log_extra")}
        h = np.asarray(self.help_fn(prompts, completions, **kw), dtype=float)
        c = np.asarray(self.cost_fn(prompts, completions, **kw), dtype=float)
        if self.cfg.mode == "lagrange":
            r = lagrangian_reward(h, c, self.state.lam, self.cfg.tau)
        else:
            r = mixed_reward(h, c, self.cfg.alpha)
        self.state.costs.extend(c.tolist())
        self.state.helps.extend(h.tolist())
        self.state.rewards.extend(r.tolist())
        if log_metric:
            log_metric("safe/lambda", self.state.lam)
            log_metric("safe/cost", float(c.mean()))
            log_metric("safe/r_help", float(h.mean()))
            log_metric("safe/frac_cost_above_tau", float((c > self.cfg.tau).mean()))
        return r.tolist()


try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object


class LagrangeCallback(TrainerCallback):
    """After each optimizer step: λ ← dual_ascent(λ, mean cost of the step's completions); one LagrangeStep row per
    step in ``out/safe_rlhf_steps.jsonl`` (KL filled in from the trainer's log)."""

    def __init__(self, cfg: SafeRLHFSettings, state: LagrangeState, out: str | Path):
        self.cfg, self.state = cfg, state
        self.store = JsonlStore(Path(out) / STEPS, LagrangeStep)
        self._last: LagrangeStep | None = None

    def on_train_begin(self, args, state, control, **kw):
        rows = [r for r in self.store.load() if r.step <= state.global_step]
        if rows:  # resumed: continue from the multiplier reached at the checkpoint
            self.state.lam = rows[-1].lam_next

    def on_step_end(self, args, state, control, **kw):
        self._flush()  # the previous step's row (its KL was filled in by on_log)
        if not self.state.costs:
            return
        mc = _global_mean(self.state.costs, args)
        lam = self.state.lam
        if self.cfg.mode == "lagrange":
            self.state.lam = dual_ascent(lam, mc, self.cfg.tau, self.cfg.lambda_lr, self.cfg.lambda_max)
        self._last = LagrangeStep(key=f"step-{state.global_step}", step=state.global_step, lam=lam,
                                  lam_next=self.state.lam, mean_cost=mc, mean_r_help=float(np.mean(self.state.helps)),
                                  mean_reward=float(np.mean(self.state.rewards)),
                                  frac_above_tau=float(np.mean(np.asarray(self.state.costs) > self.cfg.tau)))
        self.state.costs, self.state.helps, self.state.rewards = [], [], []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and self._last is not None and "kl" in logs:
            self._last.kl = float(logs["kl"])

    def on_save(self, args, state, control, **kw):
        self._flush()

    def on_train_end(self, args, state, control, **kw):
        self._flush()

    def _flush(self):
        if self._last is not None:
            self.store.append(self._last)
            self._last = None


def _global_mean(values: list[float], args) -> float:
    """Mean over every process (multi-GPU: each rank scores its own completions; λ must stay identical)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return float(np.mean(values))
    t = torch.tensor([float(np.sum(values)), float(len(values))], device=args.device, dtype=torch.float64)
    dist.all_reduce(t)
    return float(t[0] / t[1])


def load_steps(out: str | Path) -> list[LagrangeStep]:
    p = Path(out)
    return sorted(JsonlStore(p if p.suffix == ".jsonl" else p / STEPS, LagrangeStep).load(), key=lambda r: r.step)


def prompt_rows(data: str | Path | list[dict], tok, max_prompt_tokens: int) -> list[dict[str, Any]]:
    """Prompt rows {"prompt": messages, "label": harmful|benign} from a pairs JSONL (label from ``kind``:
    refusal → harmful, borderline/helpful → benign) or rows with ``prompt`` and ``label``; the last user turn is cut
    to its final ``max_prompt_tokens`` tokens."""
    from ..records import read_jsonl

    rows = data if isinstance(data, list) else read_jsonl(data)
    if not rows:
        raise BadInput(f"{data}: no rows")
    out = []
    kind_label = {"refusal": "harmful", "borderline": "benign", "helpful": "benign"}
    for i, r in enumerate(rows, 1):
        where = f"{data}:{i}" if not isinstance(data, list) else f"row {i}"
        if "prompt" not in r:
            raise BadInput(f"{where}: missing field 'prompt'")
        lab = r.get("label") or kind_label.get(r.get("kind") or "")
        if lab not in ("harmful", "benign"):
            raise BadInput(f"{where}: field 'label' must be \"harmful\" or \"benign\" (or give a pairs 'kind')")
        msgs = [dict(m) for m in r["prompt"]] if isinstance(r["prompt"], list) else \
            [{"role": "user", "content": str(r["prompt"])}]
        ids = tok(msgs[-1]["content"], add_special_tokens=False).input_ids
        if len(ids) > max_prompt_tokens:
            msgs[-1]["content"] = tok.decode(ids[-max_prompt_tokens:])
        out.append({"prompt": msgs, "label": lab})
    return out


def train_safe_rlhf(model_path: str, data: str | Path | list[dict], out: str | Path,
                    cfg: SafeRLHFSettings | None = None, *, help_fn=None, cost_fn=None, callbacks: list | None = None,
                    log=print) -> dict:
    """GRPO with the safe reward; ``help_fn``/``cost_fn`` override ``cfg.help_model``/``cfg.cost_model``."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from .common import (labelled_positions_only, load_policy, lora_config, resume_point, save_final,
                         training_args, with_checkpoint_eval, write_info)
    from .rewards import make_source

    cfg = cfg or SafeRLHFSettings()
    if cfg.mode not in ("lagrange", "mix"):
        raise BadInput(f"safe-rlhf: unknown mode '{cfg.mode}' (lagrange, mix)")
    if cfg.batch_size % cfg.num_generations:
        raise BadInput(f"safe-rlhf: batch_size ({cfg.batch_size}) must be a multiple of num_generations "
                       f"({cfg.num_generations})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    help_fn = help_fn or make_source(cfg.help_model, "help", cfg.rule_weights)
    cost_fn = cost_fn or make_source(cfg.cost_model, "cost", cfg.rule_weights)
    model, tok, on_cpu = load_policy(model_path, cfg.device)
    rows = prompt_rows(data, tok, cfg.max_prompt_tokens)
    state = LagrangeState(cfg.lambda_init)
    reward = SafeReward(help_fn, cost_fn, cfg, state)
    ckpt_dir = out / "checkpoints"
    args = GRPOConfig(
        **training_args(cfg, ckpt_dir, on_cpu), num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature, beta=cfg.beta,
        log_completions=False, disable_tqdm=False)
    cbs = with_checkpoint_eval([LagrangeCallback(cfg, state, out)] + list(callbacks or []), cfg.checkpoint_eval, out,
                               log)
    t0 = time.time()
    with labelled_positions_only():
        trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=args, train_dataset=Dataset.from_list(rows),
                              processing_class=tok, peft_config=lora_config(cfg.lora, model), callbacks=cbs)
        result = trainer.train(resume_from_checkpoint=resume_point(ckpt_dir, log))
    secs = time.time() - t0
    save_final(trainer, tok, out, cfg.lora.enabled)
    logged = load_steps(out)
    steps = [r.model_dump() for r in logged]
    if logged and cfg.mode == "lagrange":
        plot_lagrange(logged, out / "lagrange.png", cfg.tau)  # λ and E[c] per step, τ dotted
    return write_info(out, "safe-rlhf", trainer, result, secs, cfg, base_model=model_path, n_prompts=len(rows),
                      lambda_final=state.lam, steps_log=steps,
                      lambda_summary=summarize_lambda(logged, cfg.tau) if cfg.mode == "lagrange" else None,
                      per_step=[{k: h.get(k) for k in ("step", "reward", "kl", "safe/lambda", "safe/cost",
                                                       "safe/r_help")} for h in trainer.state.log_history
                                if "reward" in h])


def plot_lagrange(rows: Sequence[LagrangeStep], path: str | Path, tau: float | None = None) -> Path:
    """λ and mean cost per step (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r.step for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    ax.plot(steps, [r.mean_cost for r in rows], color="#c0392b", marker=".", label="mean cost E[c]")
    if tau is not None:
        ax.axhline(tau, color="#c0392b", linestyle=":", linewidth=1, label=f"τ = {tau}")
    ax.set_xlabel("step")
    ax.set_ylabel("cost")
    ax2 = ax.twinx()
    ax2.plot(steps, [r.lam for r in rows], color="#1f618d", marker=".", label="λ")
    ax2.set_ylabel("λ")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper right")
    ax.set_title("safe RLHF: Lagrange multiplier and cost")
    fig.tight_layout()
    from ..figures import save_png

    return save_png(fig, path)


def summarize_lambda(rows: Sequence[LagrangeStep], tau: float) -> dict:
    """Does λ rise while E[c] > τ and fall while E[c] < τ? Counts of steps by (cost side, λ direction)."""
    up_hi = sum(r.mean_cost > tau and r.lam_next > r.lam for r in rows)
    hi = sum(r.mean_cost > tau for r in rows)
    down_lo = sum(r.mean_cost < tau and (r.lam_next < r.lam or r.lam == 0) for r in rows)
    lo = sum(r.mean_cost < tau for r in rows)
    peak = max(rows, key=lambda r: r.lam_next) if rows else None
    return {"steps": len(rows), "steps_cost_above_tau": hi, "of_which_lambda_rose": up_hi,
            "steps_cost_below_tau": lo, "of_which_lambda_fell_or_zero": down_lo,
            "lambda_peak": round(peak.lam_next, 4) if peak else None, "lambda_peak_step": peak.step if peak else None,
            "lambda_final": round(rows[-1].lam_next, 4) if rows else None,
            "first_step_cost_below_tau": next((r.step for r in rows if r.mean_cost < tau), None)}
