"""The closed loop behind ``safestack run``: red team → datagen → train → eval before/after → report.

Each stage writes its files into the run directory and is marked done in ``state.json``; ``--resume`` skips done
stages and continues the interrupted one from its own JSONL records or training checkpoints.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from rich.console import Console

from .errors import BadInput
from .records import write_json
from .targets import model_path_of
from .train.config import CheckpointEvalSettings, DPOSettings, RRSettings, from_dict, load_yaml, to_dict


@dataclass
class RedteamSettings:
    # harmful training prompts in several styles: imperative behaviours (HarmBench val, adv_training), questions
    # (red-instruct's HarmfulQA and DangerousQA) and every taxonomy category in question / imperative / assistant-help
    # / noun-phrase form (taxonomy); never an evaluation bench
    sources: list[str] = field(default_factory=lambda: ["harmbench:val", "adv_training", "harmfulqa", "dangerousqa",
                                                        "taxonomy"])
    # direct requests, a role-play wrapper and multi-turn escalation (its findings become multi-turn pairs)
    attacks: list[str] = field(default_factory=lambda: ["direct", "roleplay", "crescendo"])
    limit: int | None = 120  # harmful training prompts, spread evenly over the sources (by category within each)
    # interactive attacks (crescendo, pair: several generations per prompt) run on this many of the prompts, spread
    # over the sources (None: all)
    interactive_limit: int | None = 40
    focus: list[str] = field(default_factory=list)  # categories whose behaviours are all red-teamed (set by rounds)
    # rejected replies are cut to 32 tokens for DPO, but the borderline prompts' helpful answers (chosen) are generated
    # with these settings too; 32 here, with length-grouped DPO batches, measured worse (docs/results.md)
    max_new_tokens: int = 48
    batch_size: int = 128  # 128 rows decode ~16 % faster than 64 on 2 cores; 256 no faster (measured)


@dataclass
class DatagenSettings:
    # borderline-benign pairs per refusal pair; chosen with max_pairs on contrast:dev, never on an evaluation bench
    # (benchmarks/run_dev_settings.py → results.json["run_dev_*"])
    benign_ratio: float = 1.5
    # which borderline prompts: "balanced" (round-robin over categories) or "pool" (in proportion to the pool, where
    # homonyms — "kill a process", "shoot a photo" — are the largest group)
    borderline_mix: str = "balanced"
    # share of the borderline pairs' rejected replies written like the refusals the refusal pairs teach (the rest are
    # stock needless refusals): higher pushes over-refusal down and ASR up (contrast:dev, results.json run_dev_*)
    taught_refusal_share: float = 0.5
    max_pairs: int | None = 288  # bounds DPO time on CPU (36 steps an epoch at batch 8)
    # refusal pairs chosen so that as many of their requests are questions as among the borderline prompts ("all"),
    # or so among the direct requests only, keeping the attacked ones as they come ("direct"); "off": as ordered.
    # Without it most benign look-alikes are questions and most refusals are not, and the model learns "a question
    # gets an answer" (chosen on contrast:dev, results.json run_dev_selection_labels)
    style_match: str = "all"
    # more benign prompts for the borderline pairs (bench specs, benign rows only) and the share of the borderline
    # pairs they take: human-written everyday requests (HH-RLHF's training part) cut hh-dev over-refusal 11.8 → 6.4 %
    # at lower ASR (contrast:dev 60.2 → 52.3 %; results.json["run_dev_P"]); [] for none
    borderline_extra: list[str] = field(default_factory=lambda: ["hh-redteam:benign"])
    borderline_extra_share: float = 0.3
    val_fraction: float = 0.0
    cai_limit: int = 0  # Constitutional AI revisions (critique → revise); needs a capable critic to pay off
    critic: str | None = None  # target spec of the critic/reviser (default: the target itself)
    rlaif_limit: int = 0  # prompts labelled by an AI labeller (two samples, both orders)
    labeller: str | None = None  # target spec of the labeller (default: the target itself)
    constitution: str | None = None  # a constitution YAML replacing the default


@dataclass
class RoundSettings:
    """Rounds of the loop ("train, test, red-team, observe, patch, repeat"): after each round's eval the gates are
    checked; while they fail and budget remains, the seeds' decision rules adjust the next round's data."""

    max_rounds: int = 3
    # a new round starts only if the last round's duration still fits in this wall time (None: no limit)
    budget_minutes: float | None = 15.0
    gates: str | None = None  # a gates YAML (default: evals/gates.yaml)
    benign_boost: float = 1.5  # over-refusal gate failed → benign_ratio × this
    multiturn_attack: str = "crescendo"  # multi-turn gate failed → red-team with this attack (multi-turn pairs)


@dataclass
class EvalSettings:
    suite: str = "default"  # a named suite (evals/suites.py): the held-out benches every run reports and gates
    benches: list[str] = field(default_factory=list)  # instead of the suite, when given
    limit: int | None = None
    # 24 tokens: re-judging a run's 32-token greedy replies cut to 24 changed no after-training HarmBench verdict
    # and 3 of 450 XSTest ones (over-refusal 5.2 % both ways); before training, when the model complies at length,
    # HarmBench ASR read 86.2 instead of 88.1 % (benchmarks/bench_gen_length.py → results.json
    # ["gen_length_s4_eval_24_32"]). Batches of 64 decode ~27 % faster than 32, and of 128 another ~16 % (XSTest,
    # 256 prompts: 52.8 → 44.6 s; 256 rows: 46.2 s)
    max_new_tokens: int = 24
    batch_size: int = 128


@dataclass
class JudgeSettings:
    """Which judges fill the run's ``refusal`` and ``harm`` verdicts (every stage uses the same two)."""

    refusal: str = "refusal"  # the default, validated leave-one-source-out; "refusal-rules" for the rule fast path
    harm: str = "harm"  # the default; "harm-rules" for the rule fast path


@dataclass
class ReviewSettings:
    """Human expert review before training (``safestack review serve``): with ``required`` severities set, the run
    stops before training until every pair in those categories is reviewed; ``--resume`` trains on the reviewed
    set. Off (empty) by default."""

    required: list[str] = field(default_factory=list)  # e.g. [critical, high]
    db: str | None = None  # label store URL (default: sqlite:///RUN/review/labels.db)


@dataclass
class RunConfig:
    target: str = "default"
    seed: int = 0
    taxonomy: str | None = None
    redteam: RedteamSettings = field(default_factory=RedteamSettings)
    datagen: DatagenSettings = field(default_factory=DatagenSettings)
    # how the pairs train the model: DPO, representation rerouting (circuit breakers) or DPO then RR
    method: Literal["dpo", "rr", "dpo+rr"] = "dpo"
    # dpo+rr: RR after DPO from the DPO model (sequential), or both terms in every step of one training (joint:
    # train/joint.py; RR's target layers inside DPO's adapter, its schedule over DPO's steps)
    dpo_rr: Literal["sequential", "joint"] = "sequential"
    train: DPOSettings = field(default_factory=DPOSettings)
    rr: RRSettings = field(default_factory=RRSettings)
    # a small held-out safety eval at the start and at every saved checkpoint (curves + degradation flag in the
    # report)
    checkpoint_eval: CheckpointEvalSettings = field(default_factory=lambda: CheckpointEvalSettings(enabled=True))
    eval: EvalSettings = field(default_factory=EvalSettings)
    rounds: RoundSettings = field(default_factory=RoundSettings)
    judges: JudgeSettings = field(default_factory=JudgeSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)


def load_run_config(path: str | None, target: str | None = None) -> RunConfig:
    data = load_yaml(path)
    cfg = from_dict(RunConfig, data, str(path or "config"))
    if target:
        cfg.target = target
    return cfg


STAGES = ("redteam", "eval_before", "datagen", "train", "eval_after", "report")


class RunState:
    def __init__(self, out: Path):
        self.path = out / "state.json"
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {"done": {}}

    def done(self, stage: str) -> bool:
        return stage in self.data["done"]

    def mark(self, stage: str, seconds: float) -> None:
        self.data["done"][stage] = {"seconds": round(seconds, 1), "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(self.path, self.data)


def check_borderline_extra(d: DatagenSettings) -> None:
    """``datagen.borderline_extra`` is a list of bench specs and ``borderline_extra_share`` a number in [0, 1]."""
    if not isinstance(d.borderline_extra, list) or not all(isinstance(x, str) and x.strip()
                                                           for x in d.borderline_extra):
        raise BadInput(f"config: datagen.borderline_extra must be a list of bench specs (e.g. [hh-redteam:benign]), "
                       f"got {d.borderline_extra!r}")
    share = d.borderline_extra_share
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise BadInput(f"config: datagen.borderline_extra_share must be in [0, 1], got {share!r}")


def run_pipeline(cfg: RunConfig, out: str | Path, *, resume: bool = False, console: Console | None = None,
                 target_factory: Callable[[str], Any] | None = None) -> dict:
    """Run (or resume) the loop; returns report.json's content."""
    from .attacks import make_attacks
    from .data import load_bench, load_specs
    from .datagen import run_datagen
    from .evals import run_eval
    from .judges import judge_info, make_judge
    from .records import Attempt, JsonlStore
    from .redteam import redteam_prompts, run_redteam
    from .report import build_report
    from .targets import GenParams, load_target
    from .taxonomy import load_taxonomy
    from .evals.gates import evaluate_gates, load_gates
    from .train.dpo import train_dpo
    from .train.rr import train_rr

    console = console or Console(stderr=True)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        raise BadInput(f"{out} is not empty: pass --resume to continue that run, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if resume:  # a run paused for human review stays gated, even when resumed without its review config
        from .review.gate import carried_over

        cfg.review.required = carried_over(cfg.review.required, out)
    write_json(out / "config.json", to_dict(cfg))
    state = RunState(out)
    taxonomy = load_taxonomy(cfg.taxonomy)
    make_attacks(cfg.redteam.attacks)  # validate before any heavy work
    from .datagen.pairs import check_data_mix

    check_data_mix(cfg.datagen.borderline_mix, cfg.datagen.style_match)
    from .evals.gates import load_gates as _lg

    _lg(cfg.rounds.gates)
    from .evals.suites import suite_benches

    if not cfg.eval.benches:
        cfg.eval.benches = suite_benches(cfg.eval.suite)
    check_borderline_extra(cfg.datagen)
    for b in cfg.eval.benches + cfg.datagen.borderline_extra:
        load_bench(b)
    if cfg.method not in ("dpo", "rr", "dpo+rr"):
        raise BadInput(f"config: method must be dpo, rr or dpo+rr, got {cfg.method!r}")
    if cfg.review.required:
        from .review.gate import check_required

        check_required(cfg.review.required)
    make_target = target_factory or (lambda spec: load_target(spec))
    judges = [make_judge(cfg.judges.refusal), make_judge(cfg.judges.harm)]
    if [j.name for j in judges] != ["refusal", "harm"]:
        raise BadInput(f"config: judges.refusal must be a refusal judge and judges.harm a harm judge, got "
                       f"{cfg.judges.refusal!r} and {cfg.judges.harm!r}")
    jinfo = judge_info(judges)
    timings: dict[str, float] = {}
    base = None

    def base_target():
        nonlocal base
        if base is None:
            base = make_target(cfg.target)
        return base

    cur = None

    def current():  # the latest trained model
        nonlocal cur
        if cur is None:
            cur = make_target(f"hf:{out / 'model'}")
        return cur

    def release_targets():  # free the models before training (and the trained one changes)
        nonlocal base, cur
        base = cur = None

    def stage(name: str, fn: Callable[[], Any]) -> None:
        if state.done(name):
            console.print(f"[dim]✓ {name} (done, skipped)[/dim]")
            return
        console.rule(f"[bold]{name}")
        t0 = time.time()
        fn()
        state.mark(name, time.time() - t0)
        timings[name] = time.time() - t0

    rt_params = GenParams(max_new_tokens=cfg.redteam.max_new_tokens)
    ev_params = GenParams(max_new_tokens=cfg.eval.max_new_tokens)

    def do_redteam(rcfg: RunConfig, rdir: Path, target_fn):
        samples = redteam_prompts(rcfg.redteam.sources, rcfg.redteam.limit, cfg.seed, rcfg.redteam.focus, taxonomy)
        asyncio.run(run_redteam(target_fn(), samples, make_attacks(rcfg.redteam.attacks),
                                judges, rdir / "redteam", params=rt_params, taxonomy=taxonomy, resume=True,
                                seed=cfg.seed, batch_size=rcfg.redteam.batch_size,
                                interactive_limit=rcfg.redteam.interactive_limit))

    def do_eval(edir: Path, spec_target):
        asyncio.run(run_eval(spec_target(), cfg.eval.benches, judges, edir, limit=cfg.eval.limit,
                             params=ev_params, resume=True, batch_size=cfg.eval.batch_size, judge_info=jinfo))

    def do_datagen(rcfg: RunConfig, rdir: Path):
        findings = JsonlStore(rdir / "redteam" / "findings.jsonl", Attempt).load()
        d = rcfg.datagen
        asyncio.run(run_datagen(findings, rdir / "data", target=base_target(), taxonomy=taxonomy, refusal=judges[0],
                                harm=judges[1], benign_ratio=d.benign_ratio, max_pairs=d.max_pairs,
                                val_fraction=d.val_fraction, params=rt_params, seed=cfg.seed, cai_limit=d.cai_limit,
                                critic=make_target(d.critic) if d.critic else None, rlaif_limit=d.rlaif_limit,
                                labeller=make_target(d.labeller) if d.labeller else None,
                                constitution=d.constitution, focus=rcfg.redteam.focus,
                                borderline_mix=d.borderline_mix, taught_refusal_share=d.taught_refusal_share,
                                style_match=d.style_match, answer_cache=answer_cache_file(cfg, judges),
                                extra_borderline=load_specs(d.borderline_extra),
                                extra_share=d.borderline_extra_share))

    def do_train(rcfg: RunConfig, rdir: Path, start_model: str, data: Path):
        callbacks = []
        if cfg.checkpoint_eval.enabled:
            from .train.checkpoint_eval import CheckpointEvalCallback, eval_covers, point_from_eval, record_point

            ce = cfg.checkpoint_eval
            if ce.at_start and rdir == out:  # round 1's step 0 is the base model: eval before answered those prompts
                res = point_from_eval(out / "eval_before", ce, cfg.eval.max_new_tokens)
                if res is not None:
                    record_point(rdir / "train", 0, res, "eval_before", ce)
            covered = eval_covers(ce, cfg.eval.benches, cfg.eval.limit, cfg.eval.max_new_tokens)
            callbacks.append(CheckpointEvalCallback(rdir / "train", ce, judges=judges, log=console.print,
                                                    skip_final=covered))
        final = rdir / "train"
        joint = cfg.method == "dpo+rr" and cfg.dpo_rr == "joint"
        if cfg.method in ("dpo", "dpo+rr"):
            train_dpo(start_model, data, final, rcfg.train, callbacks=callbacks, log=console.print,
                      joint_rr=rcfg.rr if joint else None)
        if cfg.method == "rr":
            train_rr(start_model, data, final, rcfg.rr, callbacks=callbacks, log=console.print)
        if cfg.method == "dpo+rr" and not joint:  # sequential: RR starts from the DPO model
            final = rdir / "train_rr"
            train_rr(str(rdir / "train" / "model"), data, final, rcfg.rr, log=console.print)
        if (out / "model").exists():
            shutil.rmtree(out / "model")
        shutil.move(str(final / "model"), str(out / "model"))

    def final_checkpoint_point(rdir: Path) -> None:
        """The curve's last point is the trained model: read it from eval after (the callback skipped it)."""
        if not cfg.checkpoint_eval.enabled or not (rdir / "train" / "train.json").exists():
            return
        from .train.checkpoint_eval import point_from_eval, record_point

        steps = json.loads((rdir / "train" / "train.json").read_text())["steps"]
        res = point_from_eval(rdir / "eval_after", cfg.checkpoint_eval, cfg.eval.max_new_tokens)
        if res is not None:
            record_point(rdir / "train", steps, res, "eval_after", cfg.checkpoint_eval)

    t_start = time.time() - sum(v["seconds"] for v in state.data["done"].values())
    rounds = state.data.setdefault("rounds", [])
    stage("redteam", lambda: do_redteam(cfg, out, base_target))
    def do_eval_before():
        from .evals import cache

        key = before_cache_key(cfg, judges)
        if key and cache.restore(key, out / "eval_before"):
            state.data["eval_before_from_cache"] = key
            console.print(f"eval before: read from the cache ({cache.cache_dir() / key}): same weights, prompts, "
                          f"decoding and judges")
            return
        do_eval(out / "eval_before", base_target)
        if key:
            cache.store(key, out / "eval_before")

    stage("eval_before", do_eval_before)
    rcfg = cfg
    for r in range(1, max(1, cfg.rounds.max_rounds) + 1):
        round_start = time.time()
        rdir = out if r == 1 else out / "rounds" / str(r)
        tag = "" if r == 1 else f"@{r}"
        if r > 1:
            stage(f"redteam{tag}", lambda: do_redteam(rcfg, rdir, lambda: current()))
        try:
            stage(f"datagen{tag}", lambda: do_datagen(rcfg, rdir))
        except BadInput as e:
            if r == 1:
                raise
            rounds[-1]["stopped"] = f"round {r}: {e}"
            break
        data = rdir / "data" / "train.jsonl"
        if r > 1:  # replay the earlier rounds' pairs so the model keeps what it learned
            data = replay(out, r)
        if cfg.review.required and not state.done(f"train{tag}"):  # stops here until the pairs are reviewed
            from .review.gate import review_gate

            data = review_gate(cfg.review.required, rdir, out, data, taxonomy, cfg.review.db)
        release_targets()
        start_model = model_path_of(cfg.target) if r == 1 else str(out / "model")
        stage(f"train{tag}", lambda: do_train(rcfg, rdir, start_model, data))
        stage(f"eval_after{tag}", lambda: do_eval(rdir / "eval_after", current))
        final_checkpoint_point(rdir)
        metrics = json.loads((rdir / "eval_after" / "metrics.json").read_text())
        before = json.loads((out / "eval_before" / "metrics.json").read_text())
        gates = evaluate_gates(metrics, [g for g in load_gates(cfg.rounds.gates) if g.in_run], baseline=before)
        nxt, decisions = decide(rcfg, gates, cfg.rounds)
        entry = {"round": r, "dir": str(rdir.relative_to(out)) if r > 1 else ".", "gates": gates,
                 "decisions": decisions}
        rounds[r - 1:] = [entry]
        write_json(state.path, state.data)
        elapsed = (time.time() - t_start) / 60
        if gates["passed"]:
            entry["stopped"] = "gates passed"
            break
        if r == cfg.rounds.max_rounds:
            entry["stopped"] = f"max_rounds ({r}) reached with gates failing"
            break
        this_round = (time.time() - round_start) / 60
        if cfg.rounds.budget_minutes is not None and elapsed + this_round > cfg.rounds.budget_minutes:
            entry["stopped"] = (f"budget of {cfg.rounds.budget_minutes} min: {elapsed:.1f} min spent, another round "
                                f"would take about {this_round:.1f}")
            break
        rcfg = nxt
        console.print(f"[bold]round {r}: gates failed → {'; '.join(decisions)}[/bold]")
    write_json(state.path, state.data)
    report = build_report(out)
    state.mark("report", 0.0)
    return report


# training sources that share an evaluation bench's style (never the bench itself): questions for XSTest and
# StrongREJECT, AdvBench's behaviours for JailbreakBench's, HarmBench's training splits for HarmBench test
STYLE_SOURCES = {"xstest": ["dangerousqa", "harmfulqa"], "strongreject": ["harmfulqa", "dangerousqa"],
                 "jbb": ["advbench"], "harmbench": ["harmbench:val", "adv_training"], "toxigen": [],
                 "jsonl": ["harmfulqa", "dangerousqa"], "hh-heldout": ["hh-redteam"]}


def decide(cfg: RunConfig, gates: dict, rs: RoundSettings) -> tuple[RunConfig, list[str]]:
    """The seeds' decision rules, applied to the next round's settings: over-refusal > 5 % → more borderline-benign
    pairs; multi-turn ASR > 10 % → multi-turn red teaming (its findings become multi-turn pairs); a category's
    ASR > 20 % → every training behaviour of that category red-teamed and its pairs first."""
    import copy

    nxt = copy.deepcopy(cfg)
    decisions: list[str] = []
    failed = [g for g in gates["results"] if g["status"] == "fail"]
    if any(g["metric"].endswith("over_refusal") for g in failed):
        nxt.datagen.benign_ratio = round(cfg.datagen.benign_ratio * rs.benign_boost, 3)
        decisions.append(f"rebalance: benign_ratio {cfg.datagen.benign_ratio} → {nxt.datagen.benign_ratio}")
    if any(g["metric"].startswith("multiturn") for g in failed) and rs.multiturn_attack not in cfg.redteam.attacks:
        nxt.redteam.attacks = list(cfg.redteam.attacks) + [rs.multiturn_attack]
        decisions.append(f"add multi-turn data: red-team with {rs.multiturn_attack}")
    from .data.loaders import split_limit

    add = []
    for g in failed:  # a failing harmful bench → the next red team draws on training sources of its style
        bench = split_limit(g["metric"].split(".")[0])[0].split(":")[0]
        if g["metric"].endswith(".asr") and not bench.startswith("multiturn"):
            add += [s for s in STYLE_SOURCES.get(bench, []) if s not in cfg.redteam.sources and s not in add]
    if add:
        nxt.redteam.sources = list(cfg.redteam.sources) + add
        decisions.append(f"broaden the red team: add {', '.join(add)}")
    cats = sorted({g["metric"].rsplit(".", 1)[-1] for g in failed if ".asr_by_category." in g["metric"]})
    if cats:
        nxt.redteam.focus = sorted(set(cfg.redteam.focus) | set(cats))
        decisions.append(f"targeted data for {', '.join(cats)}")
    if not decisions and failed:
        decisions.append("another round on fresh red-team findings")
    return nxt, decisions


def replay(out: Path, r: int) -> Path:
    """Round r trains on its own pairs plus every earlier round's (deduplicated by prompt)."""
    seen, rows = set(), []
    for k in range(r, 0, -1):
        f = (out if k == 1 else out / "rounds" / str(k)) / "data" / "train.jsonl"
        if not f.exists():
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            key = json.dumps(json.loads(line)["prompt"], sort_keys=True)
            if key not in seen:
                seen.add(key)
                rows.append(line)
    dst = out / "rounds" / str(r) / "data" / "train_replay.jsonl"
    dst.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return dst


def before_cache_key(cfg: RunConfig, judges) -> str | None:
    """The eval cache key of the base model's evaluation, or None for targets that are not local weights."""
    return _local_key(cfg, judges, cfg.eval.benches, cfg.eval.limit, cfg.eval.max_new_tokens)


def answer_cache_file(cfg: RunConfig, judges) -> Path | None:
    """Where the base model's judged borderline answers are kept across runs (greedy decoding of the same weights
    gives the same answers), or None for targets that are not local weights."""
    from .evals import cache

    key = _local_key(cfg, judges[:1], ["datagen:borderline"], None, cfg.redteam.max_new_tokens)
    return cache.cache_dir() / f"borderline-{key}.jsonl" if key else None


def _local_key(cfg: RunConfig, judges, benches, limit, max_new_tokens: int) -> str | None:
    from .evals.cache import eval_key
    from .judges.learned import packaged_path

    if not (cfg.target == "default" or (cfg.target.startswith("hf:") and Path(cfg.target[3:]).is_dir())):
        return None
    w = packaged_path()
    return eval_key(model_path_of(cfg.target), benches, limit, {"max_new_tokens": max_new_tokens, "greedy": True},
                    [w.with_suffix(".safetensors"), w.with_suffix(".json")],
                    [getattr(j, "spec_name", j.name) for j in judges])
