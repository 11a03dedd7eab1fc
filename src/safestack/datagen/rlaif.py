"""RLAIF: AI preference labels (Bai et al. 2022 §4; Lee et al. 2023).

For each prompt the policy samples two responses; a labeller model is asked the constitution's ``compare``
question with the responses as (A) and (B) — in both orders, to cancel its position bias — and the pair is kept
only when both orders agree. The label is then compared with safestack's judges (refusal + harm): the report gives
the agreement rate, so a weak labeller shows up as chance-level agreement instead of silently poisoning the data.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Sequence

from ..judges.base import Judge, JudgeItem, known_goal
from ..records import JsonlStore, Pair, Record, Sample, stable_id, user
from ..targets.base import GenParams, Target
from .constitution import Constitution

RLAIF = "rlaif.jsonl"


class Preference(Record):
    key: str
    sample_id: str
    prompt: str
    label: str
    category: str | None = None
    principle: str
    a: str
    b: str
    choice_ab: str | None = None  # labeller's answer with a shown first
    choice_ba: str | None = None  # … with b shown first (mapped back to a/b)
    preferred: str | None = None  # "a" | "b" when both orders agree, else None
    judge_preferred: str | None = None  # what the judges prefer (None: no preference)


def compare_messages(prompt: str, first: str, second: str, question: str) -> list:
    return user(f"Consider this request to an AI assistant:\n\n{prompt}\n\n{question}\n\n(A) {first}\n\n(B) {second}"
                "\n\nAnswer with a single letter, A or B.")


_LETTER = re.compile(r"\(?\b([AB])\b\)?")


def parse_choice(text: str) -> str | None:
    m = _LETTER.search(text.strip()[:40])
    return m.group(1) if m else None


def judge_preference(label: str, ref_a, ref_b, harm_a, harm_b) -> str | None:
    """Harmful request: prefer the response that is not harmful, then the one that refuses.
    Benign request: prefer the one that does not refuse. None when the judges see no difference."""
    if label == "harmful":
        key_a, key_b = (not harm_a.label, ref_a.label), (not harm_b.label, ref_b.label)
    else:
        key_a, key_b = (not ref_a.label,), (not ref_b.label,)
    if key_a == key_b:
        return None
    return "a" if key_a > key_b else "b"


async def rlaif_preferences(samples: Sequence[Sample], policy: Target, labeller: Target, constitution: Constitution,
                            judges: Sequence[Judge], out: str | Path, *, params: GenParams | None = None,
                            temperature: float = 0.9, seed: int = 0, batch_size: int = 16,
                            show_progress: bool = True) -> list[Preference]:
    from ..engine import progress

    params = params or GenParams(max_new_tokens=64)
    rng = random.Random(seed)
    store = JsonlStore(Path(out) / RLAIF, Preference)
    done = store.keys()
    jmap = {j.name: j for j in judges}
    items = []
    for s in samples:
        ps = constitution.for_label(s.label)
        p = rng.choice(ps)
        items.append((stable_id("rlaif", s.id, s.prompt, p.id, getattr(labeller, "name", "?"), seed), s, p))
    pending = [t for t in items if t[0] not in done]
    with progress() as prog:
        task = prog.add_task("RLAIF labels", total=len(pending), visible=show_progress and bool(pending))
        for i in range(0, len(pending), batch_size):
            chunk = pending[i:i + batch_size]
            convs = [user(s.prompt) for _, s, _ in chunk]
            ra = await policy.generate(convs, params.with_(temperature=temperature, seed=seed * 2 + 1))
            rb = await policy.generate(convs, params.with_(temperature=temperature, seed=seed * 2 + 2))
            label_params = GenParams(max_new_tokens=4)
            ab = await labeller.generate([compare_messages(s.prompt, a, b, p.compare)
                                          for (_, s, p), a, b in zip(chunk, ra, rb)], label_params)
            ba = await labeller.generate([compare_messages(s.prompt, b, a, p.compare)
                                          for (_, s, p), a, b in zip(chunk, ra, rb)], label_params)
            ja = [JudgeItem(prompt=s.prompt, response=a, goal_harmful=known_goal(s.label))
                  for (_, s, _), a in zip(chunk, ra)]
            jb = [JudgeItem(prompt=s.prompt, response=b, goal_harmful=known_goal(s.label))
                  for (_, s, _), b in zip(chunk, rb)]
            ref_a, ref_b = await jmap["refusal"].score(ja), await jmap["refusal"].score(jb)
            harm_a, harm_b = await jmap["harm"].score(ja), await jmap["harm"].score(jb)
            recs = []
            for j, ((key, s, p), a, b) in enumerate(zip(chunk, ra, rb)):
                c1 = parse_choice(ab[j])
                c2 = {"A": "B", "B": "A"}.get(parse_choice(ba[j]) or "")  # map the swapped order back
                ca = {"A": "a", "B": "b"}.get(c1 or "")
                cb = {"A": "a", "B": "b"}.get(c2 or "")
                recs.append(Preference(key=key, sample_id=s.id, prompt=s.prompt, label=s.label, category=s.category,
                                       principle=p.id, a=a, b=b, choice_ab=ca, choice_ba=cb,
                                       preferred=ca if ca and ca == cb and a.strip() != b.strip() else None,
                                       judge_preferred=judge_preference(s.label, ref_a[j], ref_b[j], harm_a[j],
                                                                        harm_b[j])))
            store.append(recs)
            prog.advance(task, len(chunk))
    keys = {k for k, _, _ in items}
    return [r for r in store.load() if r.key in keys]


def rlaif_pairs(prefs: Sequence[Preference]) -> list[Pair]:
    from .pairs import ends_open

    out = []
    for r in prefs:
        if not r.preferred:
            continue
        chosen, rejected = (r.a, r.b) if r.preferred == "a" else (r.b, r.a)
        out.append(Pair(key=stable_id("rlaif-pair", r.key), prompt=user(r.prompt), chosen=chosen, rejected=rejected,
                        chosen_open=ends_open(chosen), rejected_open=ends_open(rejected), kind="rlaif",
                        category=r.category, source=f"rlaif:{r.principle}",
                        meta={"sample_id": r.sample_id, "judge_agrees": r.judge_preferred == r.preferred
                              if r.judge_preferred else None}))
    return out


def rlaif_stats(prefs: Sequence[Preference]) -> dict:
    n = len(prefs)
    labelled = [r for r in prefs if r.preferred]
    comparable = [r for r in labelled if r.judge_preferred]
    agree = sum(r.preferred == r.judge_preferred for r in comparable)
    parsed = sum(bool(r.choice_ab) and bool(r.choice_ba) for r in prefs)
    return {
        "n": n,
        "parsed_both_orders": round(parsed / n, 4) if n else None,
        "position_consistent": round(len(labelled) / n, 4) if n else None,
        "n_pairs": len(labelled),
        "judge_comparable": len(comparable),
        "agreement_with_judges": round(agree / len(comparable), 4) if comparable else None,
        "first_position_bias": round(sum(r.choice_ab == "a" for r in prefs) / n, 4) if n else None,
    }
