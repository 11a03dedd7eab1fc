"""``safestack guard serve``: an OpenAI-compatible proxy in front of any target.

request → API key (401) → size limits (413) → per-key rate limit (429) → input guard → upstream → output guard
(a sliding window while streaming) → client. Every request, rejected ones included, leaves at least one row in the
audit log; flagged content also goes to the human-review queue. ``/metrics`` (Prometheus text) and ``/healthz``.
The OpenAI wire format (chunks, completion bodies, ``ChatRequest``) is shared with ``serve.openai_app``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import ValidationError

from ..serve.openai_app import ChatRequest, completion_body, error_body, gen_params, sse_chunk
from ..serve.upstream import UpstreamClients, stream_reply
from ..targets.base import Target
from .audit import AuditEvent, AuditLog
from .metrics import Metrics
from .policy import Decision, Guard
from .ratelimit import RateLimiter, retry_after_header
from .usage import UsageCounter


def create_guard_app(upstream: Target, guard: Guard, audit: AuditLog, *, metrics: Metrics | None = None,
                     limiter: RateLimiter | None = None, default_max_tokens: int = 256) -> FastAPI:
    cfg = guard.cfg
    clients = UpstreamClients()
    counter = UsageCounter(upstream)  # OpenAI usage: the upstream's tokenizer when held, else an estimate (usage.py)
    app = FastAPI(title="safestack guard proxy")

    @app.on_event("shutdown")
    async def _close() -> None:
        await clients.aclose()

    model_attr = getattr(upstream, "model", None)  # an openai: target's model id (an hf: target's is the module)
    name = cfg.model_name or (model_attr if isinstance(model_attr, str) else None) or getattr(upstream, "name",
                                                                                           "safestack")
    metrics = metrics or Metrics()
    limiter = limiter or RateLimiter()
    keys = {k.key: (k.name or f"key{i}") for i, k in enumerate(cfg.api_keys)}
    for i, k in enumerate(cfg.api_keys):
        limiter.configure(keys[k.key], k.rate if k.rate is not None else cfg.default_rate,
                          k.burst if k.burst is not None else cfg.default_burst)
    if not keys:
        limiter.configure("anonymous", cfg.default_rate, cfg.default_burst)
    app.state.audit, app.state.metrics, app.state.guard, app.state.limiter = audit, metrics, guard, limiter

    def reject(rid: str, key: str | None, status: int, action: str, message: str, type_: str,
               headers: dict[str, str] | None = None) -> JSONResponse:
        audit.record(AuditEvent(rid, "request", action, api_key=key, status=status, detail={"message": message}))
        metrics.inc("requests_total", "Requests by outcome.", status=str(status), outcome=action)
        return JSONResponse(error_body(message, type_, action), status_code=status,
                            headers={"x-request-id": rid, **(headers or {})})

    def record(rid: str, key: str, d: Decision, seconds: float, status: int = 200) -> None:
        audit.record(AuditEvent(rid, d.side, d.action, d.flagged, key, d.category, d.score, d.detail,
                                d.text if cfg.audit_text else None, status, round(seconds * 1000, 3),
                                review=d.action == "flag"))
        metrics.inc("decisions_total", "Guard decisions.", side=d.side, action=d.action, category=d.category or "none")
        metrics.observe("guard_seconds", "Guard check latency.", seconds, side="output" if d.side == "output" else "input")

    def auth(request: Request) -> tuple[str | None, bool]:
        if not keys:
            return "anonymous", True
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        return (keys[token], True) if token in keys else (None, False)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "model": name, "audit": audit.url.split("@")[-1]}

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        rid = uuid.uuid4().hex
        key, ok = auth(request)
        if not ok:
            return reject(rid, None, 401, "unauthorized", "invalid API key", "invalid_request_error")
        audit.record(AuditEvent(rid, "request", "models", api_key=key, status=200))
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "safestack-guard"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        rid = uuid.uuid4().hex
        t0 = time.perf_counter()
        key, ok = auth(request)
        if not ok:
            return reject(rid, None, 401, "unauthorized", "invalid API key", "invalid_request_error")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cfg.max_request_bytes:
            return reject(rid, key, 413, "too_large", f"request body over {cfg.max_request_bytes} bytes",
                          "invalid_request_error")
        allowed, wait = limiter.take(key)
        if not allowed:
            return reject(rid, key, 429, "rate_limited", "rate limit exceeded for this API key", "rate_limit_error",
                          {"retry-after": retry_after_header(wait)})
        body = await request.body()
        if len(body) > cfg.max_request_bytes:
            return reject(rid, key, 413, "too_large", f"request body over {cfg.max_request_bytes} bytes",
                          "invalid_request_error")
        try:
            req = ChatRequest.model_validate_json(body)
        except ValidationError as e:
            err = e.errors()[0]
            return reject(rid, key, 400, "bad_request", f"field '{'.'.join(map(str, err['loc']))}': {err['msg']}",
                          "invalid_request_error")
        if len(req.messages) > cfg.max_messages:
            return reject(rid, key, 413, "too_large", f"more than {cfg.max_messages} messages",
                          "invalid_request_error")

        d_in, messages = await asyncio.to_thread(guard.check_input, req.messages)
        record(rid, key, d_in, time.perf_counter() - t0)
        cid, created = f"chatcmpl-{rid[:24]}", int(time.time())
        headers = {"x-request-id": rid, "x-safestack-input": d_in.action, "x-safestack-usage": counter.method}
        if d_in.action == "block":
            metrics.inc("requests_total", "Requests by outcome.", status="200", outcome="blocked_input")
            if req.stream:
                return StreamingResponse(_one_shot(cid, created, name, cfg.refusal), media_type="text/event-stream",
                                         headers=headers)
            n = counter.prompt(req.messages)  # nothing was generated
            usage = {"prompt_tokens": n, "completion_tokens": 0, "total_tokens": n}
            return JSONResponse(completion_body(cid, created, name, cfg.refusal, "content_filter", usage),
                                headers=headers)

        params = gen_params(req, default_max_tokens)
        if not req.stream:
            t1 = time.perf_counter()
            try:
                text = await clients.generate(upstream, messages, params)
            except Exception as e:  # upstream failure → 502, audited
                return reject(rid, key, 502, "error", f"upstream error: {e}", "upstream_error")
            metrics.observe("upstream_seconds", "Upstream latency.", time.perf_counter() - t1)
            t2 = time.perf_counter()
            d_out, out_text = await asyncio.to_thread(guard.check_output, text)
            record(rid, key, d_out, time.perf_counter() - t2)
            metrics.inc("requests_total", "Requests by outcome.", status="200", outcome=f"output_{d_out.action}")
            finish = "content_filter" if d_out.action == "block" else "stop"
            usage = counter.usage(messages, text)  # what the upstream read and wrote (before the output guard)
            return JSONResponse(completion_body(cid, created, name, out_text, finish, usage),
                                headers={**headers, "x-safestack-output": d_out.action})

        async def events():
            sg = guard.stream()
            yield sse_chunk(cid, created, name, {"role": "assistant", "content": ""})
            t1, guard_s, status = time.perf_counter(), 0.0, 200
            try:
                async for delta in stream_reply(upstream, messages, params, clients):
                    g0 = time.perf_counter()
                    out = await asyncio.to_thread(sg.feed, delta)
                    guard_s += time.perf_counter() - g0
                    if out:
                        yield sse_chunk(cid, created, name, {"content": out})
                    if sg.stopped:
                        break
                if not sg.stopped:
                    g0 = time.perf_counter()
                    out = await asyncio.to_thread(sg.finish)
                    guard_s += time.perf_counter() - g0
                    if out:
                        yield sse_chunk(cid, created, name, {"content": out})
            except Exception as e:  # upstream died mid-stream: tell the client in-band, audit it
                status = 502
                sg.decision.action, sg.decision.rules = "error", [f"upstream error: {e}"[:300]]
            metrics.observe("upstream_seconds", "Upstream latency.", time.perf_counter() - t1 - guard_s)
            d = sg.decision
            d.text = sg.text
            record(rid, key, d, guard_s, status)
            metrics.inc("requests_total", "Requests by outcome.", status=str(status), outcome=f"output_{d.action}")
            if sg.stopped:
                yield sse_chunk(cid, created, name, {"content": ("\n\n" if sg.released else "") + cfg.refusal})
                yield sse_chunk(cid, created, name, {}, "content_filter")
            else:
                yield sse_chunk(cid, created, name, {}, "stop" if status == 200 else "error")
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    return app


def _one_shot(cid: str, created: int, model: str, text: str):
    yield sse_chunk(cid, created, model, {"role": "assistant", "content": ""})
    yield sse_chunk(cid, created, model, {"content": text})
    yield sse_chunk(cid, created, model, {}, "content_filter")
    yield "data: [DONE]\n\n"
