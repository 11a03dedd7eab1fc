"""Streaming from an upstream target: for `safestack serve` and the guard proxy.

An ``openai:`` target is streamed for real (``stream: true``, server-sent events read as they arrive, through the
target's own base URL, key and httpx transport). A target with a ``stream(conversation, params)`` async iterator
(``default``, ``hf:`` — transformers' TextIteratorStreamer) is streamed token by token as it decodes; closing the
stream (the guard cut it) stops generation. Any other target's complete reply is streamed word by word, so the
sliding-window guard still sees, and can cut, the reply before the client does.
"""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator, Sequence

import httpx

from ..records import Message
from ..targets.base import GenParams, Target
from ..targets.openai_compat import OpenAITarget, TargetError


class UpstreamClients:
    """One pooled httpx client per ``openai:`` upstream for the proxy's lifetime (the Target protocol opens one per
    ``generate`` call; under load, a connection per request costs more than the guard itself). The target's own
    retry/backoff logic (``OpenAITarget._one``) is reused with the pooled client."""

    def __init__(self, concurrency: int = 256):
        self.clients: dict[int, httpx.AsyncClient] = {}
        self.batchers: dict[int, object] = {}  # local targets: concurrent requests decoded as one batch
        self.sem = asyncio.Semaphore(concurrency)

    def client(self, t: OpenAITarget) -> httpx.AsyncClient:
        c = self.clients.get(id(t))
        if c is None:
            headers = {"Authorization": f"Bearer {t.api_key}"} if t.api_key else {}
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
            c = self.clients[id(t)] = httpx.AsyncClient(base_url=t.base_url, headers=headers, timeout=t.timeout,
                                                        transport=t.transport, limits=limits)
        return c

    async def generate(self, target: Target, messages: Sequence[Message], params: GenParams) -> str:
        if isinstance(target, OpenAITarget):
            return await target._one(self.client(target), self.sem, list(messages), params)
        b = self.batchers.get(id(target))
        if b is None:
            from .batcher import Batcher

            b = self.batchers[id(target)] = Batcher(target)
        return await b.generate(messages, params)

    async def aclose(self) -> None:
        for c in self.clients.values():
            await c.aclose()
        self.clients.clear()
        for b in self.batchers.values():
            await b.aclose()
        self.batchers.clear()


async def stream_reply(target: Target, messages: Sequence[Message], params: GenParams,
                       clients: UpstreamClients | None = None) -> AsyncIterator[str]:
    if isinstance(target, OpenAITarget):
        async for delta in _stream_openai(target, messages, params, clients):
            yield delta
        return
    if hasattr(target, "stream"):
        agen = target.stream(list(messages), params)
        try:
            async for delta in agen:
                yield delta
        finally:
            await agen.aclose()
        return
    text = (await target.generate([list(messages)], params))[0]
    words = text.split(" ")
    for i, w in enumerate(words):
        yield w if i == 0 else " " + w


async def _stream_openai(t: OpenAITarget, messages: Sequence[Message], params: GenParams,
                         clients: UpstreamClients | None) -> AsyncIterator[str]:
    msgs = [{"role": m.role, "content": m.content} for m in messages]
    if t.system_prompt and (not msgs or msgs[0]["role"] != "system"):
        msgs.insert(0, {"role": "system", "content": t.system_prompt})
    body = {"model": t.model, "messages": msgs, "max_tokens": params.max_new_tokens, "temperature":
            params.temperature, "top_p": params.top_p, "seed": params.seed, "stream": True}
    if params.stop:
        body["stop"] = list(params.stop)
    own = clients is None
    client = t._client() if own else clients.client(t)
    try:
        try:
            async with client.stream("POST", "/chat/completions", json=body) as r:
                if r.status_code != 200:
                    await r.aread()
                    raise TargetError(f"{t.name}: HTTP {r.status_code}: {r.text[:300]}")
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        chunk = json.loads(data)
                        delta = (chunk.get("choices") or [{}])[0].get("delta", {}).get("content")
                    except (ValueError, AttributeError, IndexError):
                        raise TargetError(f"{t.name}: malformed stream chunk: {data[:200]}") from None
                    if delta:
                        yield delta
        except httpx.ConnectError as e:
            raise TargetError(f"{t.name}: cannot connect to {t.base_url} ({e})") from None
    finally:
        if own:
            await client.aclose()
