"""Streaming from the proxy's upstream target.

An ``openai:`` target is streamed for real (``stream: true``, server-sent events read as they arrive, through the
target's own base URL, key and httpx transport). Other targets (``default``, ``hf:``) have no token stream in the
Target protocol: their complete reply is generated first and then streamed word by word, so the sliding-window
guard still sees, and can cut, the reply before the client does.
"""

from __future__ import annotations

import json
from typing import AsyncIterator, Sequence

import httpx

from ..records import Message
from ..targets.base import GenParams, Target
from ..targets.openai_compat import OpenAITarget, TargetError


async def stream_reply(target: Target, messages: Sequence[Message], params: GenParams) -> AsyncIterator[str]:
    if isinstance(target, OpenAITarget):
        async for delta in _stream_openai(target, messages, params):
            yield delta
        return
    text = (await target.generate([list(messages)], params))[0]
    words = text.split(" ")
    for i, w in enumerate(words):
        yield w if i == 0 else " " + w


async def _stream_openai(t: OpenAITarget, messages: Sequence[Message], params: GenParams) -> AsyncIterator[str]:
    msgs = [{"role": m.role, "content": m.content} for m in messages]
    if t.system_prompt and (not msgs or msgs[0]["role"] != "system"):
        msgs.insert(0, {"role": "system", "content": t.system_prompt})
    body = {"model": t.model, "messages": msgs, "max_tokens": params.max_new_tokens, "temperature":
            params.temperature, "top_p": params.top_p, "seed": params.seed, "stream": True}
    if params.stop:
        body["stop"] = list(params.stop)
    async with t._client() as client:
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
