"""``safestack judge train``: build the training sources, validate held out, fine-tune, store.

``train_judges`` is the whole job the CLI runs: load the sources (``sources.py``) plus any labelled JSONL files you
add (each its own source), cache the frozen layers once, run leave-one-source-out and XSTest's leave-one-family-out
(``--cv``), fit on everything, save, then score the hand-checked regression file with the saved model (never
trained on) and write every number into the weights' JSON.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

from ..errors import BadInput
from ..records import read_jsonl
from .crossenc import Trainer, TrainConfig, load, save
from .sources import SOURCES, augment, load_sources


def labelled_file(path: str | Path, seed: int = 0) -> list[dict]:
    """A JSONL of ``{"prompt", "response", "refusal"?: bool, "harm"?: bool, "behavior"?}`` as one more source
    (named after the file), augmented like the built-in ones."""
    rows = read_jsonl(path, required=("prompt", "response"))
    name = Path(path).stem
    out = []
    for i, r in enumerate(rows, 1):
        for key in ("refusal", "harm"):
            if r.get(key) is not None and not isinstance(r[key], bool):
                raise BadInput(f"{path}:{i}: field '{key}' must be true, false or absent")
        if r.get("refusal") is None and r.get("harm") is None:
            raise BadInput(f"{path}:{i}: a training row needs 'refusal' or 'harm' (true/false)")
        out.append({"prompt": r["prompt"], "response": r["response"], "refusal": r.get("refusal"),
                    "harm": r.get("harm"), "source": name, "aug": "", "behavior": r.get("behavior"),
                    "group": r.get("group")})
    return augment(out, seed)


def train_judges(out: str | Path, *, sources: Sequence[str] = SOURCES, files: Sequence[str] = (), cv: bool = True,
                 cfg: TrainConfig = TrainConfig(), regression_file: str | Path | None = None,
                 log: Callable[[str], None] = print) -> dict:
    bad = [s for s in sources if s not in SOURCES]
    if bad:
        raise BadInput(f"judge train: unknown source {bad} (built-in: {', '.join(SOURCES)}; add JSONL with --labels)")
    rows = load_sources(sources, cfg.seed)
    for f in files:
        rows += labelled_file(f, cfg.seed)
    names = list(dict.fromkeys(r["source"] for r in rows))
    t0 = time.time()
    log(f"{len(rows)} rows from {', '.join(names)}; caching the frozen layers")
    trainer = Trainer(rows, cfg, log=log)
    validation = {}
    if cv:
        from .validate import leave_one_family_out, leave_one_source_out

        if len(names) < 2:
            raise BadInput("judge train --cv needs at least two sources")
        fp = lambda tr, te: trainer.predict(trainer.fit(tr), te)  # noqa: E731
        validation["leave_one_source_out"] = leave_one_source_out(rows, fp, names, log)
        if "xstest" in names:
            validation["leave_one_family_out"] = leave_one_family_out(rows, fp, log)
    log(f"final fit on all {len(rows)} rows")
    model = trainer.fit(range(len(rows)))
    counts = {s: sum(r["source"] == s for r in rows) for s in names}
    meta = {"trained_on": {"sources": counts, "files": [str(f) for f in files]}, "train_config": asdict(cfg),
            "validation": validation, "seconds": round(time.time() - t0, 1)}
    save(model, trainer.n_frozen, meta, out)
    if regression_file:
        from .validate import model_regression

        meta["regression"] = model_regression(load(out), regression_file)
        save(model, trainer.n_frozen, meta, out)
    return meta


def summary_lines(meta: dict) -> list[str]:
    """What ``judge train`` prints: every held-out number, worst source first."""
    lines = []
    lo = meta.get("validation", {}).get("leave_one_source_out")
    if lo:
        for key in ("refusal", "harm"):
            w = lo["worst"].get(key)
            if w:
                lines.append(f"{key}: worst held-out source {w['source']} accuracy {w['accuracy']:.3f} {w['ci95']}")
            for s, f in lo["by_source"].items():
                if key in f:
                    lines.append(f"  {key} on {s} (n={f[key]['n']}): {f[key]['accuracy']:.3f} {f[key]['ci95']}")
    lf = meta.get("validation", {}).get("leave_one_family_out")
    if lf:
        for key, st in lf["pooled"].items():
            lines.append(f"{key} on XSTest, leave-one-family-out (n={st['n']}): {st['accuracy']:.3f} {st['ci95']}")
    reg = meta.get("regression")
    if reg:
        for key in ("refusal", "harm"):
            if key in reg:
                lines.append(f"{key} on {reg['file']} (never trained on, n={reg[key]['n']}): "
                             f"{reg[key]['accuracy']:.3f} {reg[key]['ci95']} by class {reg[key]['by_class']}")
            for half in ("test_half", "dev_half"):
                if key in reg.get(half, {}):
                    h = reg[half][key]
                    lines.append(f"  {half} ({'held out' if half == 'test_half' else 'read while writing the rules'}"
                                 f", n={h['n']}): {h['accuracy']:.3f} {h['ci95']}")
    return lines
