import json

import numpy as np
import pytest

from safestack.errors import BadInput
from safestack.train.config import LoraSettings, SafeRLHFSettings
from safestack.train.rewards import ConstitutionReward, RuleCost, RuleHelp, principles
from safestack.train.safe_rlhf import (dual_ascent, lagrangian_reward, load_steps, mixed_reward, summarize_lambda,
                                       train_safe_rlhf)


def test_dual_ascent_numerically():
    # λ ← max(0, λ + η (E[c] − τ)), clipped at λ_max
    assert dual_ascent(1.0, 0.5, 0.2, 2.0) == pytest.approx(1.6)
    assert dual_ascent(1.0, 0.1, 0.2, 2.0) == pytest.approx(0.8)
    assert dual_ascent(0.1, 0.0, 0.2, 2.0) == 0.0  # projected onto λ ≥ 0
    assert dual_ascent(9.0, 1.0, 0.0, 5.0, lam_max=10.0) == 10.0
    lam, path = 0.0, []
    for c in [0.6, 0.6, 0.6, 0.1, 0.1, 0.1, 0.1]:
        lam = dual_ascent(lam, c, 0.3, 1.0)
        path.append(round(lam, 6))
    assert path == [0.3, 0.6, 0.9, 0.7, 0.5, 0.3, 0.1]


def test_reward_combinations():
    h, c = np.array([1.0, 0.5, 0.2]), np.array([0.9, 0.1, 0.5])
    np.testing.assert_allclose(lagrangian_reward(h, c, 2.0, 0.3), [1.0 - 2 * 0.6, 0.5, 0.2 - 2 * 0.2])
    np.testing.assert_allclose(mixed_reward(h, c, 0.25), [0.25 + 0.75 * 0.1, 0.125 + 0.75 * 0.9, 0.05 + 0.75 * 0.5])


def test_rule_based_reward_weighted_checks():
    refusal = "I can't help with that. If you are in danger, please contact a local support hotline instead."
    steps = "Sure. Step 1: buy the parts.\n1. Mix them\n2. Light it"
    comply = "Well, people usually think about that a lot and there are many opinions on it."
    c = RuleCost()
    cost = c(["x"] * 3, [[{"role": "assistant", "content": t}] for t in (refusal, steps, comply)],
             label=["harmful"] * 3)
    # safety checks of constitution.yaml (weights): refuses 2, no_harmful_substance 2, refusal_in_opening 1,
    # gives_reason .5, offers_alternative .5, concise .5, no_lecturing .5 (total 7).
    # refusal misses only gives_reason; steps passes only concise + no_lecturing; the vague compliance passes
    # no_harmful_substance + concise + no_lecturing
    assert cost == pytest.approx([0.5 / 7, 6 / 7, 4 / 7])
    assert RuleCost()(["x"], [[{"role": "assistant", "content": steps}]], label=["benign"]) == [0.0]
    help_ = RuleHelp()(["x", "x"], [[{"role": "assistant", "content": t}] for t in (refusal, comply)],
                       label=["benign", "benign"])
    assert help_[1] == 1.0 and help_[0] < 0.5  # needless refusal of a benign prompt
    both = ConstitutionReward({"gives_reason": 0})(["x"], [[{"role": "assistant", "content": refusal}]],
                                                        label=["harmful"])
    assert both == [1.0]
    with pytest.raises(BadInput, match="unknown principle"):
        principles({"be_nice": 1.0})
    with pytest.raises(BadInput, match="label"):
        RuleCost()(["x"], [[{"role": "assistant", "content": "y"}]])


def test_lambda_rises_while_cost_above_tau_then_falls_real_grpo_run(tmp_path, tiny_dir):
    """A real GRPO run on the tiny model. The cost is the share of even token ids in a completion (≈ 0.5 for the
    random policy, τ = 0.3); the policy learns to lower it and λ follows: up while E[c] > τ, down after."""
    rows = [{"prompt": f"Question {i}: tell me something.", "label": "benign"} for i in range(8)]

    def help_fn(prompts, completions, **kw):
        return [1.0] * len(prompts)

    def cost_fn(prompts, completions, completion_ids=None, **kw):
        return [sum(t % 2 == 0 for t in ids) / max(1, len(ids)) for ids in completion_ids]

    cfg = SafeRLHFSettings(max_steps=8, batch_size=8, num_generations=4, max_completion_length=8, save_steps=4,
                           tau=0.3, lambda_init=1.0, lambda_lr=1.0, beta=0.0, learning_rate=0.03,
                           lora=LoraSettings(enabled=False))
    info = train_safe_rlhf(str(tiny_dir), rows, tmp_path / "out", cfg, help_fn=help_fn, cost_fn=cost_fn,
                           log=lambda *a: None)
    steps = load_steps(tmp_path / "out")
    assert [s.step for s in steps] == list(range(1, 9))
    for s in steps:  # every update is the dual-ascent step on that step's measured cost
        assert s.lam_next == pytest.approx(dual_ascent(s.lam, s.mean_cost, 0.3, 1.0, 20.0))
    for a, b in zip(steps, steps[1:]):
        assert b.lam == pytest.approx(a.lam_next)
    summ = summarize_lambda(steps, 0.3)
    assert steps[0].mean_cost > 0.3 and steps[0].lam_next > steps[0].lam  # rising while above τ
    assert summ["first_step_cost_below_tau"] is not None  # the policy did bring the cost down
    assert steps[-1].mean_cost < 0.3 and steps[-1].lam_next < summ["lambda_peak"]  # and λ came down after
    assert info["per_step"][0]["safe/lambda"] == pytest.approx(1.0)
    assert (tmp_path / "out" / "model" / "config.json").exists()


def test_safe_rlhf_rules_lora_logs_kl_and_resumes(tmp_path, tiny_dir):
    rows = [{"prompt": f"How do I build a pipe bomb number {i}?", "label": "harmful"} for i in range(2)] + \
           [{"prompt": f"How do I bake bread loaf {i}?", "label": "benign"} for i in range(2)]
    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = SafeRLHFSettings(max_steps=2, batch_size=4, num_generations=2, max_completion_length=6, save_steps=2,
                           lora=LoraSettings(r=4, alpha=8))
    info = train_safe_rlhf(str(tiny_dir), data, tmp_path / "out", cfg, log=lambda *a: None)
    assert info["steps"] == 2 and all(p["kl"] is not None for p in info["per_step"])
    lam2 = info["lambda_final"]
    cfg.max_steps = 3
    logs = []
    info = train_safe_rlhf(str(tiny_dir), data, tmp_path / "out", cfg, log=logs.append)
    assert any("resuming" in str(m) for m in logs)
    steps = load_steps(tmp_path / "out")
    assert [s.step for s in steps] == [1, 2, 3] and steps[2].lam == pytest.approx(lam2)  # λ carried over
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x"}) + "\n")
    with pytest.raises(BadInput, match=r"bad.jsonl:1: field 'label'"):
        train_safe_rlhf(str(tiny_dir), bad, tmp_path / "out2", cfg, log=lambda *a: None)
