"""``safestack probe --target SPEC --out DIR`` → DIR/probe.json, DIR/probe.png, DIR/circuit_breaker.json."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def probe(target: str = typer.Option("default", "--target", help="default | hf:<path> (local weights needed)"),
          out: Path = typer.Option(..., "--out", help="output directory (rerun to resume)"),
          limit: Optional[int] = typer.Option(None, "--limit", help="held-out prompts per bench (HarmBench test, "
                                              "XSTest-safe); default all"),
          responses: Optional[Path] = typer.Option(None, "--responses", help="responses.jsonl of a `safestack eval` "
                                                   "of the same target (greedy, same --max-new-tokens) to replay "
                                                   "instead of generating the held-out replies again"),
          max_new_tokens: int = typer.Option(48, "--max-new-tokens"),
          k: int = typer.Option(4, "--k", help="check the generation probe every k tokens"),
          max_fpr: float = typer.Option(0.02, "--max-fpr", help="per-probe false-positive rate allowed on the "
                                        "benign validation prompts (sets the thresholds)"),
          n_gen_fit: int = typer.Option(64, "--n-gen-fit", help="harmful and benign fit prompts generated for the "
                                        "generation probe"),
          rd_n_eval: int = typer.Option(32, "--rd-n-eval", help="held-out prompts per refusal-direction test"),
          gen_probe: str = typer.Option("auto", "--gen-probe", help="auto | on | off: keep the generation probe "
                                        "(auto: only if it catches harmful validation prompts the prompt probe misses)"),
          batch_size: int = typer.Option(16, "--batch-size"), seed: int = typer.Option(0, "--seed")):
    """Representation engineering: probes by layer, the refusal direction, a runtime circuit breaker."""
    from ..errors import BadInput
    from ..targets import load_target
    from .run import ProbeConfig, run_probe

    if k < 1:
        raise BadInput("--k must be ≥ 1")
    if not 0.0 <= max_fpr < 1.0:
        raise BadInput("--max-fpr must be in [0, 1)")
    if gen_probe not in ("auto", "on", "off"):
        raise BadInput(f"--gen-probe {gen_probe!r}: use auto, on or off")
    if responses is not None and not responses.exists():
        raise BadInput(f"{responses}: file not found")
    if not (target == "default" or target.startswith("hf:")):
        raise BadInput(f"probe: target '{target}' has no local weights (use default or hf:<path>)")
    cfg = ProbeConfig(k=k, max_fpr=max_fpr, eval_limit=limit, responses=str(responses) if responses else None,
                      max_new_tokens=max_new_tokens, n_gen_fit=n_gen_fit, rd_n_eval=rd_n_eval, gen_probe=gen_probe,
                      batch_size=batch_size, seed=seed)
    tgt = load_target(target, batch_size=batch_size)
    res = run_probe(tgt, out, cfg, log=console.print)
    cb = res["circuit_breaker"]
    gen = f"generation probe L{cb['gen_layer']}, k={cb['k']}" if cb["gen_probe_used"] else "no generation probe"
    t = Table(title=f"circuit breaker (prompt probe L{cb['prompt_layer']}, {gen})")
    for c in ("bench", "n", "ASR base → cb", "over-refusal base → cb", "halted (prompt/gen)"):
        t.add_column(c)
    f = lambda v: "–" if v is None else f"{v * 100:.1f}%"  # noqa: E731
    for b, m in cb["held_out"].items():
        t.add_row(b, str(m["n"]), f"{f(m.get('asr_base'))} → {f(m.get('asr_cb'))}",
                  f"{f(m.get('over_refusal_base'))} → {f(m.get('over_refusal_cb'))}",
                  f"{m['halted_prompt']}/{m['halted_generation']}")
    Console().print(t)
    o = cb["overhead"]
    Console().print(f"per-token: {o['ms_per_token_plain']} ms plain, {o['ms_per_token_with_probes']} ms with probes "
                    f"({o['overhead_pct']:+.1f}%)\nresults: {out / 'probe.json'} · plot: {out / 'probe.png'} · "
                    f"breaker: {cb['spec']}")
