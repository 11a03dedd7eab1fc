"""The library API (safestack.api, re-exported lazily by ``import safestack``). The whole loop through it runs in
tests/test_readme.py (the README's example, on the tiny model); these are its contracts and its checks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import safestack
from safestack.errors import BadInput


def test_import_is_light_and_exports_load_on_first_use():
    code = ("import sys, safestack; heavy = [m for m in ('torch', 'transformers', 'safestack.api', "
            "'safestack.pipeline') if m in sys.modules]; print(heavy); safestack.Run; print('safestack.api' in "
            "sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "True"]


def test_every_export_resolves():
    for name in safestack.__all__:
        assert getattr(safestack, name) is not None, name
    with pytest.raises(AttributeError):
        safestack.no_such_thing  # noqa: B018


def test_defaults_are_the_runs():
    """The library's stage defaults are `safestack run`'s (its RunConfig), so the two agree."""
    import inspect

    from safestack.pipeline import RunConfig

    cfg = RunConfig()
    sig = lambda f: inspect.signature(f).parameters  # noqa: E731
    rt, dg, ev = sig(safestack.Run.redteam), sig(safestack.Run.datagen), sig(safestack.Run.evaluate)
    assert (rt["limit"].default, rt["max_new_tokens"].default) == (cfg.redteam.limit, cfg.redteam.max_new_tokens)
    assert (dg["max_pairs"].default, dg["benign_ratio"].default, dg["borderline_mix"].default) == \
        (cfg.datagen.max_pairs, cfg.datagen.benign_ratio, cfg.datagen.borderline_mix)
    assert (ev["suite"].default, ev["max_new_tokens"].default) == (cfg.eval.suite, cfg.eval.max_new_tokens)


def test_run_checks_its_directory_and_judges(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x.json").write_text("{}")
    with pytest.raises(BadInput, match="not empty: pass resume=True"):
        safestack.Run(tmp_path / "old", judges=("refusal-rules", "harm-rules"))
    assert safestack.Run(tmp_path / "old", judges=("refusal-rules", "harm-rules"), resume=True).dir == tmp_path / "old"
    with pytest.raises(BadInput, match="first must be a refusal judge"):
        safestack.Run(tmp_path / "a", judges=("harm-rules", "refusal-rules"))
    with pytest.raises(BadInput, match="name a refusal judge and a harm judge"):
        safestack.Run(tmp_path / "b", judges=("refusal-rules",))


def test_stage_inputs_are_checked_before_any_work(tmp_path):
    run = safestack.Run(tmp_path / "r", judges=("refusal-rules", "harm-rules"))
    with pytest.raises(BadInput, match="no findings yet"):
        run.datagen(target=None)
    with pytest.raises(BadInput, match="method must be dpo, rr or dpo\\+rr"):
        run.train("default", method="ppo")
    with pytest.raises(BadInput, match="unknown field|no_such_field"):
        run.train("default", dpo={"no_such_field": 1})
    with pytest.raises(BadInput, match="training needs local weights"):
        run.train("openai:m@http://127.0.0.1:9/v1")
    with pytest.raises(BadInput, match="unknown attack 'nope'"):
        run.redteam(target=None, attacks=["nope"])
    with pytest.raises(BadInput, match="unknown eval suite"):
        run.evaluate(target=None, suite="nope")
    with pytest.raises(BadInput, match="plain word"):
        run.evaluate(target=None, name="../x")


def test_gates_are_recorded_for_the_report(tmp_path):
    run = safestack.Run(tmp_path / "r", judges=("refusal-rules", "harm-rules"))
    after = {"xstest": {"n": 100, "over_refusal": 0.5, "over_refusal_ci95": [0.4, 0.6]}}
    res = run.gates(after)
    assert not res["passed"] and any(g["metric"] == "xstest.over_refusal" and g["status"] == "fail"
                                     for g in res["results"])
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert state["rounds"][0]["gates"] == res


def test_run_loop_takes_a_config_object_and_validates_it_first(tmp_path, tiny_dir):
    cfg = safestack.RunConfig(target=f"hf:{tiny_dir}")
    cfg.redteam.attacks = ["nope"]
    with pytest.raises(BadInput, match="unknown attack 'nope'"):
        safestack.run_loop(tmp_path / "run", config=cfg)
    with pytest.raises(BadInput, match="expected a run YAML path or a RunConfig"):
        safestack.run_loop(tmp_path / "run2", config={"target": "default"})


def test_train_judges_refuses_the_other_models_options(tmp_path):
    with pytest.raises(BadInput, match="apply to --model xenc only"):
        safestack.train_judges(tmp_path / "w.json", model="robust", epochs=2)
    with pytest.raises(BadInput, match="store applies to --model robust only"):
        safestack.train_judges(tmp_path / "w", model="xenc", store=True)
    with pytest.raises(BadInput, match="unknown model 'nope'"):
        safestack.train_judges(tmp_path / "w", model="nope")


def test_judge_train_command_is_the_library_function(tmp_path, monkeypatch):
    """`safestack judge train` calls safestack.train_judges: the weights land at OUT.json, --store copies them
    to the packaged judges' path and nothing is stored without it."""
    from typer.testing import CliRunner

    from safestack import cli
    from safestack.judges import robust
    from safestack.train import judges as train_judges_mod

    calls = []

    def fake_train(out, *, cv, regression_file, log):
        calls.append({"out": out, "cv": cv, "regression": regression_file})
        meta = {"validation": {}, "version": "test"}
        out.write_text(json.dumps(meta))
        return meta

    packaged = tmp_path / "packaged.json"
    monkeypatch.setattr(train_judges_mod, "train_default_judges", fake_train)
    monkeypatch.setattr(robust, "packaged_path", lambda: packaged)
    monkeypatch.chdir(tmp_path)  # no tests/data/judge_regression.jsonl here: no regression file by default
    r = CliRunner().invoke(cli.app, ["judge", "train", "--out", str(tmp_path / "w"), "--no-cv"])
    assert r.exit_code == 0, r.output
    assert calls == [{"out": tmp_path / "w.json", "cv": False, "regression": None}]
    assert "weights → " + str(tmp_path / "w.json") in " ".join(r.output.split()) and not packaged.exists()
    r = CliRunner().invoke(cli.app, ["judge", "train", "--out", str(tmp_path / "v.json"), "--store"])
    assert r.exit_code == 0, r.output
    assert json.loads(packaged.read_text())["version"] == "test" and calls[-1]["cv"] is True
