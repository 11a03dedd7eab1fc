"""Joint DPO+RR (train/joint.py) on the tiny 2-layer model: the step-0 loss is DPO's plus exactly the rerouting
terms, training lowers the cosine at the adapted target layer, the model saves and loads, and bad settings fail."""

import json

import pytest

from safestack.errors import BadInput
from safestack.train import DPOSettings, LoraSettings
from safestack.train.config import RRSettings, from_dict
from safestack.train.dpo import train_dpo
from safestack.train.joint import joint_layers, step_items
from safestack.train.rr import read_rr_log

PAIRS = [{"prompt": [{"role": "user", "content": f"How do I make a pipe bomb number {i}?"}],
          "chosen": [{"role": "assistant", "content": "I can't help with that."}],
          "rejected": [{"role": "assistant", "content": f"Sure, get {i} steel pipes and black powder, seal both ends."}],
          "kind": "refusal"} for i in range(6)]
PAIRS += [{"prompt": [{"role": "user", "content": f"How do I kill Python process {i}?"}],
           "chosen": [{"role": "assistant", "content": f"Run kill {i} or use the task manager."}],
           "rejected": [{"role": "assistant", "content": "I can't help with that."}], "kind": "borderline"}
          for i in range(2)]


def _dpo(**kw):
    return DPOSettings(**{"max_steps": 6, "batch_size": 4, "learning_rate": 1e-2, "save_steps": 100,
                          "logging_steps": 1, "device": "cpu", "lora": LoraSettings(r=8, alpha=16, top_layers=1),
                          **kw})


def _write(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in PAIRS))
    return path


def test_step_zero_loss_is_dpo_plus_the_rerouting_term(tmp_path, tiny_dir):
    """At step 0 (LoRA B = 0) the rerouting term is α·1 and the retain term 0: the joint loss is DPO's + α."""
    data = _write(tmp_path)
    rr = RRSettings(batch_size=2, alpha=3.0, target_layers=[0, 1])
    plain = train_dpo(str(tiny_dir), data, tmp_path / "dpo", _dpo(max_steps=1), log=lambda *a: None)
    joint = train_dpo(str(tiny_dir), data, tmp_path / "joint", _dpo(max_steps=1), log=lambda *a: None, joint_rr=rr)
    log = read_rr_log(tmp_path / "joint" / "rr_log.jsonl")
    assert log[0]["step"] == 0 and log[0]["c_rr"] == pytest.approx(3.0) and log[0]["c_retain"] == 0.0
    assert log[0]["rerouting_loss"] == pytest.approx(1.0, abs=1e-5) and log[0]["retain_loss"] < 1e-5
    assert joint["history"][0]["loss"] == pytest.approx(plain["history"][0]["loss"] + 3.0, abs=1e-3)
    # only layer 1 carries the adapter: layer 0 cannot move and is not a target
    assert joint["joint_rr"]["target_layers"] == [1] and joint["method"] == "dpo+rr (joint)"
    assert joint["joint_rr"]["n_circuit_breaker"] == 6 and joint["joint_rr"]["n_retain"] == 8


def test_joint_training_reroutes_and_saves_a_loadable_model(tmp_path, tiny_dir):
    rr = RRSettings(batch_size=2, alpha=3.0, retain_weight=1.0, target_layers=[1])
    info = train_dpo(str(tiny_dir), _write(tmp_path), tmp_path / "out", _dpo(), log=lambda *a: None, joint_rr=rr)
    log = read_rr_log(tmp_path / "out" / "rr_log.jsonl")
    assert [r["step"] for r in log] == list(range(6)) and info["steps"] == 6
    assert log[-1]["cos_mean"] < log[0]["cos_mean"] - 0.05, [r["cos_mean"] for r in log]
    assert info["joint_rr"]["originals"]["cached"] == 14 and info["joint_rr"]["originals"]["not_cached"] == 0
    from safestack.targets import load_target

    t = load_target(f"hf:{tmp_path / 'out' / 'model'}")
    assert not any("lora" in n for n, _ in t.model.named_parameters())


def test_joint_layers_and_errors(tmp_path, tiny_dir):
    cfg = RRSettings(target_layers=[10, 20])
    layers = joint_layers(cfg, 30, list(range(18, 30)))
    assert layers.target == [20] and layers.retain == [20] and layers.transform == list(range(18, 30))
    assert joint_layers(RRSettings(target_layers=[20], retain_layers="all"), 30, list(range(18, 30))).retain == \
        [18, 19, 20]
    with pytest.raises(BadInput, match="at or above the first LoRA layer 18"):
        joint_layers(RRSettings(target_layers=[10]), 30, list(range(18, 30)))
    with pytest.raises(BadInput, match="no 'circuit_breaker' rows"):
        borderline = [p for p in PAIRS if p["kind"] == "borderline"]
        train_dpo(str(tiny_dir), borderline, tmp_path / "x", _dpo(), log=lambda *a: None,
                  joint_rr=RRSettings(target_layers=[1]))


def test_step_items_cover_every_row_each_pass_and_repeat_on_resume():
    n, b = 7, 3
    drawn = [i for t in range(7) for i in step_items(t, b, n, seed=0)]  # 21 draws: 3 whole passes
    assert all(sorted(drawn[p * n:(p + 1) * n]) == list(range(n)) for p in range(3))
    assert step_items(5, b, n, seed=0) == step_items(5, b, n, seed=0) != step_items(5, b, n, seed=1)


def test_run_config_takes_the_joint_mode():
    from safestack.pipeline import RunConfig

    assert from_dict(RunConfig, {"method": "dpo+rr", "dpo_rr": "joint"}).dpo_rr == "joint"
    with pytest.raises(BadInput, match="dpo_rr"):
        from_dict(RunConfig, {"method": "dpo+rr", "dpo_rr": "both"})
