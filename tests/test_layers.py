"""Layers import downwards only.

Every module of the package belongs to a layer; a module may import its own layer or a lower one, never a higher
one. Within a layer, packages may import each other in one direction only (the package graph has no cycle).
Imports are read from the source (AST), so imports inside functions and under ``TYPE_CHECKING`` count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "safestack"

# lowest first; a name is a sub-package or a top-level module of safestack ("safestack" = the package's __init__)
LAYERS: list[tuple[str, ...]] = [
    ("errors", "records", "text", "embed", "figures", "registry"),  # base: plain helpers and the record types
    ("targets", "judges", "data", "taxonomy"),  # the model behind a spec, verdicts, datasets, harm categories
    ("engine",),  # generate-and-judge in resumable batches: a target and judges together
    ("attacks", "datagen", "evals", "redteam"),  # the stages that only read models: attack, write data, measure
    ("train", "guard", "probes", "review", "serve"),  # the stages that change or wrap a model, and humans
    ("report",),  # renders a run directory (the pipeline's last stage)
    ("pipeline",),  # the closed loop behind `safestack run`
    ("api",),  # the Python API over the loop
    ("cli", "safestack"),  # the command line and the package's public face
]


def unit_of(module: str) -> str:
    """``safestack.judges.harm`` → ``judges``; ``safestack.engine`` → ``engine``; ``safestack`` → ``safestack``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> list[tuple[str, int]]:
    """(absolute module, line) for every import of the package in ``path``, at any depth of the syntax tree.
    ``from X import name`` also yields ``X.name`` when that is a module of the package."""
    pkg = root.name
    here = module_name(path, root)
    base = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                is_module = (root.parent / Path(*sub.split("."))).with_suffix(".py").exists() or \
                    (root.parent / Path(*sub.split("."))).is_dir()
                out.append((sub if is_module else mod, node.lineno))
    return [(m, line) for m, line in out if m == pkg or m.startswith(pkg + ".")]


def check_layers(root: Path, layers: list[tuple[str, ...]]) -> list[str]:
    """Every violation as ``file:line: a (layer i) imports b (layer j)``; also modules in no layer and cycles."""
    level = {name: i for i, names in enumerate(layers) for name in names}
    problems: list[str] = []
    edges: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        src = unit_of(module_name(path, root))
        if src not in level:
            problems.append(f"{path.relative_to(root)}: '{src}' is in no layer (add it to LAYERS)")
            continue
        for mod, line in imported_modules(path, root):
            dst = unit_of(mod)
            if dst == src:
                continue
            if dst not in level:
                problems.append(f"{path.relative_to(root)}:{line}: imports {mod}, which is in no layer")
                continue
            if level[dst] == level[src]:
                edges.setdefault(src, set()).add(dst)  # upward edges are reported below, so cycles are in-layer
            if level[dst] > level[src]:
                problems.append(f"{path.relative_to(root)}:{line}: {src} (layer {level[src]}) imports {mod} "
                                f"(layer {level[dst]})")
    problems += [f"packages of one layer import each other: {' -> '.join(c)}" for c in _cycles(edges)]
    return problems


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of packages that import each other, directly or through others (strongly connected, size > 1)."""
    def reach(a: str) -> set[str]:
        seen, todo = set(), [a]
        while todo:
            for b in edges.get(todo.pop(), ()):
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen

    r = {a: reach(a) for a in edges}
    groups = {tuple(sorted({a} | {b for b in r[a] if a in r.get(b, ())})) for a in edges if a in r[a]}
    return [list(g) + [g[0]] for g in sorted(groups)]


def test_layers_import_downwards_only():
    problems = check_layers(SRC, LAYERS)
    assert not problems, "\n".join(problems)


def test_every_layer_name_exists():
    """A layer naming a package that is gone would silently check nothing (``api`` may not exist yet)."""
    names = {p.stem for p in SRC.glob("*.py")} | {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    missing = {n for layer in LAYERS for n in layer} - names - {"safestack", "api"}
    assert not missing, missing


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "safestack"
    for rel, text in {"__init__.py": "", **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


LOW_HIGH = [("records",), ("train",), ("safestack",)]


@pytest.mark.parametrize("text", [
    "from .train import fit\n",  # module level, relative
    "def f():\n    from .train.dpo import fit\n    return fit\n",  # hidden inside a function
    "import safestack.train.dpo\n",  # absolute
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from safestack import train\n",
])
def test_checker_fails_on_an_upward_import(tmp_path, text):
    root = _package(tmp_path, {"records.py": text, "train/__init__.py": "", "train/dpo.py": "def fit(): ...\n"})
    problems = check_layers(root, LOW_HIGH)
    assert len(problems) == 1 and "records (layer 0) imports safestack.train" in problems[0], problems


def test_checker_accepts_downward_imports_and_flags_cycles_and_strays(tmp_path):
    root = _package(tmp_path, {"records.py": "", "train/__init__.py": "from ..records import x\n"})
    assert check_layers(root, LOW_HIGH) == []
    root = _package(tmp_path / "b", {"a.py": "from . import b\n", "b.py": "def f():\n    from .a import x\n",
                                     "stray.py": "from .a import x\n"})
    problems = check_layers(root, [("a", "b"), ("safestack",)])
    assert "packages of one layer import each other: a -> b -> a" in problems, problems
    assert any("'stray' is in no layer" in p for p in problems), problems
