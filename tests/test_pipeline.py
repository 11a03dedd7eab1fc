"""The closed loop on the tiny model: every stage real, small sizes."""

import json

import pytest
import yaml

from safestack.pipeline import load_run_config, run_pipeline


RULE_JUDGES = {"judges": {"refusal": "refusal-rules", "harm": "harm-rules"}}


def _tiny_run_config(tmp_path, tiny_dir, sections: dict):
    """run.yaml for the tiny model: small red team, data and training, one round, HarmBench + XSTest, unless
    ``sections`` say otherwise. The rule judges: the default ones rightly call the random model's text off-topic
    (non-compliance), which leaves nothing to train on; these tests are about the loop's plumbing."""
    cfg = {"target": f"hf:{tiny_dir}",
           "redteam": {"limit": 6, "attacks": ["direct"], "max_new_tokens": 8},
           "datagen": {"max_pairs": 12},
           "train": {"max_steps": 2, "batch_size": 4, "save_steps": 1, "logging_steps": 1},
           "eval": {"benches": ["harmbench", "xstest"]}, "rounds": {"max_rounds": 1}, **RULE_JUDGES}
    cfg.update(sections)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_run_loop_on_tiny_model(tmp_path, tiny_dir):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "target": f"hf:{tiny_dir}",
        "redteam": {"limit": 6, "attacks": ["direct", "base64"], "max_new_tokens": 8},
        "datagen": {"max_pairs": 12},
        "train": {"max_steps": 2, "batch_size": 4, "save_steps": 1, "logging_steps": 1},
        "checkpoint_eval": {"limit": 4, "max_new_tokens": 4},
        "eval": {"benches": ["harmbench", "xstest"], "limit": 6, "max_new_tokens": 6},
        "rounds": {"max_rounds": 1}, **RULE_JUDGES,
    }))
    out = tmp_path / "run"
    rep = run_pipeline(load_run_config(str(cfg_file)), out)
    for k in ("before", "after", "redteam", "training_data", "training"):
        assert rep[k], k
    assert set(rep["before"]) >= {"harmbench", "xstest"} and rep["after"]["xstest"]["n"] == 6
    assert (out / "report.html").read_text().count("<h2") >= 5
    # safety re-checked at the start and at both saved checkpoints, curves in the report
    assert [r["step"] for r in rep["checkpoint_evals"]["rows"]] == [0, 1, 2]
    assert "checkpoint safety curves" in (out / "report.html").read_text()
    on_disk = json.loads((out / "report.json").read_text())
    assert "asr" in on_disk["after"]["harmbench"] and "over_refusal" in on_disk["after"]["xstest"]
    from safestack.targets import load_target

    assert load_target(f"hf:{out / 'model'}").model is not None
    # resume: everything is done, nothing re-runs, same report
    rep2 = run_pipeline(load_run_config(str(cfg_file)), out, resume=True)
    assert rep2["after"] == rep["after"]
    # enforced gates: `safestack run --gates` exits 1 with the failed rules when the final round fails them
    import subprocess
    import sys

    gates = tmp_path / "strict.yaml"
    gates.write_text(yaml.safe_dump({"rules": [{"name": "over-refusal", "metric": "xstest.over_refusal", "op": "<",
                                                "value": -1.0, "action": "rebalance the mix"}]}))
    r = subprocess.run([sys.executable, "-m", "safestack.cli", "run", "--config", str(cfg_file), "--out", str(out),
                        "--resume", "--gates", str(gates)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "xstest.over_refusal" in r.stderr + r.stdout and "rebalance the mix" in r.stderr + r.stdout


def test_rounds_apply_the_decision_rules_until_the_budget(tmp_path, tiny_dir):
    """Gates that cannot pass: the loop runs max_rounds rounds, each applying the seeds' decision rules to the next
    round's data, trains round 2 from round 1's model, and reports round 2's eval as "after"."""
    gates = tmp_path / "gates.yaml"
    gates.write_text(yaml.safe_dump({"rules": [
        {"name": "over-refusal", "metric": "*.over_refusal", "op": "<", "value": -1.0, "action": "rebalance"},
        {"name": "category ASR", "metric": "harmbench.asr_by_category.*", "op": "<", "value": -1.0,
         "action": "halt"}]}))
    cfg_file = _tiny_run_config(tmp_path, tiny_dir, {
        "redteam": {"limit": 4, "attacks": ["direct"], "max_new_tokens": 6},
        "datagen": {"max_pairs": 8},
        "train": {"max_steps": 1, "batch_size": 4, "save_steps": 10, "logging_steps": 1},
        "checkpoint_eval": {"enabled": False},
        "eval": {"benches": ["harmbench", "xstest"], "limit": 4, "max_new_tokens": 4},
        "rounds": {"max_rounds": 2, "gates": str(gates), "budget_minutes": None},
    })
    out = tmp_path / "run"
    rep = run_pipeline(load_run_config(str(cfg_file)), out)
    assert [x["round"] for x in rep["rounds"]] == [1, 2] and not rep["rounds"][0]["passed"]
    d = " ".join(rep["rounds"][0]["decisions"])
    assert "benign_ratio 1.5 → 2.25" in d and "targeted data for" in d
    assert "max_rounds" in rep["rounds"][1]["stopped"]
    r2 = json.loads((out / "rounds" / "2" / "eval_after" / "metrics.json").read_text())
    assert rep["after"]["harmbench"] == r2["harmbench"]
    cfg2 = json.loads((out / "rounds" / "2" / "data" / "datagen.json").read_text())
    assert cfg2["n_pairs"] >= 1 and (out / "rounds" / "2" / "data" / "train_replay.jsonl").exists()
    assert "Release gates and rounds" in (out / "report.html").read_text()


def test_run_reads_the_first_and_last_checkpoint_points_from_its_evals(tmp_path, tiny_dir):
    """When eval before/after cover the checkpoint-eval prompts with the same decoding, step 0 (the base model) and
    the final step (the trained model) are read from them instead of generated again; the steps between are not."""
    from safestack.train.checkpoint_eval import load_evals

    cfg_file = _tiny_run_config(tmp_path, tiny_dir, {
        "checkpoint_eval": {"limit": 4, "max_new_tokens": 4},
        "eval": {"benches": ["harmbench", "xstest:safe"], "max_new_tokens": 4},
    })
    out = tmp_path / "run"
    rep = run_pipeline(load_run_config(str(cfg_file)), out)
    rows = load_evals(out / "train")
    assert [(r.step, r.meta.get("from")) for r in rows] == [(0, "eval_before"), (1, None), (2, "eval_after")]
    assert rows[0].n_harmful == 4 and rows[0].n_benign == 4 and rows[2].seconds == 0.0
    after = json.loads((out / "eval_after" / "responses.jsonl").read_text().splitlines()[0])
    assert after["bench"] == "harmbench"
    assert [r["step"] for r in rep["checkpoint_evals"]["rows"]] == [0, 1, 2]


def test_bad_borderline_mix_is_refused_before_any_stage(tmp_path, tiny_dir):
    import pytest

    from safestack.errors import BadInput

    cfg_file = _tiny_run_config(tmp_path, tiny_dir, {"datagen": {"borderline_mix": "random"}})
    out = tmp_path / "run"
    with pytest.raises(BadInput, match="borderline_mix must be one of balanced, pool, not 'random'"):
        run_pipeline(load_run_config(str(cfg_file)), out)
    assert not (out / "redteam").exists()


@pytest.mark.parametrize("datagen,message", [
    ({"borderline_extra_share": 1.5}, r"datagen.borderline_extra_share must be in \[0, 1\], got 1.5"),
    ({"borderline_extra_share": None}, r"borderline_extra_share must be in \[0, 1\], got None"),
    ({"borderline_extra": "hh-redteam:benign"}, "borderline_extra must be a list of bench specs"),
    ({"borderline_extra": ["nosuchbench"]}, "unknown bench spec 'nosuchbench'")])
def test_bad_borderline_extra_is_refused_before_any_stage(tmp_path, tiny_dir, datagen, message):
    from safestack.errors import BadInput

    cfg_file = _tiny_run_config(tmp_path, tiny_dir, {"datagen": datagen})
    out = tmp_path / "run"
    with pytest.raises(BadInput, match=message):
        run_pipeline(load_run_config(str(cfg_file)), out)
    assert not (out / "redteam").exists()


@pytest.mark.parametrize("method", ["rr", "dpo+rr"])
def test_run_trains_with_representation_rerouting(tmp_path, tiny_dir, method):
    """method: rr trains the run's pairs with the rerouting losses (its log in train/); dpo+rr runs RR from the DPO
    model (train_rr/); either way the run's model is the last one and loads as hf:DIR/model."""
    cfg_file = _tiny_run_config(tmp_path, tiny_dir, {
        "method": method, "rr": {"max_steps": 2, "batch_size": 2, "max_prompt_length": 32,
                                 "max_completion_length": 8},
        "train": {"max_steps": 1, "batch_size": 4, "save_steps": 10, "logging_steps": 1},
        "checkpoint_eval": {"enabled": False}, "eval": {"benches": ["harmbench"], "limit": 2, "max_new_tokens": 2},
    })
    out = tmp_path / "run"
    run_pipeline(load_run_config(str(cfg_file)), out)
    log = out / ("train_rr" if method == "dpo+rr" else "train") / "rr_log.jsonl"
    steps = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(steps) == 2 and all("cos" in json.dumps(s) for s in steps)
    from safestack.targets import load_target

    assert load_target(f"hf:{out / 'model'}").model is not None
