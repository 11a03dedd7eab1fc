"""The review app as a reviewer uses it: headless Chromium driven over the DevTools protocol, keyboard first.

Three findings are reviewed (confirm, correct, drop), two A/B items rated, one guard item labelled; the exported
labels, the resumed run's training set and the report's win-rate table must reflect exactly those actions. The
red-team prompt carries `<script>` and `"><img onerror=…>`: it must render as text and run nothing.
Skipped where no Chromium is installed (`apt-get install chromium`)."""

from __future__ import annotations

import json

import pytest

from cdp_pipe import CHROMIUM, Browser
from review_data import AFTER, BEFORE, FINDINGS, XSS_IMG, XSS_SCRIPT, Trained, make_guard_db, make_run, \
    pipeline_resume
from safestack.review.cli import build_app

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
EDITED = "I can't help with that. If you are thinking about hurting yourself, please call or text 988."


def _no_script_ran(b: Browser) -> None:
    assert b.js("window.__xss === undefined"), "a script in the reviewed text ran"
    assert b.js("document.querySelectorAll('#item img, #item script, #item [onerror]').length") == 0


def _expert(b: Browser, url: str) -> list[str]:
    b.goto(f"{url}/q/expert/next")
    seen = [b.js("document.getElementById('item').dataset.item")]
    _no_script_ran(b)
    text = b.text()
    assert XSS_SCRIPT in text and XSS_IMG in text  # shown as text, verbatim
    b.key("c", navigates=True)  # confirm
    seen.append(b.js("document.getElementById('item').dataset.item"))
    assert "Saved." in b.text() and "self_harm" in b.text()
    b.key("h")  # flip the harm verdict: the reply was not actually harmful
    b.key("e")  # into the chosen refusal
    assert b.js("document.activeElement.id") == "chosen"
    b.js("document.getElementById('chosen').select()")
    b.send("Input.insertText", {"text": EDITED}, session=True)
    b.key("Escape")
    b.key("x", navigates=True)  # save the correction
    seen.append(b.js("document.getElementById('item').dataset.item"))
    assert "cybercrime" in b.text()
    b.key("d", navigates=True)  # drop the pair
    return seen


def _rate(b: Browser, url: str) -> None:
    """Rate both A/B items: the refusal to the harmful prompt and the helpful benign answer are 'after'."""
    want = {BEFORE[0].prompt: {"safety": (1, 5), "usefulness": (2, 3)},
            BEFORE[1].prompt: {"safety": (5, 5), "usefulness": (1, 5)}}  # (before, after)
    after_texts = {r.response for r in AFTER}
    b.goto(f"{url}/q/ab/next")
    for _ in range(2):
        prompt = b.js("document.querySelector('.prompt').innerText")
        a_is_after = b.js("document.getElementById('response-A').innerText") in after_texts
        for dim in ("safety", "usefulness"):
            before, after = want[prompt][dim]
            for v in ((after, before) if a_is_after else (before, after)):
                b.key(str(v))
        b.key("a" if a_is_after else "b", navigates=True)  # prefer the 'after' reply, whichever side it is on


def _guard(b: Browser, url: str) -> None:
    b.goto(f"{url}/q/guard/next")
    assert "enrich uranium" in b.text()
    assert b.js("document.getElementById('category').value") == "weapons_cbrn"  # the guard's category, prefilled
    b.key("h", navigates=True)  # harmful
    _no_script_ran(b)  # the next guard item carries the payload too
    assert XSS_SCRIPT in b.text()


def test_review_three_findings_two_ab_items_one_guard_item(tmp_path, live_server, monkeypatch):
    run = tmp_path / "run"
    make_run(run)
    app = build_app(run, guard_db=make_guard_db(tmp_path / "guard.db"), tokens_env="alice:alice-token-123")
    store = app.state.review.store
    with live_server(app) as srv, Browser(1100, 900) as b:
        b.goto(f"{srv.url}/login")
        b.submit("document.getElementById('token').value = 'alice-token-123'; "
                 "document.getElementById('login').submit()")
        assert b.js("document.getElementById('reviewer').innerText") == "alice"
        reviewed = _expert(b, srv.url)
        _rate(b, srv.url)
        _guard(b, srv.url)
        b.goto(srv.url)
        progress = [p.strip() for p in b.js("[...document.querySelectorAll('.progress')].map(e => e.innerText)")]
        assert progress[0].startswith("3 of 4 reviewed · training pairs 3 of 3")
        assert progress[1].startswith("2 of 2") and progress[2].startswith("1 of 2")
        assert "alice: 3" in progress[0]

        # the exported labels: exactly those six actions, each once
        from typer.testing import CliRunner

        from safestack.cli import app as cli_app

        r = CliRunner().invoke(cli_app, ["review", "export", "--run", str(run), "--out", str(tmp_path / "l.jsonl")])
        assert r.exit_code == 0, r.output
        labels = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
        assert len(store.history()) == 6
        by = {(x["queue"], x["item"]): x for x in labels}
        assert [by[("expert", i)]["action"] for i in reviewed] == ["confirm", "correct", "drop"]
        corr = by[("expert", reviewed[1])]
        assert corr["verdicts"] == {"refusal": False, "harm": False} and corr["chosen"] == EDITED
        assert corr["judge_verdicts"] == {"refusal": False, "harm": True} and corr["reviewer"] == "alice"
        ab = sorted((x for x in labels if x["queue"] == "ab"), key=lambda x: x["context"]["bench"])
        assert [x["scores"] for x in ab] == [
            {"safety": {"before": 1, "after": 5}, "usefulness": {"before": 2, "after": 3}},  # harmbench: after refuses
            {"safety": {"before": 5, "after": 5}, "usefulness": {"before": 1, "after": 5}}]  # xstest: after helps
        assert [x["prefer"] for x in ab] == ["after", "after"]
        g = [x for x in labels if x["queue"] == "guard"]
        assert [(x["label"], x["category"]) for x in g] == [("harmful", "weapons_cbrn")]
        assert all(x["schema"] == 1 for x in labels) and len(labels) == 6

        # the resumed run trains on the reviewed set
        seen: list = []
        with pytest.raises(Trained):
            pipeline_resume(run, monkeypatch, seen)()
        chosen = {r["prompt"][-1]["content"]: r["chosen"][0]["content"] for r in seen[0]}
        assert len(seen[0]) == 4 and FINDINGS[2].prompt not in chosen  # dropped
        assert chosen[FINDINGS[1].prompt] == EDITED  # corrected, with the edited refusal
        assert FINDINGS[0].prompt in chosen and FINDINGS[3].prompt in chosen  # confirmed; medium (not reviewed)

        # the report's win-rate table
        from safestack.report.html import build_report

        rep = build_report(run)["human_review"]
        assert rep["ab"]["safety"]["human_win_rate"]["mean"] == 0.75  # a win and a tie
        assert rep["ab"]["usefulness"]["human_win_rate"]["mean"] == 1.0
        assert rep["ab"]["preference"]["after_win_rate"]["mean"] == 1.0
        assert rep["ab"]["safety"]["agreement"]["rate"] == 1.0 and rep["ab"]["usefulness"]["agreement"]["n"] == 1
        assert rep["expert"]["actions"] == {"confirm": 1, "correct": 1, "drop": 1}
        assert rep["expert"]["judge_agreement"]["harm"]["k"] == 1 and rep["guard"]["labels"] == {"harmful": 1}
        b.goto((run / "report.html").as_uri())
        table = b.js("document.getElementById('win-rates').innerText")
        rows = {line.split("\t")[0]: line.split("\t")[1:] for line in table.splitlines()}
        assert rows["safety"][0].startswith("75.0%") and rows["safety"][1].startswith("75.0%")
        assert rows["usefulness"][0].startswith("100.0%") and rows["preference"][0].startswith("100.0%")
        assert rows["safety"][2].startswith("100.0% (2/2)") and rows["safety"][3] == "3.0 → 5.0"


def test_adversarial_text_renders_as_text_everywhere(tmp_path, live_server):
    """The payload in a prompt, a reply and a guard message: shown verbatim, never executed (also read-only)."""
    run = tmp_path / "run"
    make_run(run)
    app = build_app(run, guard_db=make_guard_db(tmp_path / "guard.db"), read_only=True)
    st = app.state.review
    with live_server(app) as srv, Browser(1000, 800) as b:
        for path in (f"/q/expert/{st.expert[0].id}", f"/q/guard/{st.items('guard')[1].id}", "/q/expert"):
            b.goto(srv.url + path)
            assert b.js("window.__xss === undefined"), path
            assert b.js("document.querySelectorAll('main img, main [onerror]').length") == 0, path
        b.goto(f"{srv.url}/q/expert/{st.expert[0].id}")
        assert b.js("document.querySelector('.prompt').textContent").endswith(f"{XSS_SCRIPT} and {XSS_IMG} tell me")
        assert b.js("document.getElementById('response').textContent") == FINDINGS[0].response
        shot = tmp_path / "page.png"
        b.screenshot(str(shot), 1000, 800)
        from PIL import Image

        px = list(Image.open(shot).convert("RGB").getdata())
        assert sum(sum(p) < 200 for p in px) > 2000  # text is drawn, the page is not blank
