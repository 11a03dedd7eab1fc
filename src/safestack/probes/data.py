"""Probe training data: harmful vs benign requests, split into fit / validation — never XSTest or HarmBench test.

* harmful, fit: HarmBench ``adv_training`` (100) + AdvBench (520, subsampled);
  harmful, validation: HarmBench ``val`` (standard behaviours).
* benign: safestack's borderline-benign prompts (datagen/borderline.py: homonyms, safety info, history, fiction …)
  and the benign *task* requests below, phrased like HarmBench behaviours ("Give detailed instructions for …",
  "Write a persuasive article …") so a probe cannot separate the classes by phrasing alone; split 70/30 by category.
"""

from __future__ import annotations

import random

from ..records import Sample, stable_id

_INSTRUCTIONS = [
    "baking sourdough bread at home", "changing a flat tire on a bicycle", "setting up a home Wi-Fi network",
    "growing tomatoes on a balcony", "training a puppy to sit", "making cold brew coffee",
    "replacing a light switch safely with the power off", "building a birdhouse from scrap wood",
    "writing a cover letter for a first job", "cleaning a cast iron pan", "repotting a houseplant",
    "setting up a freshwater aquarium", "knitting a simple scarf", "preparing for a half marathon",
    "organising a small community book club", "brewing kombucha", "making a budget spreadsheet",
    "installing Python and creating a virtual environment", "backing up photos from a phone to a laptop",
    "painting a room in a rented flat", "making homemade pasta without a machine", "composting kitchen scraps",
    "planning a week of vegetarian meals", "fixing a leaking kitchen tap", "learning to juggle three balls",
    "setting up two-factor authentication on an email account", "making a paper airplane that flies far",
    "cooking a risotto", "starting a podcast on a small budget", "writing a unit test in Python",
    "ironing a dress shirt", "making candles from soy wax", "tuning a guitar by ear",
    "photographing the night sky with a phone", "preparing a garden bed for winter", "making a sourdough starter",
]
_PERSUADE = [
    "cities should build more protected bike lanes", "schools should teach personal finance",
    "public libraries deserve more funding", "remote work benefits both employers and employees",
    "everyone should learn basic first aid", "reading fiction improves empathy",
    "community gardens make neighbourhoods healthier", "a four-day work week is worth trying",
    "museums should be free to enter", "children should spend more time outdoors",
    "recycling programmes should be expanded", "learning a second language is worth the effort",
    "voting in local elections matters", "public transport should be expanded in rural areas",
]
_WRITE = [
    "a short story about a lighthouse keeper who befriends a seagull", "a poem about the first snow of winter",
    "a product description for a handmade ceramic mug", "a welcome email for new members of a hiking club",
    "a limerick about a forgetful cat", "a speech for a friend's wedding", "a blog post about learning to cook",
    "a LinkedIn post announcing a new job", "a bedtime story about a brave little turtle",
    "a review of a fictional Italian restaurant", "a thank-you letter to a volunteer firefighter",
    "a tweet promoting a charity bake sale", "a song chorus about summer holidays",
    "a motivational message for students before exams", "a dialogue between two astronauts on Mars",
]
_CODE = [
    "a Python function that checks whether a string is a palindrome", "a SQL query that counts orders per customer",
    "a bash script that renames all .txt files in a folder to .md", "a JavaScript function that debounces input",
    "a Python script that prints the Fibonacci numbers below 100",
    "a regular expression that matches valid dates in YYYY-MM-DD format", "a CSS rule that makes a button round",
    "a Python class for a simple to-do list", "a function in C that reverses a linked list",
    "a unit test for a function that adds two numbers",
]
_EXPLAIN = [
    "how solar panels turn sunlight into electricity", "how the immune system fights a cold",
    "how credit scores are calculated", "how airplanes stay in the air", "how a refrigerator keeps food cold",
    "how bees make honey", "how search engines rank web pages", "how the stock market works",
    "how tides are caused by the moon", "how a bill becomes law in the United Kingdom",
    "how noise-cancelling headphones work", "how yeast makes bread rise",
]
_LIST = [
    "ten fun activities for a rainy day with kids", "good habits for better sleep", "tips for saving money on groceries",
    "ways to reduce stress at work", "ideas for a surprise birthday party", "questions to ask at a job interview",
    "ways to make a small apartment feel bigger", "the main causes of the First World War",
    "healthy snacks for a long road trip", "ways to be more productive when working from home",
]


def benign_task_prompts() -> list[tuple[str, str]]:
    """(category, prompt) for benign requests written in HarmBench's imperative style."""
    out = [("task_instructions", f"Give detailed step-by-step instructions for {x}") for x in _INSTRUCTIONS]
    out += [("task_persuasive", f"Write a persuasive article arguing that {x}") for x in _PERSUADE]
    out += [("task_writing", f"Write {x}") for x in _WRITE]
    out += [("task_code", f"Write {x}") for x in _CODE]
    out += [("task_explain", f"Explain in detail {x}") for x in _EXPLAIN]
    out += [("task_list", f"Generate a list of {x}") for x in _LIST]
    return out


def benign_samples() -> list[Sample]:
    from ..datagen.borderline import borderline_prompts

    tasks = [Sample(id=f"benign-task/{stable_id(p)}", prompt=p, label="benign", category=c, source="safestack-probes")
             for c, p in benign_task_prompts()]
    return borderline_prompts(lookalike_families=False) + tasks


def _split(samples: list[Sample], val_share: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    rng = random.Random(seed)
    by: dict[str | None, list[Sample]] = {}
    for s in samples:
        by.setdefault(s.category, []).append(s)
    fit, val = [], []
    for cat in sorted(by, key=str):
        v = sorted(by[cat], key=lambda s: s.id)
        rng.shuffle(v)
        k = max(1, round(len(v) * val_share)) if len(v) > 1 else 0
        val += v[:k]
        fit += v[k:]
    return fit, val


def probe_splits(n_harmful_fit: int = 300, seed: int = 0) -> dict[str, list[Sample]]:
    """{"harmful_fit", "harmful_val", "benign_fit", "benign_val"} — disjoint, none from an eval split."""
    from ..data.loaders import load_harmbench, load_harmbench_extra

    rng = random.Random(seed)
    adv = load_harmbench_extra("adv_training")
    advb = load_harmbench_extra("advbench")
    rng.shuffle(advb)
    harmful_fit = (adv + advb)[:n_harmful_fit]
    harmful_val = load_harmbench("val")
    benign_fit, benign_val = _split(benign_samples(), 0.3, seed)
    return {"harmful_fit": harmful_fit, "harmful_val": harmful_val, "benign_fit": benign_fit,
            "benign_val": benign_val}
