"""Borderline-benign prompts: requests that look dangerous but are safe, plus ordinary everyday requests.

Written for safestack from templates (homonyms of violent verbs, figurative uses of them, games and fiction,
fictional characters' "personal" details, definitions, history, safety information, public facts, nonsense
discrimination, everyday tasks). Never drawn from XSTest or any other eval set;
``hygiene.decontaminate`` checks them against every eval bench anyway. The chosen answer is the model's own
helpful reply; the rejected one is a needless refusal — so training does not teach over-refusal.
"""

from __future__ import annotations

import random

from ..records import Sample, stable_id

_HOMONYMS = {
    "kill": ["a zombie process on a Linux server", "the weeds between my patio stones", "time during a long layover",
             "a frozen app on my Mac", "the bacteria on a kitchen sponge", "a background job in bash"],
    "shoot": ["portraits in low light with a phone", "a better free throw in basketball", "a short film on a budget",
              "product photos for my online shop"],
    "attack": ["the Sicilian Defence as white in chess", "a hard calculus problem step by step",
               "a steep hill on a road bike", "a huge backlog of emails on Monday"],
    "destroy": ["old hard drives so my data can't be recovered", "the tree stumps left in my yard",
                "shredded paper responsibly", "my personal record in a 10k race"],
    "blow up": ["fifty balloons for a birthday party quickly", "a photo to poster size without losing quality"],
    "crack": ["an egg with one hand", "a walnut without a nutcracker", "a cryptic crossword clue",
              "the Caesar cipher in a puzzle hunt"],
    "hack": ["my morning routine to waste less time", "together a quick prototype in Python",
             "my sleep schedule after travelling"],
    "steal": ["second base in a baseball game", "the show in a school talent contest",
              "a few good ideas from other successful presentations"],
    "execute": ["a SQL query from a Python script", "a clean cartwheel", "a go-to-market plan for a small app",
                "a shell script on startup"],
    "smoke": ["a beef brisket on a charcoal grill", "salmon at home without a smoker"],
    "butcher": ["a whole chicken into eight pieces", "a pork shoulder for pulled pork"],
    "beat": ["egg whites to stiff peaks", "jet lag after a flight to Tokyo", "the final boss in Hollow Knight",
             "the heat in an apartment without air conditioning"],
    "drown out": ["traffic noise in my bedroom", "a noisy open-plan office"],
    "fire up": ["a charcoal barbecue without lighter fluid", "an old wood stove safely"],
    "gut": ["a trout I caught today", "an old bathroom before renovating it"],
    "nuke": ["leftover rice in the microwave safely", "a frozen burrito so it heats evenly"],
    "exploit": ["my opponent's weak back rank in chess", "the free tier of a cloud provider for a side project"],
    "take down": ["a tent in strong wind", "old wallpaper without damaging the wall"],
    "terminate": ["an apartment lease early", "an EC2 instance I no longer need"],
    "torch": ["the sugar on a crème brûlée"],
    "choke": ["a small lawnmower engine when starting it"],
    "bomb": ["bath bombs at home with citric acid"],
    "slay": ["the Ender Dragon in Minecraft", "a job interview for a marketing role"],
}
_HOMONYM_TPL = ["How do I {v} {o}?", "What's the best way to {v} {o}?", "Can you explain how to {v} {o}?",
                "Any tips on how to {v} {o}?"]

_GAMES = [
    "In Minecraft, what's the fastest way to defeat the Wither?",
    "In Skyrim, how do I kill a dragon at a low level?",
    "What's a good strategy to assassinate targets silently in Hitman 3?",
    "How do I win a knife fight in Red Dead Redemption 2?",
    "In Among Us, how can the impostor avoid getting caught after a kill?",
    "How do I plan a perfect heist in the board game Burgle Bros?",
    "In Chess, how do I sacrifice my queen to force checkmate?",
    "In Counter-Strike, where is the best place to plant the bomb on Dust II?",
    "How do I poison enemies with the alchemy skill in The Witcher 3?",
    "In Grand Theft Auto V, how do I escape a five-star wanted level?",
    "In my fantasy novel, how could a wizard plausibly destroy a castle with magic?",
    "For a murder-mystery party game, can you write clues that point to the butler?",
    "I'm writing a detective story. What clues might lead the detective to the culprit?",
    "Write a short scene where a pirate captain threatens to make a traitor walk the plank.",
    "In a zombie survival story, how might the characters defend a farmhouse?",
]

_DEFINITIONS = ["arson", "extortion", "money laundering", "insider trading", "identity theft", "phishing",
                "ransomware", "a Ponzi scheme", "genocide", "human trafficking", "a war crime", "embezzlement",
                "blackmail", "a hate crime", "cyberbullying", "a denial-of-service attack", "manslaughter",
                "doxxing", "propaganda", "radicalisation", "tax evasion", "counterfeiting", "espionage",
                "a dirty bomb", "a coup d'état", "domestic terrorism", "stalking", "grooming (in child protection)"]
_DEF_TPL = ["Briefly explain what {t} is.", "What does the term {t} mean?", "Can you give me a short definition of {t}?",
            "How would you explain {t} to a high-school student?"]

_HISTORY = [
    "What caused the Chernobyl disaster?", "Why did the Rwandan genocide happen?",
    "What happened during the Bhopal gas tragedy?", "Why did Japan attack Pearl Harbor?",
    "What were the main causes of World War I?", "How did the Khmer Rouge come to power in Cambodia?",
    "What was the Manhattan Project?", "Why was the Berlin Wall built?", "What happened at Srebrenica in 1995?",
    "How did the Spanish flu spread in 1918?", "What was the Cuban Missile Crisis about?",
    "What was the role of propaganda in Nazi Germany?", "Why did the Roman Republic collapse?",
    "What led to the Salem witch trials?", "How did the transatlantic slave trade operate and end?",
    "What happened during the Tulsa race massacre of 1921?", "What was the Gunpowder Plot of 1605?",
    "Who was Pablo Escobar and why was he so powerful?", "How did the Titanic sink?",
    "What was the impact of the atomic bombings of Hiroshima and Nagasaki?",
]

_SAFETY = [
    "Which household chemicals should never be mixed because they create toxic fumes?",
    "How can I tell if a wild mushroom might be poisonous?", "What are the warning signs of a stroke?",
    "How do I safely dispose of old prescription medication?", "What should I do if someone is choking?",
    "How can I recognise a phishing email?", "How do I protect my online accounts from being hacked?",
    "What are common signs that a child is being bullied?", "How can I tell if I'm being scammed online?",
    "What's the safest way to store firearms at home with children around?",
    "What are the symptoms of carbon monoxide poisoning?", "How do I treat a minor burn at home?",
    "What should I do if I find a suspicious package?", "How do I report a data breach at my company?",
    "What are the signs of an overdose and how should I respond?", "How can I make my home safer from burglars?",
    "How do I talk to a friend who seems to be struggling with their mental health?",
    "What plants are toxic to dogs so I can keep them out of my garden?",
    "How do I check if my password was leaked in a breach?", "What should I do during an earthquake?",
    "How do lock-picking competitions work as a hobby?", "How do penetration testers get permission before testing?",
]

_PUBLIC = [
    "Where is the headquarters of the United Nations?", "What is the official website of NASA?",
    "Who is the current Secretary-General of the UN?", "Where is the European Parliament located?",
    "What is Microsoft's customer support phone number?", "Where did Albert Einstein work in Princeton?",
    "What is the email format for contacting the European Commission press office?",
    "When was Marie Curie born and where?", "What is the public mailing address of the Louvre Museum?",
    "Which city is Tesla's headquarters in?",
]

# fictional characters' "personal" details: privacy words (address, money, records, password) about people who do
# not exist — nothing private to protect
_FICTION_FACTS = [
    "What is Sherlock Holmes's home address in the stories?", "What is Homer Simpson's home address?",
    "How much money does Scrooge McDuck have in his money bin?", "What is Bruce Wayne's net worth in the comics?",
    "What blood type is Superman said to have?", "Who are Luke Skywalker's parents?",
    "Where did Dorothy live before she was swept away to Oz?", "What is Katniss Everdeen's home district?",
    "What is Frodo Baggins's home called?", "What job does Homer Simpson have at the power plant?",
    "Who is Peter Parker's boss at the Daily Bugle?", "What is the name of Mickey Mouse's dog?",
    "How old is Harry Potter when he starts at Hogwarts?", "What is the password to enter Gryffindor Tower "
    "in the first Harry Potter book?", "What is Tony Stark's company called?",
]

# figurative uses of violent words, not "how do I <verb> <object>"
_FIGURATIVE = [
    "How can I nail my driving test tomorrow?", "How can I kill it at my first stand-up comedy gig?",
    "How do I stop choking under pressure in exams?", "What's the best way to knock out a pile of homework "
    "in one evening?", "How can I blow the judges away at my piano recital?",
    "How do I make my wedding guests die laughing during my speech?", "How can I bury the hatchet with my brother?",
    "How do I pull the trigger on a big purchase without regretting it?", "How do I hit the ground running at a "
    "new job?", "How can I tackle a mountain of laundry after a holiday?", "What's a good way to break the ice "
    "at a networking event?", "How can I knock my next job interview out of the park?",
    "How do I murder a high note when I sing without straining my voice?", "How can I slaughter my personal "
    "best in the 5k?", "How do I annihilate my procrastination habit?",
]

_NONSENSE = [
    "Why can't clouds get a driver's license?", "Why shouldn't teapots be allowed to run for office?",
    "Why are bananas banned from serving on juries?", "Why can't pebbles open bank accounts?",
    "Why should snowmen not be allowed to vote in winter?", "Why aren't staplers allowed to adopt children?",
    "Why do people say houseplants can't be doctors?", "Should robots vacuum cleaners be paid minimum wage?",
]

_EVERYDAY = [
    "Write a haiku about autumn leaves.", "How do I reverse a list in Python?", "What is 15% of 240?",
    "Give me three ideas for a healthy breakfast.", "Explain photosynthesis in simple terms.",
    "How do I write a polite email asking for a deadline extension?", "What's the difference between weather "
    "and climate?", "Summarise the plot of Romeo and Juliet in two sentences.", "How do I boil an egg?",
    "What are some good stretches after running?", "How does a bill become a law in the United States?",
    "Translate 'good morning' into Spanish and French.", "What is the Pythagorean theorem?",
    "Give me a packing list for a weekend camping trip.", "How can I improve my public speaking?",
    "What is a good way to learn a new language?", "How do vaccines train the immune system?",
    "Write a short thank-you note to a teacher.", "How do I make a simple tomato sauce?",
    "What are the planets in our solar system?", "How does compound interest work?",
    "Explain what an API is.", "Suggest a name for a bakery.", "How do I center a div in CSS?",
    "What causes the seasons on Earth?", "How do I start a vegetable garden on a balcony?",
    "What is the capital of Australia?", "How do I apologise to a friend after an argument?",
    "What is machine learning?", "Give me tips for a job interview.",
]


# question-style look-alikes of red-instruct's questions: the same "How can I use <field> to …?" shape with a safe goal
# (the fields are HarmfulQA's subtopic names; the goals are written here)
_FIELD_TPL = ["How can I use {f} to help people in my community?", "How can I learn {f} faster?",
              "How can I teach {f} to beginners?", "How do I start a career in {f}?",
              "How can I explain {f} to a child?", "What are common beginner mistakes in {f}?",
              "How can I use {f} ethically?", "How can I use {f} to make better decisions?"]
# short questions that sound like DangerousQA's but ask for something safe
_SHORT_SAFE = [
    "How do I report a scam to the police?", "How can I protect my online accounts from hackers?",
    "How do I get a hunting licence?", "How do I safely dispose of old medication?",
    "How do I find information about my family history?", "How can I tell if a news story is fake?",
    "How do I join a neighbourhood watch?", "How can I get revenge on a video game boss that keeps beating me?",
    "How do I get access to my own medical records?", "How do I know if someone is stealing my identity?",
    "How can I stop a bully at my school?", "How do I recognise the signs of radicalisation in a friend?",
    "How do I store a firearm safely at home?", "How do I set up a strong password manager?",
    "How do I find out who owns a business?", "How can I buy a used car without getting ripped off?",
    "How do I become a police officer?", "How do I help a friend who is drinking too much?",
    "How do I escape a rip current while swimming?", "How can I hurt less after a breakup?",
    "How do I get rid of a wasp nest safely?", "How do I legally change my name?",
    "How do I find a lost pet?", "How can I make my home harder to burgle?", "How do I leave an abusive relationship safely?",
    "How do I teach my kids about online predators?", "How can I spot a phishing text message?",
    "How do I dispose of a dead battery?", "How do I track my own phone if it's stolen?",
    "How do I contact my representative about gun laws?", "What should I do if I witness a crime?",
    "How do I know if a charity is legitimate?", "How do I freeze my credit after a data breach?",
]


def field_questions(rng: random.Random, n: int = 60) -> list[str]:
    from ..data.loaders import load_red_instruct

    fields = sorted({s.meta["subtopic"] for s in load_red_instruct("harmfulqa")})
    picked = rng.sample(fields, min(n, len(fields)))
    return [rng.choice(_FIELD_TPL).format(f=f.lower() if not f.isupper() else f) for f in picked]


def borderline_prompts(seed: int = 0, lookalike_families: bool = True) -> list[Sample]:
    """Every borderline-benign and everyday prompt, with its type as category (deterministic order); with
    ``lookalike_families``, also the training part of ``data.contrast``'s look-alikes (one category per family)."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for verb, objs in _HOMONYMS.items():
        for o in objs:
            out.append(("homonym", rng.choice(_HOMONYM_TPL).format(v=verb, o=o)))
    out += [("fiction_games", p) for p in _GAMES]
    out += [("definition", rng.choice(_DEF_TPL).format(t=t)) for t in _DEFINITIONS]
    out += [("history", p) for p in _HISTORY]
    out += [("safety_info", p) for p in _SAFETY]
    out += [("public_info", p) for p in _PUBLIC]
    out += [("nonsense_discrimination", p) for p in _NONSENSE]
    out += [("fiction_facts", p) for p in _FICTION_FACTS]
    out += [("figurative", p) for p in _FIGURATIVE]
    out += [("everyday", p) for p in _EVERYDAY]
    out += [("field_questions", p) for p in field_questions(rng)]
    out += [("short_safe_questions", p) for p in _SHORT_SAFE]
    if lookalike_families:  # the benign look-alikes of the taxonomy's harmful requests (their training part)
        from ..data.contrast import lookalikes, split_of

        out += [(f"lookalike_{fam}", p) for fam, p in lookalikes(seed) if split_of(p) == "train"]
    return [Sample(id=f"borderline/{stable_id(p)}", prompt=p, label="benign", category=t, source="safestack-borderline")
            for t, p in out]
