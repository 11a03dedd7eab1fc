import asyncio
import json

import httpx
import pytest

from safestack.errors import BadInput
from safestack.records import user
from safestack.serve import create_app
from safestack.targets import GenParams, load_target
from safestack.targets.openai_compat import OpenAITarget, TargetError


def test_hf_batched_matches_single(tiny_target):
    """Left padding: a prompt's greedy reply is the same alone or batched with longer prompts."""
    convs = [user("hi"), user("Tell me a long story about a dragon and a knight in a castle"), user("2+2?")]
    p = GenParams(max_new_tokens=6)
    batched = asyncio.run(tiny_target.generate(convs, p))
    single = [asyncio.run(tiny_target.generate([c], p))[0] for c in convs]
    assert batched == single and len(batched) == 3


def test_target_specs_rejected_clearly():
    with pytest.raises(BadInput, match="unknown target spec"):
        load_target("gpt4")
    with pytest.raises(BadInput, match="openai:<model>@<base_url>"):
        load_target("openai:gpt-4o")
    with pytest.raises(BadInput, match="must start with http"):
        load_target("openai:m@localhost:8000")
    with pytest.raises(BadInput, match="no such model directory"):
        load_target("hf:/definitely/not/here")


def test_openai_target_against_real_local_server(tiny_target, live_server):
    """The real openai: code path over HTTP to a real uvicorn server serving the tiny model."""
    app = create_app(tiny_target, model_name="tiny", api_keys={"sk-test"})
    with live_server(app) as srv:
        t = OpenAITarget("tiny", srv.url + "/v1", api_key="sk-test", concurrency=2)
        convs = [user("hello"), user("what is 2+2?"), user("name a colour")]
        got = asyncio.run(t.generate(convs, GenParams(max_new_tokens=5)))
        want = asyncio.run(tiny_target.generate(convs, GenParams(max_new_tokens=5)))
        assert got == want
        bad = OpenAITarget("tiny", srv.url + "/v1", api_key="wrong")
        with pytest.raises(TargetError, match="authentication failed"):
            asyncio.run(bad.generate([user("x")], GenParams(max_new_tokens=2)))
        nf = OpenAITarget("tiny", srv.url, api_key="sk-test")
        with pytest.raises(TargetError, match="404"):
            asyncio.run(nf.generate([user("x")], GenParams(max_new_tokens=2)))
        # the official openai client, streaming and not
        import openai

        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="sk-test")
        r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=5)
        assert r.choices[0].message.content == want[0]
        chunks = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hello"}],
                                                max_tokens=5, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == want[0]


def test_openai_target_unreachable():
    from conftest import free_port

    t = OpenAITarget("m", f"http://127.0.0.1:{free_port()}/v1", max_retries=0)
    with pytest.raises(TargetError, match="cannot connect"):
        asyncio.run(t.generate([user("x")], GenParams()))


def test_openai_target_retries_429_and_5xx():
    """Backoff on 429/5xx, through the transport seam (a handler instead of the network)."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"retry-after": "0"}, text="slow down")
        if len(calls) == 2:
            return httpx.Response(503, text="busy")
        body = json.loads(request.content)
        assert body["max_tokens"] == 7 and body["messages"][-1]["content"] == "x"
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "ok"}}]})

    t = OpenAITarget("m", "http://upstream.invalid/v1", transport=httpx.MockTransport(handler), backoff=0.0)
    assert asyncio.run(t.generate([user("x")], GenParams(max_new_tokens=7))) == ["ok"]
    assert len(calls) == 3
    calls.clear()
    t2 = OpenAITarget("m", "http://upstream.invalid/v1", transport=httpx.MockTransport(
        lambda r: httpx.Response(500, text="down")), backoff=0.0, max_retries=2)
    with pytest.raises(TargetError, match="HTTP 500"):
        asyncio.run(t2.generate([user("x")], GenParams()))


def test_hf_shared_prefix_gives_the_same_replies_as_plain_padding(tiny_dir):
    """The chat template's shared head is encoded once and its KV cache repeated over the batch ([prefix | pad |
    own tokens]); greedy replies and the logits behind them match plain left padding."""
    import torch

    from safestack.targets.hf import HFTarget
    from safestack.targets.shared_context import common_prefix

    shared = HFTarget(str(tiny_dir), batch_size=8)
    plain = HFTarget(str(tiny_dir), batch_size=8, share_prefix=False)
    convs = [user("hi"), user("Tell me a long story about a dragon and a knight in a castle"), user("2+2?"),
             user("What is the capital of France, and why is it there?")]
    p = GenParams(max_new_tokens=8)
    assert asyncio.run(shared.generate(convs, p)) == asyncio.run(plain.generate(convs, p))
    ids = [shared.tokenizer(shared.render(c), add_special_tokens=False)["input_ids"] for c in convs]
    n = common_prefix(ids, limit=min(map(len, ids)) - 1)
    assert n >= shared.prefix_min  # the system turn + "<|im_start|>user\n"
    enc = shared._batch(ids)
    assert enc["past_key_values"].get_seq_length() == n and enc["attention_mask"][:, :n].all()
    with torch.no_grad():  # first generated token's logits, per row, against each prompt alone
        mask = enc["attention_mask"]
        pos = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate() derives them: padding takes no position
        out = shared.model(input_ids=enc["input_ids"][:, n:], attention_mask=mask, position_ids=pos[:, n:],
                           past_key_values=enc["past_key_values"]).logits[:, -1]
        for j, x in enumerate(ids):
            alone = shared.model(input_ids=torch.tensor([x])).logits[0, -1]
            assert torch.allclose(out[j], alone, atol=1e-4)
    assert common_prefix([[1, 2, 3], [1, 2, 4], [1, 2]], limit=1) == 1 and common_prefix([[5], [6]], 0) == 0


def test_hf_batches_respect_rows_and_token_budget(tiny_target):
    t = tiny_target
    old = (t.batch_size, t.max_batch_tokens)
    try:
        t.batch_size, t.max_batch_tokens = 4, 100
        widths = [10] * 6 + [40, 40, 60]
        batches = t._batches(list(range(9)), widths)
        assert batches == [[0, 1, 2, 3], [4, 5], [6, 7], [8]]  # 4 rows max; then 3 × 40 > 100; 60 alone
        assert [i for b in batches for i in b] == list(range(9))
        t.max_batch_tokens = 10
        assert t._batches([0, 1], [50, 50]) == [[0], [1]]  # a row over budget still runs, alone
    finally:
        t.batch_size, t.max_batch_tokens = old


def test_hf_turn_cache_reuses_earlier_turns_and_replies_the_same(tiny_dir):
    """A conversation sent again with one more turn reuses the stored keys/values of the earlier turns: fewer tokens
    fed, the same greedy replies as a target without the cache, and rows of different cached lengths share a batch."""
    from safestack.records import Message
    from safestack.targets.hf import HFTarget

    cached = HFTarget(str(tiny_dir), batch_size=8)
    plain = HFTarget(str(tiny_dir), batch_size=8, turn_cache_mb=0)
    assert cached.turn_cache is not None and plain.turn_cache is None
    p = GenParams(max_new_tokens=6)
    openers = ["Tell me about castles and the knights who lived in them long ago.", "Name a colour.",
               "What is the capital of France, and why is it there? Explain in detail please.",
               "Tell me about castles and the knights who lived in them long ago."]  # two rows, one stored prefix
    convs_c = [[Message(role="user", content=o)] for o in openers]
    convs_p = [[Message(role="user", content=o)] for o in openers]
    for turn in range(3):
        a, b = cached.generate_sync(convs_c, p), plain.generate_sync(convs_p, p)
        assert a == b, turn
        if turn == 0:
            assert cached.turn_cache.stats()["entries"] == 0  # single requests are not kept
        for c, cp, r in zip(convs_c, convs_p, a):
            for conv in (c, cp):
                conv += [Message(role="assistant", content=r), Message(role="user", content=f"Go on ({turn}).")]
    st = cached.turn_cache.stats()
    # turn 1 (no assistant turn yet) is not kept; turn 2's rows are, and all four rows of turn 3 reuse them
    assert st["hits"] == 4 and st["tokens_reused"] > 150, st
    assert st["entries"] == 3  # each used entry was replaced by its continuation; a row seen twice is stored once


def test_turn_cache_is_off_for_a_model_passed_in_and_bounded(tiny_target):
    import torch

    from safestack.targets.hf import HFTarget
    from safestack.targets.turn_cache import TurnCache

    t = HFTarget(model=tiny_target.model, tokenizer=tiny_target.tokenizer)  # may be trained between calls
    assert t.turn_cache is None
    c = TurnCache(max_mb=1 / 1024, min_tokens=4)  # 1 KiB
    for i in range(5):
        kv = [(torch.zeros(1, 1, 10, 4), torch.zeros(1, 1, 10, 4))]  # a 320-byte batch of one row
        c.put_block(kv, [([i] * 10, 0, torch.arange(10))])
    assert c.bytes <= 1024 and len(c.entries) == 3  # oldest dropped
    assert c.match([4] * 12) == (10, max(c.entries)) and c.match([0] * 12) == (0, None)
    assert c.match([4] * 6 + [9]) == (6, max(c.entries))  # a prefix of a stored row
    two = [(torch.zeros(2, 1, 10, 4), torch.zeros(2, 1, 10, 4))]  # 640 bytes, two rows: counted in full
    c.put_block(two, [([7] * 10, 0, torch.arange(10)), ([8] * 10, 1, torch.arange(10))])
    assert c.bytes == 640 + 320 and len(c.entries) == 3  # two oldest one-row batches dropped
    c.take(c.match([7] * 12)[1])
    assert c.bytes == 640 + 320  # the batch stays while its other row is stored
    c.take(c.match([8] * 12)[1])
    assert c.bytes == 320
    c.put_block([(torch.zeros(4, 1, 10, 4), torch.zeros(4, 1, 10, 4))], [([9] * 10, 0, torch.arange(10))])
    assert c.match([9] * 12) == (0, None)  # a batch larger than the budget is not kept


def test_turn_cache_stores_up_to_the_end_token_and_not_the_unfed_last_token():
    """store_rows: a row that ended keeps its tokens up to and including the end token; a row cut by the limit keeps
    every generated token but the last (never fed, so it has no keys/values); masked input columns are skipped."""
    import torch
    from transformers import DynamicCache

    from safestack.targets.turn_cache import TurnCache, store_rows

    width, n_gen, eos = 40, 4, 2
    ids = torch.tensor([[0] * 5 + list(range(10, 45)), list(range(100, 140))])
    mask = torch.tensor([[0] * 5 + [1] * 35, [1] * 40])
    gen = torch.cat([ids, torch.tensor([[7, eos, 0, 0], [8, 9, 11, 12]])], dim=1)
    kv_len = width + n_gen - 1
    k = torch.arange(2 * kv_len, dtype=torch.float32).reshape(2, 1, kv_len, 1)
    past = DynamicCache(ddp_cache_data=[(k, k.clone())])
    c = TurnCache(max_mb=1, min_tokens=32)
    store_rows(c, {"input_ids": ids, "attention_mask": mask}, gen, past, {eos})
    a, b = sorted(c.entries.values(), key=lambda e: e.row)
    assert a.ids == tuple(range(10, 45)) + (7, eos) and a.cols.tolist() == list(range(5, 40)) + [40, 41]
    assert b.ids == tuple(range(100, 140)) + (8, 9, 11) and b.cols.tolist() == list(range(43))
    keys, _ = b.layer(0, 3)
    assert keys.flatten().tolist() == [kv_len, kv_len + 1, kv_len + 2]  # row 1's own columns


def test_turn_cache_steps_aside_while_a_forward_hook_is_installed(tiny_dir):
    """Stored keys/values were computed without the hook: a hooked call must neither reuse nor store them, so a
    hooked cached target replies exactly as a hooked target without the cache."""
    from safestack.records import Message
    from safestack.targets.hf import HFTarget

    cached = HFTarget(str(tiny_dir), batch_size=8)
    plain = HFTarget(str(tiny_dir), batch_size=8, turn_cache_mb=0)
    conv = [[Message(role="user", content="Tell me about castles and the knights who lived in them long ago."),
             Message(role="assistant", content="Castles were fortified homes."), Message(role="user", content="Who?")]]
    p = GenParams(max_new_tokens=6)
    first = cached.generate_sync(conv, p)  # a conversation under way: kept
    conv2 = [conv[0] + [Message(role="assistant", content=first[0]), Message(role="user", content="More.")]]

    def add_hook(t):
        layer = t.model.model.layers[0]
        return layer.register_forward_hook(lambda m, i, o: (o[0] + 0.5,) + tuple(o[1:]) if isinstance(o, tuple)
                                           else o + 0.5)

    unhooked = plain.generate_sync(conv2, p)
    hooks = [add_hook(cached), add_hook(plain)]
    try:
        hooked = plain.generate_sync(conv2, p)
        assert hooked != unhooked  # the hook matters
        assert cached.generate_sync(conv2, p) == hooked
        assert cached.turn_cache.stats()["hits"] == 0
    finally:
        for h in hooks:
            h.remove()
    assert cached.generate_sync(conv2, p) == unhooked
    assert cached.turn_cache.stats()["hits"] == 1  # without the hook the stored turn is used again
