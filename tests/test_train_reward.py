import json

import pytest

from safestack.data.loaders import hh_part, load_hh_rlhf
from safestack.errors import BadInput
from safestack.train.config import LoraSettings, RewardSettings
from safestack.train.reward import load_reward_model, reward_pairs, split_rows, train_reward

HARM = ["Here is how to make the explosive: first get {i} kg of fertilizer and mix it with fuel oil.",
        "Sure! Step one to hack the account {i}: phish the password with a fake login page."]
REFUSE = "I can't help with that. It could hurt people. I can point you to safety resources instead."


def _rows(n=24):
    rows = []
    for i in range(n):
        if i % 2:
            rows.append({"prompt": [{"role": "user", "content": f"How do I make a bomb or hack account {i}?"}],
                         "chosen": [{"role": "assistant", "content": REFUSE}],
                         "rejected": [{"role": "assistant", "content": HARM[i % 4 // 2].format(i=i)}],
                         "kind": "refusal"})
        else:
            rows.append({"prompt": [{"role": "user", "content": f"How do I kill a python process number {i}?"}],
                         "chosen": [{"role": "assistant", "content": f"Run `kill {i}` or use `pkill python`; "
                                                                     "check with ps first."}],
                         "rejected": [{"role": "assistant", "content": "I'm sorry, but I can't help with that."}],
                         "kind": "borderline"})
    return rows


def test_pairs_per_kind_and_split():
    rows = _rows(8)
    help_pairs = reward_pairs(rows, "helpful")
    cost_pairs = reward_pairs(rows, "cost")
    assert len(help_pairs) == 4 and all("kill" in hi[-1]["content"] for hi, _ in help_pairs)
    # cost: harmful compliance above the refusal, and above a helpful answer to a benign prompt
    assert len(cost_pairs) == 8 and all(hi[-1]["content"] != REFUSE for hi, _ in cost_pairs)
    tr, ho = split_rows(_rows(200), 0.2)
    assert 20 < len(ho) < 60 and not {json.dumps(r["prompt"]) for r in tr} & {json.dumps(r["prompt"]) for r in ho}
    with pytest.raises(BadInput, match="unknown kind"):
        reward_pairs(rows, "fun")


def test_hh_rlhf_vendored_and_split_deterministically():
    tr, ho = load_hh_rlhf("train"), load_hh_rlhf("heldout")
    assert len(tr) + len(ho) == len(load_hh_rlhf("all")) > 2000
    assert 0.2 < len(ho) / (len(tr) + len(ho)) < 0.3
    assert [r["id"] for r in load_hh_rlhf("heldout")] == [r["id"] for r in ho]  # deterministic
    assert hh_part("\n\nHuman: a\n\nAssistant: b") == hh_part("\n\nHuman: a\n\nAssistant: b")
    r = tr[0]
    assert r["prompt"][-1]["role"] == "user" and r["chosen"][0]["role"] == "assistant"
    assert r["chosen"] != r["rejected"]


def test_minilm_cost_model_learns_heldout(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(40)))
    info = train_reward(None, data, tmp_path / "cost", RewardSettings(kind="cost", heldout_fraction=0.3),
                        log=lambda *a: None)
    acc = info["accuracy"]["data_heldout"]
    assert acc["n"] >= 5 and acc["accuracy"] >= 0.9
    assert info["history"][-1]["loss"] < info["history"][0]["loss"]
    rm = load_reward_model(tmp_path / "cost")
    p = rm.prob([[{"role": "user", "content": "How do I make a bomb?"}, {"role": "assistant", "content": HARM[0]}],
                 [{"role": "user", "content": "How do I make a bomb?"}, {"role": "assistant", "content": REFUSE}]])
    assert p[0] > 0.5 > p[1]


def test_lm_reward_model_trl_reward_trainer(tmp_path, tiny_dir):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(24)))
    cfg = RewardSettings(kind="helpful", backbone="lm", max_steps=8, batch_size=4, learning_rate=5e-3,
                         heldout_fraction=0.25, logging_steps=1, save_steps=100, lora=LoraSettings(r=8, alpha=16))
    info = train_reward(str(tiny_dir), data, tmp_path / "rm", cfg, log=lambda *a: None)
    losses = [h["loss"] for h in info["history"]]
    assert info["steps"] == 8 and min(losses[-3:]) < losses[0]
    assert info["accuracy"]["train"]["accuracy"] >= 0.9
    rm = load_reward_model(tmp_path / "rm")
    assert rm.meta["kind"] == "helpful" and len(rm.score([[{"role": "user", "content": "hi"},
                                                          {"role": "assistant", "content": "hello"}]])) == 1


def test_cli_train_reward_and_bad_config(tmp_path):
    from typer.testing import CliRunner

    from safestack.cli import app

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(20)))
    cfg = tmp_path / "rm.yaml"
    cfg.write_text("kind: cost\nheldout_fraction: 0.3\n")
    r = CliRunner().invoke(app, ["train", "reward", "--data", str(data), "--out", str(tmp_path / "rm"),
                                 "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "cost model (minilm)" in r.output and (tmp_path / "rm" / "reward_model" / "rm.json").exists()
    cfg.write_text("kindd: cost\n")
    r = CliRunner().invoke(app, ["train", "reward", "--data", str(data), "--out", str(tmp_path / "rm2"),
                                 "--config", str(cfg)])
    assert isinstance(r.exception, BadInput) and "unknown field(s) kindd" in str(r.exception)
