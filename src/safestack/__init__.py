"""safestack: red-team, align, evaluate and guard LLMs — measured.

The library (``safestack.api``), imported on first use so that ``import safestack`` stays fast:

* ``Run(out, judges=…)`` — a run directory with ``redteam``, ``datagen``, ``evaluate``, ``train``, ``gates`` and
  ``report``; ``run_loop(out, config=…)`` — the whole closed loop, as ``safestack run``; ``RunConfig``.
* ``load_target(spec)`` (``default``, ``hf:PATH``, ``openai:MODEL@URL``), ``GenParams``, ``load_bench(spec)``,
  ``make_judge(name)``, ``make_attacks(names)``, ``load_gates``, ``evaluate_gates``, ``build_report``,
  ``train_judges``.
"""

from __future__ import annotations

__version__ = "0.1.0"

# public name → module it lives in (relative to this package)
_EXPORTS = {
    "Run": ".api", "run_loop": ".api", "train_judges": ".api",
    "RunConfig": ".pipeline", "load_run_config": ".pipeline",
    "load_target": ".targets", "GenParams": ".targets",
    "load_bench": ".data",
    "make_judge": ".judges",
    "make_attacks": ".attacks",
    "load_gates": ".evals.gates", "evaluate_gates": ".evals.gates",
    "build_report": ".report",
    "BadInput": ".errors", "GateFailed": ".errors", "SafestackError": ".errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        from importlib import import_module

        value = getattr(import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'safestack' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
