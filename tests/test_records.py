import json

import pytest

from safestack.errors import BadInput
from safestack.records import SCHEMA, Attempt, JsonlStore, Message, Pair, read_jsonl, stable_id


def _attempt(i: int) -> Attempt:
    return Attempt(key=f"k{i}", sample_id=f"s{i}", prompt="p", label="harmful", attack="direct", family="direct",
                   messages=[Message(role="user", content="p")], response=f"r{i}")


def test_append_load_roundtrip_with_schema(tmp_path):
    store = JsonlStore(tmp_path / "a.jsonl", Attempt)
    store.append([_attempt(1), _attempt(2)])
    rows = store.load()
    assert [r.key for r in rows] == ["k1", "k2"]
    assert json.loads((tmp_path / "a.jsonl").read_text().splitlines()[0])["schema"] == SCHEMA
    assert store.keys() == {"k1", "k2"}


def test_torn_last_line_is_dropped_and_truncated(tmp_path):
    store = JsonlStore(tmp_path / "a.jsonl", Attempt)
    store.append(_attempt(1))
    with (tmp_path / "a.jsonl").open("a") as f:
        f.write('{"key": "k2", "sample_id": "s2", "pro')  # killed mid-write
    assert [r.key for r in store.load()] == ["k1"]
    store.append(_attempt(3))  # appends on a clean line
    assert [r.key for r in store.load()] == ["k1", "k3"]


def test_read_jsonl_names_file_line_and_field(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a"}\n')
    with pytest.raises(BadInput, match=r"in.jsonl:2: missing field 'response'"):
        read_jsonl(p, required=("prompt", "response"))
    p.write_text('{"prompt": "a", "response": "b"}\nnot json\n')
    with pytest.raises(BadInput, match=r"in.jsonl:2: malformed JSON"):
        read_jsonl(p)
    with pytest.raises(BadInput, match="file not found"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_stable_id_is_deterministic_and_sensitive():
    assert stable_id("a", 1) == stable_id("a", 1)
    assert stable_id("a", 1) != stable_id("a", 2)


def test_pair_record_validates_kind():
    with pytest.raises(Exception):
        Pair(key="k", prompt=[Message(role="user", content="x")], chosen="a", rejected="b", kind="nonsense")


def test_one_helper_reads_refusal_and_harm_verdicts():
    """``refused``/``harmful`` (and the records' properties) are the one place a verdict becomes a boolean: an
    absent judge counts as no."""
    from safestack.records import Attempt, EvalRow, Verdict, harmful, judged, refused

    v = {"refusal": Verdict(judge="refusal", label=True, score=0.9), "harm": Verdict(judge="harm", label=False,
                                                                                      score=0.1)}
    row = EvalRow(key="k", bench="b", sample_id="s", prompt="p", response="r", label="harmful", verdicts=v)
    att = Attempt(key="k", sample_id="s", prompt="p", label="harmful", attack="direct", family="direct",
                  messages=[], response="r", verdicts=v)
    for rec in (row, att):
        assert refused(rec) and rec.refused and not harmful(rec) and not rec.harmful
        assert judged(rec, "refusal") and not judged(rec, "toxicity")
    bare = row.model_copy(update={"verdicts": {}})
    assert not bare.refused and not bare.harmful
