"""Named evaluation suites: what "held out" means for a run.

``default`` — every run's suite, sized for ≤ 15 min of the whole loop on 2 CPU cores: HarmBench test (standard
behaviours), XSTest (both halves), StrongREJECT, JailbreakBench behaviours and scripted multi-turn escalation on
stratified subsets, and TruthfulQA MC1/MC2 on a fixed subset as the capability check (so refusing everything cannot
pass). ``full`` — every bench at full size (``safestack eval --suite full``; hours on CPU).
A ``@N`` suffix is a stratified subset of N (the runner draws it with a fixed seed, so before and after see the same
prompts).
"""

from __future__ import annotations

from ..errors import BadInput

SUITES: dict[str, list[str]] = {
    "default": ["harmbench@100", "xstest", "strongreject@60", "jbb@60", "multiturn@16", "truthfulqa@80"],
    "full": ["harmbench", "xstest", "strongreject", "jbb", "multiturn", "truthfulqa", "jbb:artifacts", "toxigen",
             "bbq"],
}


def suite_benches(name: str) -> list[str]:
    if name not in SUITES:
        raise BadInput(f"unknown eval suite '{name}' ({', '.join(SUITES)})")
    return list(SUITES[name])
