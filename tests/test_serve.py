"""The OpenAI-compatible server: dynamic batching, token streaming from hf targets, the real openai client."""

import asyncio
import time

from safestack.records import user
from safestack.serve import create_app
from safestack.serve.batcher import Batcher
from safestack.targets import GenParams
from safestack.targets.openai_compat import OpenAITarget


class Counting:
    """A Target that records the batch sizes it is sent (and echoes the prompt)."""

    name = "counting"

    def __init__(self, delay=0.05):
        self.batches, self.delay = [], delay

    async def generate(self, conversations, params):
        self.batches.append(len(conversations))
        await asyncio.sleep(self.delay)
        return [f"{params.max_new_tokens}:{c[-1].content}" for c in conversations]


def test_batcher_groups_concurrent_requests_by_params():
    async def go():
        t = Counting()
        b = Batcher(t, max_batch=4, max_wait_ms=50)
        p8, p4 = GenParams(max_new_tokens=8), GenParams(max_new_tokens=4)
        jobs = [b.generate(user(f"q{i}"), p8 if i % 3 else p4) for i in range(9)]
        out = await asyncio.gather(*jobs)
        await b.aclose()
        return t, out

    t, out = asyncio.run(go())
    assert out == [f"{8 if i % 3 else 4}:q{i}" for i in range(9)]  # every caller gets its own reply
    assert sum(t.batches) == 9 and max(t.batches) <= 4 and len(t.batches) < 9  # batched, capped


def test_batcher_passes_errors_to_every_waiting_request():
    class Broken:
        async def generate(self, conversations, params):
            raise RuntimeError("model fell over")

    async def go():
        b = Batcher(Broken(), max_wait_ms=20)
        res = await asyncio.gather(*[b.generate(user("x"), GenParams()) for _ in range(3)], return_exceptions=True)
        ok = await Batcher(Counting(0), max_wait_ms=1).generate(user("y"), GenParams())  # a new batcher still works
        await b.aclose()
        return res, ok

    res, ok = asyncio.run(go())
    assert all(isinstance(r, RuntimeError) and "fell over" in str(r) for r in res) and ok.endswith(":y")


def test_hf_stream_matches_generate_and_stops_on_close(tiny_target):
    conv = user("tell me a story")
    params = GenParams(max_new_tokens=12)
    want = asyncio.run(tiny_target.generate([conv], params))[0]

    async def collect(n=None):
        pieces = []
        agen = tiny_target.stream(conv, params)
        async for p in agen:
            pieces.append(p)
            if n and len(pieces) >= n:
                break
        await agen.aclose()
        return pieces

    pieces = asyncio.run(collect())
    assert len(pieces) > 1 and "".join(pieces) == want  # token by token, same text as generate()
    assert len(asyncio.run(collect(2))) == 2
    # the lock was released: a normal generate still runs
    assert asyncio.run(tiny_target.generate([conv], params))[0] == want
    stop = want.split()[2] if len(want.split()) > 2 else want[-2:]
    cut = "".join(asyncio.run(_stream(tiny_target, conv, GenParams(max_new_tokens=12, stop=(stop,)))))
    assert cut == want.split(stop)[0].strip()


async def _stream(t, conv, params):
    return [p async for p in t.stream(conv, params)]


def test_server_batches_concurrent_clients_and_streams_tokens(tiny_target, live_server):
    app = create_app(tiny_target, model_name="tiny", max_batch=8, max_wait_ms=30)
    convs = [user(f"question number {i}") for i in range(8)]
    params = GenParams(max_new_tokens=6)
    want = asyncio.run(tiny_target.generate(convs, params))
    with live_server(app) as srv:
        t = OpenAITarget("tiny", srv.url + "/v1", concurrency=8)
        got = asyncio.run(t.generate(convs, params))
        assert got == want
        assert max(app.state.batcher.batches) > 1  # concurrent requests shared a batch
        import openai

        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="none")
        t0 = time.time()
        chunks = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "question number 0"}], max_tokens=6, stream=True)
            if c.choices]
        assert "".join(chunks) == want[0] and sum(1 for c in chunks if c) > 1 and time.time() - t0 < 30
