"""An OpenAI-compatible HTTP server in front of any Target (``/v1/models``, ``/v1/chat/completions``).

Used to serve a local or trained model to OpenAI clients (``safestack serve``) and as the base of the guard proxy.
Concurrent non-streaming requests are batched dynamically (serve/batcher.py). Streaming responses are sent as
server-sent events in OpenAI's chunk format, token by token from targets that can stream (``hf:``, ``default``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..records import Message
from ..targets.base import GenParams, Target


class ChatRequest(BaseModel):
    model: str = "default"
    messages: list[Message]
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stream: bool = False
    stop: str | list[str] | None = None


def gen_params(req: ChatRequest, default_max_tokens: int = 128) -> GenParams:
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    return GenParams(max_new_tokens=req.max_completion_tokens or req.max_tokens or default_max_tokens,
                     temperature=req.temperature, top_p=req.top_p, seed=req.seed or 0, stop=stop)


def create_app(target: Target, *, model_name: str | None = None, api_keys: set[str] | None = None,
               default_max_tokens: int = 128, max_batch: int = 16, max_wait_ms: float = 10.0) -> FastAPI:
    from .batcher import Batcher

    app = FastAPI(title="safestack OpenAI-compatible server")
    batcher = Batcher(target, max_batch=max_batch, max_wait_ms=max_wait_ms)
    app.state.batcher = batcher
    name = model_name or getattr(target, "name", "safestack")

    def check_key(authorization: str | None) -> None:
        if not api_keys:
            return
        token = (authorization or "").removeprefix("Bearer ").strip()
        if token not in api_keys:
            raise HTTPException(401, detail={"error": {"message": "invalid API key", "type": "invalid_request_error"}})

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(authorization: str | None = Header(None)) -> dict:
        check_key(authorization)
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "safestack"}]}

    @app.post("/v1/chat/completions")
    async def chat(req: ChatRequest, request: Request, authorization: str | None = Header(None)) -> Any:
        check_key(authorization)
        params = gen_params(req, default_max_tokens)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if req.stream:
            return StreamingResponse(_sse(cid, created, name, target, req.messages, params),
                                     media_type="text/event-stream")
        text = await batcher.generate(req.messages, params)
        return JSONResponse(completion_body(cid, created, name, text))

    return app


def sse_chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None) -> str:
    """One server-sent event in OpenAI's ``chat.completion.chunk`` format."""
    body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n"


def completion_body(cid: str, created: int, model: str, text: str, finish: str = "stop",
                    usage: dict | None = None) -> dict:
    """A non-streaming ``chat.completion`` response body (``usage`` as given, else a word count and no prompt)."""
    usage = usage or {"prompt_tokens": 0, "completion_tokens": len(text.split()), "total_tokens": len(text.split())}
    return {"id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": usage}


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "code": code}}


async def _sse(cid: str, created: int, model: str, target: Target, messages, params: GenParams):
    from .upstream import stream_reply

    yield sse_chunk(cid, created, model, {"role": "assistant", "content": ""})
    async for delta in stream_reply(target, messages, params):
        yield sse_chunk(cid, created, model, {"content": delta})
    yield sse_chunk(cid, created, model, {}, "stop")
    yield "data: [DONE]\n\n"
