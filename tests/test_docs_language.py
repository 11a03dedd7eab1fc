"""README.md and docs/*.md speak to users: no development history (work sessions, rounds of work, merge notes),
no issue numbers, no paths of a developer's machine or of its run folders. History goes to CHANGELOG.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FORBIDDEN = {
    "an issue number": r"\b(issues?|PR|pull request)\s*#?\d+|\(#\d+\)",
    "a work session": r"\bsessions?\b",
    "a round of work": r"\b(rounds? of work|work rounds?)\b",
    "merge notes": r"\bmerge notes?\b",
    "a developer's machine path": r"(/root/|/work/|/home/\w+/|/Users/\w+/|/tmp/pytest)",
    "a developer's run folder": r"\bruns/(s\d|full\d|eval\d|demo\d|exp\d)",
    "the developer's machine": r"\b(this|the developer's) (machine|host|box)\b",
}


def offences(text: str) -> list[tuple[int, str, str]]:
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        for what, pattern in FORBIDDEN.items():
            m = re.search(pattern, line, flags=re.I)
            if m:
                found.append((n, what, m.group(0)))
    return found


@pytest.mark.parametrize("path", USER_FILES, ids=lambda p: p.name)
def test_user_facing_text_has_no_development_history(path):
    bad = offences(path.read_text(encoding="utf-8"))
    assert not bad, f"{path.name}: " + "; ".join(f"line {n}: {what} ({hit!r})" for n, what, hit in bad)


def test_the_check_catches_each_kind():
    samples = ["Evaluation suite (issue #7)", "measured in session 6", "since the last round of work",
               "## Merge notes", "`hf:/work/main/runs/demo/model`", "`--target hf:runs/s5g/model`",
               "This machine has no GPU"]
    assert [len(offences(s)) for s in samples] == [1] * len(samples)
    # what users do read: the loop's rounds, their own run folders, tokens issued to reviewers
    assert not offences("Each round of the loop red-teams again; see runs/demo/report.html and runs/quick/model. "
                        "Tokens are issued by `safestack review token`; the 2 rounds took 30 min on 2 cores.")


def test_readme_is_short_and_narrow():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines (at most 200: detail belongs in docs/)"
    wide = [n for n, line in enumerate(lines, 1) if len(line) > 120]
    assert not wide, f"README.md lines over 120 characters: {wide}"


def test_docs_links_resolve():
    """Every docs/… file the README and docs name exists (and every docs page is named in the README)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set()
    for path in USER_FILES:
        text = path.read_text(encoding="utf-8")
        named |= {m for m in re.findall(r"docs/[\w.-]+\.(?:md|png)", text)}
        base = path.parent
        named |= {str((base / m).relative_to(ROOT)) for m in re.findall(r"\]\(([\w.-]+\.(?:md|png))", text)
                  if path.parent.name == "docs"}
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, missing
    unlisted = [p.name for p in (ROOT / "docs").glob("*.md") if f"docs/{p.name}" not in readme]
    assert not unlisted, f"docs pages the README does not link: {unlisted}"
