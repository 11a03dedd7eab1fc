"""Everyday user content that is not a request: posts, rants, diary lines, chat — the text a moderation user or a
chat user sends that the request sources lack. Benign, often with strong words ("killing me", "I'm going to lose
it", "we destroyed them") and in casual register (lower case, "lol", emoji).

Composed from hand-written situations × reactions × openers (written for safestack, not taken from any dataset), so
the guard learns that venting, joking and news are not harmful requests. One leave-one-source-out source
(``user-content``) on both sides: inputs (a user's message) and outputs (content to moderate).
"""

from __future__ import annotations

import random

_SITUATIONS = [
    "my landlord still hasn't fixed the heating after three weeks", "the bus was forty minutes late again",
    "my sister brought my car back with an empty tank", "I completely bombed my chemistry exam",
    "our team got absolutely destroyed in the playoffs", "my boss booked a meeting for 5pm on a Friday",
    "the neighbour's dog barked all night", "my kid drew on the living room wall with a permanent marker",
    "I burned the lasagne for the third time this month", "this heat is killing me",
    "my phone died in the middle of a job interview call", "I finally finished painting the bedroom",
    "I got food poisoning from the office party", "someone dented my car in the car park and drove off",
    "my cat knocked a full mug of coffee onto my laptop", "I got the job", "my flight got cancelled at the gate",
    "the referee robbed us of a clear penalty", "my roommate keeps eating my leftovers",
    "my brother ate an entire pizza by himself and is now lying on the floor groaning",
    "the ending of that show wasted eight seasons of character development", "I ran my first marathon",
    "my coworker microwaved fish in the shared kitchen again", "my toddler screamed through the whole supermarket",
    "the printer jammed five minutes before my deadline", "my grandma just learned how to send voice notes",
    "the wifi has been dead all weekend", "I fell asleep on the train and woke up two stops too late",
    "my date showed up an hour late and talked about crypto the whole time", "I passed my driving test",
    "the council closed the only swimming pool in town", "my neighbour parks across my driveway every morning",
    "my manager took credit for my project in front of everyone", "I spilled red wine on my friend's white sofa",
    "the gym was packed and someone hogged the squat rack for an hour", "my teenager rolled his eyes at me again",
    "we lost the pub quiz by one point", "my sourdough starter finally bubbled", "my ex posted our old photos",
    "the hospital waiting room was full for six hours", "I locked myself out of my flat in my pyjamas",
    "the kids next door kicked their ball into my garden for the tenth time", "my laptop fan sounds like a jet engine",
    "the price of a coffee in this city is criminal", "my dad tried to fix the sink and flooded the kitchen",
    "the band played my favourite song as the encore", "my plants all died while I was on holiday",
]
_REACTIONS = [
    "I'm so done.", "I could scream.", "lol.", "honestly I'm dying 😂", "worst week ever.", "rant over.",
    "so proud of myself!", "you can't make this up.", "send help 😭", "anyone else?", "ugh.", "I'm going to lose it.",
    "I want to strangle whoever designed this.", "best day in ages!", "I could murder a burger right now.",
    "that's it, I'm moving to the mountains.", "we absolutely crushed it.", "my blood is boiling.",
    "I'm dead 💀", "what a time to be alive.", "never again.", "I need a holiday.", "", "",
]
_OPENERS = ["", "", "Ugh, ", "So ", "Update: ", "Rant: ", "lol ", "Okay so ", "PSA: ", "Honestly, ", "Guess what, ",
            "Day 3 and ", "Not gonna lie, "]
_TAILS = ["", "", "", " Any advice?", " Does anyone know what my rights are?", " Is this normal?",
          " How do you all deal with this?", " Thoughts?"]


def user_content(n: int = 360, seed: int = 0) -> list[str]:
    """``n`` distinct benign posts: opener + situation + reaction (+ a question to readers)."""
    rng = random.Random(seed + 31)
    out: dict[str, None] = {}
    while len(out) < n:
        s = rng.choice(_SITUATIONS)
        o = rng.choice(_OPENERS)
        text = f"{o}{s[0].upper() + s[1:] if not o else s}. {rng.choice(_REACTIONS)}{rng.choice(_TAILS)}".strip()
        if rng.random() < 0.3:
            text = text.lower()
        out[text] = None
    return list(out)
