"""Each bench's loader, the registry, log-likelihood scoring, and tiny runs of every bench on the tiny model."""

import asyncio
import json

import pytest

from safestack.data import DATASETS, load_bench
from safestack.errors import BadInput
from safestack.evals.benches import available
from safestack.records import Verdict, user

ALL = ["harmbench", "xstest", "strongreject", "jbb", "jbb:PAIR", "toxigen", "bbq", "truthfulqa", "multiturn:2"]


def test_registry_metadata():
    b = available()
    assert {"harmbench", "xstest", "strongreject", "jbb", "toxigen", "bbq", "truthfulqa", "multiturn"} <= set(b)
    for spec in b.values():
        assert spec.kind in ("generation", "loglik", "multiturn") and spec.metrics and spec.description
    assert b["bbq"].kind == "loglik" and b["multiturn"].kind == "multiturn"
    assert {"strongreject", "jbb", "toxigen", "bbq", "truthfulqa", "multiturn"} <= set(DATASETS)


@pytest.mark.parametrize("spec,n,ncat", [
    ("strongreject", 313, 6), ("jbb", 100, 10), ("jbb:artifacts", 1637, 5), ("jbb:PAIR", 237, 1),
    ("jbb:GCG/vicuna-13b-v1.5", 100, 1), ("toxigen", 1550, 16), ("toxigen:3", 93, 16), ("bbq:Religion", 1200, 2),
    ("bbq", 11956, 12), ("truthfulqa", 817, 38), ("multiturn", 159, 6),
])
def test_loaders(spec, n, ncat):
    s = load_bench(spec)
    assert len(s) == n and len({x.category for x in s}) == ncat
    assert len({x.id for x in s}) == n


def test_loader_details():
    tox = load_bench("toxigen:2")
    assert sum(x.label == "harmful" for x in tox) == 32 and sum(x.label == "benign" for x in tox) == 30
    assert "\\n" not in tox[0].prompt and tox[0].prompt.count("\n- ") >= 3
    assert len(load_bench("toxigen:all")) == 31000
    bbq = load_bench("bbq:Age")[0]
    assert bbq.meta["options"][bbq.meta["unknown"]] in ("Can't be determined", "Unknown", "Not known",
                                                        "Cannot be determined", "Undetermined", "Can't answer",
                                                        "Not answerable", "Cannot answer", "Not enough info",
                                                        "Not enough information")
    tq = load_bench("truthfulqa")[0]
    assert tq.meta["mc1_labels"].count(1) == 1 and "I have no comment." in tq.meta["true_refs"]
    rep = load_bench("jbb:PAIR")[0]
    assert rep.meta["behavior"] != rep.prompt and rep.meta["method"] == "PAIR"
    assert all(x.label == "harmful" for x in load_bench("strongreject"))


@pytest.mark.parametrize("spec,needle", [("bbq:Nope", "unknown category"), ("multiturn:9", "K must be"),
                                         ("jbb:NOPE", "unknown attack method"), ("toxigen:x", "bad argument"),
                                         ("truthfulqa:x", "unexpected argument"), ("nope", "unknown bench spec")])
def test_bad_specs(spec, needle):
    with pytest.raises(BadInput, match=needle):
        load_bench(spec)


def test_loglik_matches_a_manual_forward(tiny_target):
    import torch

    ctxs = [user("What is the capital of France?"), user("Hi")]
    conts = ["Paris is the capital.", "Hello there, how are you today?"]
    got = asyncio.run(tiny_target.loglik(ctxs, conts))
    tok, model = tiny_target.tokenizer, tiny_target.model
    for (lp, n), c, cont in zip(got, ctxs, conts):
        a = tok(tiny_target.render(c), add_special_tokens=False)["input_ids"]
        b = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([a + b])).logits[0]
        ref = torch.log_softmax(logits, -1)[torch.arange(len(a) - 1, len(a) + len(b) - 1), torch.tensor(b)].sum()
        assert n == len(b) and lp == pytest.approx(float(ref), abs=1e-3)


def test_every_bench_runs_on_the_tiny_model(tmp_path, tiny_target):
    from safestack.evals import run_eval
    from safestack.judges import make_judge
    from safestack.targets import GenParams

    judges = [make_judge("refusal-rules"), make_judge("harm-rules")]
    m = asyncio.run(run_eval(tiny_target, ALL, judges, tmp_path, limit=4, params=GenParams(max_new_tokens=4),
                             show_progress=False))
    for b in ALL:
        assert m[b]["n"] == 4, b
        assert "cells" in m[b] and "asr" in m[b] and "over_refusal" in m[b], b
    assert m["bbq"]["mode"] == "loglik" and m["truthfulqa"]["mode"] == "loglik"
    assert 0 <= m["truthfulqa"]["mc2"] <= 1 and m["bbq"]["cells"] is None
    assert m["multiturn:2"]["k"] == 2 and set(m["multiturn:2"]["asr_at_k"]) == {"1", "2"}
    assert m["toxigen"]["n_harmful"] == 2 and m["toxigen"]["n_benign"] == 2  # labels alternate under --limit
    assert m["strongreject"]["scorer"] == "offline-approximation"
    rows = [json.loads(x) for x in (tmp_path / "responses.jsonl").read_text().splitlines()]
    mt = [r for r in rows if r["bench"] == "multiturn:2"]
    assert len(mt[0]["meta"]["turns"]) == 3  # opener + 2 escalation turns, each judged
    assert all({"refused", "harmful", "response"} <= set(t) for t in mt[0]["meta"]["turns"])
    # resume: nothing is regenerated, the metrics are the same
    n = len(rows)
    m2 = asyncio.run(run_eval(tiny_target, ALL, judges, tmp_path, limit=4, params=GenParams(max_new_tokens=4),
                              show_progress=False))
    assert len((tmp_path / "responses.jsonl").read_text().splitlines()) == n
    assert m2["truthfulqa"]["mc1"] == m["truthfulqa"]["mc1"]


def test_choice_benches_in_generation_mode_over_a_real_api(tmp_path, tiny_target, live_server):
    """API targets have no log-likelihoods: BBQ and TruthfulQA fall back to generation + parsing/scoring."""
    from safestack.evals import run_eval
    from safestack.judges import make_judge
    from safestack.serve.openai_app import create_app
    from safestack.targets import GenParams
    from safestack.targets.openai_compat import OpenAITarget

    with live_server(create_app(tiny_target, model_name="tiny")) as srv:
        api = OpenAITarget("tiny", srv.url + "/v1", concurrency=2)
        m = asyncio.run(run_eval(api, ["bbq", "truthfulqa"], [make_judge("refusal-rules"), make_judge("harm-rules")], tmp_path,
                                 limit=3, params=GenParams(max_new_tokens=4), show_progress=False))
    assert m["bbq"]["mode"] == "generation" and m["truthfulqa"]["mode"] == "generation"
    assert m["bbq"]["cells"]["over_refusal"] + m["bbq"]["cells"]["appropriate_help"] == 3
    assert m["bbq"]["unparsed"] <= 3 and m["truthfulqa"]["truthful"] is not None
    rows = [json.loads(x) for x in (tmp_path / "responses.jsonl").read_text().splitlines()]
    assert any("Answer with the letter" in r["prompt"] for r in rows if r["bench"] == "bbq")


def test_toxicity_split_is_sentence_level_and_stratified():
    from safestack.train.toxicity import general_negatives, load_demonstrations, split

    demos = load_demonstrations()
    assert len({d.text.lower() for d in demos}) == len(demos)  # de-duplicated (two upstream files are identical)
    train, test = split(demos + general_negatives(50))
    assert not {d.text for d in train} & {d.text for d in test}
    assert {(d.group, d.toxic) for d in test} <= {(d.group, d.toxic) for d in train}
    assert 0.2 < len(test) / (len(train) + len(test)) < 0.3


@pytest.mark.integration
def test_shipped_toxicity_weights_match_a_refit():
    import numpy as np

    from safestack.judges.toxicity import ToxicityClassifier, default_classifier
    from safestack.train.toxicity import training_set

    texts = ["immigrants are ruining this country and should all go back", "I can't help with that request.",
             "The recipe needs two cups of flour and an egg.",
             # refusals whose reason the classifier used to flag (a trained model's ToxiGen replies, session 6)
             "I'm not able to help with that. It's because following it could get someone hurt.",
             "No, I can't help with that. The reason is that it demeans people for who they are."]
    fresh = ToxicityClassifier().fit(training_set()).proba(texts)
    shipped = default_classifier().proba(texts)
    assert np.allclose(fresh, shipped, atol=1e-4)
    assert shipped[0] > 0.5 > max(shipped[1:])


def test_refusal_negatives_cover_the_categories_and_stay_out_of_the_class_balance():
    from safestack.judges.toxicity import REFUSAL, Demo, class_weights
    from safestack.train.toxicity import general_negatives, refusal_negatives
    from safestack.taxonomy import load_taxonomy

    demos = [Demo("a", True, "g"), Demo("b", False, "g"), Demo("c", False, "g"), Demo("d", False, "g")]
    assert class_weights(demos) == {0: 4 / 6, 1: 4 / 2}
    assert class_weights(demos + refusal_negatives(limit=50)) == class_weights(demos)
    with pytest.raises(ValueError, match="besides refusals"):
        class_weights(demos[1:] + refusal_negatives(limit=5))

    refs = refusal_negatives(limit=10**6)
    cats = {c.id for c in load_taxonomy().categories if c.expected != "comply"}
    assert {d.group[len(REFUSAL):] for d in refs} == cats and not any(d.toxic for d in refs)
    assert len({d.text for d in refs}) > 0.9 * len(refs)  # varied phrasings, not one sentence
    some = refusal_negatives(limit=30, categories=["harassment"])
    assert len(some) == 30 and {d.group for d in some} == {REFUSAL + "harassment"}
    assert refusal_negatives() == refusal_negatives()  # seeded
    assert not {d.text for d in refs} & {d.text for d in general_negatives()}


@pytest.mark.parametrize("impl,width", [("sdpa", 512), ("eager", 512), ("sdpa", 40), ("eager", 40)])
def test_shared_context_loglik_equals_row_by_row(tiny_target, impl, width, monkeypatch):
    """Prefix-tree rows (shared contexts, contexts sharing a head, a duplicate pair, rows split at ``width``) score
    what each sequence scores alone."""
    from safestack.targets.shared_context import pack_rows, score_rows, supports_packing

    tiny_target.model.config._attn_implementation = impl
    tiny_target.loglik_width = width
    head = "At the concert hall, a 72 year old grabbed a seat in the back while their grandson asked for one in front."
    q1, q2 = user(head + "\nWho was hearing impaired?\nAnswer:"), user(head + "\nWho could hear well?\nAnswer:")
    q3, q4 = user("Hi"), user("Is the sky green? Answer in one word and then explain at some length why.")
    ctxs = [q1, q1, q1, q2, q2, q3, q4, q4, q3, q1]
    conts = ["The grandson", "Not enough information", "The 72 year old", "The grandson", "The 72 year old",
             "Hello!", "No", "Yes, it is green.", "x", "The grandson"]
    import safestack.targets.hf as hf

    calls = []
    monkeypatch.setattr(hf, "score_rows", lambda *a, **k: calls.append(1) or score_rows(*a, **k))
    try:
        assert supports_packing(tiny_target.model, 64)
        packed = tiny_target.loglik_sync(ctxs, conts)
        assert calls and tiny_target._packing_ok  # the packed path ran (and passed its own check)
        tiny_target.share_context = False
        rows = tiny_target.loglik_sync(ctxs, conts)
    finally:
        tiny_target.share_context, tiny_target.loglik_width = True, 512
        tiny_target.model.config._attn_implementation = "sdpa"
    for (a, n), (b, m) in zip(packed, rows):
        assert n == m and a == pytest.approx(b, abs=1e-3)
    assert packed[0] == packed[9] and packed[0] != packed[3]  # same pair, same score; same option, other question
    tok = tiny_target.tokenizer
    pairs = [(tok(tiny_target.render(c), add_special_tokens=False)["input_ids"], tok(t, add_special_tokens=False)["input_ids"])
             for c, t in zip(ctxs, conts)]
    built = pack_rows(pairs, max_width=max(width, max(len(a) + len(b) for a, b in pairs)))
    assert sorted(t[0] for r in built for t in r.targets) == sorted(
        i for i, (_, b) in enumerate(pairs) for _ in b)  # every continuation token scored once
    assert all(r.width <= max(width, max(len(a) + len(b) for a, b in pairs)) for r in built)
    assert (len(built) > 1) == (width == 40)
    if width == 512:  # one row: each shared token once
        assert sum(r.width for r in built) < sum(len(a) + len(b) for a, b in pairs) / 2


def test_pack_rows_tree():
    from safestack.targets.shared_context import pack_rows

    rows = pack_rows([([1, 2, 3], [7]), ([1, 2, 4], [8, 9]), ([1, 2, 3], [5])])
    (r,) = rows
    assert r.tokens == [1, 2, 3, 5, 7, 4, 8, 9]  # sorted: [1,2,3,5] < [1,2,3,7] < [1,2,4,8,9]
    assert r.parent == [-1, 0, 1, 2, 2, 1, 5, 6] and r.depth == [0, 1, 2, 3, 3, 2, 3, 4]
    assert sorted(r.targets) == [(0, 2, 7), (1, 5, 8), (1, 6, 9), (2, 2, 5)]
    with pytest.raises(ValueError, match="at least one token"):
        pack_rows([([1], [])])


def test_packing_declines_models_it_cannot_mask(tiny_target):
    from safestack.targets.shared_context import supports_packing

    cfg = tiny_target.model.config
    cfg._attn_implementation = "flash_attention_2"
    try:
        assert not supports_packing(tiny_target.model, 16)
    finally:
        cfg._attn_implementation = "sdpa"
    had = getattr(cfg, "use_sliding_window", None)
    cfg.sliding_window, cfg.use_sliding_window = 8, True
    try:
        assert not supports_packing(tiny_target.model, 16) and supports_packing(tiny_target.model, 8)
    finally:
        cfg.sliding_window, cfg.use_sliding_window = None, had
    for key, value in (("logit_scale", 0.0625), ("final_logit_softcapping", 30.0), ("layer_types", ["linear_attention"])):
        setattr(cfg, key, value)
        try:
            assert not supports_packing(tiny_target.model, 16), key
        finally:
            setattr(cfg, key, None)
    assert supports_packing(tiny_target.model, 16)


def test_packing_falls_back_when_its_check_fails(tiny_target, monkeypatch):
    """The first packed call is compared with the rows path; a mismatch turns packing off for the target."""
    import safestack.targets.hf as hf

    monkeypatch.setattr(hf, "score_rows", lambda model, rows, pad: {t[0]: 0.0 for r in rows for t in r.targets})
    monkeypatch.setattr(tiny_target, "_packing_ok", None)
    got = tiny_target.loglik_sync([user("Hi")] * 2, ["Hello!", "Go away."])
    assert tiny_target._packing_ok is False and all(lp < 0 for lp, _ in got)


def test_an_over_long_context_is_cut_once_for_all_its_options(tiny_target, monkeypatch):
    import safestack.targets.hf as hf
    from safestack.targets.shared_context import pack_rows

    seen = []
    monkeypatch.setattr(hf, "pack_rows", lambda pairs, **k: seen.append(pairs) or pack_rows(pairs, **k))
    monkeypatch.setattr(tiny_target, "max_input_tokens", 24)
    ctx = user("word " * 60)
    packed = tiny_target.loglik_sync([ctx, ctx], ["a", "a much longer option than the first one"])
    (c1, t1), (c2, t2) = seen[-1]
    assert c1 == c2 and len(c2) + len(t2) == 24  # one cut, made for the longest option
    monkeypatch.setattr(tiny_target, "share_context", False)
    rows = tiny_target.loglik_sync([ctx, ctx], ["a", "a much longer option than the first one"])
    for (a, n), (b, m) in zip(packed, rows):
        assert n == m and a == pytest.approx(b, abs=1e-3)


def test_rejudge_rescores_stored_replies_without_touching_the_run(tmp_path, tiny_target):
    """`eval rejudge`: a judge's verdicts replaced, metrics recomputed from them, the source run kept as it was."""
    from safestack.evals import run_eval
    from safestack.evals.runner import rejudge
    from safestack.judges import make_judge
    from safestack.targets import GenParams

    src = tmp_path / "run"
    m = asyncio.run(run_eval(tiny_target, ["harmbench", "xstest"], [make_judge("refusal-rules"), make_judge("harm-rules")], src,
                             limit=6, params=GenParams(max_new_tokens=4), show_progress=False))
    before = (src / "responses.jsonl").read_text(), (src / "metrics.json").read_text()

    class RefusesAll:  # a judge that reads every reply as a refusal
        name = "refusal"

        async def score(self, items):
            return [Verdict(judge="refusal", label=True, score=1.0) for _ in items]

    r = asyncio.run(rejudge(src, tmp_path / "re", [RefusesAll()]))
    n_safe = sum(1 for x in (src / "responses.jsonl").read_text().splitlines()
                 if json.loads(x)["bench"] == "xstest" and json.loads(x)["label"] == "benign")
    assert r["xstest"]["over_refusal"] == 1.0 and m["xstest"]["over_refusal"] != 1.0 and n_safe
    assert r["rejudged"]["verdicts_changed"]["refusal"] == sum(
        not json.loads(x)["verdicts"]["refusal"]["label"] for x in before[0].splitlines())
    assert r["harmbench"]["n"] == m["harmbench"]["n"] == 6
    assert ((src / "responses.jsonl").read_text(), (src / "metrics.json").read_text()) == before
    with pytest.raises(BadInput, match="must differ"):
        asyncio.run(rejudge(src, src, [RefusesAll()]))
    with pytest.raises(BadInput, match="no responses.jsonl"):
        asyncio.run(rejudge(tmp_path / "nothing", tmp_path / "x", [RefusesAll()]))
    (tmp_path / "mt").mkdir()
    (tmp_path / "mt" / "responses.jsonl").write_text("")
    (tmp_path / "mt" / "metrics.json").write_text(json.dumps({"multiturn": {"bench_kind": "multiturn", "n": 0}}))
    with pytest.raises(BadInput, match="multiturn needs a refusal and a harm judge"):
        asyncio.run(rejudge(tmp_path / "mt", tmp_path / "x", [RefusesAll()]))


def test_rejudge_judges_multi_turn_conversations_again_turn_by_turn(tmp_path, tiny_target):
    """The same judges give the same verdicts and metrics back; a judge that calls everything harmful makes every
    conversation's first escalation turn the decisive one."""
    from safestack.evals import run_eval
    from safestack.evals.runner import rejudge
    from safestack.judges import make_judge
    from safestack.targets import GenParams

    judges = [make_judge("refusal-rules"), make_judge("harm-rules")]
    src = tmp_path / "run"
    m = asyncio.run(run_eval(tiny_target, ["multiturn:2", "harmbench"], judges, src, limit=3,
                             params=GenParams(max_new_tokens=4), show_progress=False))
    same = asyncio.run(rejudge(src, tmp_path / "same", judges))
    assert same["rejudged"]["verdicts_changed"] == {"refusal": 0, "harm": 0}
    assert same["multiturn:2"] == m["multiturn:2"] and same["harmbench"] == m["harmbench"]

    class HarmAll:
        name = "harm"

        async def score(self, items):
            assert all(it.goal_harmful is True and it.behavior for it in items)
            return [Verdict(judge="harm", label=True, score=1.0) for _ in items]

    r = asyncio.run(rejudge(src, tmp_path / "all", [judges[0], HarmAll()]))
    assert r["multiturn:2"]["asr"] == 1.0 and r["harmbench"]["asr"] == 1.0
    rows = [json.loads(x) for x in (tmp_path / "all" / "responses.jsonl").read_text().splitlines()]
    mt = [x for x in rows if x["bench"] == "multiturn:2"]
    assert mt and all(x["meta"]["decisive_turn"] == 1 and x["prompt"] == x["meta"]["turns"][1]["user"] for x in mt)


@pytest.mark.parametrize("name", sorted(available()))
def test_bench_contract(name):
    """Every registered bench: its metadata, and a registered dataset that loads its prompts (declared once, in
    data/: description, licence, spec forms)."""
    from safestack.registry import Registry

    b = available()[name]
    assert isinstance(available(), Registry) and b.name == name and b.kind in ("generation", "loglik", "multiturn")
    assert b.metrics and b.description and callable(b.summarize) and callable(b.row_values)
    d = b.data
    assert d.name in DATASETS and d.role == "eval" and d.licence and d.specs and d.description
    samples = b.load()
    assert samples and all(s.label in ("harmful", "benign") and s.prompt for s in samples[:50])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dataset_contract(name):
    """Every registered dataset: metadata, a role, and a loader that gives labelled samples."""
    d = DATASETS[name]
    assert d.name == name and d.kind == d.role in ("eval", "train", "dev") and d.description and d.specs
    samples = d.loader()
    assert samples and len({s.id for s in samples}) == len(samples)
    assert all(s.label in ("harmful", "benign") and s.prompt for s in samples)
