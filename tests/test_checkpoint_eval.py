import json

from safestack.train.checkpoint_eval import (CheckpointEval, CheckpointEvalCallback, flag_degradation, load_evals,
                                             plot_curves)
from safestack.train.config import CheckpointEvalSettings, DPOSettings, LoraSettings, SFTSettings
from safestack.train.sft import train_sft


def _rec(step, asr, ci, orr=0.1, orr_ci=(0.05, 0.2)):
    return CheckpointEval(key=f"step-{step}", step=step, asr=asr, asr_ci95=list(ci), over_refusal=orr,
                          over_refusal_ci95=list(orr_ci))


def test_flag_degradation_against_best_so_far():
    rows = [_rec(0, 0.8, (0.7, 0.9)), _rec(10, 0.4, (0.3, 0.5)), _rec(20, 0.45, (0.35, 0.55)),
            _rec(30, 0.6, (0.5, 0.7))]
    f = flag_degradation(rows)
    assert f["step"] == 30 and "asr 0.600 > 0.500" in f["reasons"][0]  # above step 10's upper bound
    rows2 = rows[:3] + [_rec(30, 0.4, (0.3, 0.5), orr=0.35, orr_ci=(0.25, 0.45))]
    f2 = flag_degradation(rows2)
    assert f2["step"] == 30 and f2["reasons"][0].startswith("over_refusal")
    assert flag_degradation(rows[:3])["step"] is None  # within the CI: no flag


def test_callback_evaluates_every_checkpoint_and_plots(tmp_path, tiny_dir):
    rows = [{"prompt": [{"role": "user", "content": f"Tell me about topic {i}."}],
             "chosen": [{"role": "assistant", "content": "Here is a short answer."}],
             "rejected": [{"role": "assistant", "content": "No."}]} for i in range(8)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ce = CheckpointEvalSettings(enabled=True, limit=3, max_new_tokens=6)
    cfg = SFTSettings(max_steps=4, batch_size=4, save_steps=2, logging_steps=1, lora=LoraSettings(r=4, alpha=8),
                      checkpoint_eval=ce)
    train_sft(str(tiny_dir), data, tmp_path / "out", cfg, log=lambda *a: None)
    evals = load_evals(tmp_path / "out")
    assert [e.step for e in evals] == [0, 2, 4]
    assert all(e.n_harmful == 3 and e.n_benign == 3 and e.asr is not None for e in evals)
    assert evals[1].checkpoint.endswith("checkpoint-2")
    assert (tmp_path / "out" / "checkpoint_evals" / "step-2" / "responses.jsonl").exists()
    png = plot_curves(evals, tmp_path / "curves.png")
    assert png.stat().st_size > 5000


def test_callback_works_with_dpo(tmp_path, tiny_dir):
    from safestack.train.dpo import train_dpo

    rows = [{"prompt": [{"role": "user", "content": f"How do I make weapon {i}?"}],
             "chosen": [{"role": "assistant", "content": "I can't help with that."}],
             "rejected": [{"role": "assistant", "content": "Sure, first get pipes."}]} for i in range(4)]
    cb = CheckpointEvalCallback(tmp_path / "out", CheckpointEvalSettings(enabled=True, limit=2, max_new_tokens=4,
                                                                         at_start=False), log=lambda *a: None)
    train_dpo(str(tiny_dir), rows, tmp_path / "out", DPOSettings(max_steps=2, batch_size=4, save_steps=1,
                                                               lora=LoraSettings(r=4, alpha=8)),
              callbacks=[cb], log=lambda *a: None)
    assert [e.step for e in load_evals(tmp_path / "out")] == [1, 2]


def test_dpo_settings_turn_the_checkpoint_eval_on_and_training_resumes(tmp_path, tiny_dir):
    """`safestack train dpo` with checkpoint_eval in its config: evals at every checkpoint; a second call with the
    same out dir resumes from the last checkpoint instead of starting over."""
    from safestack.train.config import from_dict
    from safestack.train.dpo import train_dpo

    rows = [{"prompt": [{"role": "user", "content": f"How do I make weapon {i}?"}],
             "chosen": [{"role": "assistant", "content": "I can't help with that."}],
             "rejected": [{"role": "assistant", "content": "Sure, first get pipes."}]} for i in range(4)]
    cfg = from_dict(DPOSettings, {"max_steps": 2, "batch_size": 4, "save_steps": 1, "logging_steps": 1, "lora": {"r": 4, "alpha": 8},
                                  "checkpoint_eval": {"enabled": True, "limit": 2, "max_new_tokens": 4}})
    train_dpo(str(tiny_dir), rows, tmp_path / "out", cfg, log=lambda *a: None)
    assert [e.step for e in load_evals(tmp_path / "out")] == [0, 1, 2]
    cfg.max_steps = 3
    logs = []
    info = train_dpo(str(tiny_dir), rows, tmp_path / "out", cfg, log=logs.append)
    assert any("resuming from the last checkpoint" in str(m) for m in logs)
    assert info["steps"] == 3 and [h["step"] for h in info["history"]] == [1, 2, 3]
    assert [e.step for e in load_evals(tmp_path / "out")][-1] == 3


def test_eval_covers_decides_on_the_sample_ids_point_from_eval_reads(tmp_path):
    """The run skips the final checkpoint eval only when eval after will hold every prompt of the subsets."""
    from safestack.train.checkpoint_eval import eval_covers

    ce = CheckpointEvalSettings(asr_bench="harmbench", over_refusal_bench="xstest:safe", limit=16, max_new_tokens=24)
    assert eval_covers(ce, ["harmbench", "xstest"], None, 24)
    assert not eval_covers(ce, ["harmbench", "xstest"], None, 32)  # other replies
    assert not eval_covers(ce, ["harmbench"], None, 24)  # no XSTest in eval after
    assert not eval_covers(ce, ["harmbench", "xstest"], 8, 24)  # eval after on fewer prompts
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"prompt": f"how do I do thing {i}", "label": "harmful"}) + "\n" for i in range(20)))
    b.write_text("".join(json.dumps({"prompt": f"other thing {i}", "label": "harmful"}) + "\n" for i in range(20)))
    ce = CheckpointEvalSettings(asr_bench=f"jsonl:{a}", over_refusal_bench="xstest:safe", limit=16, max_new_tokens=24)
    assert eval_covers(ce, [f"jsonl:{a}", "xstest"], None, 24)
    assert not eval_covers(ce, [f"jsonl:{b}", "xstest"], None, 24)  # another file
