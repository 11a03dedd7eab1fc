"""The one registry mechanism (safestack/registry.py) every plugin kind uses."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from safestack.errors import BadInput
from safestack.registry import Registry


@dataclass
class Spec:
    name: str
    kind: str
    description: str
    tags: tuple[str, ...] = ()


def test_builtins_load_on_first_read_and_lookups_name_what_exists():
    calls = []
    reg: Registry[Spec] = Registry("widget", lambda: (calls.append(1), reg.add(Spec("a", "k1", "first")),
                                                      reg.add(Spec("b", "k2", "second"))))
    assert calls == []
    assert list(reg) == ["a", "b"] and calls == [1]
    assert reg["a"].description == "first" and len(reg) == 2 and calls == [1]
    with pytest.raises(BadInput, match=r"unknown widget 'c' \(available: a, b\)"):
        reg.spec("c")


def test_declarations_are_complete_and_unique():
    reg: Registry[Spec] = Registry("widget")
    reg.add(Spec("a", "k", "one"))
    reg.add(Spec("a", "k", "one"))  # the same declaration again (a module reload) is fine
    with pytest.raises(ValueError, match="registered twice"):
        reg.add(Spec("a", "k", "another description"))
    for bad in (Spec("", "k", "d"), Spec("b", "", "d"), Spec("b", "k", "  ")):
        with pytest.raises(ValueError, match="declare its"):
            reg.add(bad)


def test_select_expands_all_and_kinds_in_order():
    reg: Registry[Spec] = Registry("widget")
    for name, kind in (("a", "x"), ("b", "y"), ("c", "x")):
        reg.add(Spec(name, kind, f"widget {name}"))
    assert reg.select("all") == ["a", "b", "c"]
    assert reg.select("x") == ["a", "c"] and reg.select(["b", "x", "a"]) == ["b", "a", "c"]
    assert reg.kinds() == {"x": ["a", "c"], "y": ["b"]}
    assert reg.select("a_7", known=lambda n: n.startswith("a_")) == ["a_7"]
    with pytest.raises(BadInput, match="unknown widget 'z'.*kinds: x, y"):
        reg.select("a,z")
    with pytest.raises(BadInput, match="no widget named"):
        reg.select(" , ")


@pytest.mark.parametrize("module,registry", [("safestack.attacks.base", "ATTACKS"), ("safestack.judges.base", "JUDGES"),
                                             ("safestack.datagen.constitution", "CHECKS"),
                                             ("safestack.evals.benches.base", "BENCHES"),
                                             ("safestack.data.loaders", "DATASETS")])
def test_every_plugin_kind_uses_the_registry(module, registry):
    import importlib

    reg = getattr(importlib.import_module(module), registry)
    assert isinstance(reg, Registry) and len(reg) > 0
    for name, spec in reg.items():
        assert spec.name == name and spec.kind and spec.description
