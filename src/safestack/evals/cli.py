"""``safestack eval``: run benches (the callback), ``eval compare A B``, ``eval gates DIR``, ``eval tradeoff DIR…``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..errors import BadInput, GateFailed

eval_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                       help="Benches → DIR/responses.jsonl and DIR/metrics.json; `eval compare`, `eval gates`, "
                            "`eval tradeoff`.")
console = Console(stderr=True)
out_console = Console()
if not out_console.is_terminal:  # logs and pipes: wide tables rather than truncated cells
    out_console = Console(width=160)
pct = lambda v: "–" if v is None else f"{v * 100:.1f}%"  # noqa: E731


def _csv_list(s: str | None) -> list[str]:
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def _run(target: str, benches: list[str], limit: int | None, out: Path, max_new_tokens: int,
         api_key_env: str | None, judges: str = "refusal,harm") -> dict:
    from ..data import load_bench
    from ..judges import judge_info, make_judge
    from ..targets import GenParams, load_target
    from .runner import run_eval

    if not benches:
        raise BadInput("--bench: no bench named")
    for b in benches:
        load_bench(b)  # validate specs before loading a model
    names = _csv_list(judges)
    if len(names) != 2:
        raise BadInput(f"--judges: name a refusal judge and a harm judge, e.g. refusal,harm (got {judges!r})")
    judges = [make_judge(n) for n in names]
    tgt = load_target(target, api_key_env=api_key_env)
    return asyncio.run(run_eval(tgt, benches, judges, out, limit=limit,
                                params=GenParams(max_new_tokens=max_new_tokens), judge_info=judge_info(judges)))


def _headline(bm: dict) -> str:
    keys = ("score", "mc1", "mc2", "truthful", "accuracy_ambig", "accuracy_disambig", "bias_score_ambig",
            "bias_score_disambig", "toxic_rate", "compliance_unsafe", "refusal_holds")
    return ", ".join(f"{k}={bm[k]:.3f}" for k in keys if isinstance(bm.get(k), (int, float)))


def print_metrics(m: dict, title: str) -> None:
    t = Table(title=title)
    for c in ("bench", "n", "ASR", "over-refusal", "other"):
        t.add_column(c)
    for b, bm in m.items():
        if b in ("judge", "target", "gates", "rejudged") or not isinstance(bm, dict):
            continue
        t.add_row(b, str(bm.get("n")), pct(bm.get("asr")), pct(bm.get("over_refusal")), _headline(bm))
    out_console.print(t)


def apply_gates(metrics: dict, gates: Path | None, baseline: Path | None, out: Path | None = None) -> None:
    """Evaluate the gates, print the table, store the verdict next to the metrics; GateFailed (exit 1) on a fail."""
    from ..records import read_json, write_json
    from .gates import evaluate_gates, load_gates

    base = read_json(baseline / "metrics.json" if baseline.is_dir() else baseline) if baseline else None
    res = evaluate_gates(metrics, load_gates(gates), base)
    if out is not None:
        write_json(out / "gates.json", res)
    t = Table(title=f"gates: {'PASSED' if res['passed'] else 'FAILED'}")
    for c in ("rule", "metric", "value", "limit", "status", "recommended action"):
        t.add_column(c)
    for r in res["results"]:
        if r["status"] == "n/a":
            continue
        style = "red" if r["status"] == "fail" else None
        v = "–" if r["value"] is None else f"{r['value']:.4g}"
        t.add_row(r["rule"], r["metric"], v, r["limit"], r["status"], r["action"], style=style)
    out_console.print(t)
    for r in res["results"]:  # the failures again, one unwrapped line each (narrow terminals, CI logs)
        if r["status"] == "fail":
            v = "missing" if r["value"] is None else f"{r['value']:.4g}"
            out_console.print(f"FAIL {r['rule']}: {r['metric']} = {v} (limit {r['limit'] or 'present'}) → "
                              f"{r['action']}", soft_wrap=True)
    if not res["passed"]:
        raise GateFailed(f"{res['n_failed']} gate(s) failed")


@eval_app.callback()
def eval_(ctx: typer.Context, target: str = typer.Option("default", "--target",
                                                        help="default | hf:<path> | openai:<model>@<base_url>"),
          bench: Optional[str] = typer.Option(None, "--bench", help="comma-separated bench specs (NAME@N: a "
                                              "stratified subset of N)"),
          suite: Optional[str] = typer.Option(None, "--suite", help="a named suite instead of --bench: default "
                                              "(every run's held-out suite) | full (every bench at full size)"),
          limit: Optional[int] = typer.Option(None, "--limit"), out: Optional[Path] = typer.Option(None, "--out"),
          max_new_tokens: int = typer.Option(24, help="reply length (24 = the run default; bench_gen_length.py)"),
          api_key_env: Optional[str] = typer.Option(None, "--api-key-env"),
          judges: str = typer.Option("refusal,harm", "--judges", help="the refusal and the harm judge (default: the "
                                     "validated ones; refusal-rules,harm-rules: the rule fast path)"),
          gates: Optional[Path] = typer.Option(None, "--gates", help="gates YAML; exit 1 when a gate fails"),
          baseline: Optional[Path] = typer.Option(None, "--baseline", help="a baseline eval run (regression gates)")):
    """Benches → DIR/responses.jsonl and DIR/metrics.json (asr, over_refusal, 4 cells, bench metrics)."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise BadInput("eval: --out is required (or use `safestack eval compare|gates|tradeoff`)")
    if bench and suite:
        raise BadInput("eval: use --bench or --suite, not both")
    from .suites import suite_benches

    benches = suite_benches(suite) if suite else _csv_list(bench or "harmbench,xstest")
    m = _run(target, benches, limit, out, max_new_tokens, api_key_env, judges)
    print_metrics(m, f"eval {target}")
    if gates or baseline:
        apply_gates(m, gates, baseline, out)


@eval_app.command("gates")
def gates_cmd(run: Path = typer.Argument(..., help="an eval run directory (or its metrics.json)"),
              gates: Optional[Path] = typer.Option(None, "--gates", help="gates YAML (default: the built-in one)"),
              baseline: Optional[Path] = typer.Option(None, "--baseline")):
    """Check an existing eval run against the gates; exit 1 with the failed rules and recommended actions."""
    from ..records import read_json

    apply_gates(read_json(run / "metrics.json" if run.is_dir() else run), gates, baseline)


@eval_app.command("compare")
def compare_cmd(a: str = typer.Argument(..., help="eval run dir, or a target spec (checkpoint) with --bench/--out"),
                b: str = typer.Argument(...), bench: str = typer.Option("harmbench,xstest", "--bench"),
                limit: Optional[int] = typer.Option(None, "--limit"),
                out: Optional[Path] = typer.Option(None, "--out", help="where checkpoints are evaluated (out/a, "
                                                   "out/b) and compare.json is written"),
                max_new_tokens: int = typer.Option(48), seed: int = typer.Option(0)):
    """A vs B per bench and metric: values, delta (B − A) with bootstrap 95 % CI, permutation p-value."""
    from ..records import write_json
    from .compare import compare_runs, load_run

    dirs = []
    for name, spec in (("a", a), ("b", b)):
        if Path(spec).is_dir() and (Path(spec) / "responses.jsonl").exists():
            dirs.append(Path(spec))
            continue
        if out is None:
            raise BadInput(f"compare: '{spec}' is not an eval run directory; to evaluate it as a checkpoint give "
                           "--out (and --bench)")
        _run(spec, _csv_list(bench), limit, out / name, max_new_tokens, None)
        dirs.append(out / name)
    (ra, _), (rb, _) = load_run(dirs[0]), load_run(dirs[1])
    res = compare_runs(ra, rb, seed=seed)
    if not res:
        raise BadInput(f"compare: {dirs[0]} and {dirs[1]} share no bench")
    if out is not None:
        write_json(out / "compare.json", {"a": str(dirs[0]), "b": str(dirs[1]), "benches": res})
    t = Table(title=f"A = {dirs[0]}   B = {dirs[1]}")
    for c in ("bench", "metric", "n A/B", "A", "B", "Δ (B−A)", "95% CI", "p", "sig"):
        t.add_column(c)
    for bn, ms in res.items():
        for mn, r in ms.items():
            if r.get("delta") is None:
                continue
            t.add_row(bn, mn, f"{r['n_a']}/{r['n_b']}" + (" paired" if r["paired"] else ""), f"{r['a']:.3f}",
                      f"{r['b']:.3f}", f"{r['delta']:+.3f}", f"[{r['delta_ci95'][0]:+.3f}, {r['delta_ci95'][1]:+.3f}]",
                      f"{r['p_value']:.3f}", "*" if r["significant"] else "")
    out_console.print(t)
    if out is None:
        out_console.print_json(json.dumps(res))


@eval_app.command("tradeoff")
def tradeoff_cmd(runs: list[Path] = typer.Argument(..., help="eval run dirs, in order (e.g. checkpoints)"),
                 out: Path = typer.Option(..., "--out", help="PNG file"),
                 asr_bench: str = typer.Option("harmbench", "--asr-bench"),
                 over_refusal_bench: str = typer.Option("xstest", "--over-refusal-bench"),
                 labels: Optional[str] = typer.Option(None, "--labels", help="comma-separated, one per run")):
    """The harmlessness vs over-refusal trade-off curve across runs, as a PNG."""
    from .tradeoff import points_from_runs, tradeoff_plot

    pts = points_from_runs(runs, asr_bench, over_refusal_bench)
    if labels:
        names = _csv_list(labels)
        if len(names) != len(pts):
            raise BadInput(f"--labels: {len(names)} labels for {len(pts)} runs")
        pts = [(n, o, a) for n, (_, o, a) in zip(names, pts)]
    tradeoff_plot(pts, out)
    for lab, orr, asr in pts:
        out_console.print(f"{lab}: over-refusal {pct(orr)}, ASR {pct(asr)}")
    out_console.print(f"plot: {out}")


@eval_app.command("rejudge")
def rejudge_cmd(run: Path = typer.Argument(..., help="a finished eval run directory"),
                out: Path = typer.Option(..., "--out", help="where the re-judged run is written"),
                judges: str = typer.Option("refusal,harm", "--judges", help="judges to re-run (by name)")):
    """Re-score a run's stored replies with the current judges (after a judge changed); nothing is generated.
    Multi-turn conversations are judged again turn by turn (needs --judges with refusal and harm)."""
    from ..judges import judge_info, make_judge
    from .runner import rejudge

    js = [make_judge(n) for n in _csv_list(judges)]
    m = asyncio.run(rejudge(run, out, js, judge_info(js)))
    console.print(f"verdicts changed: {m['rejudged']['verdicts_changed']}")
    print_metrics(m, f"eval rejudge {run}")
