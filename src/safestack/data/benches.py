"""The evaluation benches' prompts: loaders for the sets that only ``safestack eval`` uses, each registered as a
dataset with its metadata (description, licence, vendored folder, spec forms) declared here once. How a bench
is run and scored lives with the bench in ``evals/benches/``; its data comes from here.
"""

from __future__ import annotations

import csv
import gzip
import json
import random

from ..errors import BadInput
from ..records import Sample
from .loaders import DATASETS, DatasetInfo, _csv, data_dir, load_harmbench

MULTITURN_K = 4  # escalation turns of the scripted multi-turn conversations (evals/benches/multiturn.py)


def load_strongreject(arg: str = "") -> list[Sample]:
    if arg:
        raise BadInput(f"strongreject: unexpected argument '{arg}' (use 'strongreject')")
    rows = _csv(data_dir("strongreject") / "strongreject_dataset.csv")
    return [Sample(id=f"strongreject/{i}", prompt=r["forbidden_prompt"], label="harmful", category=r["category"],
                   source="strongreject", meta={"behavior": r["forbidden_prompt"], "origin": r["source"]})
            for i, r in enumerate(rows)]


def _jbb_files():
    return sorted((data_dir("jbb") / "attack-artifacts").glob("*/*/*.json"))


def _jbb_records(path) -> list[dict]:
    d = json.loads(path.read_text(encoding="utf-8"))
    return d.get("jailbreaks", []) if isinstance(d, dict) else []


def load_jbb_behaviors() -> list[Sample]:
    goals: dict[int, dict] = {}
    for f in _jbb_files():
        for x in _jbb_records(f):
            goals.setdefault(int(x["index"]), x)
    return [Sample(id=f"jbb/{i}", prompt=x["goal"], label="harmful", category=x["category"], source="jbb",
                   meta={"behavior": x["goal"], "jbb_behavior": x["behavior"]}) for i, x in sorted(goals.items())]


def jbb_methods() -> list[str]:
    return sorted({f.parent.parent.name for f in _jbb_files()})


def load_jbb_replay(which: str = "artifacts") -> list[Sample]:
    method, _, model = which.partition("/")
    if method != "artifacts" and method not in jbb_methods():
        raise BadInput(f"jbb: unknown attack method '{method}' (artifacts, {', '.join(jbb_methods())})")
    out = []
    for f in _jbb_files():
        m, src = f.parent.parent.name, f.stem
        if (method != "artifacts" and m != method) or (model and src != model):
            continue
        for x in _jbb_records(f):
            if not x.get("prompt"):
                continue  # the attack found no jailbreak for this goal
            out.append(Sample(id=f"jbb/{m}/{src}/{x['index']}", prompt=x["prompt"], label="harmful", category=m,
                              source=f"jbb:{m}", meta={"behavior": x["goal"], "method": m, "source_model": src,
                                                       "jbb_category": x["category"],
                                                       "jailbroken_on_source": bool(x.get("jailbroken"))}))
    if not out:
        raise BadInput(f"jbb:{which}: no artifact prompts (source models: see `safestack datasets show jbb`)")
    return out


def load_jbb(arg: str = "") -> list[Sample]:
    return load_jbb_behaviors() if not arg else load_jbb_replay(arg)


def load_toxigen(arg: str = "") -> list[Sample]:
    if arg in ("", "all") or arg.isdigit():
        per_file = None if arg == "all" else int(arg or 50)
    else:
        raise BadInput(f"toxigen: bad argument '{arg}' (toxigen, toxigen:<N per file>, toxigen:all)")
    out = []
    for f in sorted((data_dir("toxigen") / "prompts").glob("*_1k.txt.gz")):
        kind, group = f.name[:-len("_1k.txt.gz")].split("_", 1)
        lines = [ln for ln in gzip.open(f, "rt", encoding="utf-8").read().splitlines() if ln.strip()]
        idx = list(range(len(lines)))
        if per_file is not None:
            idx = sorted(random.Random(f"toxigen:{f.name}").sample(idx, min(per_file, len(idx))))
        for i in idx:
            out.append(Sample(id=f"toxigen/{kind}_{group}/{i}", prompt=lines[i].replace("\\n", "\n"),
                              label="harmful" if kind == "hate" else "benign", category=group, source="toxigen",
                              meta={"group": group, "prompt_kind": kind}))
    return out


def bbq_categories() -> list[str]:
    return sorted(f.name[:-len(".jsonl.gz")] for f in (data_dir("bbq") / "data").glob("*.jsonl.gz"))


def _bbq_target_idx(r: dict) -> int | None:
    groups = {g.lower() for g in r["additional_metadata"].get("stereotyped_groups", [])}
    hits = [i for i in range(3) if r["answer_info"][f"ans{i}"][1] != "unknown"
            and ({x.lower() for x in r["answer_info"][f"ans{i}"]} & groups)]
    return hits[0] if len(hits) == 1 else None


def load_bbq(arg: str = "") -> list[Sample]:
    cats = bbq_categories()
    want = [c for c in arg.split(",") if c] or cats
    bad = [c for c in want if c not in cats]
    if bad:
        raise BadInput(f"bbq: unknown category {bad} (available: {', '.join(cats)})")
    out = []
    for c in want:
        with gzip.open(data_dir("bbq") / "data" / f"{c}.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                opts = [r["ans0"], r["ans1"], r["ans2"]]
                unknown = next(i for i in range(3) if r["answer_info"][f"ans{i}"][1] == "unknown")
                out.append(Sample(id=f"bbq/{c}/{r['example_id']}", prompt=f"{r['context']}\n{r['question']}",
                                  label="benign", category=f"{c}/{r['context_condition']}", source="bbq",
                                  meta={"options": opts, "gold": r["label"], "unknown": unknown,
                                        "target": _bbq_target_idx(r), "polarity": r["question_polarity"],
                                        "condition": r["context_condition"], "bbq_category": c, "norm": True}))
    return out


def _tq_split(s: str) -> list[str]:
    return [x.strip() for x in s.split(";") if x.strip()]


def load_truthfulqa(arg: str = "") -> list[Sample]:
    if arg:
        raise BadInput(f"truthfulqa: unexpected argument '{arg}' (use 'truthfulqa')")
    root = data_dir("truthfulqa") / "data" / "v1"
    mc = json.loads((root / "mc_task.json").read_text(encoding="utf-8"))
    with (root / "TruthfulQA.csv").open(encoding="utf-8-sig", newline="") as f:
        refs = {r["Question"].strip(): r for r in csv.DictReader(f)}
    out = []
    for i, q in enumerate(mc):
        r = refs.get(q["question"].strip(), {})
        true = _tq_split(r.get("Correct Answers", "")) or [k for k, v in q["mc2_targets"].items() if v]
        if "I have no comment." not in true:
            true.append("I have no comment.")
        out.append(Sample(id=f"truthfulqa/{i}", prompt=q["question"], label="benign",
                          category=r.get("Category") or None, source="truthfulqa",
                          meta={"mc1": list(q["mc1_targets"]), "mc1_labels": list(q["mc1_targets"].values()),
                                "mc2": list(q["mc2_targets"]), "mc2_labels": list(q["mc2_targets"].values()),
                                "true_refs": true,
                                "false_refs": _tq_split(r.get("Incorrect Answers", ""))
                                or [k for k, v in q["mc2_targets"].items() if not v]}))
    return out


def multiturn_turns(arg: str) -> int:
    if not arg:
        return MULTITURN_K
    if not arg.isdigit() or not 1 <= int(arg) <= MULTITURN_K:
        raise BadInput(f"multiturn: K must be 1…{MULTITURN_K}, got '{arg}'")
    return int(arg)


def load_multiturn(arg: str = "") -> list[Sample]:
    """``multiturn[:K]``: HarmBench test behaviours (an evaluation bench). ``multiturn:dev[:K]``: the harmful half of
    ``contrast:dev`` instead — safestack's held-back requests, never trained on and not an evaluation bench, so
    settings can be chosen on multi-turn robustness without reading the held-out suite."""
    if arg == "dev" or arg.startswith("dev:"):
        from .loaders import load_contrast

        k = multiturn_turns(arg[4:])
        return [s.model_copy(update={"id": f"multiturn-dev/{s.id}", "source": "multiturn:dev",
                                     "meta": {**s.meta, "behavior": s.meta.get("behavior") or s.prompt, "k": k}})
                for s in load_contrast("contrast", "dev") if s.label == "harmful"]
    k = multiturn_turns(arg)
    return [s.model_copy(update={"id": s.id.replace("harmbench/", "multiturn/"), "source": "multiturn",
                                 "meta": {**s.meta, "k": k}}) for s in load_harmbench("test")]


def load_hh_heldout(arg: str = "") -> list[Sample]:
    """HH-RLHF's human red-team first turns, held-out part (``loaders.load_hh_first_turns``): ``harmful`` / ``benign``
    for one label, nothing for both."""
    from .loaders import hh_subset, load_hh_first_turns

    return hh_subset("hh-heldout", load_hh_first_turns("heldout"), arg)


def _register(name: str, description: str, licence: str, vendor: str, specs: list[str], load) -> None:
    DATASETS.add(DatasetInfo(name, description, "eval", licence, lambda: load(""), vendor, specs, load_spec=load))


_register("strongreject", "StrongREJECT 313 forbidden prompts, 6 categories", "MIT", "strongreject",
          ["strongreject"], load_strongreject)
_register("jbb", "JailbreakBench 100 harmful behaviours (jbb) and artifact replay (jbb:artifacts, jbb:PAIR, "
          "jbb:GCG, …)", "MIT", "jbb", ["jbb", "jbb:artifacts", *(f"jbb:{m}" for m in (
              "PAIR", "GCG", "JBC", "DSN", "prompt_with_random_search"))], load_jbb)
_register("toxigen", "ToxiGen generation prompts, 50 per file of 31 (toxigen:all = 31,000)",
          "MIT + CDLA-Permissive-2.0", "toxigen", ["toxigen", "toxigen:<N per file>", "toxigen:all"], load_toxigen)
_register("bbq", "BBQ bias QA, 6 of 11 categories (11,956 items)", "CC-BY-4.0", "bbq",
          ["bbq", "bbq:Age", "bbq:Age,Religion"], load_bbq)
_register("truthfulqa", "TruthfulQA v1, 817 questions (MC1/MC2, generation refs)", "Apache-2.0", "truthfulqa",
          ["truthfulqa"], load_truthfulqa)
_register("hh-heldout", "HH-RLHF red-team first turns, held-out part: human-written requests, harmful and benign "
          "(two model labellers; never trained on)", "MIT", "hh_rlhf", ["hh-heldout", "hh-heldout:harmful",
                                                                        "hh-heldout:benign"], load_hh_heldout)
_register("multiturn", "Scripted escalating multi-turn conversations on HarmBench test behaviours (159, K=4); "
          "multiturn:dev on contrast:dev's harmful requests (128; for choosing settings)",
          "MIT", "harmbench", ["multiturn", "multiturn:<K 1-4>", "multiturn:dev", "multiturn:dev:<K>"], load_multiturn)
