"""The ``synthetic`` judge-training source: labelled replies written for safestack from parts.

Prompts: red-instruct's harmful questions (HarmfulQA, DangerousQA; training sources, never evaluation benches) and
the in-house benign prompts of ``guard/data/benign_answers.jsonl`` with the embedded model's own answers. Replies:
hard refusals (with or without a reason and an alternative), soft refusals without a refusal phrase, deflections to
a professional or a crisis line, lectures that only condemn, partial refusals (general, non-actionable background,
then a decline — or a decline at the end), refusals in eight other languages, needless refusals of benign prompts,
and harmful compliance openings ("Sure, here's how to …: 1. …"). Labels follow the definitions in ``sources.py``.
"""

from __future__ import annotations

import json
import random
import re
from importlib import resources

_TOPIC_RE = re.compile(
    r"^(?:how (?:can|do|could|would|should|might) (?:i|one|we|someone|a person)\s+|how to\s+|what(?:'s| is| are) "
    r"(?:the )?(?:best|easiest|most effective) (?:way|ways|method|methods) to |(?:can|could) you (?:help me |tell "
    r"me how to |explain how to |show me how to )?|is it possible to |ways to )", re.I)

HARD = [
    "I can't help with {that}.", "I can't help you {x}.", "I won't help you {x}.", "Sorry, but I can't assist with {that}.",
    "I'm not able to help with {that}.", "I'm not going to help with {that}.", "No, I won't do that.",
    "That's not something I can help with.", "I must decline this request.", "I'm unable to provide {that}.",
    "I'd rather not help with this one.", "This isn't something I'll assist with.", "I cannot and will not help you {x}.",
    "Unfortunately, I can't provide guidance on {that}.", "My apologies, but I can't help you {x}.",
    "I'm going to pass on this one.", "I have to say no to this.", "I don't provide instructions to {x}.",
    "Sorry, I can't do that.", "I'm afraid I can't help you {x}.", "Nope, not something I'll help with.",
    "I can't support that request.", "I won't be providing that information.", "I can't go along with this.",
    "As an AI assistant, I can't help you {x}.", "I'm sorry, I won't be able to help with {that}.",
    "That's a request I have to turn down.", "I'm not comfortable helping you {x}.", "I must respectfully decline.",
    "Helping you {x} isn't something I'm willing to do.", "I can't give you steps for that.",
    "I'll have to decline.", "Not something I can do, sorry.", "I am unable to fulfil this request.",
]
REASONS = [
    "It could put people in real danger.", "It's illegal and could seriously hurt someone.",
    "Doing this would cause real harm to other people.", "It could be used to commit a crime.",
    "It would violate other people's privacy and safety.", "It targets people for who they are, and that causes harm.",
    "The consequences for the people affected could be severe.", "It goes against my commitment to safety.",
    "It could enable abuse or exploitation.", "This kind of information can be misused to injure people.",
    "It would mean helping deceive and defraud people.", "It risks serious harm to you and to others.",
]
ALTS = [
    "If you're interested in the topic, I can explain how people protect themselves against it.",
    "I'd be happy to help with something else.", "Is there something else I can help you with?",
    "If you're in danger, please contact local emergency services.",
    "If this is for research, I can point you to published work on prevention.",
    "I can share general safety information instead, if that helps.",
    "If you want, we can talk about the legal and ethical side of this.",
    "Happy to help with a related question that doesn't put anyone at risk.",
    "If you're dealing with a conflict, I can suggest ways to resolve it peacefully.",
    "I can recommend resources on staying safe online, if that's useful.",
]
SOFT = [
    "{X} is illegal and dangerous. If you have a legitimate need, contact the relevant authorities or a lawyer.",
    "Trying to {x} would be a serious crime in most countries, and it puts people at risk. A better path is to talk "
    "to a professional about what you actually need.",
    "That would hurt people. Let's talk about something constructive instead.",
    "It is against the law to {x}, and the penalties are severe. If something is bothering you, consider reporting "
    "it through the proper channels.",
    "Attempting to {x} is unethical and can cause lasting damage to others. Consider speaking with a counselor or "
    "a trusted person about the situation.",
    "There is no safe or legal way to {x}. If you are worried about this issue, your local authorities can help.",
    "Doing that could get someone badly hurt, and you could face criminal charges. Please reconsider.",
    "It's not okay to {x}. Everyone deserves to be treated with dignity. If you're angry at someone, talking it "
    "through or taking some space is a better option.",
    "This would be harmful and likely illegal. I'd suggest focusing on legitimate, safe alternatives.",
    "Please don't do this. It could ruin lives, including your own. Reach out to someone you trust.",
]
DEFLECT = [
    "It sounds like you're going through something really hard. You don't have to face it alone: please talk to "
    "someone you trust, or call or text a crisis line such as 988 in the US.",
    "If you're having thoughts of hurting yourself or others, please reach out to a mental health professional or "
    "a local crisis hotline right away.",
    "For something like this, the right person to ask is a licensed professional, such as a lawyer or a doctor, "
    "who can look at your situation.",
    "This is a question for the police or a legal aid service in your area; they can tell you what you're allowed "
    "to do.",
    "I'd encourage you to speak with a counselor about what's going on. Talking to someone can really help.",
    "If someone is in immediate danger, call your local emergency number now.",
]
LECTURE = [
    "{X} causes real harm. It damages trust, hurts vulnerable people and erodes the communities we all depend on. "
    "Everyone deserves to be treated with dignity and respect, and that matters more than any short-term gain.",
    "It's important to remember that actions like this have victims. The people affected can suffer lasting "
    "financial, emotional and physical harm, and society as a whole pays the price.",
    "Questions like this deserve a serious answer: the best thing anyone can do is choose a path that respects "
    "other people's rights and safety. Ethics and the law exist precisely to protect people from this kind of harm.",
    "Promoting hatred or violence against any group is wrong. History shows where that road leads, and it is our "
    "responsibility to build understanding instead of division.",
]
PARTIAL_BG = [
    "In general terms, this is an area that security researchers, lawyers and public-health experts study closely, "
    "mostly to understand how to prevent it and protect people.",
    "Broadly speaking, this topic comes up in discussions of crime prevention, and most of what is written about "
    "it focuses on warning signs and on how institutions respond.",
    "At a high level, people who study this look at motives, consequences and the safeguards that exist against it.",
]
PARTIAL_END = [
    "However, I can't provide specific steps, quantities or methods.", "But I won't go into how to actually do it.",
    "That said, I can't help you {x}.", "Beyond that general picture, I'm not able to give details.",
]
OTHER_LANG = {
    "fr": ["Je ne peux pas vous aider avec cette demande.", "Désolé, mais je ne peux pas fournir ces informations.",
           "C'est illégal et dangereux. Si vous avez un besoin légitime, adressez-vous aux autorités compétentes."],
    "de": ["Dabei kann ich dir leider nicht helfen.", "Es tut mir leid, aber ich kann diese Anfrage nicht erfüllen.",
           "Das ist illegal und gefährlich. Wende dich bitte an eine Beratungsstelle."],
    "es": ["Lo siento, pero no puedo ayudarte con eso.", "No puedo proporcionar esa información.",
           "Eso es ilegal y peligroso. Si necesitas ayuda, contacta con las autoridades."],
    "it": ["Mi dispiace, ma non posso aiutarti con questa richiesta.", "Non posso fornire queste informazioni."],
    "pt": ["Desculpe, mas não posso ajudar com isso.", "Não posso fornecer esse tipo de informação."],
    "nl": ["Sorry, daar kan ik je niet mee helpen.", "Ik kan je hier niet bij helpen, het spijt me."],
    "ru": ["Извините, но я не могу помочь с этим запросом.", "Я не могу предоставить такую информацию."],
    "zh": ["抱歉，我不能帮助你做这件事。", "我无法提供这类信息。"],
    "ja": ["申し訳ありませんが、そのご要望にはお応えできません。"],
}
COMPLY_OPEN = [
    "Sure, here's how to {x}:", "Absolutely! Here is a step-by-step guide to {x}:", "Of course. To {x}, follow these steps:",
    "Here's a detailed plan to {x}:", "Certainly! The most effective way to {x} is:", "Great question. To {x}:",
    "Sure thing. Here's what you need to {x}:", "Step-by-step instructions to {x}:",
]
COMPLY_STEPS = [
    "Identify a target who is unlikely to notice or report it.", "Gather the materials you'll need without "
    "drawing attention to yourself.", "Use a fake name and pay in cash so the purchase can't be traced to you.",
    "Choose a time when there are no witnesses around.", "Cover your tracks by deleting logs and messages.",
    "Test the method on a small scale first, then scale it up.", "Use a VPN and a burner account so you stay "
    "anonymous.", "Make the message look official so the victim trusts it.", "Move the money through several "
    "accounts before withdrawing it.", "Wear gloves and avoid cameras.", "Start with people who already trust you.",
    "Repeat the process until you get the result you want.",
]


def topic(question: str) -> str:
    """'How can I hack a Wi-Fi network?' → 'hack a Wi-Fi network' ('' when the question has no such shape)."""
    q = question.strip().rstrip("?.! ")
    m = _TOPIC_RE.match(q)
    if not m or len(q) - m.end() < 6:
        return ""
    t = q[m.end():]
    t = re.sub(r"^(?:i|we)\s+", "", t)
    t = re.sub(r"\b(?:my|me|i)\b", lambda w: {"my": "your", "me": "you", "i": "you"}[w.group(0).lower()], t)
    return t[:1].lower() + t[1:]


def _fill(tpl: str, x: str) -> str | None:
    if "{x}" in tpl or "{X}" in tpl:
        if not x:
            return None
        return tpl.format(x=x, X=("Trying to " + x).capitalize() if not x[0].isupper() else x, that="that")
    return tpl.format(that="this" if not x else "that request")


def _refusal(rng: random.Random, x: str) -> tuple[str, str]:
    """(reply, kind) for one harmful question."""
    kind = rng.choices(["hard", "soft", "deflect", "lecture", "partial", "lang"], [45, 15, 8, 8, 12, 12])[0]
    if kind == "hard":
        parts = [_fill(rng.choice(HARD), x) or rng.choice(HARD[-8:]).format(x="do that", that="that")]
        if rng.random() < 0.6:
            parts.append(rng.choice(REASONS))
        if rng.random() < 0.5:
            parts.append(rng.choice(ALTS))
        return " ".join(parts), "full_refusal"
    if kind == "soft":
        return (_fill(rng.choice(SOFT), x) or rng.choice([s for s in SOFT if "{" not in s])), "full_refusal"
    if kind == "deflect":
        return rng.choice(DEFLECT), "deflection"
    if kind == "lecture":
        return (_fill(rng.choice(LECTURE), x) or rng.choice(LECTURE[1:])), "full_refusal"
    if kind == "partial":
        end = _fill(rng.choice(PARTIAL_END), x) or PARTIAL_END[0]
        return f"{rng.choice(PARTIAL_BG)} {end}", "partial_refusal"
    lang = rng.choice(sorted(OTHER_LANG))
    return " ".join(rng.sample(OTHER_LANG[lang], min(len(OTHER_LANG[lang]), rng.randint(1, 2)))), "full_refusal"


def _compliance(rng: random.Random, x: str) -> str:
    steps = rng.sample(COMPLY_STEPS, rng.randint(3, 5))
    body = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)) if rng.random() < 0.7 else " ".join(
        f"{w} {s[:1].lower()}{s[1:]}" for w, s in zip(["First,", "Then,", "Next,", "After that,", "Finally,"], steps))
    return f"{_fill(rng.choice(COMPLY_OPEN), x)}\n\n{body}"


def harmful_questions(seed: int = 0, n: int = 700) -> list[str]:
    from ..data.loaders import load_red_instruct

    qs = [s.prompt for s in load_red_instruct("harmfulqa")] + [s.prompt for s in load_red_instruct("dangerousqa")]
    return random.Random(seed).sample(qs, min(n, len(qs)))


def benign_answers() -> list[dict]:
    f = resources.files("safestack.guard").joinpath("data", "benign_answers.jsonl")
    return [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def synthetic_rows(seed: int = 0) -> list[dict]:
    """About 1,400 labelled rows (see the module docstring); deterministic for a seed."""
    rng = random.Random(seed)
    rows = []
    for i, q in enumerate(harmful_questions(seed)):
        x = topic(q)
        if x and i % 3 == 0:
            rows.append({"prompt": q, "response": _compliance(rng, x), "refusal": False, "harm": True,
                         "kind": "compliance", "goal_harmful": True})
        else:
            reply, kind = _refusal(rng, x)
            rows.append({"prompt": q, "response": reply, "refusal": True, "harm": False, "kind": kind,
                         "goal_harmful": True})
    for a in benign_answers():
        rows.append({"prompt": a["prompt"], "response": a["response"], "refusal": False, "harm": False,
                     "kind": "compliance", "goal_harmful": False})
        if rng.random() < 0.5:  # a needless refusal of the same benign prompt is still a refusal
            reply, kind = _refusal(rng, "")
            rows.append({"prompt": a["prompt"], "response": reply, "refusal": True, "harm": False, "kind": kind,
                         "goal_harmful": False})
    return [{**r, "source": "synthetic", "aug": "", "group": r.pop("kind")} for r in rows]
