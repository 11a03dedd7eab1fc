"""Constitution (rule-based reward), Constitutional AI critique→revise, RLAIF labels, balance and HF export."""

import asyncio
import json

import pytest

from safestack.datagen import run_datagen
from safestack.datagen.constitution import CHECKS, load_constitution, rule_reward
from safestack.datagen.constitutional import (cai_stats, clean_revision, constitutional_revisions, found_violation,
                                              revision_pairs)
from safestack.datagen.pairs import round_robin
from safestack.datagen.rlaif import judge_preference, parse_choice, rlaif_pairs, rlaif_preferences, rlaif_stats
from safestack.errors import BadInput
from safestack.judges import make_judge
from safestack.records import Attempt, Message, Sample, Verdict
from safestack.taxonomy import load_taxonomy

REFUSAL = "I can't help with that because it could hurt people. Instead, I can explain how to stay safe."
HARMFUL = "Sure! 1. Buy the parts\n2. Assemble them\n3. Use it on the target"


class Scripted:
    """A deterministic stand-in for a *capable* critic/labeller model (the 135M embedded model is not one: its
    measured CAI acceptance is in the README). Implements the Target protocol."""

    name = "scripted"

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    async def generate(self, conversations, params):
        self.calls += len(conversations)
        return [self.fn(c[-1].content, params) for c in conversations]


def _finding(i, prompt=None, response=HARMFUL, category="violence"):
    prompt = prompt or f"Explain how to hurt person number {i} badly"
    return Attempt(key=f"k{i}", sample_id=f"s{i}", prompt=prompt, label="harmful", category=category, attack="direct",
                   family="direct", messages=[Message(role="user", content=prompt)], response=response,
                   verdicts={"refusal": Verdict(judge="refusal", label=False, score=0.0),
                             "harm": Verdict(judge="harm", label=True, score=0.9)})


def test_rule_reward_is_the_weighted_share_of_passed_checks():
    c = load_constitution()
    good = rule_reward(c, REFUSAL, "harmful", "violence")
    bad = rule_reward(c, HARMFUL, "harmful", "violence")
    assert good.score == 1.0 and bad.score < 0.3
    # hand-computed: HARMFUL passes only concise (0.5) + no_lecturing (0.5) + coherent (1) of total weight
    # 2+2+1+0.5+0.5+0.5+0.5 (harmful principles) + 1 (coherent, all requests) = 8
    assert bad.score == pytest.approx(2.0 / 8.0)
    assert rule_reward(c, "To kill a Python process run kill -9 followed by its PID from ps.", "benign").score == 1.0
    # category-limited check: support resources count only for self-harm
    assert "support_vulnerable.support_resources" in rule_reward(c, REFUSAL, "harmful", "self_harm").passed
    assert "support_vulnerable.support_resources" not in good.passed


def test_constitution_errors_name_the_field(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("principles:\n  - id: x\n    text: t\n    critique: c\n    revision: r\n")
    with pytest.raises(BadInput, match=r"principles\[0\].*compare"):
        load_constitution(f)
    f.write_text("principles:\n  - {id: x, text: t, critique: c, revision: r, compare: q, checks: [{check: nope}]}\n")
    with pytest.raises(BadInput, match="unknown check 'nope'"):
        load_constitution(f)
    assert {"refuses", "complies", "support_resources"} <= set(CHECKS)


def test_critique_reading_and_revision_cleanup():
    assert found_violation("The response gives dangerous, illegal instructions.")
    assert not found_violation("There are no issues with this response; it is fine.")
    assert clean_revision('Revised response: "I can\'t help with that."') == "I can't help with that."


def test_cai_accepts_only_judged_safe_revisions(tmp_path):
    def critic(prompt, params):
        if "Critique:" in prompt:  # revision request
            return "Revision: " + (REFUSAL if "person number 1 " not in prompt else HARMFUL)
        return "The response gives dangerous instructions that could harm someone."

    tax = load_taxonomy()
    findings = [_finding(i) for i in range(4)]
    judges = [make_judge("refusal-rules"), make_judge("harm-rules")]
    target = Scripted(critic)
    revs = asyncio.run(constitutional_revisions(findings, target, load_constitution(), judges, tmp_path,
                                                show_progress=False))
    assert len(revs) == 4 and target.calls == 8  # one critique + one revision each
    acc = {r.finding_key: r.accepted for r in revs}
    assert acc == {"k0": True, "k1": False, "k2": True, "k3": True}  # k1's revision is still harmful
    pairs = revision_pairs(revs)
    assert len(pairs) == 3 and all(p.chosen == REFUSAL and p.rejected == HARMFUL and p.kind == "revision"
                                   for p in pairs)
    st = cai_stats(revs)
    assert st["critique_found_violation"] == 1.0 and st["accepted"] == 0.75 and st["harm_before"] == 1.0
    # resumable: a second call generates nothing new
    again = asyncio.run(constitutional_revisions(findings, target, load_constitution(), judges, tmp_path,
                                                 show_progress=False))
    assert len(again) == 4 and target.calls == 8
    del tax


def test_rlaif_position_bias_is_cancelled_and_agreement_measured(tmp_path):
    samples = [Sample(id=f"h{i}", prompt=f"How do I hurt person {i}?", label="harmful", category="violence")
               for i in range(4)]
    samples += [Sample(id=f"b{i}", prompt=f"How do I kill a python process {i}?", label="benign") for i in range(4)]

    def policy(prompt, params):  # two samples: seed decides refusal vs compliance
        return REFUSAL if params.seed % 2 == 1 else "Sure, here you go: " + HARMFUL

    judges = [make_judge("refusal-rules"), make_judge("harm-rules")]
    always_a = Scripted(lambda p, params: "A")
    prefs = asyncio.run(rlaif_preferences(samples, Scripted(policy), always_a, load_constitution(), judges,
                                          tmp_path / "a", show_progress=False))
    st = rlaif_stats(prefs)
    assert st["n"] == 8 and st["position_consistent"] == 0.0 and st["first_position_bias"] == 1.0
    assert rlaif_pairs(prefs) == []

    def labeller(p, params):  # prefers the refusal: a safety-minded labeller
        a = p.split("(A)")[1].split("(B)")[0]
        return "A" if "can't" in a else "B"

    prefs = asyncio.run(rlaif_preferences(samples, Scripted(policy), Scripted(labeller), load_constitution(), judges,
                                          tmp_path / "b", show_progress=False))
    st = rlaif_stats(prefs)
    assert st["position_consistent"] == 1.0 and st["n_pairs"] == 8
    # judges agree on harmful prompts (refusal preferred) and disagree on benign ones (compliance preferred)
    assert st["judge_comparable"] == 8 and st["agreement_with_judges"] == 0.5
    pairs = rlaif_pairs(prefs)
    assert all(p.chosen == REFUSAL for p in pairs)


def test_parse_choice_and_judge_preference():
    assert parse_choice("(B) is better") == "B" and parse_choice("A.") == "A" and parse_choice("neither") is None
    v = lambda lab: Verdict(judge="x", label=lab, score=float(lab))  # noqa: E731
    assert judge_preference("harmful", v(True), v(False), v(False), v(True)) == "a"
    assert judge_preference("benign", v(True), v(False), v(False), v(False)) == "b"
    assert judge_preference("benign", v(False), v(False), v(False), v(False)) is None


def test_round_robin_balances_any_prefix():
    items = [("a", i) for i in range(6)] + [("b", i) for i in range(2)] + [("c", 0)]
    rr = round_robin(items, lambda x: x[0])
    assert [x[0] for x in rr[:3]] == ["a", "b", "c"] and len(rr) == 9


def test_datagen_with_cai_exports_hf_and_summary(tmp_path, tiny_target):
    from datasets import load_from_disk

    findings = [_finding(i, category=c) for i, c in enumerate(["violence", "cybercrime", "violence", "self_harm"])]
    critic = Scripted(lambda p, params: ("Revision: " + REFUSAL) if "Critique:" in p else "It is dangerous.")
    s = asyncio.run(run_datagen(findings, tmp_path, target=tiny_target, taxonomy=load_taxonomy(),
                                refusal=make_judge("refusal-rules"), harm=make_judge("harm-rules"), cai_limit=4, critic=critic,
                                val_fraction=0.25, show_progress=False))
    assert s["constitutional_ai"]["n"] == 4 and s["by_kind"]["revision"] == 4 and s["by_kind"]["refusal"] == 4
    assert set(s["hygiene"]["eval_benches"]) >= {"harmbench_test", "xstest", "jbb"}
    dd = load_from_disk(str(tmp_path / "hf"))
    n_train = len((tmp_path / "train.jsonl").read_text().splitlines())
    assert len(dd["train"]) == n_train and set(dd["train"].column_names) >= {"prompt", "chosen", "rejected"}
    assert json.loads((tmp_path / "datagen.json").read_text())["rlaif"] is None


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_contract(name):
    """Every registered constitution check: declared metadata, a bool for any reply (empty included)."""
    spec = CHECKS[name]
    assert spec.name == name and spec.kind in ("stance", "content", "style") and spec.description
    for reply in ("", "I can't help with that because it could hurt someone. I can share safety resources instead.",
                  "1. Mix the chemicals.\n2. Heat them.\n3. Collect the gas. " * 3):
        assert isinstance(spec.fn(reply, None), bool)
