"""The guard's training set: labelled inputs (harmful request, jailbreak/injection, benign) and outputs (harmful
content, refusals, benign answers).

Sources (never XSTest, never HarmBench test; everything is decontaminated against every eval prompt):
* harmful requests: HarmBench *val*, HarmBench's extra sets (adv_training, advbench, tdc2023), and
  taxonomy × constitution templates (``constitution.generated_examples``);
* jailbreaks / injections: safestack's attack registry applied to those requests, JailbreakBench artifact prompts
  of the *training* half of its behaviours (``jbb_split``; the other half is held out for evaluation), and
  injection strings hidden in documents;
* benign: ``datagen.borderline`` prompts, ``guard.benign`` prompts, the constitution's benign neighbours;
* outputs: JailbreakBench responses of the training behaviours (label = JBB's judge), refusals written from the
  taxonomy, and benign answers vendored in ``guard/data/benign_answers.jsonl`` when present.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from ..records import stable_id

Side = Literal["input", "output"]


@dataclass
class Example:
    text: str
    side: Side
    harmful: bool
    jailbreak: bool
    category: str  # taxonomy id, "benign", or "unknown"
    source: str
    group: str  # examples sharing a behaviour share a group (grouped cross-validation)


JBB_CATEGORIES = {"Harassment/Discrimination": "harassment", "Malware/Hacking": "cybercrime",
                  "Physical harm": "violence", "Economic harm": "illegal_activity", "Fraud/Deception": "deception",
                  "Disinformation": "deception", "Sexual/Adult content": "sexual_content", "Privacy": "pii_privacy",
                  "Expert advice": "other_harm", "Government decision-making": "other_harm"}


def jbb_split(goal: str) -> str:
    """JailbreakBench behaviours are split by goal: 'train' or 'heldout' (stable across runs)."""
    return "heldout" if int(stable_id("jbb-split", goal.strip().lower()), 16) % 2 else "train"


ATTACKS = ["persona_evil", "roleplay", "refusal_suppression", "prefix_injection", "inject_document", "inject_tool",
           "few_shot", "many_shot_4", "base64", "rot13", "leetspeak", "payload_split", "word_substitution",
           "separator_insert", "past_tense", "reverse_text"]


def _flatten(msgs) -> str:
    return "\n\n".join(m.content for m in msgs if m.role in ("user", "tool", "system"))


def build_trainset(seed: int = 0, attacks_per_prompt: int = 2) -> tuple[list[Example], dict]:
    from ..attacks import make_attack
    from ..attacks.injection import DOC_BEGIN, DOC_END, PAGES, TASKS
    from ..data import load_harmbench, load_harmbench_extra
    from ..data.loaders import load_jbb_artifacts
    from ..datagen.borderline import borderline_prompts
    from ..datagen.hygiene import Contamination, dedupe, eval_prompts
    from ..datagen.refusals import write_refusal
    from ..taxonomy import load_taxonomy
    from .benign import benign_prompts, borderline_genres
    from .constitution import BENIGN_EXTRA, INJECTIONS, generated_examples

    rng = random.Random(seed)
    tax = load_taxonomy()
    ex: list[Example] = []

    harmful = load_harmbench("val", ("standard", "contextual", "copyright"))
    for name in ("adv_training", "advbench", "tdc2023"):
        harmful += load_harmbench_extra(name)
    base: list[tuple[str, str, str]] = []  # (text, category, group)
    for s in harmful:
        cat = tax.canonical(s.category) if s.category else "unknown"
        base.append((s.prompt, cat, s.id))
    for g in generated_examples(seed):
        if g.harmful:
            base.append((g.text, g.category, f"gen/{stable_id(g.text)}"))
        else:
            ex.append(Example(g.text, "input", False, False, "benign", "constitution", f"gen/{stable_id(g.text)}"))
    for text, cat, grp in base:
        ex.append(Example(text, "input", True, False, cat, "harmful", grp))

    attacks = [make_attack(a) for a in ATTACKS]
    for text, cat, grp in base:
        if len(text) > 600:
            continue
        for atk in rng.sample(attacks, attacks_per_prompt):
            ex.append(Example(_flatten(atk(text, seed)), "input", True, True, cat, f"attack:{atk.name}", grp))

    jbb = load_jbb_artifacts()
    seen_prompts: set[str] = set()
    for r in jbb:
        if jbb_split(r["goal"]) != "train":
            continue
        cat = JBB_CATEGORIES.get(r["category"]) or tax.canonical(r["category"])
        grp = f"jbb/{stable_id(r['goal'])}"
        if r["prompt"] not in seen_prompts:
            seen_prompts.add(r["prompt"])
            ex.append(Example(r["prompt"], "input", True, True, cat, f"jbb:{r['method']}", grp))
        ex.append(Example(r["response"], "output", bool(r["jailbroken"]), False, cat, f"jbb-response:{r['method']}",
                          grp))

    for inj in INJECTIONS:
        grp = f"inj/{stable_id(inj)}"
        ex.append(Example(inj, "input", False, True, "prompt_injection", "injection", grp))
        url, paras = rng.choice(PAGES)
        k = rng.randrange(1, len(paras) + 1)
        page = "\n\n".join(paras[:k] + [inj] + paras[k:])
        ex.append(Example(f"{rng.choice(TASKS)}\n\n{DOC_BEGIN}\nURL: {url}\n\n{page}\n{DOC_END}", "input", False,
                          True, "prompt_injection", "injection:document", grp))
    for url, paras in PAGES:
        for task in TASKS:
            page = "\n\n".join(paras)
            ex.append(Example(f"{task}\n\n{DOC_BEGIN}\nURL: {url}\n\n{page}\n{DOC_END}", "input", False, False,
                              "benign", "clean-document", f"doc/{url}"))

    benign = [(t, "borderline") for t in (s.prompt for s in borderline_prompts(seed))]
    benign += [(p, "borderline-genre") for _, p in borderline_genres(seed)]
    benign += [(p, "benign") for _, p in benign_prompts(seed)] + [(p, "benign-extra") for p in BENIGN_EXTRA]
    for text, src in benign:
        ex.append(Example(text, "input", False, False, "benign", src, f"benign/{stable_id(text)}"))

    for c in tax.categories:
        if c.expected == "comply":
            continue
        for _ in range(12):
            t = write_refusal(c, rng)
            ex.append(Example(t, "output", False, False, "benign", "refusal", f"refusal/{stable_id(t)}"))
    answers = resources.files(__package__).joinpath("data", "benign_answers.jsonl")
    if answers.is_file():
        for line in answers.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                ex.append(Example(row["response"], "output", False, False, "benign", "benign-answer",
                                  f"answer/{stable_id(row['prompt'])}"))

    n0 = len(ex)
    idx = Contamination(eval_prompts())
    ex = [e for e in ex if e.side == "output" or not idx.hit(e.text)]
    n_contam = n0 - len(ex)
    ex = dedupe(ex, lambda e: f"{e.side} {e.text}", jaccard=0.95)
    summary = {"n": len(ex), "dropped_contaminated": n_contam,
               "by_source": _count(e.source.split(":")[0] for e in ex),
               "input": {"harmful": sum(e.side == "input" and e.harmful for e in ex),
                         "jailbreak": sum(e.side == "input" and e.jailbreak for e in ex),
                         "benign": sum(e.side == "input" and not e.harmful and not e.jailbreak for e in ex)},
               "output": {"harmful": sum(e.side == "output" and e.harmful for e in ex),
                          "benign": sum(e.side == "output" and not e.harmful for e in ex)}}
    return ex, summary


def _count(xs) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))
