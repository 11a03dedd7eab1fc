"""Constitutional AI (Bai et al. 2022, §3): critique → revise with a model; the judged-safe revision becomes *chosen*.

For each harmful finding (request x, harmful response y) a principle is drawn from the constitution, the critic
model writes a critique of y under the principle's critique request, then a revision under its revision request.
The revision is judged (refusal + harm judges): accepted revisions become the chosen side of a pair with the
original y as rejected; rejected revisions fall back to a refusal written for the category, and the statistics say
how often that happened. Every step is a typed record appended to ``cai.jsonl``, so the stage resumes.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Sequence

from ..judges.base import Judge, JudgeItem, known_goal
from ..records import Attempt, JsonlStore, Message, Pair, Record, stable_id
from ..targets.base import GenParams, Target
from .constitution import Constitution

CAI = "cai.jsonl"


class Revision(Record):
    key: str
    finding_key: str
    category: str | None = None
    principle: str
    prompt: list[Message]
    response: str
    critique: str
    revision: str
    violation_found: bool
    harm_before: bool
    harm_after: bool
    refused_after: bool
    accepted: bool


def _transcript(messages: Sequence[Message], response: str) -> str:
    lines = [f"{'User' if m.role == 'user' else m.role.capitalize()}: {m.content}" for m in messages]
    return "\n".join(lines + [f"Assistant: {response}"])


def critique_messages(messages: Sequence[Message], response: str, principle) -> list[Message]:
    return [Message(role="user", content=f"Here is a conversation.\n\n{_transcript(messages, response)}\n\n"
                                         f"{principle.critique}\nAnswer in two or three sentences.")]


def revision_messages(messages: Sequence[Message], response: str, critique: str, principle) -> list[Message]:
    return [Message(role="user", content=f"Here is a conversation.\n\n{_transcript(messages, response)}\n\n"
                                         f"Critique: {critique}\n\n{principle.revision} Write only the new assistant "
                                         "response, nothing else.")]


_VIOLATION = re.compile(r"\b(?:harm|danger|illegal|unethical|inappropriate|unsafe|violen|offensive|should not|"
                        r"shouldn't|problematic|risk|abuse|crime|criminal|exploit)\w*", re.I)
_NO_ISSUE = re.compile(r"\b(?:no (?:issues?|problems?|harm)|nothing (?:harmful|wrong)|is (?:fine|appropriate|safe))\b",
                       re.I)


def found_violation(critique: str) -> bool:
    """Did the critique identify a problem? (rule-based reading of the critic's text)"""
    return bool(_VIOLATION.search(critique)) and not _NO_ISSUE.search(critique[:120])


_PREFIX = re.compile(r"^\s*(?:\**\s*)?(?:revised response|revision|new (?:assistant )?response|assistant)\s*:\**\s*",
                     re.I)


def clean_revision(text: str) -> str:
    return _PREFIX.sub("", text.strip()).strip().strip('"').strip()


async def constitutional_revisions(findings: Sequence[Attempt], critic: Target, constitution: Constitution,
                                   judges: Sequence[Judge], out: str | Path, *, limit: int | None = None,
                                   params: GenParams | None = None, seed: int = 0, batch_size: int = 16,
                                   show_progress: bool = True) -> list[Revision]:
    """Critique → revise each harmful finding (resumable through ``out/cai.jsonl``)."""
    from ..engine import progress

    params = params or GenParams(max_new_tokens=80)
    rng = random.Random(seed)
    principles = constitution.for_label("harmful")
    todo = [a for a in findings if a.label == "harmful" and not a.refused and a.response.strip()]
    rng.shuffle(todo)
    todo = todo[:limit] if limit else todo
    store = JsonlStore(Path(out) / CAI, Revision)
    done = store.keys()
    jmap = {j.name: j for j in judges}
    items = []
    for a in todo:
        p = rng.choice(principles)
        items.append((stable_id("cai", a.key, p.id, getattr(critic, "name", "?")), a, p))
    pending = [t for t in items if t[0] not in done]
    with progress() as prog:
        task = prog.add_task("constitutional revisions", total=len(pending), visible=show_progress and bool(pending))
        for s in range(0, len(pending), batch_size):
            chunk = pending[s:s + batch_size]
            crit = await critic.generate([critique_messages(a.messages, a.response, p) for _, a, p in chunk], params)
            revs = await critic.generate([revision_messages(a.messages, a.response, c, p)
                                          for (_, a, p), c in zip(chunk, crit)], params)
            revs = [clean_revision(r) for r in revs]
            jitems = [JudgeItem(prompt=a.prompt, response=r, behavior=a.prompt, goal_harmful=known_goal(a.label))
                      for (_, a, _), r in zip(chunk, revs)]
            ref = await jmap["refusal"].score(jitems)
            harm = await jmap["harm"].score(jitems)
            recs = []
            for (key, a, p), c, r, rv, hv in zip(chunk, crit, revs, ref, harm):
                recs.append(Revision(key=key, finding_key=a.key, category=a.category, principle=p.id,
                                     prompt=a.messages, response=a.response, critique=c.strip(), revision=r,
                                     violation_found=found_violation(c), harm_before=a.harmful,
                                     harm_after=hv.label, refused_after=rv.label,
                                     accepted=bool(r) and rv.label and not hv.label and len(r.split()) >= 4))
            store.append(recs)
            prog.advance(task, len(chunk))
    keys = {k for k, _, _ in items}
    return [r for r in store.load() if r.key in keys]


def revision_pairs(revisions: Sequence[Revision]) -> list[Pair]:
    from .pairs import ends_open

    return [Pair(key=stable_id("revision", r.key), prompt=r.prompt, chosen=r.revision, rejected=r.response,
                 chosen_open=ends_open(r.revision), rejected_open=ends_open(r.response), kind="revision",
                 category=r.category, source=f"cai:{r.principle}",
                 meta={"finding_key": r.finding_key, "principle": r.principle})
            for r in revisions if r.accepted]


def cai_stats(revisions: Sequence[Revision]) -> dict:
    n = len(revisions)
    if not n:
        return {"n": 0}

    def rate(xs):
        return round(sum(xs) / n, 4)

    def words(xs):
        return round(sum(len(x.split()) for x in xs) / n, 1)

    by_p: dict[str, dict] = {}
    for r in revisions:
        d = by_p.setdefault(r.principle, {"n": 0, "accepted": 0})
        d["n"] += 1
        d["accepted"] += r.accepted
    return {
        "n": n,
        "critique_found_violation": rate(r.violation_found for r in revisions),
        "revised": rate(bool(r.revision) and r.revision != r.response for r in revisions),
        "accepted": rate(r.accepted for r in revisions),
        "n_accepted": sum(r.accepted for r in revisions),
        "harm_before": rate(r.harm_before for r in revisions),
        "harm_after": rate(r.harm_after for r in revisions),
        "refusal_after": rate(r.refused_after for r in revisions),
        "words_before": words(r.response for r in revisions),
        "words_after": words(r.revision for r in revisions),
        "by_principle": by_p,
        "examples": [{"prompt": r.prompt[-1].content[:200], "response": r.response[:200], "critique": r.critique[:300],
                      "revision": r.revision[:300], "accepted": r.accepted} for r in revisions[:3]],
    }
