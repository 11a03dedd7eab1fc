"""`kill -9` inside every stage of `safestack run`, then `--resume`: nothing finished is lost or redone."""

import json
import signal
import subprocess
import sys
import time

import yaml


# stage → a file that exists only once the stage is under way (its first records or checkpoint)
MARKERS = [
    ("redteam", "redteam/findings.jsonl"),
    ("eval_before", "eval_before/responses.jsonl"),
    ("datagen", "data/borderline_answers.jsonl"),
    ("train", "train/checkpoints/checkpoint-1"),
    ("eval_after", "eval_after/responses.jsonl"),
]
RECORDS = ["redteam/findings.jsonl", "eval_before/responses.jsonl", "data/borderline_answers.jsonl",
           "eval_after/responses.jsonl"]


def _started(path) -> bool:
    return path.exists() and (path.is_dir() or path.stat().st_size > 0)


def _keys(out, final: bool = False) -> dict[str, list[str]]:
    """Record keys per file; a torn last line (the record in flight at the kill) is skipped, except at the end."""
    res = {}
    for f in RECORDS:
        if (out / f).exists():
            lines = (out / f).read_text(encoding="utf-8").split("\n")
            assert lines[-1] == "" or not final, f"{f} ends in a torn line after the final resume"
            res[f] = [json.loads(x)["key"] for x in lines[:-1]]
    return res


def test_kill_9_in_every_stage_then_resume(tmp_path, tiny_dir):
    cfg = {"target": f"hf:{tiny_dir}",
           "redteam": {"limit": 24, "attacks": ["direct", "base64"], "max_new_tokens": 8, "batch_size": 4},
           "datagen": {"max_pairs": 24},
           "train": {"max_steps": 4, "batch_size": 2, "save_steps": 1, "logging_steps": 1},
           "checkpoint_eval": {"enabled": False},
           "eval": {"benches": ["harmbench", "xstest"], "limit": 24, "max_new_tokens": 6, "batch_size": 4},
           "rounds": {"max_rounds": 1}, "judges": {"refusal": "refusal-rules", "harm": "harm-rules"}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "safestack.cli", "run", "--config", str(tmp_path / "run.yaml"), "--out", str(out),
           "--resume"]
    killed_in, done_before = [], {}
    for stage, marker in MARKERS:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and not _started(out / marker):
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = json.loads((out / "state.json").read_text()) if (out / "state.json").exists() else {"done": {}}
        if stage not in state["done"]:
            killed_in.append(stage)
        # stages finished before this kill keep their record (not redone: same timestamp, same seconds)
        assert {k: state["done"][k] for k in done_before} == done_before
        done_before = dict(state["done"])
        for f, keys in _keys(out).items():
            assert len(keys) == len(set(keys)), f"duplicate records in {f} after the kill in {stage}"
    before = _keys(out)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    state = json.loads((out / "state.json").read_text())
    assert {k: state["done"][k] for k in done_before} == done_before
    assert {"redteam", "eval_before", "datagen", "train", "eval_after", "report"} <= set(state["done"])
    after = _keys(out, final=True)
    for f, keys in after.items():  # every record written before a kill is still there, once
        assert len(keys) == len(set(keys)) and set(before.get(f, [])) <= set(keys), f
    assert len(killed_in) >= 3, f"the kills landed between stages only: {killed_in}"
    assert (out / "report.html").exists() and (out / "model").exists()
