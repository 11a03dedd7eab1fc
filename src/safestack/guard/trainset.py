"""The guard's training set: labelled inputs (harmful request, jailbreak/injection, benign) and outputs (harmful
content, refusals, benign answers), each with the *source* it comes from (the unit that leave-one-source-out
validation holds out: ``Example.origin``).

Sources (never XSTest, HarmBench test, StrongREJECT, JBB behaviours' goals, ToxiGen prompts, BBQ or TruthfulQA;
every input is decontaminated against every eval prompt):
* harmful requests: HarmBench *val*, HarmBench's extra sets (adv_training, advbench, tdc2023), red-instruct's
  HarmfulQA and DangerousQA questions, taxonomy × constitution templates (``constitution.generated_examples``) and
  taxonomy goals in question / imperative / assistant-help / noun-phrase styles (``data.contrast.harmful_requests``),
  casual-register requests (``data.contrast.casual_requests``: one source with its benign twins), HH-RLHF's
  human red-team first turns (train part; harmful and benign, one source, ``data.loaders.load_hh_first_turns``);
* jailbreaks / injections: safestack's attack registry applied to those requests (origin = the wrapped request's
  source), JailbreakBench artifact prompts of the *training* half of its behaviours (``jbb_split``), injection
  strings alone and hidden in documents;
* benign: ``datagen.borderline`` prompts (one source per type), ``guard.benign`` prompts and genres, the
  constitution's benign neighbours, ``data.contrast.lookalikes`` (one source per family), ToxiGen's neutral statements,
  everyday posts and chat (``data.usertext``);
* outputs: JailbreakBench responses of the training behaviours (kept where JBB's judge and safestack's
  ``harm-rules`` judge agree), ``guard.content`` (harmful / refused / benign replies, abusive and benign content),
  ToxiGen's hateful and neutral demonstrations, refusals written from the taxonomy, benign answers of the embedded
  model to two independent prompt pools (``guard/data/benign_answers.jsonl``, ``lookalike_answers.jsonl``), and its
  replies to harmful training requests labelled by the default ``harm`` judge where it is sure
  (``guard/data/model_replies.jsonl``).
Texts are stored raw; ``features.prepare`` normalises them (as the judges do) before features are computed.
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
    origin: str = ""  # the source held out together in leave-one-source-out validation ("" → source)

    def __post_init__(self) -> None:
        self.origin = self.origin or self.source


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


def build_trainset(seed: int = 0, attacks_per_prompt: int = 2, jbb_agreement: bool = True,
                   hh_redteam: bool = False) -> tuple[list[Example], dict]:
    from ..datagen.hygiene import Contamination, eval_prompts

    rng = random.Random(seed)
    ex: list[Example] = []
    base = _harmful_requests(ex, seed)
    if hh_redteam:
        base += _hh_first_turns(ex)
    benign = _benign_inputs(seed)
    ex += _jailbreaks(base, [(e.text, e.origin) for e in benign if e.source != "toxigen-neutral"], rng, seed,
                      attacks_per_prompt)
    ex += benign
    idx = Contamination(eval_prompts())
    ex += _outputs(rng, seed, jbb_agreement, idx)

    n0 = len(ex)
    ex = [e for e in ex if e.side == "output" or not idx.hit(e.text)]
    n_contam = n0 - len(ex)
    ex = near_dedupe(ex, lambda e: f"{e.side} {e.text}", jaccard=0.95)
    summary = {"n": len(ex), "dropped_contaminated": n_contam,
               "by_source": _count(e.source.split(":")[0] for e in ex),
               "by_origin": _count(f"{e.side}/{e.origin}" for e in ex),
               "input": {"harmful": sum(e.side == "input" and e.harmful for e in ex),
                         "jailbreak": sum(e.side == "input" and e.jailbreak for e in ex),
                         "benign": sum(e.side == "input" and not e.harmful and not e.jailbreak for e in ex)},
               "output": {"harmful": sum(e.side == "output" and e.harmful for e in ex),
                          "benign": sum(e.side == "output" and not e.harmful for e in ex)}}
    return ex, summary


def _harmful_requests(ex: list[Example], seed: int) -> list[tuple[str, str, str, str]]:
    """Adds the plain harmful requests (and the constitution's benign neighbours) to ``ex``; returns the requests as
    (text, category, group, origin) for the attack wrappers."""
    from ..data import load_harmbench, load_harmbench_extra
    from ..data.loaders import load_red_instruct
    from ..taxonomy import load_taxonomy
    from .constitution import generated_examples
    from ..data.contrast import casual_requests, harmful_requests

    tax = load_taxonomy()
    base: list[tuple[str, str, str, str]] = []
    named = [("harmbench-val", load_harmbench("val", ("standard", "contextual", "copyright")))]
    named += [(n, load_harmbench_extra(n)) for n in ("adv_training", "advbench", "tdc2023")]
    named += [(n, load_red_instruct(n)) for n in ("harmfulqa", "dangerousqa")]
    for origin, samples in named:
        for s in samples:
            cat = tax.canonical(s.category) if s.category and origin not in ("harmfulqa", "dangerousqa") else "unknown"
            base.append((s.prompt, cat, s.id, origin))
    for g in generated_examples(seed):
        grp = f"gen/{stable_id(g.text)}"
        if g.harmful:
            base.append((g.text, g.category, grp, "constitution"))
        else:
            ex.append(Example(g.text, "input", False, False, "benign", "constitution-benign", grp))
    for style, cat, text in harmful_requests(seed):
        base.append((text, cat, f"synth/{stable_id(text)}", f"synth:{style}"))
    for harmful, cat, goal, text in casual_requests(seed):  # one source, both labels: the register carries no label
        if harmful:
            base.append((text, cat, f"casual/{stable_id(goal)}", "casual"))
        else:
            ex.append(Example(text, "input", False, False, "benign", "lookalike:casual", f"casual/{stable_id(goal)}",
                              origin="casual"))
    for text, cat, grp, origin in base:
        ex.append(Example(text, "input", True, False, cat, origin, grp))
    return base


def _hh_first_turns(ex: list[Example]) -> list[tuple[str, str, str, str]]:
    """HH-RLHF's human red-team first turns, *train* part only (the held-out part is never trained on), added to
    ``ex``; the harmful ones also returned for the attack wrappers; one origin for both labels (the register carries
    no label)."""
    from ..data.loaders import load_hh_first_turns

    base = []
    for s in load_hh_first_turns("train"):
        if s.label == "harmful":
            cat = s.category or "unknown"
            base.append((s.prompt, cat, s.id, "hh-redteam"))
            ex.append(Example(s.prompt, "input", True, False, cat, "hh-redteam", s.id))
        else:
            ex.append(Example(s.prompt, "input", False, False, "benign", "hh-benign", s.id, origin="hh-redteam"))
    return base


def _jailbreaks(base, benign: list[tuple[str, str]], rng: random.Random, seed: int,
                attacks_per_prompt: int) -> list[Example]:
    from ..attacks import make_attack
    from ..attacks.injection import DOC_BEGIN, DOC_END, PAGES, TASKS
    from ..data.loaders import load_jbb_artifacts
    from ..taxonomy import load_taxonomy
    from .constitution import INJECTIONS

    tax = load_taxonomy()
    ex: list[Example] = []
    attacks = [make_attack(a) for a in ATTACKS]
    for text, cat, grp, origin in base:
        if len(text) > 600:
            continue
        # the large question sets get one wrapper each (their styles repeat), the others attacks_per_prompt
        k = 1 if origin in ("harmfulqa", "dangerousqa", "hh-redteam") or origin.startswith("synth:") \
            else attacks_per_prompt
        for atk in rng.sample(attacks, k):
            ex.append(Example(_flatten(atk(text, seed)), "input", True, True, cat, f"attack:{atk.name}", grp, origin))
    # benign requests in the same wrappers: a jailbreak / injection (the wrapper), not a harmful request — so the
    # harmful head learns the request inside and not the wrapper's shape; a wrapped text keeps its source's origin,
    # so leave-one-source-out holds a benign source out with its wrapped copies
    wrappable = [a for a in attacks if a.name != "past_tense"]
    for text, origin in rng.sample(benign, min(len(benign), 600)):
        atk = rng.choice(wrappable)
        ex.append(Example(_flatten(atk(text, seed)), "input", False, True, "prompt_injection", f"attack:{atk.name}",
                          f"benign/{stable_id(text)}", origin))
    seen: set[str] = set()
    for r in load_jbb_artifacts():
        if jbb_split(r["goal"]) != "train" or r["prompt"] in seen:
            continue
        seen.add(r["prompt"])
        cat = JBB_CATEGORIES.get(r["category"]) or tax.canonical(r["category"])
        ex.append(Example(r["prompt"], "input", True, True, cat, f"jbb:{r['method']}", f"jbb/{stable_id(r['goal'])}",
                          "jbb"))
    for inj in INJECTIONS:
        grp = f"inj/{stable_id(inj)}"
        ex.append(Example(inj, "input", False, True, "prompt_injection", "injection", grp))
        url, paras = rng.choice(PAGES)
        k = rng.randrange(1, len(paras) + 1)
        page = "\n\n".join(paras[:k] + [inj] + paras[k:])
        ex.append(Example(f"{rng.choice(TASKS)}\n\n{DOC_BEGIN}\nURL: {url}\n\n{page}\n{DOC_END}", "input", False,
                          True, "prompt_injection", "injection:document", grp, "injection"))
    for url, paras in PAGES:
        for task in TASKS:
            page = "\n\n".join(paras)
            ex.append(Example(f"{task}\n\n{DOC_BEGIN}\nURL: {url}\n\n{page}\n{DOC_END}", "input", False, False,
                              "benign", "clean-document", f"doc/{url}"))
    return ex


def _benign_inputs(seed: int) -> list[Example]:
    from ..datagen.borderline import borderline_prompts
    from .benign import benign_prompts, borderline_genres
    from .constitution import BENIGN_EXTRA
    from .content import toxigen_content
    from ..data.usertext import user_content
    from ..data.contrast import field_and_identity, lookalikes

    benign = [(s.prompt, f"borderline:{s.category}") for s in borderline_prompts(seed, lookalike_families=False)]
    benign += [(p, "borderline-genre") for _, p in borderline_genres(seed)]
    benign += [(p, "benign") for _, p in benign_prompts(seed)] + [(p, "benign-extra") for p in BENIGN_EXTRA]
    benign += [(p, f"lookalike:{fam}") for fam, p in lookalikes(seed) + field_and_identity(seed)]
    # benign statements pasted as input (a moderation user's content): the neutral ToxiGen sentences
    benign += [(t, "toxigen-neutral") for fam, _, harmful, t in toxigen_content() if not harmful]
    benign += [(t, "user-content") for t in user_content(seed=seed)]  # posts, rants, chat: not requests
    return [Example(t, "input", False, False, "benign", src, f"benign/{stable_id(t)}") for t, src in benign]


def _outputs(rng: random.Random, seed: int, jbb_agreement: bool, index) -> list[Example]:
    """Output examples; ``index`` (a ``hygiene.Contamination`` of the eval prompts) screens the prompts of the
    model's stored answers and replies."""
    from ..datagen.refusals import write_refusal
    from ..taxonomy import load_taxonomy
    from .content import content_examples, toxigen_content
    from ..data.usertext import user_content

    tax = load_taxonomy()
    ex = [Example(t, "output", h, False, cat, fam, f"content/{stable_id(t)}")
          for fam, cat, h, t in content_examples(seed) + toxigen_content()]
    ex += [Example(t, "output", False, False, "benign", "user-content", f"user/{stable_id(t)}")
           for t in user_content(seed=seed + 1)]
    ex += jbb_responses(jbb_agreement)
    for c in tax.categories:
        if c.expected == "comply":
            continue
        for _ in range(12):
            t = write_refusal(c, rng)
            ex.append(Example(t, "output", False, False, "benign", "refusal", f"refusal/{stable_id(t)}"))
    for name, source in (("benign_answers.jsonl", "benign-answer"), ("lookalike_answers.jsonl", "lookalike-answer")):
        ex += model_answers(name, source, index)
    return ex + model_replies(index=index)


def model_answers(name: str, source: str, index=None) -> list[Example]:
    """The embedded model's answers to benign prompts (``guard/data/<name>``) as benign outputs of ``source``."""
    return [Example(r["response"], "output", False, False, "benign", source, f"answer/{stable_id(r['prompt'])}")
            for r in _clean_rows(name, index)]


def _clean_rows(name: str, index=None) -> list[dict]:
    """The rows of ``guard/data/<name>`` (none if the file is absent) whose prompt is not (near) an evaluation prompt
    — a reply to an eval prompt never trains the guard; ``index``: a ``hygiene.Contamination`` already built."""
    from ..datagen.hygiene import Contamination, eval_prompts

    f = resources.files(__package__).joinpath("data", name)
    if not f.is_file():
        return []
    index = index or Contamination(eval_prompts())
    rows = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r for r in rows if not index.hit(r["prompt"])]


def model_replies(sure: float = 0.8, index=None) -> list[Example]:
    """The embedded model's replies to harmful training requests (``guard/data/model_replies.jsonl``), labelled by
    the default ``harm`` judge; only where it is sure: harm score ≥ ``sure`` → harmful content, ≤ 1 − ``sure`` →
    benign (refusals, evasions, off-topic text); the middle is left out."""
    out = []
    for row in _clean_rows("model_replies.jsonl", index):
        if row["harm_score"] >= sure or row["harm_score"] <= 1 - sure:
            h = row["harm_score"] >= sure
            out.append(Example(row["response"], "output", h, False, "unknown" if h else "benign", "model-reply",
                               f"reply/{stable_id(row['prompt'])}"))
    return out


def jbb_responses(agreement: bool = True, split: str = "train") -> list[Example]:
    """JBB artifact responses of one half of the behaviours, labelled by JBB's judge; with ``agreement`` only those
    where safestack's ``harm-rules`` judge (refusal × substance × relevance to the goal) gives the same label."""
    from ..data.loaders import load_jbb_artifacts
    from ..taxonomy import load_taxonomy

    tax = load_taxonomy()
    rows = [r for r in load_jbb_artifacts() if jbb_split(r["goal"]) == split]
    keep = [True] * len(rows)
    if agreement:
        from ..judges.base import JudgeItem
        from ..judges.harm import HarmJudge

        v = HarmJudge().score_sync([JudgeItem(r["prompt"], r["response"], r["goal"]) for r in rows])
        keep = [x.label == bool(r["jailbroken"]) for x, r in zip(v, rows)]
    out = []
    for r, k in zip(rows, keep):
        if k:
            cat = JBB_CATEGORIES.get(r["category"]) or tax.canonical(r["category"])
            out.append(Example(r["response"], "output", bool(r["jailbroken"]), False, cat,
                               f"jbb-response:{r['method']}",
                               f"jbb/{stable_id(r['goal'])}", "jbb-response"))
    return out


def near_dedupe(items: list, text, jaccard: float = 0.95) -> list:
    """``hygiene.dedupe``'s result (exact and near duplicates by token-set Jaccard, the first kept) with a prefix
    filter, so it stays fast on ~15k texts: Jaccard(s, e) ≥ J needs e to hold one of s's |s| − ⌈J·|s|⌉ + 1 rarest
    tokens (rarity by document frequency over all items), so only those postings are compared."""
    import math

    from ..datagen.hygiene import tokens

    toks = [frozenset(tokens(text(it))) for it in items]
    df: dict[str, int] = {}
    for s in toks:
        for w in s:
            df[w] = df.get(w, 0) + 1
    kept, sets, postings, exact = [], [], {}, set()
    for it, s in zip(items, toks):
        key = " ".join(tokens(text(it)))
        if key in exact:
            continue
        if s:
            alpha = max(1, math.ceil(jaccard * len(s) - 1e-9))
            prefix = sorted(s, key=lambda w: (df[w], w))[: len(s) - alpha + 1]
            cands = {j for w in prefix for j in postings.get(w, ())}
            if any(len(s & sets[j]) / len(s | sets[j]) >= jaccard for j in cands):
                continue
        exact.add(key)
        for w in s:
            postings.setdefault(w, []).append(len(sets))
        sets.append(s)
        kept.append(it)
    return kept


def _count(xs) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))
