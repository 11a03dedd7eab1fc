"""Preference pairs from red-team findings and borderline-benign answers, exported for TRL.

Refusal pairs: chosen = a refusal written for the category's expected behaviour, rejected = what the model actually
answered to the (attacked) harmful request; multi-turn findings keep their full context as the prompt.
Borderline pairs: chosen = the model's own helpful answer to a safe-but-scary prompt, rejected = a needless refusal.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from ..engine import run_work
from ..evals.runner import sample_work
from ..judges.base import Judge
from ..records import Attempt, EvalRow, JsonlStore, Pair, Sample, stable_id, user, write_json
from ..targets.base import GenParams, Target
from ..taxonomy import Taxonomy
from ..text import normalize
from .borderline import borderline_prompts
from .hygiene import Contamination, decontaminate, dedupe, eval_prompts
from .refusals import write_overrefusal, write_refusal

PAIRS = "pairs.jsonl"
SUMMARY = "datagen.json"


def refusal_pairs(findings: Sequence[Attempt], taxonomy: Taxonomy, seed: int = 0) -> list[Pair]:
    rng = random.Random(seed)
    out = []
    for a in findings:
        if a.label != "harmful" or a.refused or not a.response.strip():
            continue
        cat = taxonomy.get(a.category)
        out.append(Pair(key=stable_id("refusal", a.key), prompt=a.messages, chosen=write_refusal(cat, rng),
                        rejected=a.response, rejected_open=ends_open(a.response), kind="refusal",
                        category=cat.id, source=f"findings:{a.attack}",
                        meta={"sample_id": a.sample_id, "attack": a.attack,
                              "harm_score": a.verdicts["harm"].score if "harm" in a.verdicts else None}))
    return out


async def borderline_pairs(target: Target, samples: Sequence[Sample], refusal: Judge, store: JsonlStore,
                           params: GenParams, seed: int = 0, show_progress: bool = True,
                           taxonomy: Taxonomy | None = None, taught_share: float = 0.5,
                           cache: Path | None = None) -> tuple[list[Pair], int]:
    """Ask the target for helpful answers (resumable), keep those the refusal judge calls helpful. ``cache``: a
    JSONL file of answers already judged, valid for this target and judge (a content-addressed name, see
    ``answer_cache``): answers found there are not generated again, and new ones are added to it."""
    rng = random.Random(seed)
    work = sample_work(samples, "borderline", params)
    keys = {w.key for w in work}
    if cache is not None:
        seed_from_cache(store, cache, keys)
    await run_work(work, target, [refusal], store, params, description="borderline answers",
                   show_progress=show_progress)
    rows = [r for r in store.load() if r.key in keys]
    if cache is not None:
        add_to_cache(cache, rows)
    pairs, refused = [], 0
    source_of = {s.id: s.source for s in samples}
    cats = list(taxonomy.categories) if taxonomy is not None else None
    for r in rows:
        if r.refused or len(r.response.split()) < 5:
            refused += 1
            continue
        chosen, is_open = cut_reply(r.response)
        pairs.append(Pair(key=stable_id("borderline", r.key), prompt=user(r.prompt), chosen=chosen, chosen_open=is_open,
                          rejected=write_overrefusal(rng, cats, taught_share), kind="borderline", category=r.category,
                          source=source_of.get(r.sample_id) or "safestack-borderline", meta={"sample_id": r.sample_id}))
    return pairs, refused


def seed_from_cache(store: JsonlStore, cache: Path, keys: set[str]) -> int:
    """Copy the cached rows of ``keys`` that ``store`` lacks into it; how many."""
    if not cache.exists():
        return 0
    have = store.keys()
    rows = [r for r in JsonlStore(cache, EvalRow).load() if r.key in keys and r.key not in have]
    store.append(rows)
    return len(rows)


def add_to_cache(cache: Path, rows: Sequence[EvalRow]) -> None:
    """Merge ``rows`` into the cache file (written whole under a temporary name, then renamed: a killed write
    leaves the old file)."""
    old = JsonlStore(cache, EvalRow).load() if cache.exists() else []
    merged = {r.key: r for r in old} | {r.key: r for r in rows}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp")
    tmp.write_text("".join(r.model_dump_json() + "\n" for r in merged.values()), encoding="utf-8")
    tmp.replace(cache)


_SENTENCE_END_RE = re.compile(r"[.!?](?:\s|$)|\n\n")
_LIST_MARK_RE = re.compile(r"(?:^|\n)[ \t]*(?:\d{1,3}[.)]|[-*\u2022]|#{1,6})[ \t]*$")
_CLOSED_RE = re.compile(r"(?:[.!?\u2026](?:[\"'\u201d\u2019)\]*_`]*)|```|:\)|\)\s*)$")


def ends_open(text: str) -> bool:
    """Whether a generated reply was cut rather than ended: it stops mid-sentence or on a list marker ("1.").
    Such a reply is trained without an end-of-turn token (``Pair.chosen_open`` / ``rejected_open``)."""
    t = text.rstrip()
    if not t:
        return False
    if _LIST_MARK_RE.search(t):
        return True
    return not _CLOSED_RE.search(t)


def trim_to_sentence(text: str, min_chars: int = 40) -> str:
    """Cut a length-limited generation back to its last complete sentence (not a bare list marker such as
    "\n\n1.") or a list's lead-in ("these steps:"), so that the reply does not end on half a word. Whether it was
    cut is ``ends_open``'s question."""
    heads = [(m.end(), text[: m.end()].rstrip()) for m in _SENTENCE_END_RE.finditer(text)]
    ends = [e for e, h in heads if e >= min_chars and not _LIST_MARK_RE.search(h) and not h.endswith(":")]
    return text[: ends[-1]].strip() if ends else text.strip()


def cut_reply(raw: str) -> tuple[str, bool]:
    """A model-written reply for training: trimmed to its last sentence, and whether it is open (cut)."""
    trimmed = trim_to_sentence(raw)
    return trimmed, trimmed != raw.strip() or ends_open(trimmed)


def to_trl(p: Pair) -> dict:
    return {"prompt": [m.model_dump() for m in p.prompt],
            "chosen": [{"role": "assistant", "content": p.chosen}],
            "rejected": [{"role": "assistant", "content": p.rejected}],
            "kind": p.kind, "category": p.category or "",
            "chosen_open": p.chosen_open, "rejected_open": p.rejected_open}


def round_robin(items: Sequence, key: Callable[[Any], Any]) -> list:
    """Interleave items across groups (order kept within a group): any prefix is balanced across categories."""
    groups: dict[Any, list] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    out, queues = [], [list(g) for g in groups.values()]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def order_refusal_pairs(ref: Sequence[Pair]) -> list[Pair]:
    """Half direct requests, half attacked ones (the attacks in turn: role-play, suppression, multi-turn, …); within
    each attack, round-robin over categories — so any prefix (``max_pairs``) is balanced all three ways."""
    direct = round_robin([p for p in ref if p.meta.get("attack") == "direct"], lambda p: p.category)
    by_attack: dict[str, list[Pair]] = {}
    for p in ref:
        if p.meta.get("attack") != "direct":
            by_attack.setdefault(str(p.meta.get("attack")), []).append(p)
    attacked = round_robin([q for g in by_attack.values() for q in round_robin(g, lambda p: p.category)],
                           lambda p: p.meta.get("attack"))
    return [p for _, p in round_robin([(0, p) for p in direct] + [(1, p) for p in attacked], lambda t: t[0])]


_QUESTION_START = frozenset("how what why when where which who whom whose is are can could would should do does did "
                            "will may might shall am was were has have".split())


def prompt_style(text: str) -> str:
    """``question`` for a request phrased as a question ("How do I …?", "What's the best way to …"), else
    ``request`` (imperatives, statements, role-play set-ups): the surface style a small model can learn as a shortcut
    when one label comes mostly in one style."""
    t = normalize(text).strip().strip("\"'*_`)] ")
    first = t.split(maxsplit=1)[0].lower().split("'")[0] if t else ""
    return "question" if t.endswith("?") or first in _QUESTION_START else "request"


def style_share(samples: Sequence[Sample], balanced: bool) -> float:
    """The share of questions among the borderline prompts a run draws: the mean of each category's share when they
    are drawn round-robin over categories (``balanced``), the pool's share otherwise."""
    if not samples:
        return 0.0
    if not balanced:
        return sum(prompt_style(s.prompt) == "question" for s in samples) / len(samples)
    by: dict[str, list[bool]] = {}
    for s in samples:
        by.setdefault(str(s.category), []).append(prompt_style(s.prompt) == "question")
    return sum(sum(v) / len(v) for v in by.values()) / len(by)


def take_by_style(ordered: Sequence[Pair], n: int, question_share: float) -> list[Pair]:
    """The first ``n`` pairs of ``ordered`` with about ``question_share`` of them question-style (by their last user
    turn); a style that runs short leaves its places to the other. Order within each style is kept."""
    want = {"question": round(n * question_share)}
    want["request"] = n - want["question"]
    got: dict[str, int] = {"question": 0, "request": 0}
    keep, rest = [], []
    for p in ordered:
        st = prompt_style(p.prompt[-1].content)
        if got[st] < want[st]:
            got[st] += 1
            keep.append(p)
        else:
            rest.append(p)
    keep_ids = {id(p) for p in keep + rest[: max(0, n - len(keep))]}
    return [p for p in ordered if id(p) in keep_ids]


def match_direct(ordered: Sequence[Pair], n: int, question_share: float) -> list[Pair]:
    """``take_by_style`` among the direct requests only: the first ``n`` pairs keep their direct / attacked split,
    the attacked ones (role-play, multi-turn, …: their own style) are kept as ordered."""
    head = ordered[:n]
    n_direct = sum(p.meta.get("attack") == "direct" for p in head)
    direct = take_by_style([p for p in ordered if p.meta.get("attack") == "direct"], n_direct, question_share)
    keep = {id(p) for p in direct} | {id(p) for p in head if p.meta.get("attack") != "direct"}
    return [p for p in ordered if id(p) in keep]


STYLE_MATCHES = ("off", "all", "direct")
BORDERLINE_MIXES = ("balanced", "pool")


def check_data_mix(mix: str, style_match: str = "off") -> None:
    """The data-mix settings are known values (a bad one fails before any heavy work)."""
    from ..errors import BadInput

    if mix not in BORDERLINE_MIXES:
        raise BadInput(f"borderline_mix must be one of {', '.join(BORDERLINE_MIXES)}, not {mix!r}")
    if style_match not in STYLE_MATCHES:
        raise BadInput(f"style_match must be one of {', '.join(STYLE_MATCHES)}, not {style_match!r}")


def extra_pool(samples: Sequence[Sample], border: Sequence[Sample], index: Contamination) -> tuple[list, list]:
    """The benign ``samples`` that may join the borderline prompts: deduplicated among themselves and against
    ``border``, decontaminated against every evaluation bench. Returns (kept, contaminated)."""
    mine = [s for s in samples if s.label == "benign"]
    ids = {id(s) for s in mine}
    fresh = [s for s in dedupe(list(border) + mine, lambda s: s.prompt) if id(s) in ids]
    return decontaminate(fresh, lambda s: s.prompt, index)


def choose_borderline(border: list[Sample], extra: list[Sample], n: int, extra_share: float, mix: str,
                      rng: random.Random) -> tuple[list[Sample], list[Sample]]:
    """``n`` borderline prompts (all, if fewer): round-robin over categories (``mix`` "balanced") or as drawn
    ("pool"); ``extra_share`` of the places go to ``extra`` (as many as there are). Returns (chosen, extras used)."""
    border = list(border)
    rng.shuffle(border)
    if mix == "balanced":  # round-robin over categories; "pool": as drawn, so in proportion to the pool
        border = round_robin(border, lambda s: s.category)
    border = border[: max(n, 0)] if n < len(border) else border
    if not extra:
        return border, []
    extra = list(extra)
    rng.shuffle(extra)
    used = extra[: min(len(extra), int(round(len(border) * extra_share)))]
    return used + border[: len(border) - len(used)], used


async def ai_feedback_pairs(findings: Sequence[Attempt], ref: Sequence[Pair], out: Path, *, target: Target,
                            refusal: Judge, harm: Judge | None, index: Contamination, seed: int, show_progress: bool,
                            cai_limit: int, critic: Target | None, rlaif_limit: int, labeller: Target | None,
                            constitution: str | None) -> tuple[list[Pair], dict | None, dict | None]:
    """Constitutional AI revisions of the refusal pairs' findings (``cai_limit``) and RLAIF preferences
    (``rlaif_limit``), decontaminated: (pairs, CAI statistics, RLAIF statistics)."""
    extra: list[Pair] = []
    cai_summary = rlaif_summary = None
    judges = [refusal] + ([harm] if harm is not None else [])
    if cai_limit or rlaif_limit:
        from .constitution import load_constitution

        const = load_constitution(constitution)
        if harm is None:
            from ..errors import BadInput

            raise BadInput("CAI / RLAIF need the harm judge (pass harm=...)")
    if cai_limit:
        from .constitutional import cai_stats, constitutional_revisions, revision_pairs

        used = {p.meta.get("sample_id") for p in ref}
        revs = await constitutional_revisions([a for a in findings if a.sample_id in used], critic or target, const,
                                              judges, out, limit=cai_limit, seed=seed, show_progress=show_progress)
        rp = revision_pairs(revs)
        rp, _ = decontaminate(rp, lambda p: " ".join(m.content for m in p.prompt), index)
        extra += rp
        cai_summary = cai_stats(revs)
    if rlaif_limit:
        from .rlaif import rlaif_pairs, rlaif_preferences, rlaif_stats

        harmful = [Sample(id=a.sample_id, prompt=a.prompt, label="harmful", category=a.category)
                   for a in findings if a.attack == "direct"]
        benign = borderline_prompts(seed + 1)
        pool = harmful[: rlaif_limit // 2] + benign[: rlaif_limit - min(len(harmful), rlaif_limit // 2)]
        pool, _ = decontaminate(pool, lambda s: s.prompt, index)
        prefs = await rlaif_preferences(pool, target, labeller or target, const, judges, out, seed=seed,
                                        show_progress=show_progress)
        extra += rlaif_pairs(prefs)
        rlaif_summary = rlaif_stats(prefs)
    return extra, cai_summary, rlaif_summary


async def run_datagen(findings: Sequence[Attempt], out: str | Path, *, target: Target, taxonomy: Taxonomy,
                      refusal: Judge, harm: Judge | None = None, benign_ratio: float = 1.0,
                      max_pairs: int | None = None, val_fraction: float = 0.1, params: GenParams | None = None,
                      seed: int = 0, show_progress: bool = True, cai_limit: int = 0, critic: Target | None = None,
                      rlaif_limit: int = 0, labeller: Target | None = None, constitution: str | None = None,
                      export_hf: bool = True, focus: Sequence[str] = (), borderline_mix: str = "balanced",
                      taught_refusal_share: float = 0.5, style_match: str = "off",
                      answer_cache: str | Path | None = None, extra_borderline: Sequence[Sample] = (),
                      extra_share: float = 0.0) -> dict:
    """Findings → refusal pairs (+ CAI revisions, + RLAIF pairs) and borderline-benign pairs, cleaned, balanced,
    decontaminated and split; ``train.jsonl``/``val.jsonl`` in TRL's conversational format (and ``hf/`` as a
    ``datasets.DatasetDict``), ``pairs.jsonl`` and the Training Data Summary ``datagen.json``. ``answer_cache``:
    a file of borderline answers by this target and refusal judge from earlier runs (see ``borderline_pairs``).
    ``extra_borderline``: more benign prompts (e.g. human-written requests) taking ``extra_share`` of the borderline
    pairs' places."""
    check_data_mix(borderline_mix, style_match)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params = params or GenParams()
    rng = random.Random(seed)
    index = Contamination(eval_prompts())

    # the borderline prompts, decontaminated once: their style mix shapes the refusal pairs (``style_match``)
    border, border_contam = decontaminate(borderline_prompts(seed), lambda s: s.prompt, index)
    extra_b, extra_contam = extra_pool(extra_borderline, border, index) if extra_share > 0 else ([], [])
    x_share = extra_share if extra_b else 0.0
    ref = refusal_pairs(findings, taxonomy, seed)
    n_ref_raw = len(ref)
    ref = dedupe(ref, lambda p: p.prompt[-1].content)
    ref, ref_contam = decontaminate(ref, lambda p: " ".join(m.content for m in p.prompt), index)
    rng.shuffle(ref)
    ref = order_refusal_pairs(ref)
    if focus:  # targeted data: pairs of the failing categories first (stable order otherwise)
        ref.sort(key=lambda p: p.category not in focus)
    if max_pairs:
        n_ref = max(1, int(max_pairs / (1 + benign_ratio)))
        if style_match != "off":  # as many questions among the refusals as among the borderline answers beside them
            # the built-in prompts' share, as chosen on the dev sets (results.json["style_share_extras"])
            share = style_share(border, borderline_mix == "balanced")
            ref = take_by_style(ref, n_ref, share) if style_match == "all" else \
                match_direct(ref, n_ref, share)
        else:
            ref = ref[:n_ref]
    if not ref:
        from ..errors import BadInput

        raise BadInput(f"no training pairs: none of the {len(findings)} findings is a non-refusal answer to a harmful "
                       "request (the target already refuses everything it was asked, or every response was empty)")

    extra, cai_summary, rlaif_summary = await ai_feedback_pairs(
        findings, ref, out, target=target, refusal=refusal, harm=harm, index=index, seed=seed,
        show_progress=show_progress, cai_limit=cai_limit, critic=critic, rlaif_limit=rlaif_limit,
        labeller=labeller, constitution=constitution)

    border, extra_used = choose_borderline(border, extra_b, int(round((len(ref) + len(extra)) * benign_ratio)),
                                           x_share, borderline_mix, rng)
    bstore = JsonlStore(out / "borderline_answers.jsonl", EvalRow)
    bpairs, b_refused = await borderline_pairs(target, border, refusal, bstore, params, seed, show_progress,
                                               taxonomy, taught_refusal_share,
                                               Path(answer_cache) if answer_cache else None)

    pairs = ref + extra + bpairs
    rng.shuffle(pairs)
    n_val = int(len(pairs) * val_fraction)
    val, train = pairs[:n_val], pairs[n_val:]
    store = JsonlStore(out / PAIRS, Pair)
    store.reset()
    store.append(pairs)
    for name, part in (("train", train), ("val", val)):
        (out / f"{name}.jsonl").write_text("".join(json.dumps(to_trl(p), ensure_ascii=False) + "\n" for p in part),
                                           encoding="utf-8")
    if export_hf:
        export_datasets(out / "hf", train, val)
    summary = summarize_pairs(pairs, train, val)
    summary["hygiene"] = {
        "refusal_pairs_before_dedupe": n_ref_raw,
        "refusal_pairs_contaminated_removed": len(ref_contam),
        "borderline_prompts_contaminated_removed": len(border_contam),
        "borderline_extra": {"available": len(extra_b), "used": len(extra_used),
                             "contaminated_removed": len(extra_contam),
                             "sources": dict(Counter(s.source for s in extra_used))},
        "borderline_answers_refused_dropped": b_refused,
        "decontamination": f"{index.n}-gram overlap or token Jaccard ≥ {index.jaccard} against every eval bench "
                           f"({', '.join(f'{k}: {v}' for k, v in index.sources.items())} prompts)",
        "eval_benches": index.sources,
        "contaminated_examples": [p.prompt[-1].content[:200] for p in ref_contam[:5]] +
                                 [s.prompt for s in border_contam[:5]],
    }
    summary["constitutional_ai"] = cai_summary
    summary["rlaif"] = rlaif_summary
    write_json(out / SUMMARY, summary)
    return summary


def export_datasets(path: Path, train: Sequence[Pair], val: Sequence[Pair]) -> None:
    """The same splits as a Hugging Face ``DatasetDict`` (``load_from_disk``-able, TRL conversational format)."""
    from datasets import Dataset, DatasetDict

    parts = {"train": train, "validation": val}
    dd = DatasetDict({k: Dataset.from_list([to_trl(p) for p in v]) for k, v in parts.items() if v})
    dd.save_to_disk(str(path))


def summarize_pairs(pairs: Sequence[Pair], train: Sequence[Pair], val: Sequence[Pair]) -> dict:
    from collections import Counter

    return {
        "n_pairs": len(pairs),
        "n_train": len(train),
        "n_val": len(val),
        "by_kind": dict(Counter(p.kind for p in pairs)),
        "by_category": dict(Counter(p.category or "none" for p in pairs)),
        "by_source": dict(Counter(p.source for p in pairs)),
        "multi_turn": sum(sum(m.role == "user" for m in p.prompt) > 1 for p in pairs),
        "mean_chosen_words": round(sum(len(p.chosen.split()) for p in pairs) / max(1, len(pairs)), 1),
        "mean_rejected_words": round(sum(len(p.rejected.split()) for p in pairs) / max(1, len(pairs)), 1),
        "distinct_chosen_refusals": len({p.chosen for p in pairs if p.kind == "refusal"}),
        "n_refusal_pairs": sum(p.kind == "refusal" for p in pairs),
    }


__all__ = ["PAIRS", "SUMMARY", "borderline_pairs", "refusal_pairs", "run_datagen", "to_trl"]
