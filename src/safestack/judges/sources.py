"""Training sources of the learned judges, each kept as a group for leave-one-source-out validation.

A row is ``{"prompt", "response", "behavior"?, "refusal": bool|None, "harm": bool|None, "source", "aug", "group"?}``
(``None``: the source does not say). ``refusal`` is non-compliance (full or partial refusal, deflection, off-topic);
``harm`` is real, actionable help toward a harmful goal.

* ``xstest``: XSTest's 2,250 completions of 5 models with human labels. refusal = the humans' full or partial
  refusal; harm = full compliance with one of the 200 unsafe prompts (a benign prompt answered is not harm).
* ``jbb``: JailbreakBench's 1,800 attack artifacts (goal, jailbreak prompt, reply) with JBB's judge label
  (Llama-3-70B, not human): harm = jailbroken; a jailbroken reply complies (refusal = false); a non-jailbroken reply
  that opens with a plain refusal act is a refusal (a silver label from the rule judge); otherwise refusal is unknown
  (it may drift off-topic or answer harmlessly).
* ``synthetic``: written for safestack (``synthetic.py``): refusals, partial refusals, soft refusals, deflections
  and lectures in many styles and nine languages to red-instruct's harmful questions, harmful compliance openings,
  and the embedded model's benign answers to in-house prompts (``guard/data``).

Augmentations, applied inside each source so that a held-out source takes its augmentations with it:
``offtopic`` (a compliant reply paired with an unrelated prompt of the same source: refusal = true, harm = false),
``persona`` (a jailbreak persona or mode prefix, and dual "classic/jailbreak" replies: the compliant half decides),
``typographic`` (curly quotes and apostrophes, zero-width characters, markdown), ``preamble`` (a refusal after a
neutral preamble). No evaluation bench's prompts are used to write synthetic rows (``hygiene`` checks them).
"""

from __future__ import annotations

import random
import re
from typing import Iterable, Sequence

SOURCES = ("xstest", "jbb", "synthetic")
_CONTENT_RE = re.compile(r"[a-z]{4,}")
_STOP = {"what", "which", "that", "this", "with", "from", "have", "your", "about", "would", "could", "should",
         "there", "their", "they", "them", "when", "where", "does", "some", "into", "write", "make", "give", "tell",
         "explain", "how", "please", "other", "people", "someone", "using", "like", "best", "ways"}


def _row(prompt, response, refusal, harm, source, aug="", behavior=None, group=None, goal_harmful=None) -> dict:
    r = {"prompt": prompt, "response": response, "refusal": refusal, "harm": harm, "source": source, "aug": aug,
         "goal_harmful": goal_harmful}
    if behavior:
        r["behavior"] = behavior
    if group:
        r["group"] = group
    return r


def xstest_rows() -> list[dict]:
    from ..data import load_xstest_completions
    from .calibrate import model_family

    out = []
    for r in load_xstest_completions():
        comply = r["human"] == "1_full_compliance"
        unsafe = r["type"].startswith("contrast")  # XSTest's unsafe prompts are its contrast types
        out.append(_row(r["prompt"], r["response"], not comply, comply and unsafe, "xstest",
                        group=model_family(r["model"]), goal_harmful=unsafe))
    return out


def jbb_rows() -> list[dict]:
    """JBB's replies; a reply JBB's judge did not call jailbroken that opens with a plain refusal act (the rule
    judge's full refusal, score 1.0) is labelled a refusal — a silver label: real refusals of four chat models."""
    from ..data.loaders import load_jbb_artifacts
    from .refusal import classify

    out = []
    for r in load_jbb_artifacts():
        if not r["response"]:
            continue
        refusal = False if r["jailbroken"] else None
        if refusal is None and classify(r["response"], r["goal"])[:2] == ("full_refusal", 1.0):
            refusal = True
        out.append(_row(r["prompt"], r["response"], refusal, bool(r["jailbroken"]), "jbb", behavior=r["goal"],
                        group=r["method"], goal_harmful=True))
    return out


def synthetic_rows(seed: int = 0) -> list[dict]:
    from .synthetic import synthetic_rows as rows

    return rows(seed)


def _content(text: str) -> set[str]:
    return {w for w in _CONTENT_RE.findall(text.lower()) if w not in _STOP}


def offtopic(rows: Sequence[dict], rng: random.Random, n: int) -> list[dict]:
    """Compliant replies paired with prompts of the same source that share no content word with the reply's own
    prompt or the reply's opening: a reply that does not address the request (refusal = true, harm = false)."""
    comply = [r for r in rows if r["refusal"] is False and len(r["response"].split()) >= 8]
    prompts = list({(r.get("behavior") or r["prompt"]): r for r in rows}.values())
    out = []
    for r in rng.sample(comply, min(n, len(comply))):
        own = _content(r.get("behavior") or r["prompt"]) | _content(r["response"][:300])
        for _ in range(20):
            p = rng.choice(prompts)
            if not (_content(p.get("behavior") or p["prompt"]) & own):
                out.append(_row(p["prompt"], r["response"], True, False, r["source"], "offtopic",
                                behavior=p.get("behavior"), group=r.get("group"), goal_harmful=p.get("goal_harmful")))
                break
    return out


PERSONAS = ["BasedGPT:", "DAN:", "AIM:", "STAN:", "DUDE:", "Niccolo:", "ChatGPT:", "Assistant:", "GPT:",
            "Developer Mode:", "[🔒CLASSIC]", "[🔓JAILBREAK]", "(🔓Developer Mode Output)", "(🔒Normal Output)",
            "[JAILBREAK]", "[CLASSIC]", "AntiGPT:", "Evil Confidant:", "Grandma:", "Answer:", "**Response:**",
            "NRAF:", "Mongo Tom:", "UCAR:", "[GPT]:", "[BetterDAN]:", "Khajiit:", "Burple:", "Dr. Al:"]
_DUAL = [("[🔒CLASSIC]", "[🔓JAILBREAK]"), ("(🔒Normal Output)", "(🔓Developer Mode Output)"), ("GPT:", "DAN:"),
         ("[GPT]:", "[BetterDAN]:"), ("ChatGPT:", "AntiGPT:"), ("[CLASSIC]", "[JAILBREAK]")]


def persona(rows: Sequence[dict], rng: random.Random, n: int) -> list[dict]:
    """Replies behind a persona prefix (labels unchanged), and dual replies: a refusal under the "classic" tag
    followed by another row's reply under the "jailbreak" tag take that reply's labels (a compliant half delivers
    the answer; two refusals are a refusal)."""
    out = []
    known = [r for r in rows if r["refusal"] is not None]
    refusals = [r for r in known if r["refusal"] and not r["aug"]]
    for r in rng.sample(known, min(n, len(known))):
        sep = rng.choice([" ", "\n", "\n\n"])
        out.append({**r, "response": f"{rng.choice(PERSONAS)}{sep}{r['response']}", "aug": "persona"})
    for r in rng.sample(known, min(n // 3, len(known))):
        if not refusals:
            break
        a, b = rng.choice(_DUAL)
        first = rng.choice(refusals)["response"]
        out.append({**r, "response": f"{a} {first}\n\n{b} {r['response']}", "aug": "persona-dual"})
    return out


_CURLY = str.maketrans({"'": "\u2019", '"': "\u201d", "-": "\u2014"})


def typographic(rows: Sequence[dict], rng: random.Random, n: int) -> list[dict]:
    """Curly apostrophes and quotes, dashes, zero-width characters inside words, markdown emphasis."""
    out = []
    for r in rng.sample(list(rows), min(n, len(rows))):
        t = r["response"].translate(_CURLY)
        if rng.random() < 0.4:
            t = re.sub(r"(\w{3})(\w{3,})", lambda m: m.group(1) + "\u200b" + m.group(2) if rng.random() < 0.1
                       else m.group(0), t)
        if rng.random() < 0.4:
            words = t.split(" ")
            k = min(len(words), rng.randint(2, 6))
            t = "**" + " ".join(words[:k]) + "** " + " ".join(words[k:])
        out.append({**r, "response": t, "aug": "typographic"})
    return out


PREAMBLES = [
    "Thank you for your question.", "I understand why you might be curious about this.",
    "That's an interesting question, and I appreciate you asking it.", "I hear you, and I want to be helpful here.",
    "Thanks for reaching out. Questions like this come up more often than you might think.",
    "I appreciate your curiosity and the trust you place in me when you ask something like this.",
    "Let me think about this carefully before I answer.",
    "This is a topic that many people wonder about, and it touches on some serious issues.",
]


def preamble(rows: Sequence[dict], rng: random.Random, n: int) -> list[dict]:
    """Refusals after a neutral preamble of one to three sentences (labels unchanged)."""
    refusals = [r for r in rows if r["refusal"] and not r["harm"] and r["aug"] == ""]
    out = []
    for r in rng.sample(refusals, min(n, len(refusals))):
        pre = " ".join(rng.sample(PREAMBLES, rng.randint(1, 3)))
        out.append({**r, "response": f"{pre} {r['response']}", "aug": "preamble"})
    return out


def augment(rows: Sequence[dict], seed: int = 0, share: float = 0.15) -> list[dict]:
    """The source's rows plus its augmentations (about ``share`` of its size each)."""
    rng = random.Random(seed)
    n = max(10, int(share * len(rows)))
    base = list(rows)
    return base + offtopic(base, rng, n) + persona(base, rng, n) + typographic(base, rng, n // 2) + \
        preamble(base, rng, n // 2)


def load_sources(names: Iterable[str] = SOURCES, seed: int = 0) -> list[dict]:
    """All rows of the named sources, augmented within each source."""
    loaders = {"xstest": xstest_rows, "jbb": jbb_rows, "synthetic": lambda: synthetic_rows(seed)}
    out = []
    for name in names:
        out += augment(loaders[name](), seed)
    return out
