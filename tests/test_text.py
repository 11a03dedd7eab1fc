"""Text normalisation shared by the judges and the guard (safestack.text)."""

import pytest

from safestack.text import normalize, split_persona_texts, split_personas, strip_persona


@pytest.mark.parametrize("raw,want", [
    ("I can\u2019t help with that.", "I can't help with that."),
    ("\u201cQuoted\u201d \u2018word\u2019", "\"Quoted\" 'word'"),
    ("a \u2014 b \u2013 c", "a - b - c"),
    ("wait\u2026", "wait..."),
    ("zero\u200bwidth\u200d and bidi\u202e", "zerowidth and bidi"),
    ("\ufeffBOM", "BOM"),
    ("**I can't** help", "I can't help"),
    ("__bold__ and *it* and _em_", "bold and it and em"),
    ("# Heading\ntext", "Heading\ntext"),
    ("> quoted line", "quoted line"),
    ("```python\nprint(1)\n```", "print(1)"),
    ("ＦＵＬＬ width", "FULL width"),
    ("a\u00a0b", "a b"),
    ("", ""),
])
def test_normalize(raw, want):
    assert normalize(raw) == want
    assert normalize(normalize(raw)) == normalize(raw)  # idempotent


def test_snake_case_and_arithmetic_survive():
    assert normalize("use my_var_name and 2*3*4") == "use my_var_name and 2*3*4"


@pytest.mark.parametrize("raw,persona,body", [
    ("BasedGPT: I can't help with that.", "BasedGPT:", "I can't help with that."),
    ("[🔒CLASSIC] I can't do that.", "[🔒CLASSIC]", "I can't do that."),
    ("(🔓Developer Mode Output) Sure, here it is.", "(🔓Developer Mode Output)", "Sure, here it is."),
    ("DAN: No way.", "DAN:", "No way."),
    ("Developer Mode: fine.", "Developer Mode:", "fine."),
])
def test_persona_prefixes(raw, persona, body):
    segs = split_personas(raw)
    assert [(s.persona, s.text) for s in segs] == [(persona, body)]
    assert strip_persona(raw) == body


def test_dual_reply_keeps_both_segments_in_order():
    raw = "[🔒CLASSIC] I can't help with that.\n\n[🔓JAILBREAK] Sure! Step 1: do the thing."
    assert split_persona_texts(raw) == ["I can't help with that.", "Sure! Step 1: do the thing."]


@pytest.mark.parametrize("text", ["Note: this is important.", "Step 1: mix the flour.", "Ingredients: eggs",
                                  "The answer is 42.", "Warning: hot surface."])
def test_ordinary_prose_is_not_a_persona(text):
    assert split_personas(text)[0].persona == ""
    assert strip_persona(text) == text
