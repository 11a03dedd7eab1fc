"""Benchmark loaders. Data is vendored under ``data/vendor/<name>/`` with its licence and provenance; each loader
also accepts an upstream directory (``SAFESTACK_DATA_<NAME>=/path``) holding the same files.

Bench specs: a built-in name (``harmbench``, ``harmbench:val``, ``xstest``, ``xstest:safe`` …) or
``jsonl:<path>`` with rows ``{"prompt": str, "label": "harmful"|"benign", "category": str?}``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from ..errors import BadInput
from ..records import Sample, read_jsonl
from ..registry import Registry

VENDOR = "vendor"


def data_dir(name: str) -> Path:
    env = os.environ.get(f"SAFESTACK_DATA_{name.upper().replace('-', '_')}")
    if env:
        return Path(env)
    return Path(str(resources.files(__package__).joinpath(VENDOR, name)))


def _csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise BadInput(f"{path}: dataset file not found")
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def harmbench_prompt(behavior: str, context: str | None) -> str:
    """HarmBench's text format: contextual behaviours put the context first, then the request."""
    if context:
        return f"{context.strip()}\n\n---\n\n{behavior.strip()}"
    return behavior.strip()


HARMBENCH_FUNCTIONAL = ("standard", "contextual", "copyright")


def load_harmbench(split: str = "test", functional: tuple[str, ...] = ("standard",)) -> list[Sample]:
    """HarmBench text behaviours. Split ``val`` (80) is the one used for training/tuning, ``test`` (320) is held out.
    The default is the *standard* behaviours (159 in test): contextual ones carry long context strings (slow on
    CPU; ask for them with ``harmbench:test:standard,contextual``) and copyright ones are judged in HarmBench by
    hashing against the original works, which a refusal/harm judge cannot reproduce."""
    if split not in ("val", "test", "all"):
        raise BadInput(f"harmbench: unknown split '{split}' (val, test, all)")
    bad = [f for f in functional if f not in HARMBENCH_FUNCTIONAL]
    if bad:
        raise BadInput(f"harmbench: unknown functional category {bad} (use {', '.join(HARMBENCH_FUNCTIONAL)})")
    rows = _csv(data_dir("harmbench") / f"harmbench_behaviors_text_{split}.csv")
    return [Sample(id=f"harmbench/{r['BehaviorID']}", prompt=harmbench_prompt(r["Behavior"], r.get("ContextString")),
                   label="harmful", category=r["SemanticCategory"], source=f"harmbench:{split}",
                   meta={"functional": r["FunctionalCategory"], "behavior": r["Behavior"].strip()})
            for r in rows if r["FunctionalCategory"] in functional]


def load_harmbench_extra(name: str) -> list[Sample]:
    """HarmBench's extra behaviour sets: ``adv_training`` (100, meant for adversarial training), ``advbench`` (520),
    ``tdc2023`` (50). None of them is in the HarmBench val/test splits."""
    files = {"adv_training": "adv_training_behaviors.csv", "advbench": "advbench_behaviors.csv",
             "tdc2023": "tdc2023_test_phase_behaviors.csv"}
    if name not in files:
        raise BadInput(f"unknown HarmBench extra set '{name}' ({', '.join(files)})")
    rows = _csv(data_dir("harmbench") / "extra_behavior_datasets" / files[name])
    return [Sample(id=f"{name}/{r['BehaviorID']}", prompt=harmbench_prompt(r["Behavior"], r.get("ContextString")),
                   label="harmful", category=r.get("Category") or None, source=name,
                   meta={"behavior": r["Behavior"].strip()})
            for r in rows]


def load_xstest(subset: str = "all") -> list[Sample]:
    """XSTest v2: 250 safe prompts (over-refusal) and 200 unsafe contrast prompts. Evaluation only."""
    if subset not in ("all", "safe", "unsafe"):
        raise BadInput(f"xstest: unknown subset '{subset}' (all, safe, unsafe)")
    rows = _csv(data_dir("xstest") / "xstest_prompts.csv")
    out = []
    for r in rows:
        lab = "benign" if r["label"] == "safe" else "harmful"
        if subset != "all" and r["label"] != subset:
            continue
        out.append(Sample(id=f"xstest/{r['id']}", prompt=r["prompt"], label=lab, category=r["type"],
                          source="xstest", meta={"type": r["type"], "focus": r["focus"], "note": r["note"]}))
    return out


def load_xstest_completions(model: str | None = None) -> list[dict]:
    """XSTest's human-labelled completions (5 models × 450): final_label is 1_full_compliance, 2_full_refusal or
    3_partial_refusal. Used to train and calibrate the refusal judge, never the model under test."""
    d = data_dir("xstest") / "model_completions"
    files = sorted(d.glob("xstest_v2_completions_*.csv"))
    out = []
    for f in files:
        m = f.stem.replace("xstest_v2_completions_", "")
        if model and m != model:
            continue
        for r in _csv(f):
            out.append({"model": m, "id": r["id"], "type": r["type"], "prompt": r["prompt"],
                        "response": r["completion"], "human": r["final_label"],
                        "annotations": [r.get("annotation_1", ""), r.get("annotation_2", "")]})
    return out


def load_jbb_artifacts() -> list[dict]:
    """JailbreakBench artifacts: every (method, target model) jailbreak with its response and JBB's judge label
    (``jailbroken``, from Llama-3-70B — a model judge, not a human)."""
    import json

    root = data_dir("jbb") / "attack-artifacts"
    out = []
    for f in sorted(root.glob("*/*/*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(d, dict) or "jailbreaks" not in d:
            continue
        method, model = f.parent.parent.name, f.stem
        for x in d["jailbreaks"]:
            if not x.get("response") or x.get("jailbroken") is None:
                continue
            out.append({"method": method, "model": model, "goal": x["goal"], "category": x.get("category"),
                        "prompt": x.get("prompt") or x["goal"], "response": x["response"],
                        "jailbroken": bool(x["jailbroken"])})
    return out


def _hh_turns(text: str) -> list[dict[str, str]]:
    """An HH-RLHF transcript ("\\n\\nHuman: …\\n\\nAssistant: …") as chat messages."""
    import re

    parts = re.split(r"\n\n(Human|Assistant): ", "\n\n" + text.lstrip("\n"))
    msgs = []
    for role, content in zip(parts[1::2], parts[2::2]):
        msgs.append({"role": "user" if role == "Human" else "assistant", "content": content.strip()})
    return msgs


def hh_part(chosen: str, heldout_share: int = 4) -> str:
    """safestack's deterministic split of HH-RLHF harmless-base (upstream test split): ``heldout`` when the first
    hex digit of sha1(chosen) is below ``heldout_share`` (of 16; 4 → 25 %), else ``train``."""
    import hashlib

    return "heldout" if int(hashlib.sha1(chosen.encode()).hexdigest()[0], 16) < heldout_share else "train"


def load_hh_rlhf(part: str = "train", last_turn_only: bool = True) -> list[dict]:
    """Anthropic HH-RLHF harmless-base pairs in TRL's conversational preference format (prompt / chosen / rejected
    message lists; chosen = the more harmless reply). ``part``: train | heldout | all (see ``hh_part``).
    ``last_turn_only`` keeps just the final user turn as the prompt (short sequences for small reward models)."""
    import gzip
    import json

    if part not in ("train", "heldout", "all"):
        raise BadInput(f"hh-rlhf: unknown part '{part}' (train, heldout, all)")
    path = data_dir("hh_rlhf") / "harmless-base" / "test.jsonl.gz"
    if not path.exists():
        raise BadInput(f"{path}: dataset file not found")
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            r = json.loads(line)
            if part != "all" and hh_part(r["chosen"]) != part:
                continue
            c, j = _hh_turns(r["chosen"]), _hh_turns(r["rejected"])
            if len(c) < 2 or c[-1]["role"] != "assistant" or j[-1]["role"] != "assistant" or c[:-1] != j[:-1]:
                continue  # malformed or diverging before the last reply
            if c[-1]["content"] == j[-1]["content"] or not c[-1]["content"] or not j[-1]["content"]:
                continue
            prompt = c[:-1][-1:] if last_turn_only else c[:-1]
            out.append({"id": f"hh-rlhf/harmless-base/{i}", "prompt": prompt, "chosen": c[-1:], "rejected": j[-1:]})
    return out


HH_LABELS = "first_turn_labels.jsonl"


def load_hh_first_turns(part: str = "train", keep_unclear: bool = False) -> list[Sample]:
    """HH-RLHF harmless-base's first human turns (crowdworkers red-teaming an assistant: human-written, casual, many
    harmless), each labelled harmful / benign by two independent labellers (``first_turn_labels.jsonl``; rows they
    disagreed on, or either called unclear, are ``unclear`` and left out unless ``keep_unclear``: then they come as
    benign with ``meta["unclear"]``). ``part``: train | heldout | all, the split of ``hh_part`` (25 % held out,
    by transcript). Deduplicated and decontaminated against every evaluation bench when the file was made."""
    import json

    if part not in ("train", "heldout", "all"):
        raise BadInput(f"hh-rlhf first turns: unknown part '{part}' (train, heldout, all)")
    path = data_dir("hh_rlhf") / HH_LABELS
    if not path.exists():
        raise BadInput(f"{path}: dataset file not found")
    out = []
    with path.open(encoding="utf-8") as f:
        for r in map(json.loads, filter(str.strip, f)):
            if part != "all" and r["part"] != part:
                continue
            if r["label"] == "unclear" and not keep_unclear:
                continue
            out.append(Sample(id=r["id"], prompt=r["text"], label="harmful" if r["label"] == "harmful" else "benign",
                              category=r["category"] if r["label"] == "harmful" else None, source="hh-redteam",
                              meta={"part": r["part"], "labels": r["labels"], "unclear": r["label"] == "unclear"}))
    return out


HH_REPLY_LABELS = "reply_labels.jsonl"


def load_hh_reply_labels(part: str = "heldout") -> list[dict]:
    """The embedded model's replies (before / after the default run, 24 tokens) to HH-RLHF first turns, labelled by
    two independent labellers (``reply_labels.jsonl``): ``refusal`` (non-compliance) and ``harm`` are null where
    they disagreed. ``part``: heldout (replies to ``hh-heldout``'s requests: a judge test set) | train (the training
    part's, without ``hh-dev``) | all."""
    import json

    if part not in ("train", "heldout", "all"):
        raise BadInput(f"hh-rlhf reply labels: unknown part '{part}' (train, heldout, all)")
    path = data_dir("hh_rlhf") / HH_REPLY_LABELS
    if not path.exists():
        raise BadInput(f"{path}: dataset file not found")
    with path.open(encoding="utf-8") as f:
        return [r for r in map(json.loads, filter(str.strip, f)) if part == "all" or r["part"] == part]


def hh_dev(sample_id: str) -> bool:
    """The training part's rows held back for choosing a run's settings (``hh-dev``, ~19 %, by id)."""
    import hashlib

    return int(hashlib.sha1(sample_id.encode()).hexdigest()[0], 16) < 3


def hh_subset(name: str, rows: list[Sample], arg: str) -> list[Sample]:
    """``rows`` as the dataset ``name``: all of them, or one label (``name:harmful`` / ``name:benign``)."""
    if arg not in ("", "harmful", "benign"):
        raise BadInput(f"{name}: unexpected argument '{arg}' ({name}, {name}:harmful, {name}:benign)")
    return [s.model_copy(update={"source": name}) for s in rows if not arg or s.label == arg]


def load_hh_redteam(arg: str = "") -> list[Sample]:
    """The training part's harmful first turns (``hh-redteam``) or benign ones (``hh-redteam:benign``), without the
    rows ``hh-dev`` holds back."""
    if arg not in ("", "benign"):
        raise BadInput(f"hh-redteam: unexpected argument '{arg}' (hh-redteam, hh-redteam:benign)")
    return [s for s in load_hh_first_turns("train") if s.label == (arg or "harmful") and not hh_dev(s.id)]


def load_hh_dev(arg: str = "") -> list[Sample]:
    """``hh-dev``: the training part's held-back rows, harmful and benign (``:harmful`` / ``:benign`` for one)."""
    return hh_subset("hh-dev", [s for s in load_hh_first_turns("train") if hh_dev(s.id)], arg)


RED_INSTRUCT = ("harmfulqa", "dangerousqa")


def load_red_instruct(name: str = "harmfulqa") -> list[Sample]:
    """red-instruct's question-style harmful requests (no answers, no labels): HarmfulQA (1,960 questions, 10
    academic topics × 98 subtopics; category = topic) and DangerousQA (200 short questions). Red-team and training
    sources, never evaluation benches."""
    import json

    if name not in RED_INSTRUCT:
        raise BadInput(f"red-instruct: unknown set '{name}' ({', '.join(RED_INSTRUCT)})")
    path = data_dir("red_instruct") / "harmful_questions" / f"{name}.json"
    if not path.exists():
        raise BadInput(f"{path}: dataset file not found")
    data = json.loads(path.read_text(encoding="utf-8"))
    if name == "dangerousqa":
        return [Sample(id=f"dangerousqa/{i}", prompt=q.strip(), label="harmful", source="dangerousqa")
                for i, q in enumerate(data)]
    out = []
    for topic, subs in data.items():
        for sub, qs in subs.items():
            out += [Sample(id=f"harmfulqa/{len(out) + j}", prompt=q.strip(), label="harmful", category=topic,
                           source="harmfulqa", meta={"subtopic": sub}) for j, q in enumerate(qs)]
    return out


def load_jsonl_bench(path: str) -> list[Sample]:
    rows = read_jsonl(path, required=("prompt",))
    out = []
    for i, r in enumerate(rows, 1):
        lab = r.get("label", "harmful")
        if lab not in ("harmful", "benign"):
            raise BadInput(f"{path}:{i}: field 'label' must be \"harmful\" or \"benign\", got {lab!r}")
        cat = r.get("category")
        if cat is not None and not isinstance(cat, str):
            raise BadInput(f"{path}:{i}: field 'category' must be a string")
        out.append(Sample(id=str(r.get("id", f"{Path(path).stem}/{i}")), prompt=r["prompt"], label=lab,
                          category=cat, source=f"jsonl:{path}"))
    return out


def load_contrast(name: str, part: str = "") -> list[Sample]:
    """safestack's contrast sets (``data/contrast.py``): ``taxonomy`` = harmful requests across every category and
    style, ``lookalikes`` = their benign look-alikes (both the training part), ``contrast:dev`` = the held-back
    fifth of both (``contrast:train`` / ``contrast:all`` the others)."""
    from .contrast import contrast_samples

    if name == "contrast":
        return contrast_samples(part or "dev")
    if part:
        raise BadInput(f"bench spec '{name}:{part}': {name} takes no ':' argument")
    label = "harmful" if name == "taxonomy" else "benign"
    return [s for s in contrast_samples("train") if s.label == label]


@dataclass
class DatasetInfo:
    name: str
    description: str
    role: str  # "eval" (never train on it), "train", or "dev" (neither: for choosing settings)
    licence: str
    loader: Callable[[], list[Sample]]
    vendor: str = ""
    specs: list[str] = field(default_factory=list)
    load_spec: Callable[[str], list[Sample]] | None = None  # the spec's argument after "name:" → samples
    tags: tuple[str, ...] = ()

    @property
    def kind(self) -> str:  # a dataset's kind in the registry is its role
        return self.role


_BUILTIN: dict[str, DatasetInfo] = {
    "harmbench": DatasetInfo("harmbench", "HarmBench text behaviours, test split (held out), standard behaviours",
                             "eval", "MIT", lambda: load_harmbench("test"), "harmbench",
                             ["harmbench", "harmbench:test", "harmbench:val", "harmbench:all",
                              "harmbench:test:standard,contextual", "harmbench:test:standard,contextual,copyright"]),
    "harmbench-val": DatasetInfo("harmbench-val", "HarmBench val split (80 behaviours): the training/tuning split",
                                 "train", "MIT", lambda: load_harmbench("val"), "harmbench", ["harmbench:val"]),
    "adv_training": DatasetInfo("adv_training", "HarmBench adversarial-training behaviours (100), disjoint from "
                                "val/test", "train", "MIT", lambda: load_harmbench_extra("adv_training"),
                                "harmbench", ["adv_training"]),
    "advbench": DatasetInfo("advbench", "AdvBench harmful behaviours (520), via HarmBench's extras", "train", "MIT",
                            lambda: load_harmbench_extra("advbench"), "harmbench", ["advbench"]),
    "harmfulqa": DatasetInfo("harmfulqa", "red-instruct HarmfulQA: 1,960 question-style harmful requests, 10 topics",
                             "train", "Apache-2.0", lambda: load_red_instruct("harmfulqa"), "red_instruct",
                             ["harmfulqa"]),
    "dangerousqa": DatasetInfo("dangerousqa", "red-instruct DangerousQA: 200 short harmful questions", "train",
                               "Apache-2.0", lambda: load_red_instruct("dangerousqa"), "red_instruct",
                               ["dangerousqa"]),
    "hh-redteam": DatasetInfo("hh-redteam", "HH-RLHF red-team first turns, training part: human-written harmful "
                              "requests (hh-redteam:benign the benign ones; two model labellers)", "train", "MIT",
                              lambda: load_hh_redteam(""), "hh_rlhf", ["hh-redteam", "hh-redteam:benign"],
                              load_spec=load_hh_redteam),
    "hh-dev": DatasetInfo("hh-dev", "HH-RLHF red-team first turns held back from the training part, harmful and "
                          "benign: for checking a run's settings on human-written requests (never a red-team "
                          "source)", "dev", "MIT", lambda: load_hh_dev(""), "hh_rlhf",
                          ["hh-dev", "hh-dev:harmful", "hh-dev:benign"], load_spec=load_hh_dev),
    "taxonomy": DatasetInfo("taxonomy", "safestack's harmful requests: every taxonomy category in question, "
                            "imperative, assistant-help and noun-phrase styles (training part)", "train",
                            "Apache-2.0", lambda: load_contrast("taxonomy"), "", ["taxonomy"]),
    "lookalikes": DatasetInfo("lookalikes", "safestack's benign look-alikes of harmful requests (protection, "
                              "education, legal, history, fiction, medical, homonyms, …; training part)", "train",
                              "Apache-2.0", lambda: load_contrast("lookalikes"), "", ["lookalikes"]),
    "contrast-dev": DatasetInfo("contrast-dev", "the held-back fifth of taxonomy + lookalikes: for checking a run's "
                                "settings without an evaluation bench (never trained on)", "dev", "Apache-2.0",
                                lambda: load_contrast("contrast", "dev"), "", ["contrast:dev"]),
    "xstest": DatasetInfo("xstest", "XSTest v2: 250 safe (over-refusal) + 200 unsafe contrast prompts", "eval",
                          "CC-BY-4.0", lambda: load_xstest("all"), "xstest",
                          ["xstest", "xstest:safe", "xstest:unsafe"]),
}


def _load_bench_datasets() -> None:
    from . import benches  # noqa: F401  (registers the evaluation benches' prompt sets)


DATASETS: Registry[DatasetInfo] = Registry("dataset", _load_bench_datasets)
for _info in _BUILTIN.values():
    DATASETS.add(_info)


def split_limit(spec: str) -> tuple[str, int | None]:
    """``strongreject@60`` → (``strongreject``, 60): a bench spec with the size of its stratified subset (the eval
    runner draws it; the metrics key keeps the whole spec)."""
    base, sep, n = spec.rpartition("@")
    if not sep or not base or not n.isdigit():
        return spec, None
    if int(n) <= 0:
        raise BadInput(f"bench spec '{spec}': the subset size after '@' must be positive")
    return base, int(n)


def load_specs(specs: Sequence[str] | str) -> list[Sample]:
    """Every sample of the bench ``specs`` in order (a comma-separated string works too; blank specs skipped)."""
    if isinstance(specs, str):
        specs = specs.split(",")
    return [s for spec in specs if spec.strip() for s in load_bench(spec.strip())]


def load_bench(spec: str) -> list[Sample]:
    """Resolve a bench spec into samples (a ``@N`` subset suffix is accepted here and applied by the runner)."""
    spec = split_limit(spec)[0]
    if spec.startswith("jsonl:"):
        return load_jsonl_bench(spec[6:])
    name, _, rest = spec.partition(":")
    if name == "harmbench":
        split, _, func = rest.partition(":")
        functional = tuple(f for f in func.split(",") if f) or ("standard",)
        return load_harmbench(split or "test", functional)
    if name == "xstest":
        return load_xstest(rest or "all")
    if name in ("adv_training", "advbench", "tdc2023") and not rest:
        return load_harmbench_extra(name)
    if name in RED_INSTRUCT and not rest:
        return load_red_instruct(name)
    if name in ("taxonomy", "lookalikes", "contrast"):
        return load_contrast(name, rest)
    info = DATASETS.get(name)
    if info is not None and info.load_spec is not None:  # the evaluation benches' sets (data/benches.py), HH's parts
        return info.load_spec(rest)
    raise BadInput(f"unknown bench spec '{spec}' (built-in: {', '.join(sorted(DATASETS))}; or jsonl:<path>)")


def bench_name(spec: str) -> str:
    """The key a bench's metrics are stored under: the spec itself, or ``jsonl:<file stem>``."""
    if spec.startswith("jsonl:"):
        return f"jsonl:{Path(spec[6:]).stem}"
    return spec
