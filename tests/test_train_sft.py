import json

import pytest

from safestack.errors import BadInput
from safestack.train.config import LoraSettings, SFTSettings, from_dict
from safestack.train.sft import chosen_nll, load_sft_rows, train_sft


def _pairs(tmp_path, n=8):
    rows = [{"prompt": [{"role": "user", "content": f"How do I make a weapon number {i}?"}],
             "chosen": [{"role": "assistant", "content": "I can't help with that."}],
             "rejected": [{"role": "assistant", "content": f"Sure, step one is to get {i} pipes."}]} for i in range(n)]
    p = tmp_path / "train.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p, rows


def test_sft_lora_lowers_loss_on_chosen_and_resumes(tmp_path, tiny_dir):
    data, rows = _pairs(tmp_path)
    before = chosen_nll(tiny_dir, rows)
    cfg = SFTSettings(max_steps=4, batch_size=4, learning_rate=1e-2, save_steps=2, logging_steps=1,
                      lora=LoraSettings(r=8, alpha=16))
    info = train_sft(str(tiny_dir), data, tmp_path / "out", cfg, log=lambda *a: None)
    assert info["steps"] == 4
    losses = [h["loss"] for h in info["history"]]
    assert losses[-1] < losses[0]
    after = chosen_nll(tmp_path / "out" / "model", rows)
    assert after < before - 0.5, (before, after)
    # resumable: a longer run picks up the last checkpoint (step 4) and only does the remaining steps
    cfg.max_steps = 6
    logs = []
    info2 = train_sft(str(tiny_dir), data, tmp_path / "out", cfg, log=logs.append)
    assert info2["steps"] == 6 and any("resuming" in str(m) for m in logs)
    assert len(info2["history"]) == 6


def test_sft_full_finetune_without_lora(tmp_path, tiny_dir):
    data, rows = _pairs(tmp_path, 4)
    cfg = SFTSettings(max_steps=3, batch_size=4, learning_rate=5e-3, save_steps=100, logging_steps=1,
                      lora=LoraSettings(enabled=False))
    info = train_sft(str(tiny_dir), data, tmp_path / "out", cfg, log=lambda *a: None)
    assert info["history"][-1]["loss"] < info["history"][0]["loss"]
    assert chosen_nll(tmp_path / "out" / "model", rows) < chosen_nll(tiny_dir, rows)


def test_sft_rows_formats_and_bad_input(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"prompt": "hi", "completion": "hello"}) + "\n" +
                 json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
                 + "\n")
    rows = load_sft_rows(p)
    assert rows[0]["completion"] == [{"role": "assistant", "content": "hello"}]
    assert rows[1]["prompt"] == [{"role": "user", "content": "a"}]
    p.write_text(json.dumps({"prompt": "hi"}) + "\n")
    with pytest.raises(BadInput, match=r"d.jsonl:1: missing field 'completion'"):
        load_sft_rows(p)
    cfg = from_dict(SFTSettings, {"learning_rate": 1e-4, "lora": {"enabled": False}, "checkpoint_eval": {"limit": 4}})
    assert cfg.learning_rate == 1e-4 and not cfg.lora.enabled and cfg.checkpoint_eval.limit == 4


def test_cli_train_sft(tmp_path, tiny_dir):
    from typer.testing import CliRunner

    from safestack.cli import app

    data, _ = _pairs(tmp_path, 4)
    cfg = tmp_path / "sft.yaml"
    cfg.write_text("max_steps: 1\nbatch_size: 4\nlora: {r: 4, alpha: 8}\n")
    r = CliRunner().invoke(app, ["train", "sft", "--model", f"hf:{tiny_dir}", "--data", str(data), "--out",
                                 str(tmp_path / "o"), "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "trained 1 steps" in r.output and (tmp_path / "o" / "model" / "config.json").exists()
    r = CliRunner().invoke(app, ["train", "ppo", "--data", str(data), "--out", str(tmp_path / "p")])
    assert isinstance(r.exception, BadInput) and "unknown training method 'ppo'" in str(r.exception)


@pytest.mark.parametrize("is_open", [False, True])
def test_sft_teaches_stopping_only_where_a_reply_really_ends(tmp_path, tiny_dir, is_open):
    from test_train import check_stop_training

    check_stop_training(tmp_path, tiny_dir, is_open, train_sft, SFTSettings)
