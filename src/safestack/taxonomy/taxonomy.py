"""The harm taxonomy: categories with severity, expected behaviour and MLCommons / OWASP mappings."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import BadInput

Expected = Literal["hard_refusal", "soft_deflection", "comply"]
Severity = Literal["none", "low", "medium", "high", "critical"]


class Category(BaseModel):
    id: str
    name: str
    severity: Severity
    expected: Expected
    mlcommons: list[str] = []
    owasp: list[str] = []
    description: str = ""
    reason: str = ""
    alternatives: list[str] = []
    aliases: list[str] = []


class Taxonomy(BaseModel):
    version: int = 1
    categories: list[Category]

    def get(self, cid: str | None) -> Category:
        """The category for an id or a benchmark's alias; unknown names fall back to ``other_harm``."""
        if cid is not None:
            key = cid.strip().lower()
            for c in self.categories:
                if c.id == key or key in c.aliases:
                    return c
        for fallback in ("other_harm", "benign"):
            for c in self.categories:
                if c.id == fallback:
                    return c
        return self.categories[0]

    def canonical(self, cid: str | None) -> str:
        return self.get(cid).id

    def as_dict(self) -> dict:
        return self.model_dump()


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """The default taxonomy, or a user file that replaces it."""
    if path is None:
        text = resources.files(__package__).joinpath("default.yaml").read_text(encoding="utf-8")
        src = "default.yaml"
    else:
        p = Path(path)
        if not p.exists():
            raise BadInput(f"{p}: taxonomy file not found")
        text, src = p.read_text(encoding="utf-8"), str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BadInput(f"{src}: invalid YAML ({e})") from None
    if not isinstance(data, dict) or "categories" not in data:
        raise BadInput(f"{src}: missing field 'categories'")
    try:
        tax = Taxonomy.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise BadInput(f"{src}: field '{loc}': {err['msg']}") from None
    ids = [c.id for c in tax.categories]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise BadInput(f"{src}: duplicate category id(s): {', '.join(sorted(dup))}")
    return tax
