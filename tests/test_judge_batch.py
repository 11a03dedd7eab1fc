"""`safestack judge --in --out` on bad input, long replies and resume (judges/batch.py), with the fast rule judge."""

import json
import subprocess
import sys

import pytest

from safestack.errors import BadInput
from safestack.judges import make_judge
from safestack.judges.batch import MAX_REPLY_CHARS, judge_file
from safestack.records import Verdict, read_jsonl


RULE = "refusal-rules"  # the rule-based refusal judge: no model, milliseconds


def sst(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "safestack.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def err(r) -> str:
    return " ".join(r.stderr.split())


def said(r) -> str:
    return " ".join(r.stdout.split())


def write_rows(p, rows):
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def rows_of(p):
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()]


ROWS = [{"id": i, "prompt": f"What is {i} + 1?",
         "response": "I'm sorry, but I can't help with that." if i % 2 else f"{i} + 1 = {i + 1}."}
        for i in range(7)]


class Counting:
    """A judge that records what it was asked (label = the reply starts with 'no')."""

    def __init__(self, name="harm", fail_on_call=None):
        self.name, self.calls, self.fail_on_call = name, [], fail_on_call

    async def score(self, items):
        self.calls.append([it.response for it in items])
        if self.fail_on_call == len(self.calls):
            raise RuntimeError("judge crashed")
        return [Verdict(judge=self.name, label=it.response.startswith("no"), score=0.5, detail="d") for it in items]


def test_empty_reply_is_non_compliance(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, [{"prompt": "How do I make a bomb?", "response": ""},
                   {"prompt": "What is 2+2?", "response": "  \n\t "},
                   {"prompt": "What is 2+2?", "response": "2 + 2 = 4."}])
    r = sst("judge", "--judge", RULE, "--in", p, "--out", o)
    assert r.returncode == 0, r.stderr
    out = rows_of(o)
    assert [x["label"] for x in out] == [True, True, False]
    assert [x["detail"] for x in out[:2]] == ["empty response", "empty response"]
    assert [x["score"] for x in out[:2]] == [1.0, 1.0]
    assert f"2/3 labelled true by '{RULE}'" in said(r)


def test_empty_reply_other_judges_label_false_without_the_model(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, [{"prompt": "a", "response": ""}, {"prompt": "b", "response": "no way"}])
    j = Counting("harm")
    res = judge_file(j, p, o)
    assert j.calls == [["no way"]]  # the empty reply never reached the judge
    out = rows_of(o)
    assert [(x["label"], x["score"], x["detail"]) for x in out] == [(False, 0.0, "empty response"), (True, 0.5, "d")]
    assert res == {"judged": 2, "kept": 0, "total": 2, "labelled_true": 1}
    judge_file(make_judge(RULE), p, tmp_path / "o2.jsonl")
    assert rows_of(tmp_path / "o2.jsonl")[0]["label"] is True


@pytest.mark.parametrize("value,kind", [(123, "number"), (None, "null"), (["a"], "array"), ({"a": 1}, "object")])
def test_non_string_response_exits_2_naming_file_line_field(tmp_path, value, kind):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, [ROWS[0], ROWS[1], {"prompt": "p", "response": value}])
    r = sst("judge", "--judge", RULE, "--in", p, "--out", o)
    assert r.returncode == 2, r.stderr
    assert f"in.jsonl:3: field 'response' must be a string, got {kind}" in err(r)
    assert "Traceback" not in r.stderr and not o.exists()


def test_non_string_prompt_or_behavior_is_bad_input(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, [ROWS[0], {"prompt": 5, "response": "x"}])
    with pytest.raises(BadInput, match=r"in.jsonl:2: field 'prompt' must be a string, got number"):
        judge_file(make_judge(RULE), p, o)
    p.write_text(json.dumps(ROWS[0]) + "\n\n" + json.dumps({"prompt": "a", "response": "b", "behavior": [1]}) + "\n")
    with pytest.raises(BadInput, match=r"in.jsonl:3: field 'behavior' must be a string, got array"):
        judge_file(make_judge(RULE), p, o)
    assert not o.exists()


def test_goal_label_reaches_the_judge_and_must_be_a_boolean(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, [{"prompt": "a", "response": "b", "goal_harmful": "yes"}])
    with pytest.raises(BadInput, match=r"in.jsonl:1: field 'goal_harmful' must be true, false or absent, got string"):
        judge_file(make_judge(RULE), p, o)
    seen = []

    class Recording(Counting):
        async def score(self, items):
            seen.extend(it.goal_harmful for it in items)
            return await super().score(items)

    write_rows(p, [{"prompt": "a", "response": "b", "goal_harmful": True}, {"prompt": "c", "response": "d"}])
    judge_file(Recording(), p, o)
    assert seen == [True, None]


def test_invalid_utf8_names_the_line(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS[:2]).encode()
    p.write_bytes(good + b'{"prompt": "caf\xc3\xa9", "response": "bad \xff\xfe bytes"}\n' + good)
    r = sst("judge", "--judge", RULE, "--in", p, "--out", o)
    assert r.returncode == 2, r.stderr
    assert "in.jsonl:3: invalid UTF-8 (byte 0xff at column 38)" in err(r)
    assert "Traceback" not in r.stderr and not o.exists()
    # deep in a big file too (text mode decodes in blocks)
    p.write_bytes(good * 5000 + b'{"prompt": "x", "response": "\xc3"}\n')
    with pytest.raises(BadInput, match=r"in.jsonl:10001: invalid UTF-8 \(byte 0xc3"):
        read_jsonl(p)


def test_one_megabyte_reply_is_judged_on_its_head(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    big = ("Here is a recipe for bread. " + "Mix flour, water, salt and yeast, knead it for ten minutes, let it rise "
           "for an hour, then bake it at 220 C for 30 minutes. " * 10_000)[:1_000_000]
    write_rows(p, [{"prompt": "How do I bake bread?", "response": big}, ROWS[1]])
    r = sst("judge", "--judge", RULE, "--in", p, "--out", o)
    assert r.returncode == 0, r.stderr
    out = rows_of(o)
    assert out[0]["label"] is False and out[0]["detail"].startswith("truncated from 1000000 chars; ")
    assert out[0]["response"] == big  # the row itself is kept whole
    assert out[1]["label"] is True and "truncated" not in out[1]["detail"]
    j = Counting()
    judge_file(j, p, tmp_path / "o2.jsonl")
    assert [len(x) for x in j.calls[0]] == [MAX_REPLY_CHARS, len(ROWS[1]["response"])]


def test_resume_after_a_kill_keeps_earlier_rows(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, ROWS)
    r = sst("judge", "--judge", RULE, "--in", p, "--out", o)
    assert r.returncode == 0, r.stderr
    full = o.read_bytes()
    lines = full.splitlines(keepends=True)
    assert len(lines) == 7 and [x["label"] for x in rows_of(o)] == [False, True] * 3 + [False]
    prefix = b"".join(lines[:-1])
    o.write_bytes(prefix + lines[-1][: len(lines[-1]) // 2])  # the last row torn by a kill
    r = sst("judge", "--judge", RULE, "--in", p, "--out", o)
    assert r.returncode == 0, r.stderr
    assert f"3/7 labelled true by '{RULE}'" in said(r) and "(6 kept from an earlier run)" in said(r)
    assert o.read_bytes().startswith(prefix) and o.read_bytes() == full
    assert [x["id"] for x in rows_of(o)] == list(range(7))  # every row exactly once, in order


def test_resume_judges_only_the_rest(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"prompt": f"q{i}", "response": ("no " if i % 3 == 0 else "yes ") + str(i)} for i in range(7)]
    write_rows(p, rows)
    with pytest.raises(RuntimeError, match="judge crashed"):
        judge_file(Counting(fail_on_call=3), p, o, chunk=2)
    assert [x["prompt"] for x in rows_of(o)] == ["q0", "q1", "q2", "q3"]  # two chunks written before the crash
    before = o.read_bytes()
    seen = []
    j = Counting()
    res = judge_file(j, p, o, chunk=2, progress=lambda d, t: seen.append((d, t)))
    assert j.calls == [["yes 4", "yes 5"], ["no 6"]]
    assert res == {"judged": 3, "kept": 4, "total": 7, "labelled_true": 3}
    assert seen == [(4, 7), (6, 7), (7, 7)]
    assert o.read_bytes().startswith(before) and [x["prompt"] for x in rows_of(o)] == [f"q{i}" for i in range(7)]
    j = Counting()
    assert judge_file(j, p, o, chunk=2)["judged"] == 0 and j.calls == []  # complete: nothing to do


def test_bad_later_line_fails_fast_and_keeps_out(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, ROWS)
    assert sst("judge", "--judge", RULE, "--in", p, "--out", o).returncode == 0
    before = o.read_bytes()
    with p.open("a") as f:
        for i in range(900):
            f.write(json.dumps({"prompt": f"p{i}", "response": "r"}) + "\n")
        f.write('{"prompt": "p", "response": null}\n')
    r = sst("judge", "--judge", RULE, "--in", p, "--out", o)
    assert r.returncode == 2 and "in.jsonl:908: field 'response' must be a string, got null" in err(r)
    assert o.read_bytes() == before
    j = Counting()
    with pytest.raises(BadInput, match="in.jsonl:908"):
        judge_file(j, p, o)
    assert j.calls == [] and o.read_bytes() == before


def test_out_from_another_input_or_judge_is_refused_and_kept(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, ROWS)
    judge_file(make_judge(RULE), p, o, spec=RULE)
    before = o.read_bytes()
    write_rows(p, [{**ROWS[0], "response": "changed"}] + ROWS[1:])
    with pytest.raises(BadInput, match=r"out.jsonl:1: does not match row 1 of the input"):
        judge_file(make_judge(RULE), p, o, spec=RULE)
    write_rows(p, ROWS)
    with pytest.raises(BadInput, match=f"judged by '{RULE}', not 'harm'"):
        judge_file(Counting("harm"), p, o, spec="harm")
    assert o.read_bytes() == before
    assert judge_file(make_judge(RULE), p, o, spec=RULE)["kept"] == 7


def test_torn_first_row_is_redone_but_a_foreign_file_is_not_touched(tmp_path):
    p, o = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_rows(p, ROWS[:3])
    with pytest.raises(RuntimeError, match="judge crashed"):
        judge_file(Counting(fail_on_call=1), p, o)
    assert o.read_bytes() == b"" and (tmp_path / "out.jsonl.judge").read_text() == "harm\n"
    o.write_bytes(b'{"id": 0, "prompt": "What is 0 + 1?", "resp')  # killed while writing the first row
    assert judge_file(Counting(), p, o) == {"judged": 3, "kept": 0, "total": 3, "labelled_true": 0}
    assert [x["id"] for x in rows_of(o)] == [0, 1, 2]
    foreign = tmp_path / "notes.txt"
    foreign.write_bytes(b"my notes, no newline")
    with pytest.raises(BadInput, match="notes.txt: exists and is not a judge output"):
        judge_file(Counting(), p, foreign)
    assert foreign.read_bytes() == b"my notes, no newline"
    foreign.write_text("my notes\n")
    with pytest.raises(BadInput, match=r"notes.txt:1: not a JSON row"):
        judge_file(Counting(), p, foreign)
    assert foreign.read_text() == "my notes\n" and not (tmp_path / "notes.txt.judge").exists()
