"""OpenAI-compatible chat target (vLLM, Ollama, OpenAI, safestack's own guard proxy).

httpx async with bounded concurrency, retry with exponential backoff on 429/5xx and timeouts. ``transport`` is the
one seam: tests pass ``httpx.MockTransport`` or, as the suite does, point it at a real local server.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Sequence

import httpx

from ..errors import BadInput, SafestackError
from ..records import Message
from .base import GenParams


class TargetError(SafestackError):
    exit_code = 2


class OpenAITarget:
    def __init__(self, model: str, base_url: str, *, api_key: str | None = None, concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 0.5,
                 transport: httpx.AsyncBaseTransport | None = None, name: str | None = None,
                 system_prompt: str | None = None):
        if not base_url.startswith(("http://", "https://")):
            raise BadInput(f"openai target: base_url '{base_url}' must start with http:// or https://")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.transport = transport
        self.system_prompt = system_prompt
        self.name = name or f"openai:{model}@{self.base_url}"

    def _client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=self.timeout,
                                 transport=self.transport)

    async def _one(self, client: httpx.AsyncClient, sem: asyncio.Semaphore, conv: Sequence[Message],
                   params: GenParams) -> str:
        msgs = [{"role": m.role, "content": m.content} for m in conv]
        if self.system_prompt and (not msgs or msgs[0]["role"] != "system"):
            msgs.insert(0, {"role": "system", "content": self.system_prompt})
        body = {"model": self.model, "messages": msgs, "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p, "seed": params.seed}
        if params.stop:
            body["stop"] = list(params.stop)
        async with sem:
            for attempt in range(self.max_retries + 1):
                try:
                    r = await client.post("/chat/completions", json=body)
                except httpx.ConnectError as e:
                    raise TargetError(f"{self.name}: cannot connect to {self.base_url} ({e})") from None
                except httpx.TimeoutException:
                    if attempt == self.max_retries:
                        raise TargetError(f"{self.name}: timed out after {self.timeout}s "
                                          f"({self.max_retries + 1} tries)") from None
                    await asyncio.sleep(self._delay(attempt, None))
                    continue
                if r.status_code == 200:
                    try:
                        return r.json()["choices"][0]["message"].get("content") or ""
                    except (ValueError, KeyError, IndexError):
                        raise TargetError(f"{self.name}: response is not an OpenAI chat completion: "
                                          f"{r.text[:200]}") from None
                if r.status_code in (401, 403):
                    raise TargetError(f"{self.name}: authentication failed (HTTP {r.status_code}); check the "
                                      "API key (OPENAI_API_KEY or --api-key-env)")
                if r.status_code == 404:
                    raise TargetError(f"{self.name}: {r.request.url} not found (HTTP 404); the base URL usually "
                                      "ends in /v1")
                if (r.status_code == 429 or r.status_code >= 500) and attempt < self.max_retries:
                    await asyncio.sleep(self._delay(attempt, r.headers.get("retry-after")))
                    continue
                raise TargetError(f"{self.name}: HTTP {r.status_code}: {r.text[:300]}")
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 30.0)
            except ValueError:
                pass
        return self.backoff * (2 ** attempt) * (0.5 + random.random())

    async def generate(self, conversations: Sequence[Sequence[Message]], params: GenParams) -> list[str]:
        sem = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:
            return list(await asyncio.gather(*(self._one(client, sem, c, params) for c in conversations)))


def parse_openai_spec(rest: str, api_key_env: str | None = None, **kw) -> OpenAITarget:
    """``<model>@<base_url>``; the key comes from $OPENAI_API_KEY or the variable named by --api-key-env."""
    if "@" not in rest:
        raise BadInput(f"target 'openai:{rest}': expected openai:<model>@<base_url>, "
                       "e.g. openai:gpt-4o-mini@https://api.openai.com/v1")
    model, base_url = rest.split("@", 1)
    if not model:
        raise BadInput(f"target 'openai:{rest}': missing model name before '@'")
    env = api_key_env or "OPENAI_API_KEY"
    if api_key_env and api_key_env not in os.environ:
        raise BadInput(f"--api-key-env {api_key_env}: environment variable not set")
    return OpenAITarget(model, base_url, api_key=os.environ.get(env), **kw)
