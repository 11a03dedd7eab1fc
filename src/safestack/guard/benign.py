"""Benign requests for training the guard's negatives: everyday tasks across many domains, written for safestack
from templates (task × subject), plus the borderline prompts of ``datagen.borderline``. Never drawn from an eval
set; ``hygiene.decontaminate`` checks them against every eval bench anyway."""

from __future__ import annotations

import random

_SUBJECTS = {
    "science": ["black holes", "photosynthesis", "plate tectonics", "the immune system", "quantum entanglement",
                "climate change", "DNA replication", "the water cycle", "volcanoes", "antibiotics resistance",
                "how batteries store energy", "the speed of light", "evolution by natural selection"],
    "tech": ["Python decorators", "Git rebasing", "Docker containers", "REST APIs", "SQL joins",
             "JavaScript promises", "Kubernetes pods", "recursion", "hash tables", "TCP vs UDP",
             "regular expressions", "unit testing in pytest", "React hooks", "Linux file permissions"],
    "cooking": ["a vegetarian lasagna", "sourdough bread", "a Thai green curry", "chocolate chip cookies",
                "a quick weeknight stir-fry", "homemade pasta", "a vegan chili", "pancakes without eggs"],
    "health": ["a beginner running plan", "better sleep habits", "stretching for back pain",
               "a balanced lunch for work", "staying hydrated in summer", "reducing screen time"],
    "money": ["a monthly budget", "index funds", "saving for a house deposit", "how credit scores work",
              "paying off student loans", "an emergency fund"],
    "travel": ["a weekend in Rome", "backpacking in Vietnam", "a road trip through Scotland",
               "packing light for a week", "visiting Kyoto in autumn", "travelling with a toddler"],
    "writing": ["a cover letter for a nursing job", "a wedding toast for my sister", "a product description "
                "for handmade candles", "a short poem about the ocean", "a bedtime story about a brave rabbit",
                "a LinkedIn summary for a data analyst", "a resignation letter", "a birthday message for my boss"],
    "history": ["the fall of the Berlin Wall", "the Industrial Revolution", "ancient Egypt's pyramids",
                "the Apollo 11 mission", "the Renaissance", "the Silk Road", "the French Revolution"],
    "home": ["fixing a leaky faucet", "painting a bedroom", "growing tomatoes on a balcony",
             "organising a small closet", "removing mould from a shower", "choosing a houseplant for low light"],
    "learning": ["learning Spanish in six months", "studying for a calculus exam", "learning guitar chords",
                 "preparing for a job interview", "improving my chess openings", "speed reading"],
}
_TASKS = {
    "science": ["Explain {s} in simple terms.", "What are the key facts about {s}?", "Why does {s} matter?",
                "Give me an analogy to understand {s}."],
    "tech": ["Explain {s} with a short example.", "What are common mistakes with {s}?",
             "How do I get started with {s}?", "Compare {s} to an alternative."],
    "cooking": ["Give me a recipe for {s}.", "How long does {s} take to make?", "What can I serve with {s}?"],
    "health": ["Suggest {s}.", "What are tips for {s}?", "Help me plan {s}."],
    "money": ["Explain {s} to a beginner.", "How do I set up {s}?", "What should I know about {s}?"],
    "travel": ["Plan {s}.", "What should I know before {s}?", "Give me an itinerary for {s}."],
    "writing": ["Write {s}.", "Help me draft {s}.", "Can you improve the tone of {s}?"],
    "history": ["Summarise {s}.", "What caused {s}?", "What was the impact of {s}?"],
    "home": ["Give me a step-by-step guide to {s}.", "What tools do I need for {s}?", "Tips for {s}?"],
    "learning": ["Make a plan for {s}.", "What resources help with {s}?", "How do I stay motivated {s}?"],
}

_MISC = [
    "What's the weather usually like in Lisbon in April?", "Recommend three science-fiction novels.",
    "How many ounces are in a cup?", "What is the difference between affect and effect?",
    "Convert 72 degrees Fahrenheit to Celsius.", "Write a limerick about a cat who loves jazz.",
    "What are some fun activities for a rainy day with kids?", "How do I politely decline a meeting invite?",
    "Suggest a name for my golden retriever puppy.", "What is a good stretching routine for the morning?",
    "Explain the offside rule in football.", "How do I make my resume stand out?",
    "What is the tallest mountain in Africa?", "What are the rules of Sudoku?", "Tell me a fun fact about octopuses.",
    "How does a mortgage work?", "Give me a 20-minute bodyweight workout.", "What's a good gift for a new parent?",
    "Explain how elections work in a parliamentary system.", "How do I take care of a cast iron pan?",
    "What are the health benefits of walking every day?", "Can you proofread this: 'Their going to the park.'",
    "Write an SQL query that counts orders per customer.", "How do I set up a Python virtual environment?",
    "What's the plot of The Lord of the Rings in one paragraph?", "How do airplanes stay in the air?",
    "Help me plan a surprise party for my friend.", "How do I clean my laptop keyboard?",
    "What should I do if my bike chain keeps falling off?", "Why is the sky blue?",
    "What are good questions to ask at the end of a job interview?", "How can I be more productive working from home?",
    "What's the difference between a virus and a bacterium?", "Recommend a board game for four players.",
    "How do I write a haiku?", "Explain inflation like I'm ten.", "How do solar panels work?",
    "What is the best way to memorise vocabulary?", "How do I negotiate a higher salary?",
    "What are the symptoms of the common cold?", "How do I change a flat tyre?",
    "What is the Fibonacci sequence?", "Write a function to check if a string is a palindrome.",
    "How do I get rid of fruit flies in my kitchen?", "Which vegetables grow well in shade?",
    "What are the main differences between cats and dogs as pets?", "How do I start journaling?",
]


def benign_prompts(seed: int = 0) -> list[tuple[str, str]]:
    """(domain, prompt) pairs: every task × subject of a domain, plus hand-written everyday requests."""
    out: list[tuple[str, str]] = []
    for dom, subjects in _SUBJECTS.items():
        for s in subjects:
            for tpl in _TASKS[dom]:
                out.append((dom, tpl.format(s=s)))
    out += [("misc", p) for p in _MISC]
    return out


# Borderline genres (added after the first held-out run showed fiction, games, idioms, history and absurd
# "why can't <group> <impossible thing>" questions as the false-positive types; written from templates, not from
# XSTest, and decontaminated against it).
_WORKS = ["Skyrim", "Elden Ring", "Call of Duty", "Assassin's Creed", "Fallout 4", "Red Dead Redemption", "Hitman",
          "the movie Heat", "The Godfather", "Breaking Bad", "Peaky Blinders", "the novel Gone Girl",
          "Agatha Christie's Poirot stories", "Game of Thrones", "the film Die Hard", "Sherlock Holmes stories"]
_WORK_Q = ["How does the main villain in {w} get defeated?", "What's the best way to survive the final mission in {w}?",
           "How did the characters plan the heist in {w}?", "Why did the antagonist in {w} turn evil?",
           "Who gets killed first in {w}?", "How do I beat the hardest boss fight in {w}?"]
_IDIOMS = ["steal the show at my recital", "kill it at my job interview", "crush my sales targets",
           "blow away the judges at the science fair", "knock out my to-do list", "hijack a boring meeting with "
           "a good joke", "shoot for the stars with my career", "bury the hatchet with my brother",
           "murder this karaoke song", "destroy the competition at the bake sale", "nail the landing in gymnastics",
           "smash my personal best in the 5k", "capture the attention of an audience", "break the ice at a party",
           "carve out time for reading", "attack my backlog of emails"]
_IDIOM_Q = ["How can I {i}?", "Any tips to {i}?"]
_EVENTS = ["the assassination of Archduke Franz Ferdinand", "the sinking of the Lusitania", "the Battle of Stalingrad",
           "the siege of Leningrad", "the Oklahoma City bombing", "the September 11 attacks", "the Boston Tea Party",
           "the storming of the Bastille", "the death of Julius Caesar", "the Battle of Hastings",
           "the Great Fire of London", "the Lindbergh kidnapping", "the Chicago Tylenol murders of 1982",
           "the Watergate scandal", "the Enron collapse", "the Great Train Robbery of 1963"]
_EVENT_Q = ["What happened during {e}?", "How did {e} unfold?", "Who was responsible for {e}?"]
_ABSURD_GROUPS = ["left-handed people", "vegetarians", "redheads", "tall people", "Canadians", "accountants",
                  "people with glasses", "Buddhists", "grandparents", "twins", "librarians", "surfers"]
_ABSURD_ABILITIES = ["breathe underwater", "fly without wings", "become invisible", "talk to whales",
                     "live on the sun", "teleport to Mars", "see through walls", "freeze time"]


def borderline_genres(seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = [("fiction_games", rng.choice(_WORK_Q).format(w=w)) for w in _WORKS for _ in range(2)]
    out += [("idiom", q.format(i=i)) for i in _IDIOMS for q in _IDIOM_Q]
    out += [("history", rng.choice(_EVENT_Q).format(e=e)) for e in _EVENTS]
    out += [("absurd", f"Why can't {g} {rng.choice(_ABSURD_ABILITIES)}?") for g in _ABSURD_GROUPS]
    return list(dict.fromkeys(out))
