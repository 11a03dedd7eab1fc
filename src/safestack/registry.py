"""One registry mechanism for every kind of plugin: attacks, judges, benches, datasets, constitution checks.

A plugin is declared once, where it is defined: a spec carrying its metadata — ``name``, ``kind`` (an attack's
family, a judge's verdict, a bench's scoring, a dataset's role, …), ``description``, ``tags`` — and what builds
or runs it, added to its kind's ``Registry``, usually by a decorator on the factory (inspect_ai and garak style).
Whatever the factory builds takes its metadata from the spec; nothing restates it.

A registry is a read-only mapping of name → spec. Its built-in plugins are imported the first time it is read, so
``ATTACKS["base64"]`` works without importing the module that defines it. ``spec(name)`` fails with a ``BadInput``
that lists what exists; ``select("all" | kind | name, …)`` expands names as garak's ``--probes`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Generic, Iterator, Protocol, Sequence, TypeVar

from .errors import BadInput


class Plugin(Protocol):
    name: str
    kind: str
    description: str
    tags: Sequence[str]


S = TypeVar("S", bound=Plugin)


class Registry(Mapping[str, S], Generic[S]):
    """Specs of one kind of plugin by name. ``builtins`` imports the modules that register the built-in ones."""

    def __init__(self, what: str, builtins: Callable[[], None] | None = None):
        self.what = what
        self._specs: dict[str, S] = {}
        self._builtins = builtins
        self._loaded = builtins is None

    def add(self, spec: S) -> S:
        """Register ``spec``; a second, different plugin under the same name is an error (re-registering the same
        declaration, as a module reload does, is not)."""
        for field in ("name", "kind", "description"):
            if not str(getattr(spec, field, "") or "").strip():
                raise ValueError(f"{self.what} '{getattr(spec, 'name', '?')}': declare its {field}")
        old = self._specs.get(spec.name)
        if old is not None and (old.kind, old.description) != (spec.kind, spec.description):
            raise ValueError(f"{self.what} '{spec.name}' is registered twice, differently")
        self._specs[spec.name] = spec
        return spec

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            self._builtins()

    def __getitem__(self, name: str) -> S:
        self._load()
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(self._specs)

    def __len__(self) -> int:
        self._load()
        return len(self._specs)

    def spec(self, name: str) -> S:
        """The spec called ``name``; a ``BadInput`` listing the available names when there is none."""
        self._load()
        if name not in self._specs:
            raise BadInput(f"unknown {self.what} '{name}' (available: {', '.join(sorted(self._specs))})")
        return self._specs[name]

    def kinds(self) -> dict[str, list[str]]:
        """Kind → the names of its plugins, in registration order."""
        out: dict[str, list[str]] = {}
        for s in self.values():
            out.setdefault(s.kind, []).append(s.name)
        return out

    def select(self, names: str | Sequence[str], known: Callable[[str], bool] | None = None) -> list[str]:
        """Expand a comma-separated string or a list: ``all`` = every plugin, a kind = its plugins (in registration
        order), anything else must be a registered name (or pass ``known``, e.g. a parameterised name). Order is
        kept, duplicates dropped."""
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        names = [n for n in names if n]
        if not names:
            raise BadInput(f"no {self.what} named")
        kinds = self.kinds()
        out: list[str] = []
        for n in names:
            if n == "all":
                out += list(self)
            elif n in self:
                out.append(n)
            elif n in kinds:
                out += kinds[n]
            elif known is not None and known(n):
                out.append(n)
            else:
                raise BadInput(f"unknown {self.what} '{n}' (names: {', '.join(sorted(self))}; kinds: "
                               f"{', '.join(sorted(kinds))}; or all)")
        return list(dict.fromkeys(out))
