"""safestack as a library: the safety loop's stages as Python calls, over the objects the CLI uses.

A :class:`Run` is a run directory. Each stage writes the same files as its command (``safestack redteam``,
``datagen``, ``train``, ``eval``), in the layout of ``safestack run``, so ``safestack report DIR`` and the report
read them::

    import safestack

    target = safestack.load_target("default")
    run = safestack.Run("runs/quick")
    run.redteam(target, limit=20)               # → runs/quick/redteam/findings.jsonl, redteam.json
    run.datagen(target)                         # → runs/quick/data/train.jsonl (preference pairs)
    before = run.evaluate(target, "before")     # → runs/quick/eval_before/metrics.json
    model = run.train(target)                   # → runs/quick/model (DPO with LoRA)
    after = run.evaluate(model, "after")
    run.gates(after, baseline=before)           # the release gates
    run.report()                                # → runs/quick/report.html

Defaults are those of ``safestack run`` (its ``RunConfig``); :func:`run_loop` runs the whole closed loop, rounds
included, as ``safestack run`` does.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from .errors import BadInput
from .pipeline import DatagenSettings, EvalSettings, RedteamSettings

# defaults are the run's (pipeline.RunConfig), so the library, `safestack run` and its config agree
_RT, _DG, _EV = RedteamSettings(), DatagenSettings(), EvalSettings()
Method = Literal["dpo", "rr", "dpo+rr"]


def _stderr_log() -> Callable[[str], None]:
    from rich.console import Console

    return Console(stderr=True).print


def _settings(cls, value, where: str):
    """A training settings dataclass from an instance, a dict of fields (over the defaults) or None."""
    from .train.config import from_dict

    if value is None:
        return cls()
    if is_dataclass(value) and not isinstance(value, type):
        if not isinstance(value, cls):
            raise BadInput(f"{where}: expected {cls.__name__} or a dict, got {type(value).__name__}")
        return value
    if isinstance(value, dict):
        return from_dict(cls, value, where)
    raise BadInput(f"{where}: expected {cls.__name__} or a dict, got {type(value).__name__}")


def _spec_of(model) -> str:
    """The target spec behind a model argument: a spec string, or a local target (``default``, ``hf:…``)."""
    return model if isinstance(model, str) else getattr(model, "name", "")


class Run:
    """One run directory and the judges that score every stage in it.

    ``judges`` are the refusal and the harm judge, by name or as judge objects (default: the validated ``refusal``
    and ``harm``; ``("refusal-rules", "harm-rules")`` are the fast rule judges). A directory that already holds
    files is refused unless ``resume=True``; with it, every stage continues from its records and skips what is
    done.
    """

    def __init__(self, out: str | Path, *, judges: Sequence[Any] = ("refusal", "harm"), seed: int = 0,
                 taxonomy: str | Path | None = None, resume: bool = False,
                 log: Callable[[str], None] | None = None):
        from .judges import make_judge
        from .taxonomy import load_taxonomy

        self.dir = Path(out)
        if self.dir.exists() and any(self.dir.iterdir()) and not resume:
            raise BadInput(f"{self.dir} is not empty: pass resume=True to continue that run, or choose another "
                           "directory")
        if len(judges) != 2:
            raise BadInput(f"judges: name a refusal judge and a harm judge, e.g. ('refusal', 'harm'), got {judges!r}")
        self.judges = [make_judge(j) if isinstance(j, str) else j for j in judges]
        if [j.name for j in self.judges] != ["refusal", "harm"]:
            raise BadInput(f"judges: the first must be a refusal judge and the second a harm judge, got "
                           f"{[getattr(j, 'spec_name', j.name) for j in self.judges]}")
        self.seed = seed
        self.taxonomy_file = str(taxonomy) if taxonomy else None
        self.taxonomy = load_taxonomy(taxonomy)
        self.log = log or _stderr_log()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.target_spec: str | None = None

    # where each stage writes (the layout of `safestack run`)
    @property
    def findings_file(self) -> Path:
        return self.dir / "redteam" / "findings.jsonl"

    @property
    def pairs_file(self) -> Path:
        return self.dir / "data" / "train.jsonl"

    @property
    def model_dir(self) -> Path:
        return self.dir / "model"

    def _mark(self, stage: str, t0: float) -> None:
        from .pipeline import RunState

        RunState(self.dir).mark(stage, time.time() - t0)

    def _judge_info(self) -> dict:
        from .judges import judge_info

        return judge_info(self.judges)

    def findings(self) -> list:
        """The red team's findings (``Attempt`` records) written so far."""
        from .records import Attempt, JsonlStore

        if not self.findings_file.exists():
            raise BadInput(f"{self.findings_file}: no findings yet (run redteam first)")
        return JsonlStore(self.findings_file, Attempt).load()

    def redteam(self, target, *, sources: Sequence[str] | None = None, attacks: Sequence[str] | str | None = None,
                limit: int | None = _RT.limit, max_new_tokens: int = _RT.max_new_tokens,
                batch_size: int = _RT.batch_size, interactive_limit: int | None = _RT.interactive_limit,
                focus: Sequence[str] = (), attacker=None, translator=None, show_progress: bool = True) -> dict:
        """Attacks × harmful training prompts × ``target`` → ``redteam/findings.jsonl``; returns the summary
        (``asr``, ``by_attack``, ``by_category``…) that ``redteam/redteam.json`` holds.

        ``sources`` are bench specs of harmful training prompts, spread evenly (never an evaluation bench);
        ``limit`` prompts in all (``None``: every prompt); multi-turn / interactive attacks run on
        ``interactive_limit`` of them. ``focus`` adds every prompt of those taxonomy
        categories. ``attacker`` / ``translator`` are targets for the attacks that need one (pair, crescendo,
        translate_*). Defaults: those of ``safestack run``."""
        from .attacks import make_attacks
        from .redteam import redteam_prompts, run_redteam
        from .targets import GenParams

        sources = list(sources or _RT.sources)
        provides = {k: v for k, v in (("attacker", attacker), ("translator", translator)) if v is not None}
        if "translator" in provides:
            from .attacks.translation import target_translator

            provides["translator"] = target_translator(provides["translator"])
        atk = make_attacks(attacks if attacks is not None else _RT.attacks, **provides)
        samples = redteam_prompts(sources, limit, self.seed, focus, self.taxonomy)
        self.target_spec = self.target_spec or _spec_of(target)
        t0 = time.time()
        summary = asyncio.run(run_redteam(target, samples, atk, self.judges, self.dir / "redteam",
                                          params=GenParams(max_new_tokens=max_new_tokens), taxonomy=self.taxonomy,
                                          resume=True, seed=self.seed, batch_size=batch_size,
                                          show_progress=show_progress, interactive_limit=interactive_limit))
        self._mark("redteam", t0)
        return summary

    def datagen(self, target, findings: Sequence[Any] | None = None, *, benign_ratio: float = _DG.benign_ratio,
                max_pairs: int | None = _DG.max_pairs, val_fraction: float = _DG.val_fraction,
                borderline_mix: str = _DG.borderline_mix, max_new_tokens: int = _RT.max_new_tokens,
                taught_refusal_share: float = _DG.taught_refusal_share, cai_limit: int = 0, critic=None, rlaif_limit: int = 0,
                labeller=None, constitution: str | Path | None = None, focus: Sequence[str] = (),
                borderline_extra: Sequence[str] | str = tuple(_DG.borderline_extra),
                borderline_extra_share: float = _DG.borderline_extra_share, show_progress: bool = True) -> dict:
        """Findings (default: this run's) → preference pairs in ``data/``: refusal pairs for the attacks that
        worked, borderline-benign pairs answered by ``target``, optional Constitutional AI revisions (``critic``)
        and RLAIF labels (``labeller``); deduplicated and decontaminated against every evaluation bench. Returns
        the Training Data Summary (``data/datagen.json``: ``n_pairs``, ``n_train``, ``by_kind``…).
        ``borderline_extra``: bench specs whose benign prompts take ``borderline_extra_share`` of the borderline
        pairs (e.g. ``hh-redteam:benign``, human-written everyday requests)."""
        from .data import load_specs
        from .datagen import run_datagen
        from .targets import GenParams

        rows = list(findings) if findings is not None else self.findings()
        if not rows:
            raise BadInput("datagen: no findings to build pairs from")
        t0 = time.time()
        summary = asyncio.run(run_datagen(
            rows, self.dir / "data", target=target, taxonomy=self.taxonomy, refusal=self.judges[0],
            harm=self.judges[1], benign_ratio=benign_ratio, max_pairs=max_pairs, val_fraction=val_fraction,
            params=GenParams(max_new_tokens=max_new_tokens), seed=self.seed,
            show_progress=show_progress, cai_limit=cai_limit, critic=critic, rlaif_limit=rlaif_limit,
            labeller=labeller, constitution=str(constitution) if constitution else None, focus=list(focus),
            borderline_mix=borderline_mix, taught_refusal_share=taught_refusal_share,
            extra_borderline=load_specs(borderline_extra),
            extra_share=borderline_extra_share))
        self._mark("datagen", t0)
        return summary

    def evaluate(self, target, name: str = "after", *, benches: Sequence[str] | None = None,
                 suite: str = _EV.suite, limit: int | None = _EV.limit, max_new_tokens: int = _EV.max_new_tokens,
                 batch_size: int = _EV.batch_size, show_progress: bool = True) -> dict:
        """Held-out benches → ``eval_<name>/responses.jsonl`` and ``metrics.json``; returns the metrics
        (per bench ``n``, ``asr``, ``over_refusal``, ``cells``… with 95 % CIs, and ``judge``). ``name`` "before"
        and "after" are what the report compares. ``benches`` are bench specs (``harmbench@40``, ``xstest:safe``,
        ``jsonl:PATH``…); without them, the named ``suite`` (default: the run's held-out suite)."""
        from .evals import run_eval
        from .evals.suites import suite_benches
        from .targets import GenParams

        if not name or "/" in name or name.startswith("."):
            raise BadInput(f"evaluate: name must be a plain word such as 'before' or 'after', got {name!r}")
        specs = list(benches) if benches else suite_benches(suite)
        if name == "before":
            self.target_spec = self.target_spec or _spec_of(target)
        t0 = time.time()
        metrics = asyncio.run(run_eval(target, specs, self.judges, self.dir / f"eval_{name}",
                                       limit=limit, params=GenParams(max_new_tokens=max_new_tokens),
                                       resume=True, batch_size=batch_size,
                                       show_progress=show_progress, judge_info=self._judge_info()))
        self._mark(f"eval_{name}", t0)
        return metrics

    def train(self, model, *, method: Method = "dpo", data: str | Path | None = None, dpo: Any = None,
              rr: Any = None, dpo_rr: str = "sequential"):
        """Train ``model`` (a local target or spec: ``default``, ``hf:PATH``) on preference pairs (default: this
        run's ``data/train.jsonl``) and return the trained model as a target (``hf:RUN/model``).

        ``method``: ``dpo`` (DPO with LoRA), ``rr`` (representation rerouting, circuit breakers) or ``dpo+rr`` (RR
        from the DPO model with ``dpo_rr="sequential"``; both losses in every step with ``"joint"``). ``dpo`` /
        ``rr``: ``DPOSettings`` / ``RRSettings`` or a dict of their fields over the defaults (e.g.
        ``dpo={"epochs": 1}``)."""
        from .targets import model_path_of
        from .targets import load_target
        from .train.config import DPOSettings, RRSettings

        if method not in ("dpo", "rr", "dpo+rr"):
            raise BadInput(f"train: method must be dpo, rr or dpo+rr, got {method!r}")
        if dpo_rr not in ("sequential", "joint"):
            raise BadInput(f"train: dpo_rr must be sequential or joint, got {dpo_rr!r}")
        joint = method == "dpo+rr" and dpo_rr == "joint"
        dpo_cfg = _settings(DPOSettings, dpo, "train: dpo")
        rr_cfg = _settings(RRSettings, rr, "train: rr")
        spec = _spec_of(model)
        self.target_spec = self.target_spec or spec
        start = model_path_of(spec)
        pairs = Path(data) if data is not None else self.pairs_file
        if not pairs.exists():
            raise BadInput(f"{pairs}: no preference pairs (run datagen first, or pass data=)")
        t0 = time.time()
        final = self.dir / "train"
        if method in ("dpo", "dpo+rr"):
            from .train.dpo import train_dpo

            train_dpo(start, pairs, final, dpo_cfg, log=self.log, joint_rr=rr_cfg if joint else None)
        if method == "rr":
            from .train.rr import train_rr

            train_rr(start, pairs, final, rr_cfg, log=self.log)
        if method == "dpo+rr" and not joint:
            from .train.rr import train_rr

            final = self.dir / "train_rr"
            train_rr(str(self.dir / "train" / "model"), pairs, final, rr_cfg, log=self.log)
        if self.model_dir.exists():
            shutil.rmtree(self.model_dir)
        shutil.move(str(final / "model"), str(self.model_dir))
        self._mark("train", t0)
        return load_target(f"hf:{self.model_dir}")

    def gates(self, metrics: dict, *, baseline: dict | None = None, gates: str | Path | None = None) -> dict:
        """Check the release gates (default: ``evals/gates.yaml``; the rules checked in a run) on eval metrics,
        against ``baseline`` metrics for the regression rules. Returns ``{"passed", "n_failed", "results"}``; the
        verdict is recorded so the report shows it. Raise nothing on a failed gate: read ``passed``."""
        from .evals.gates import evaluate_gates, load_gates
        from .pipeline import RunState
        from .records import write_json

        res = evaluate_gates(metrics, [g for g in load_gates(gates) if g.in_run], baseline=baseline)
        state = RunState(self.dir)
        state.data["rounds"] = [{"round": 1, "dir": ".", "gates": res, "decisions": []}]
        write_json(state.path, state.data)
        return res

    def report(self) -> dict:
        """Build ``report.html`` (one self-contained page) and ``report.json`` from the run's files; returns the
        report's content."""
        from .records import write_json
        from .report import build_report

        cfg = self.dir / "config.json"
        if not cfg.exists():  # what the report reads from a run's config: the target and the taxonomy
            write_json(cfg, {"target": self.target_spec, "taxonomy": self.taxonomy_file, "seed": self.seed,
                             "judges": {"refusal": getattr(self.judges[0], "spec_name", self.judges[0].name),
                                        "harm": getattr(self.judges[1], "spec_name", self.judges[1].name)}})
        return build_report(self.dir)


def run_loop(out: str | Path, *, config: Any = None, target: str | None = None, resume: bool = False,
             gates: str | Path | None = None, console: Any = None) -> dict:
    """The whole closed loop, as ``safestack run``: red team → datagen → train → eval before/after, in rounds until
    the gates pass or the budget is spent → report. ``config`` is a run YAML path, a ``RunConfig`` or None (the
    defaults); ``target`` overrides its target; ``gates`` a gates YAML for the rounds. Progress goes to ``console``
    (a ``rich.console.Console``; default: stderr). Returns ``report.json``'s content (the gates in ``rounds``)."""
    from .pipeline import RunConfig, load_run_config, run_pipeline

    if isinstance(config, RunConfig):
        cfg = config
        if target:
            cfg.target = target
    elif config is None or isinstance(config, (str, Path)):
        cfg = load_run_config(str(config) if config else None, target)
    else:
        raise BadInput(f"config: expected a run YAML path or a RunConfig, got {type(config).__name__}")
    if gates is not None:
        cfg.rounds.gates = str(gates)
    return run_pipeline(cfg, out, resume=resume, console=console)


def train_judges(out: str | Path, *, model: Literal["robust", "xenc"] = "robust", cv: bool = True,
                 labels: Sequence[str | Path] = (), regression: str | Path | None = None,
                 epochs: int | None = None, train_layers: int | None = None, lr: float | None = None,
                 store: bool = False, log: Callable[[str], None] = print) -> dict:
    """Train the learned refusal and harm judges (``safestack judge train``); returns their metadata with every
    held-out number (``validation``: leave-one-source-out, XSTest leave-one-family-out; ``regression`` when a
    hand-checked ``regression`` file is given) and ``weights``, the path written.

    ``robust`` (the default judges' form) writes ``OUT.json``; ``store=True`` also installs it as the packaged
    default judges (writes into the installed package). ``xenc`` fine-tunes the MiniLM cross-encoder
    (``OUT.safetensors`` + ``OUT.json``; ``labels``: JSONL files of ``{prompt, response, refusal?, harm?}``, one
    more source each; ``epochs``, ``train_layers``, ``lr``). Load either with ``refusal-learned:OUT.json``."""
    out = Path(out)
    if model == "robust":
        from .judges.robust import packaged_path
        from .train.judges import train_default_judges

        if labels or epochs is not None or train_layers is not None or lr is not None:
            raise BadInput("judge train: labels, epochs, train_layers and lr apply to --model xenc only")
        dst = out if out.suffix == ".json" else out.with_suffix(".json")
        meta = train_default_judges(dst, cv=cv, regression_file=regression, log=log)
        if store:
            shutil.copyfile(dst, packaged_path())
            log(f"stored as the packaged default judges → {packaged_path()}")
    elif model == "xenc":
        from .judges.crossenc import TrainConfig
        from .judges.training import train_judges as train_xenc

        if store:
            raise BadInput("judge train: store applies to --model robust only")
        d = TrainConfig()
        cfg = TrainConfig(epochs=d.epochs if epochs is None else epochs,
                          train_layers=d.train_layers if train_layers is None else train_layers,
                          lr=d.lr if lr is None else lr)
        dst = out
        meta = train_xenc(out, files=[str(f) for f in labels], cv=cv, cfg=cfg, regression_file=regression, log=log)
    else:
        raise BadInput(f"judge train: unknown model '{model}' (robust, xenc)")
    return {**meta, "weights": str(dst)}
