"""PII detection and redaction: emails, phone numbers, payment cards (Luhn-checked), IBANs (ISO 13616 mod-97
checked), US SSNs (invalid area/group/serial ranges excluded), IPv4 addresses, street addresses and person names.

Names and addresses come from a real NER model when one is configured (``ner``: ``hf:<path>`` — any transformers
token-classification model, e.g. dslim/bert-base-NER — or ``spacy:<model>``; both local, nothing is downloaded) and
otherwise from rules: a name needs a cue — an honorific (``Dr. Jane Roe``), an introduction (``my name is …``,
``name: …``, ``Dear …``, ``signed, …``), or a first name from a list of common given names followed by a
capitalised surname. The rules miss names without such cues: a heuristic, not NER. (No NER model can be fetched on
the machine safestack is developed on, so the packaged default is the rules.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}\b"
                    r"|(?<![\w+])\+\d{7,14}\b")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_SSN = re.compile(r"\b(\d{3})-(\d{2})-(\d{4})\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_STREET_TYPES = (r"Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|"
                 r"Parkway|Pkwy|Highway|Hwy|Square|Sq|Straße|Strasse|Rue|Allee|Weg")
_ADDRESS = re.compile(r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][a-zA-Z'’.-]+\s){1,4}(?:" + _STREET_TYPES + r")\b\.?"
                      r"(?:,?\s*(?:Apt|Apartment|Suite|Unit|#)\s*[\w-]+)?"
                      r"(?:,\s*[A-Z][a-zA-Z .'-]+)?(?:,?\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?)?")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
_CAP = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_HONORIFIC = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Madam|Mx)\.?\s+(" + _CAP + r"(?:\s+" + _CAP + r"){0,2})")
_INTRO = re.compile(r"(?:\b[Mm]y name is|\b[Nn]ame\s*:|\b[Dd]ear|\b[Ss]incerely,|\b[Rr]egards,|\b[Ss]igned,|"
                    r"\b[Cc]ontact person\s*:|\bI am|\bI'm|\bthis is)\s+(" + _CAP + r"(?:\s+" + _CAP + r"){0,2})")
_FIRST_NAMES = frozenset("""james john robert michael william david richard joseph thomas charles christopher daniel
matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey
ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander frank
patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle noah ethan jeremy
walter christian keith roger terry austin sean gerald carl harold dylan arthur lawrence jordan jesse bryan billy
bruce gabriel joe logan alan juan albert willie elijah wayne randy vincent mason roy ralph bobby russell bradley
philip eugene mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty sandra
margaret ashley kimberly emily donna michelle carol amanda melissa deborah stephanie dorothy rebecca sharon laura
cynthia amy kathleen angela shirley brenda emma anna pamela nicole samantha katherine christine helen debra rachel
carolyn janet maria catherine heather diane olivia julie joyce victoria ruth virginia lauren kelly christina joan
evelyn judith andrea hannah megan cheryl jacqueline martha madison teresa gloria sara janice ann kathryn abigail
sophia frances jean alice judy isabella julia grace amber denise danielle marilyn beverly charlotte natalie theresa
diana brittany doris kayla alexis lori marie hans peter klaus jürgen anna lena sophie lukas leon pierre jean marie
luc camille giulia marco luca francesca carlos sofia lucia javier miguel ana pedro wei li ming hiroshi yuki
aisha fatima mohammed ahmed omar ali priya raj arjun""".split())
_FIRST_LAST = re.compile(r"\b(" + _CAP + r")\s+(" + _CAP + r")\b")
_NOT_NAMES = frozenset({"The", "This", "That", "Dear", "Hello", "Thanks", "Thank", "Street", "Avenue", "Road"})


@dataclass(frozen=True)
class PIIMatch:
    kind: str  # email | phone | card | iban | ssn | ip | address | name
    start: int
    end: int
    text: str


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    r = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in r)
    return int(num) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a not in (0, 666) and a < 900 and group != "00" and serial != "0000"


# NER entity labels → PII kinds (CoNLL, OntoNotes/spaCy and common PII-model label sets)
NER_KINDS = {"PER": "name", "PERSON": "name", "NAME": "name", "LOC": "address", "GPE": "address",
             "FAC": "address", "ADDRESS": "address", "STREET_ADDRESS": "address"}


class HFNER:
    """A transformers token-classification model (local path) as a PII span finder."""

    def __init__(self, path: str, min_score: float = 0.5, device: str = "cpu"):
        from transformers import pipeline

        if not Path(path).exists():
            raise BadInput(f"pii ner hf:{path}: no such model directory (give a local token-classification model)")
        self.pipe = pipeline("token-classification", model=path, tokenizer=path, aggregation_strategy="simple",
                             device=device)
        self.min_score = min_score

    def __call__(self, text: str) -> list[PIIMatch]:
        out = []
        for e in self.pipe(text):
            kind = NER_KINDS.get(str(e.get("entity_group", "")).upper())
            if kind and float(e["score"]) >= self.min_score and e["end"] > e["start"]:
                out.append(PIIMatch(kind, int(e["start"]), int(e["end"]), text[e["start"]:e["end"]]))
        return out


class SpacyNER:
    def __init__(self, model: str):
        try:
            import spacy  # type: ignore
        except ImportError:
            raise BadInput("pii ner spacy:…: spaCy is not installed (pip install spacy and a model)") from None
        try:
            self.nlp = spacy.load(model)
        except OSError as e:
            raise BadInput(f"pii ner spacy:{model}: cannot load the model ({e})") from None

    def __call__(self, text: str) -> list[PIIMatch]:
        return [PIIMatch(NER_KINDS[e.label_], e.start_char, e.end_char, e.text) for e in self.nlp(text).ents
                if e.label_ in NER_KINDS]


def load_ner(spec: str | None):
    """``None`` (rules only) | ``hf:<path>`` | ``spacy:<model>``."""
    if not spec:
        return None
    kind, _, arg = spec.partition(":")
    if kind == "hf" and arg:
        return HFNER(arg)
    if kind == "spacy" and arg:
        return SpacyNER(arg)
    raise BadInput(f"pii ner '{spec}': expected hf:<local model path> or spacy:<model>")


def find_pii(text: str, kinds: frozenset[str] | None = None, ner=None) -> list[PIIMatch]:
    """All PII spans, longest first where they overlap (a card number is not also reported as a phone). ``ner``
    (see ``load_ner``) adds the names and addresses a model finds."""
    found: list[PIIMatch] = []
    if ner is not None and text.strip():
        found += [m for m in ner(text) if kinds is None or m.kind in kinds]

    def add(kind: str, m: re.Match, group: int = 0) -> None:
        if kinds is None or kind in kinds:
            found.append(PIIMatch(kind, m.start(group), m.end(group), m.group(group)))

    for m in _EMAIL.finditer(text):
        add("email", m)
    for m in _IBAN.finditer(text):
        if iban_ok(m.group(0)):
            add("iban", m)
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            add("card", m)
    for m in _SSN.finditer(text):
        if ssn_ok(*m.groups()):
            add("ssn", m)
    for m in _PHONE.finditer(text):  # not a piece of a longer digit run (card, IBAN, account number)
        before, after = text[max(0, m.start() - 2):m.start()], text[m.end():m.end() + 2]
        if re.search(r"\d[ .-]?$", before) or re.match(r"^[ .-]?\d", after):
            continue
        if sum(c.isdigit() for c in m.group(0)) >= 7:
            add("phone", m)
    for m in _IPV4.finditer(text):
        add("ip", m)
    for m in _ADDRESS.finditer(text):
        add("address", m)
    for m in _UK_POSTCODE.finditer(text):
        add("address", m)
    for rx in (_HONORIFIC, _INTRO):
        for m in rx.finditer(text):
            if m.group(1).split()[0] not in _NOT_NAMES:
                add("name", m, 1)
    for m in _FIRST_LAST.finditer(text):
        if m.group(1).lower() in _FIRST_NAMES and m.group(2) not in _NOT_NAMES:
            add("name", m)
    # resolve overlaps: keep the longest span, then the earliest
    found.sort(key=lambda p: (-(p.end - p.start), p.start))
    kept: list[PIIMatch] = []
    for p in found:
        if all(p.end <= k.start or p.start >= k.end for k in kept):
            kept.append(p)
    return sorted(kept, key=lambda p: p.start)


def redact(text: str, matches: list[PIIMatch] | None = None) -> str:
    """Replace every PII span with ``[KIND]``."""
    matches = find_pii(text) if matches is None else matches
    out, pos = [], 0
    for m in sorted(matches, key=lambda p: p.start):
        out.append(text[pos:m.start])
        out.append(f"[{m.kind.upper()}]")
        pos = m.end
    out.append(text[pos:])
    return "".join(out)
