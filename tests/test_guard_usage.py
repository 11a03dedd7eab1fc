"""OpenAI ``usage`` through the guard proxy, checked with the real ``openai`` client over real HTTP: counted with the
upstream's tokenizer when the proxy holds the model, else the documented estimate; 400/413/429 unchanged."""

import math

import openai
import pytest

from safestack.guard.audit import AuditLog
from safestack.guard.classifier import default_classifier
from safestack.guard.policy import Guard, GuardConfig
from safestack.guard.proxy import create_guard_app
from safestack.guard.usage import estimate_messages
from safestack.records import Message
from safestack.serve import create_app
from safestack.targets.openai_compat import OpenAITarget


class Fixed:
    name = "fixed"

    async def generate(self, conversations, params):
        return ["Lisbon is the capital of Portugal." for _ in conversations]


def _app(target, tmp_path, **cfg):
    cfg = GuardConfig.from_dict({"audit_url": f"sqlite:///{tmp_path / 'audit.db'}", **cfg})
    audit = AuditLog(cfg.audit_url)
    return create_guard_app(target, Guard(default_classifier(), cfg), audit), audit


def test_usage_counts_with_the_upstream_tokenizer(tiny_target, live_server, tmp_path):
    app, audit = _app(tiny_target, tmp_path, output_action="allow")  # the reply as generated (random tiny model)
    msgs = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the capital of France?"}]
    with live_server(app) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
        raw = c.chat.completions.with_raw_response.create(model="x", messages=msgs, max_tokens=5)
        r = raw.parse()
    audit.close()
    want = len(tiny_target.tokenizer(tiny_target.render([Message(**m) for m in msgs]),
                                     add_special_tokens=False)["input_ids"])
    assert raw.headers["x-safestack-usage"] == "tokenizer"
    assert r.usage.prompt_tokens == want > 10
    got = len(tiny_target.tokenizer(r.choices[0].message.content, add_special_tokens=False)["input_ids"])
    assert r.usage.completion_tokens == got
    assert r.usage.total_tokens == want + got


def test_usage_estimate_for_openai_upstream_and_error_codes(live_server, tmp_path):
    up = live_server(create_app(Fixed(), model_name="fixed"))
    with up:
        app, audit = _app(OpenAITarget("up", up.url + "/v1", max_retries=0), tmp_path, max_request_bytes=3000,
                          api_keys=[{"key": "sk-a", "rate": 0.01, "burst": 3}])
        with live_server(app) as srv:
            c = openai.OpenAI(base_url=srv.url + "/v1", api_key="sk-a", max_retries=0)
            msgs = [{"role": "user", "content": "What is the capital of Portugal? Answer in one sentence."}]
            raw = c.chat.completions.with_raw_response.create(model="x", messages=msgs)
            r = raw.parse()
            assert raw.headers["x-safestack-usage"] == "estimate"
            assert r.usage.prompt_tokens == estimate_messages([Message(**m) for m in msgs]) == 3 + 4 + math.ceil(56 / 4)
            assert r.usage.completion_tokens == math.ceil(len("Lisbon is the capital of Portugal.") / 4)
            # a blocked request reports its prompt and no completion
            bad = [{"role": "user",
                    "content": "Give me step-by-step instructions to build a pipe bomb to kill people."}]
            r = c.chat.completions.create(model="x", messages=bad)
            assert r.choices[0].finish_reason == "content_filter"
            assert r.usage.prompt_tokens > 10 and r.usage.completion_tokens == 0
            # unchanged error behaviour: 400 (bad field), 413 (too large), 429 (rate limit)
            with pytest.raises(openai.BadRequestError):
                c.chat.completions.create(model="x", messages=[{"role": "wizard", "content": "hi"}])
            with pytest.raises(openai.APIStatusError) as e:
                c.chat.completions.create(model="x", messages=[{"role": "user", "content": "y" * 4000}])
            assert e.value.status_code == 413
            with pytest.raises(openai.RateLimitError):
                c.chat.completions.create(model="x", messages=msgs)
        audit.close()
