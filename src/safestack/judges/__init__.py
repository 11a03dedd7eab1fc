"""Judges behind one protocol (base.py): ``refusal`` and ``harm`` (the default: a fine-tuned cross-encoder,
learned.py), their rule fast paths ``refusal-rules`` and ``harm-rules``, ``toxicity``, model-graded ``llm`` judges and
``hf-cls`` classifiers you bring."""

from __future__ import annotations

import json
from importlib import resources
from typing import Sequence

from . import harm, hf_cls, learned, llm_judge, refusal, toxicity  # noqa: F401  (registers the built-in judges)
from .base import JUDGES, Judge, JudgeItem, make_judge

__all__ = ["JUDGES", "Judge", "JudgeItem", "judge_info", "make_judge", "stored_calibration"]


def stored_calibration(name: str) -> dict | None:
    """The calibration measured for a judge (written by ``safestack judge calibrate``), if any."""
    f = resources.files(__package__).joinpath("calibration", f"{name}.json")
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (FileNotFoundError, OSError):
        return None


def judge_info(judges: Sequence[Judge]) -> dict:
    """What stands next to every rate: which judges produced it and how well they agree with human labels."""
    out = {}
    for j in judges:
        name = getattr(j, "spec_name", j.name)
        spec = JUDGES.get(name)
        cal = spec.calibration() if spec and spec.calibration else stored_calibration(name)
        out[j.name] = {"judge": name, "description": spec.description if spec else "", "calibration": cal}
    return out
