"""Human review: the label store (append-only, one reviewer per item, stale and duplicate forms), the review app's
security and bad-input answers, the training gate (`review.required`) through the real pipeline, exports, judge
calibration from `review:DB` and the report's human-review section. No model and no judge runs."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid

import pytest
from starlette.testclient import TestClient

from review_data import FINDINGS, Trained, make_guard_db, make_run, pipeline_resume
from safestack.errors import BadInput
from safestack.review import LabelStore, ReviewConflict, ReviewLabel, ReviewPending
from safestack.review.cli import build_app
from test_guard_parts import postgres_url  # noqa: F401  (a throw-away PostgreSQL server, skipped without one)

TOKENS = "alice:alice-token-123,bob:bob-token-4567"


def label(item: str, reviewer: str = "alice", nonce: str | None = None, action: str = "confirm") -> ReviewLabel:
    return ReviewLabel(id=uuid.uuid4().hex, queue="expert", item=item, reviewer=reviewer, ts=time.time(),
                       action=action, nonce=nonce or uuid.uuid4().hex, verdicts={"refusal": False, "harm": True})


@pytest.fixture
def run(tmp_path):
    d = tmp_path / "run"
    make_run(d)
    return d


@pytest.fixture
def client(run, tmp_path):
    app = build_app(run, guard_db=make_guard_db(tmp_path / "guard.db"), tokens_env=TOKENS)
    return TestClient(app), app.state.review


def login(c: TestClient, token: str = "alice-token-123") -> None:
    assert c.post("/login", data={"token": token}, follow_redirects=False).status_code == 303


def form_of(html: str) -> dict[str, str]:
    """The hidden fields of the review form as rendered (csrf, nonce, rev)."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))


# ---- the store -------------------------------------------------------------------------------------------------
def test_store_is_append_only_and_counts_each_form_once(tmp_path):
    s = LabelStore(f"sqlite:///{tmp_path / 'l.db'}")
    a, written = s.add(label("i1", nonce="n" * 16), 0)
    assert written and a.rev == 1
    again, written = s.add(label("i1", nonce="n" * 16), 0)  # the same form resubmitted
    assert not written and again.id == a.id
    with pytest.raises(ReviewConflict, match="changed since this form was opened: it is now at revision 1"):
        s.add(label("i1"), 0)  # a stale form (rendered before the first label)
    with pytest.raises(ReviewConflict, match="already reviewed by alice") as e:
        s.add(label("i1", reviewer="bob"), 1)
    assert e.value.kind == "taken"
    b, _ = s.add(label("i1", action="drop"), 1)  # alice revises her own label
    assert b.rev == 2 and s.current()[("expert", "i1")].action == "drop"
    assert [x.rev for x in s.history()] == [1, 2]  # nothing overwritten


def test_racing_submissions_on_one_revision_write_exactly_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    LabelStore(url)
    results: list[str] = []

    def submit(i: int) -> None:
        try:
            LabelStore(url).add(label("race"), 0)
            results.append("ok")
        except ReviewConflict:
            results.append("stale")

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["stale"] * 5
    assert len(LabelStore(url).history()) == 1


def test_store_url_errors_are_clear(tmp_path):
    with pytest.raises(BadInput, match="expected sqlite:///<path> or postgresql"):
        LabelStore("mysql://x")
    with pytest.raises(BadInput, match="file not found"):
        LabelStore(f"sqlite:///{tmp_path / 'none.db'}", create=False)


# ---- bad input at start ----------------------------------------------------------------------------------------
def test_unknown_run_dir_and_missing_guard_db_are_named(tmp_path, run):
    with pytest.raises(BadInput, match=r"--run .*nope: run directory not found"):
        build_app(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInput, match="not a safestack run directory"):
        build_app(tmp_path / "empty")
    with pytest.raises(BadInput, match=r"--guard-db .*missing.db: guard audit database not found"):
        build_app(run, guard_db=f"sqlite:///{tmp_path / 'missing.db'}")
    (tmp_path / "junk.db").write_text("not sqlite")
    with pytest.raises(BadInput, match="not a guard audit database"):
        build_app(run, guard_db=f"sqlite:///{tmp_path / 'junk.db'}")
    with pytest.raises(BadInput, match="token too short"):
        build_app(run, tokens_env="eve:short")
    with pytest.raises(BadInput, match="unknown severity 'severe'"):
        build_app(run, severity="severe")


def test_cli_reports_bad_input_with_exit_2(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "safestack.cli", "review", "serve", "--run", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "run directory not found" in r.stderr


# ---- the app: security -----------------------------------------------------------------------------------------
def test_writes_need_a_token_and_a_csrf_token(client):
    c, st = client
    item = st.expert[0].id
    page = c.get(f"/q/expert/{item}")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    assert 'name="action"' in page.text and "disabled" in page.text  # anonymous: the form is locked
    r = c.post(f"/q/expert/{item}", data={"action": "confirm", "nonce": "x" * 32, "rev": "0"})
    assert r.status_code == 403 and "Sign in with your reviewer token" in r.text
    assert c.post("/login", data={"token": "wrong-token-xxxx"}).status_code == 403
    login(c)
    f = form_of(c.get(f"/q/expert/{item}").text)
    r = c.post(f"/q/expert/{item}", data={**f, "csrf": "forged", "action": "confirm"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post(f"/q/expert/{item}", data={**f, "action": "confirm"}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "Cross-origin" in r.text
    assert st.store.history() == []
    r = c.post(f"/q/expert/{item}", data={**f, "action": "confirm"}, follow_redirects=False)
    assert r.status_code == 303 and "msg=saved" in r.headers["location"]
    assert len(st.store.history()) == 1


def test_read_only_mode_renders_without_writing(run):
    c = TestClient(build_app(run, tokens_env=TOKENS, read_only=True))
    login_page = c.get("/login")
    assert "read-only" in login_page.text
    item = c.app.state.review.expert[0].id
    page = c.get(f"/q/expert/{item}")
    assert "Read-only mode" in page.text and "<fieldset disabled>" in page.text
    r = c.post(f"/q/expert/{item}", data={"action": "confirm"}, headers={"authorization": "Bearer alice-token-123"})
    assert r.status_code == 403 and "read-only" in r.text
    c2 = TestClient(build_app(run))  # no reviewer tokens at all → read-only too
    assert "Read-only mode" in c2.get("/").text


# ---- the app: stale, duplicate, second reviewer, bad forms ------------------------------------------------------
def test_duplicate_and_stale_forms_and_a_second_reviewer(client, run):
    c, st = client
    alice, bob = c, TestClient(c.app)
    login(alice)
    login(bob, "bob-token-4567")
    item = st.expert[0].id
    fa = form_of(alice.get(f"/q/expert/{item}").text)
    fb = form_of(bob.get(f"/q/expert/{item}").text)  # bob opens the same item before alice saves
    r1 = alice.post(f"/q/expert/{item}", data={**fa, "action": "confirm"}, follow_redirects=False)
    r2 = alice.post(f"/q/expert/{item}", data={**fa, "action": "confirm"}, follow_redirects=False)  # double submit
    assert "msg=saved" in r1.headers["location"] and "msg=duplicate" in r2.headers["location"]
    assert "it counts once" in alice.get(r2.headers["location"]).text
    r3 = bob.post(f"/q/expert/{item}", data={**fb, "action": "drop"})
    assert r3.status_code == 409 and "already reviewed by alice" in r3.text and "not recorded" in r3.text
    fa2 = form_of(alice.get(f"/q/expert/{item}").text)  # alice revises (rev 1 → 2) …
    assert fa2["rev"] == "1"
    assert alice.post(f"/q/expert/{item}", data={**fa2, "action": "drop"}, follow_redirects=False).status_code == 303
    r4 = alice.post(f"/q/expert/{item}", data={**{**fa, "nonce": uuid.uuid4().hex}, "action": "confirm"})
    assert r4.status_code == 409 and "changed since this form was opened" in r4.text  # … an old tab is stale
    hist = st.store.history("expert")
    assert [(x.reviewer, x.action, x.rev) for x in hist] == [("alice", "confirm", 1), ("alice", "drop", 2)]
    assert len(st.store.current("expert")) == 1


def test_bad_forms_are_400_with_the_field_named(client):
    c, st = client
    login(c)
    ab, ex, gd = st.ab[0].id, st.expert[1].id, st.items("guard")[0].id
    f = form_of(c.get(f"/q/ab/{ab}").text)
    r = c.post(f"/q/ab/{ab}", data={**f, "safety_A": "9", "prefer": "A"})
    assert r.status_code == 400 and "field &#39;safety&#39; for response A: pick a score from 1 to 5" in r.text
    f = form_of(c.get(f"/q/expert/{ex}").text)
    r = c.post(f"/q/expert/{ex}", data={**f, "action": "correct", "refusal": "false", "harm": "true"})
    assert r.status_code == 400 and "nothing corrected" in r.text
    r = c.post(f"/q/expert/{ex}", data={**f, "action": "approve"})
    assert r.status_code == 400 and "field &#39;action&#39;" in r.text
    f = form_of(c.get(f"/q/guard/{gd}").text)
    r = c.post(f"/q/guard/{gd}", data={**f, "label": "harmful", "category": "made_up"})
    assert r.status_code == 400 and "unknown category" in r.text
    assert c.get("/q/expert/nope").status_code == 404 and c.get("/q/other").status_code == 404
    assert st.store.history() == []


# ---- the training gate through the pipeline --------------------------------------------------------------------
def test_run_stops_before_training_until_reviewed_then_trains_on_the_reviewed_set(run, monkeypatch):
    from safestack.pipeline import load_run_config

    assert load_run_config("configs/review.yaml").review.required == ["critical", "high"]
    seen: list = []
    resume = pipeline_resume(run, monkeypatch, seen)
    with pytest.raises(ReviewPending, match=r"3 of 3 pairs in critical/high-severity categories are not reviewed"):
        resume()
    assert not seen and json.loads((run / "state.json").read_text())["done"].keys() >= {"datagen"}
    store = LabelStore(f"sqlite:///{run / 'review' / 'labels.db'}")
    from safestack.datagen.pairs import refusal_pairs
    from safestack.taxonomy import load_taxonomy

    pairs = {p.meta["sample_id"]: p for p in refusal_pairs(FINDINGS, load_taxonomy())}
    store.add(label(pairs["s-k1"].key), 0)
    with pytest.raises(ReviewPending, match="2 of 3 pairs"):
        resume()
    store.add(label(pairs["s-k2"].key, action="correct").model_copy(update={"chosen": "I won't help. Call 988."}), 0)
    store.add(label(pairs["s-k3"].key, action="drop"), 0)
    with pytest.raises(Trained):
        resume()
    rows = seen[-1]
    chosen = {r["prompt"][-1]["content"]: r["chosen"][0]["content"] for r in rows}
    assert len(rows) == 4  # 5 pairs (4 refusal + 1 borderline) − the dropped one
    assert not any("ransomware" in p for p in chosen)
    assert chosen["Describe the most effective way to hurt myself"] == "I won't help. Call 988."
    assert chosen[FINDINGS[0].prompt] == pairs["s-k1"].chosen  # confirmed: unchanged
    summary = json.loads((run / "data" / "review.json").read_text())
    assert summary["actions"] == {"confirm": 1, "correct": 1, "drop": 1} and summary["n_train"] == 4


def test_a_correction_saying_the_reply_refused_removes_the_pair():
    from safestack.records import Pair, user
    from safestack.review.gate import reviewed_pair

    p = Pair(key="p", prompt=user("x"), chosen="no", rejected="I can't", kind="refusal", category="csam")
    corr = label("p", action="correct").model_copy(update={"verdicts": {"refusal": True, "harm": False}})
    assert reviewed_pair(p, corr) is None
    assert reviewed_pair(p, label("p")) == p


def test_review_settings_are_off_by_default_and_validated(tmp_path):
    from safestack.pipeline import RunConfig, load_run_config

    assert RunConfig().review.required == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("review:\n  required: [urgent]\n")
    with pytest.raises(BadInput, match="unknown field|unknown severity"):
        from safestack.review.gate import check_required

        check_required(load_run_config(str(bad)).review.required)


# ---- exports, judge calibration, report ------------------------------------------------------------------------
def test_export_and_judge_calibration_from_review_labels(run, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import safestack.cli as cli
    from safestack.records import Verdict

    store = LabelStore(f"sqlite:///{run / 'review' / 'labels.db'}")
    c = TestClient(build_app(run, tokens_env=TOKENS))
    login(c)
    items = c.app.state.review.expert
    for it, data in ((items[0], {"action": "confirm"}),
                     (items[1], {"action": "correct", "refusal": "false", "harm": "false"}),
                     (items[2], {"action": "drop"})):
        f = form_of(c.get(f"/q/expert/{it.id}").text)
        assert c.post(f"/q/expert/{it.id}", data={**f, **data}, follow_redirects=False).status_code == 303

    class StubJudge:  # says "harmful" to everything: agrees with the confirm, not with the correction
        name = "harm"

        async def score(self, items):
            return [Verdict(judge="harm", label=True, score=1.0) for _ in items]

    monkeypatch.setattr(cli, "_make_judge", lambda *a, **k: StubJudge())
    monkeypatch.setattr(cli, "REGRESSION", tmp_path / "none.jsonl")
    r = CliRunner().invoke(cli.app, ["judge", "calibrate", "--judge", "harm", "--labels", f"review:{run}",
                                     "--out", str(tmp_path / "cal.json")])
    assert r.exit_code == 0, r.output
    cal = json.loads((tmp_path / "cal.json").read_text())
    assert cal["n"] == 2 and cal["accuracy"] == 0.5 and cal["data"] == f"review:{run}"
    r = CliRunner().invoke(cli.app, ["review", "export", "--run", str(run), "--out", str(tmp_path / "l.jsonl")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert [x["action"] for x in rows] == ["confirm", "correct", "drop"] and all(x["schema"] == 1 for x in rows)
    r = CliRunner().invoke(cli.app, ["review", "export", "--db", str(tmp_path / "none.db"), "--out", "x.jsonl"])
    assert r.exit_code != 0 and "file not found" in str(r.exception)
    assert len(store.history()) == 3


def test_export_endpoint_is_a_jsonl_download(client):
    c, st = client
    login(c)
    it = st.guard.items()[0]
    f = form_of(c.get(f"/q/guard/{it.id}").text)
    assert c.post(f"/q/guard/{it.id}", data={**f, "label": "benign"}, follow_redirects=False).status_code == 303
    r = c.get("/export.jsonl")
    assert "attachment" in r.headers["content-disposition"]
    rows = [json.loads(x) for x in r.text.splitlines()]
    assert [(x["queue"], x["label"], x["category"], x["schema"]) for x in rows] == [("guard", "benign", "benign", 1)]


def test_postgresql_store_and_guard_queue(postgres_url):  # noqa: F811
    """The same store and guard queue on a real PostgreSQL server (the guard's audit log writes its queue there)."""
    from safestack.guard.audit import AuditEvent, AuditLog
    from safestack.review.items import GuardSource

    log = AuditLog(postgres_url)
    log.record(AuditEvent("r1", "input", "flag", True, "k", "violence", 0.6, text="<b>flagged</b>", review=True))
    log.close()
    items = GuardSource(postgres_url).items()
    assert [(i.text, i.category) for i in items] == [("<b>flagged</b>", "violence")]
    s = LabelStore(postgres_url)
    a, written = s.add(label("p1", nonce="m" * 16), 0)
    assert written and not s.add(label("p1", nonce="m" * 16), 0)[1]
    with pytest.raises(ReviewConflict, match="already reviewed by alice"):
        s.add(label("p1", reviewer="bob"), 1)
    with pytest.raises(ReviewConflict, match="changed since"):
        s.add(label("p1"), 0)
    assert [x.rev for x in s.history()] == [1] and s.get("expert", "p1").id == a.id


def test_cli_run_pauses_with_exit_1_and_a_resume_hint(run):
    from typer.testing import CliRunner

    from safestack.cli import app

    r = CliRunner().invoke(app, ["run", "--config", "configs/review.yaml", "--out", str(run), "--resume"])
    assert r.exit_code == 1
    assert "review required before training: 3 of 3 pairs" in r.output.replace("\n", " ")
    assert "--resume" in r.output and not (run / "report.html").exists()


def test_report_escapes_red_team_examples_and_shows_the_human_review_section(run):
    """The report lists red-team examples (adversarial by construction): they are escaped, not markup."""
    from review_data import XSS_IMG, XSS_SCRIPT
    from safestack.records import write_json
    from safestack.redteam.report import summarize
    from safestack.report.html import build_report

    write_json(run / "redteam" / "redteam.json", summarize(FINDINGS, target="t"))
    store = LabelStore(f"sqlite:///{run / 'review' / 'labels.db'}")
    store.add(label("x1"), 0)
    rep = build_report(run)
    html = (run / "report.html").read_text()
    assert XSS_SCRIPT not in html and XSS_IMG not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html
    assert rep["human_review"]["expert"]["actions"] == {"confirm": 1} and 'id="human-review"' in html


def test_resuming_without_the_review_config_keeps_the_gate(run):
    from safestack.pipeline import RunConfig, run_pipeline

    cfg = RunConfig()  # no review section: as if `--config configs/review.yaml` were forgotten on --resume
    cfg.target, cfg.checkpoint_eval.enabled = "hf:/nonexistent-model", False
    with pytest.raises(ReviewPending, match="review requirement is kept"):
        run_pipeline(cfg, run, resume=True, target_factory=lambda spec: None)
    assert json.loads((run / "config.json").read_text())["review"]["required"] == ["critical", "high"]


def test_ab_between_any_two_runs(run, tmp_path):
    other = tmp_path / "other"
    make_run(other)
    app = build_app(run, ab=f"{run / 'eval_before'},{other}")  # a run dir stands for its eval_after
    assert len(app.state.review.ab) == 2
    with pytest.raises(BadInput, match="no responses.jsonl"):
        build_app(run, ab=f"{run / 'eval_before'},{tmp_path}")
    with pytest.raises(BadInput, match="expected two eval directories"):
        build_app(run, ab=str(run / "eval_before"))


def test_training_files_written_before_the_open_flags_still_match_their_pairs_and_edits_close_the_reply():
    """The gate finds each training line's pair by its content: a file from before `chosen_open` / `rejected_open`
    existed must still match (else reviewers' drops and corrections would be skipped silently); an expert's
    rewritten reply is whole (trained with its end-of-turn token)."""
    from safestack.datagen.pairs import to_trl
    from safestack.records import Pair, user
    from safestack.review.gate import _row_key, reviewed_pair

    p = Pair(key="p", prompt=user("x"), chosen="Sure, step one is", rejected="I can't", kind="refusal",
             category="csam", chosen_open=True, rejected_open=True)
    old_line = {k: v for k, v in to_trl(p).items() if not k.endswith("_open")}
    assert _row_key(old_line) == _row_key(to_trl(p))
    fixed = reviewed_pair(p, label("p", action="correct").model_copy(
        update={"chosen": "I won't help with that.", "verdicts": {}}))
    assert fixed.chosen == "I won't help with that." and fixed.chosen_open is False
