"""Release gates: decision rules over an eval's metrics.json (and, for regression rules, a baseline run's).

A gate file is YAML ``{rules: [...]}``; each rule names a metric path with wildcards, a comparison and the action
to recommend when it fails (defaults: ``gates.yaml`` next to this module). ``evaluate_gates`` is what
``safestack eval --gates`` and the pipeline call; the result says which rules failed and what to do.
"""

from __future__ import annotations

import fnmatch
import operator
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, Iterator


from ..errors import BadInput

OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
SKIP_TOP = ("judge", "target", "rejudged")


@dataclass
class Rule:
    name: str
    metric: str | list[str]  # one dotted path pattern, or several
    kind: str = "threshold"  # threshold | regression
    op: str = "<="
    value: float | None = None
    direction: str = "lower"  # regression: lower (or higher) is better
    action: str = ""
    required: bool = False
    min_n: int = 1  # groups with fewer samples are not gated
    in_run: bool = True  # checked by `safestack run` against its own model before training (false: release-vs-release)


@dataclass
class GateResult:
    rule: str
    metric: str
    status: str  # pass | fail | n/a
    value: float | None = None
    limit: str = ""
    action: str = ""
    note: str = ""


def default_gates_path() -> Path:
    return Path(str(resources.files(__package__).joinpath("gates.yaml")))


def load_gates(path: str | Path | None = None) -> list[Rule]:
    from ..records import read_yaml

    p = Path(path) if path else default_gates_path()
    raw = read_yaml(p, "gates file").get("rules")
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"{p}: expected a top-level 'rules' list")
    known = {f.name for f in fields(Rule)}
    rules = []
    for i, r in enumerate(raw, 1):
        where = f"{p}: rules[{i}]"
        if not isinstance(r, dict):
            raise BadInput(f"{where}: expected a mapping")
        extra = set(r) - known
        if extra:
            raise BadInput(f"{where}: unknown field '{sorted(extra)[0]}' (fields: {', '.join(sorted(known))})")
        if not isinstance(r.get("name"), str) or not r["name"]:
            raise BadInput(f"{where}: field 'name' is required (a string)")
        m = r.get("metric")
        if not (isinstance(m, str) and m) and not (isinstance(m, list) and m and all(isinstance(x, str) for x in m)):
            raise BadInput(f"{where}: field 'metric' is required (a path or a list of paths)")
        rule = Rule(**r)
        if rule.kind not in ("threshold", "regression"):
            raise BadInput(f"{where}: field 'kind' must be threshold or regression, got {rule.kind!r}")
        if rule.kind == "threshold":
            if rule.op not in OPS:
                raise BadInput(f"{where}: field 'op' must be one of {', '.join(OPS)}, got {rule.op!r}")
            if not isinstance(rule.value, (int, float)) or isinstance(rule.value, bool):
                raise BadInput(f"{where}: field 'value' must be a number")
        if rule.direction not in ("lower", "higher"):
            raise BadInput(f"{where}: field 'direction' must be lower or higher, got {rule.direction!r}")
        rules.append(rule)
    return rules


def resolve(metrics: dict, path: str) -> Iterator[tuple[str, Any, dict]]:
    """(concrete path, node, parent) for every match of a dotted wildcard path."""

    def walk(node: Any, parts: list[str], done: list[str], parent: dict):
        if not parts:
            yield ".".join(done), node, parent
            return
        if not isinstance(node, dict):
            return
        for k in sorted(node):
            if not done and k in SKIP_TOP and parts[0] != k:
                continue
            if fnmatch.fnmatchcase(str(k), parts[0]):
                yield from walk(node[k], parts[1:], done + [str(k)], node)

    yield from walk(metrics, path.split("."), [], metrics)


def value_ci(node: Any, parent: dict, key: str) -> tuple[float | None, list | None, int | None]:
    """A metric's value, its 95 % CI and n: a {rate, ci95, n} group, or a number with a sibling ``<key>_ci95``."""
    if isinstance(node, dict) and "rate" in node:
        return node.get("rate"), node.get("ci95"), node.get("n")
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node), parent.get(f"{key}_ci95"), None
    return None, None, None


def evaluate_gates(metrics: dict, rules: list[Rule], baseline: dict | None = None) -> dict:
    results: list[GateResult] = []
    for rule in rules:
        found = False
        patterns = [rule.metric] if isinstance(rule.metric, str) else rule.metric
        for path, node, parent in (x for pat in patterns for x in resolve(metrics, pat)):
            v, _, n = value_ci(node, parent, path.rsplit(".", 1)[-1])
            if v is None:
                continue
            if n is not None and n < rule.min_n:
                continue
            found = True
            if rule.kind == "threshold":
                ok = OPS[rule.op](v, rule.value)
                results.append(GateResult(rule.name, path, "pass" if ok else "fail", v, f"{rule.op} {rule.value}",
                                          "" if ok else rule.action, f"n={n}" if n is not None else ""))
                continue
            if baseline is None:
                results.append(GateResult(rule.name, path, "n/a", v, "vs baseline", note="no --baseline given"))
                continue
            base = list(resolve(baseline, path))
            bv, bci, _ = value_ci(base[0][1], base[0][2], path.rsplit(".", 1)[-1]) if base else (None, None, None)
            if bv is None:
                results.append(GateResult(rule.name, path, "n/a", v, "vs baseline", note="not in the baseline"))
                continue
            lo, hi = (bci or [bv, bv])[:2]
            if rule.direction == "lower":
                ok, limit = v <= hi, f"<= {hi} (baseline {bv}, CI upper)"
            else:
                ok, limit = v >= lo, f">= {lo} (baseline {bv}, CI lower)"
            results.append(GateResult(rule.name, path, "pass" if ok else "fail", v, limit, "" if ok else rule.action))
        if not found:
            results.append(GateResult(rule.name, ", ".join(patterns), "fail" if rule.required else "n/a",
                                      action=rule.action if rule.required else "",
                                      note="metric not in this run"))
    failed = [r for r in results if r.status == "fail"]
    return {"passed": not failed, "n_failed": len(failed), "results": [asdict(r) for r in results]}
