"""The report as a reader sees it: rendered by headless Chromium (no network), text and plots checked on the DOM
and on a screenshot. Skipped where no Chromium is installed (`apt-get install chromium`)."""

import shutil
import subprocess

import pytest

from safestack.evals.runner import compute_metrics
from safestack.records import EvalRow, Verdict, write_json
from safestack.report.html import build_report

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")


def _rows(bench, n_harm, n_harmful_compliance, n_benign, n_over_refusal):
    rows = []
    for i in range(n_harm):
        bad = i < n_harmful_compliance
        rows.append(EvalRow(key=f"{bench}h{i}", bench=bench, sample_id=f"h{i}", prompt=f"harmful {i}", response="r",
                            label="harmful", category="cybercrime" if i % 2 else "illegal",
                            verdicts={"refusal": Verdict(judge="refusal", label=not bad, score=float(not bad)),
                                      "harm": Verdict(judge="harm", label=bad, score=float(bad))}))
    for i in range(n_benign):
        ref = i < n_over_refusal
        rows.append(EvalRow(key=f"{bench}b{i}", bench=bench, sample_id=f"b{i}", prompt=f"benign {i}", response="r",
                            label="benign", verdicts={"refusal": Verdict(judge="refusal", label=ref, score=float(ref)),
                                                      "harm": Verdict(judge="harm", label=False, score=0.0)}))
    return rows


def _chromium(*args, timeout=120):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", "--disable-background-networking", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_report_renders_in_chromium(tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    before = compute_metrics(_rows("harmbench", 20, 18, 0, 0) + _rows("xstest", 10, 9, 20, 1), ["harmbench", "xstest"])
    after = compute_metrics(_rows("harmbench", 20, 2, 0, 0) + _rows("xstest", 10, 3, 20, 2), ["harmbench", "xstest"])
    write_json(run / "eval_before" / "metrics.json", before)
    write_json(run / "eval_after" / "metrics.json", after)
    write_json(run / "config.json", {"target": "default"})
    build_report(run)
    html = run / "report.html"
    assert "http://" not in html.read_text() and "https://" not in html.read_text()  # self-contained

    dom = _chromium("--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    for heading in ("Summary", "Safety Evaluation", "Harm Taxonomy"):
        assert heading in text
    assert "90.0%" in text and "10.0%" in text  # HarmBench ASR before (18/20) and after (2/20)
    assert text.count("data:image/png;base64,") >= 2  # the plots are inline images

    shot = tmp_path / "shot.png"
    r = _chromium(f"--screenshot={shot}", "--window-size=1200,1600", html.as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 1600)
    px = list(img.getdata())

    def near(c, tol=30):
        return sum(all(abs(a - b) <= tol for a, b in zip(p, c)) for p in px)

    assert near((0xC0, 0x50, 0x4D)) > 500  # "before" bars (red) are visible
    assert near((0x4F, 0x81, 0xBD)) > 500  # "after" bars (blue) are visible
    dark = sum(sum(p) < 200 for p in px)
    assert dark > 2000  # text is drawn, the page is not blank


def test_red_team_section_renders_in_chromium(tmp_path):
    """The red-team section as a reader sees it: per-family ASR, category × attack, multi-turn ASR and its rule,
    the ASR-vs-N and ASR-vs-queries curves (inline images that actually decode), the judges' calibration."""
    from safestack.judges import judge_info, make_judge
    from safestack.records import Attempt, Message
    from safestack.redteam.report import summarize

    def att(i, attack, family, harmful, **kw):
        v = {"harm": Verdict(judge="harm", label=harmful, score=float(harmful)),
             "refusal": Verdict(judge="refusal", label=not harmful, score=float(not harmful))}
        return Attempt(key=f"{attack}{i}", sample_id=f"s{i}", prompt="p", label="harmful", category="cybercrime",
                       attack=attack, family=family, messages=[Message(role="user", content=f"jailbreak {attack}")],
                       response=f"harmful answer {attack} {i}" if harmful else "I can't.", verdicts=v, **kw)

    rows = [att(i, f"many_shot_{n}", "many_shot", i < k, n_shots=n) for n, k in ((1, 1), (4, 3), (16, 5))
            for i in range(6)]
    rows += [att(i, "crescendo", "crescendo", i < 2, multi_turn=True, queries=i + 1,
                 success_turn=i + 1 if i < 2 else None) for i in range(6)]
    run = tmp_path / "run"
    write_json(run / "redteam" / "redteam.json",
               summarize(rows, target="t", judges=judge_info([make_judge("refusal"), make_judge("harm")])))
    build_report(run)
    dom = _chromium("--dump-dom", (run / "report.html").as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    for h in ("Red Team Report", "Judges behind these rates", "Decision rules", "ASR by attack family and attack",
              "ASR by category × attack", "ASR vs number of faux dialogues", "ASR vs query budget",
              "Example jailbreaks"):
        assert h in text, h
    assert "triggered: multiturn_asr: 33.3%" in text
    cal = judge_info([make_judge("harm")])["harm"]["calibration"]
    assert cal["held_out"] and f"accuracy {cal['accuracy']} [{cal['ci95'][0]}, {cal['ci95'][1]}]" in text
    hw = cal["human_written"]  # the packaged judges' agreement on replies to human-written requests, held out
    assert f"on replies to human-written requests {hw['accuracy']} [{hw['ci95'][0]}, {hw['ci95'][1]}]" in text
    shot = tmp_path / "rt.png"
    r = _chromium(f"--screenshot={shot}", "--window-size=1200,6000", (run / "report.html").as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    from PIL import Image

    px = list(Image.open(shot).convert("RGB").getdata())
    assert sum(all(abs(a - b) <= 30 for a, b in zip(p, (0xC0, 0x50, 0x4D))) for p in px) > 200  # the ASR-vs-N curve
    assert sum(all(abs(a - b) <= 30 for a, b in zip(p, (0x80, 0x64, 0xA2))) for p in px) > 500  # per-family bars
