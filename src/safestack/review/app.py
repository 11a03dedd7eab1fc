"""``safestack review serve``: server-rendered review pages (FastAPI + Jinja, autoescaped, no external assets).

Security: writes need a reviewer token (cookie set by /login, or ``Authorization: Bearer``); every form carries a
CSRF token bound to the reviewer's token (HMAC with a per-process secret) and a one-time nonce; a strict CSP
allows only this page's own inline script and style (by nonce); read-only mode renders the queues without forms.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from ..errors import BadInput
from .forms import ab_label, base_rev, expert_label, guard_label
from .items import GuardSource, RunSources
from .records import QUEUES, ReviewConflict, ReviewLabel
from .store import LabelStore, when

COOKIE = "safestack_review"
TITLES = {"expert": "Expert review", "ab": "A/B rating", "guard": "Guard review"}
FLASH = {"saved": "Saved.", "duplicate": "That form was already submitted: it counts once.",
         "done": "Every item in this queue is reviewed.", "login": "Signed in.", "logout": "Signed out."}


class Reviewers:
    """token → reviewer name; compared in constant time."""

    def __init__(self, tokens: dict[str, str]):
        for tok, name in tokens.items():
            if len(tok) < 12:
                raise BadInput(f"reviewer '{name}': token too short (12 characters at least)")
        self.tokens = dict(tokens)

    def who(self, token: str | None) -> str | None:
        found = None
        for tok, name in self.tokens.items():
            if token and hmac.compare_digest(tok.encode(), token.encode()):
                found = name
        return found


class ReviewState:
    """The queues' items (run files read once, the guard queue on every request) and the label store."""

    def __init__(self, sources: RunSources, store: LabelStore, guard: GuardSource | None):
        self.sources, self.store, self.guard = sources, store, guard
        self.expert = sources.expert()
        self.ab = sources.ab()

    def items(self, queue: str) -> list[Any]:
        if queue == "expert":
            return self.expert
        if queue == "ab":
            return self.ab
        return self.guard.items() if self.guard else []

    def labels(self, queue: str) -> dict[str, ReviewLabel]:
        return {item: lab for (_, item), lab in self.store.current(queue).items()}

    def progress(self) -> dict[str, dict[str, Any]]:
        out = {}
        for q in QUEUES:
            items, labs = self.items(q), self.labels(q)
            done = [i for i in items if i.id in labs]
            by = {}
            for i in done:
                by[labs[i.id].reviewer] = by.get(labs[i.id].reviewer, 0) + 1
            out[q] = {"total": len(items), "done": len(done), "by_reviewer": by}
            if q == "expert":
                gate = [i for i in items if i.gates_training]
                out[q]["pairs"] = {"total": len(gate), "done": sum(i.id in labs for i in gate)}
        return out


def _env() -> Environment:
    env = Environment(loader=PackageLoader("safestack", "review/templates"), autoescape=select_autoescape(default=True))
    env.filters["when"] = lambda ts: when(ts) if ts else ""
    env.filters["score"] = lambda v: "–" if v is None else f"{v:.2f}"
    return env


class ReviewServer:
    """Pages and form handling; ``create_review_app`` wires its methods to routes."""

    def __init__(self, state: ReviewState, team: Reviewers, read_only: bool, secret: bytes):
        self.state, self.team, self.read_only, self.key = state, team, read_only, secret
        self.sources = state.sources
        self.env = _env()

    # ---- identity, CSRF, rendering --------------------------------------------------------------------------------
    @staticmethod
    def token_of(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE)

    def csrf_for(self, token: str | None) -> str:
        return hmac.new(self.key, token.encode(), hashlib.sha256).hexdigest()[:32] if token else ""

    def page(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        nonce = secrets.token_urlsafe(12)
        token = self.token_of(request)
        html = self.env.get_template(template).render(
            nonce=nonce, reviewer=self.team.who(token), read_only=self.read_only, csrf=self.csrf_for(token),
            titles=TITLES, flash=FLASH.get(request.query_params.get("msg", "")), run=str(self.sources.run), **ctx)
        return HTMLResponse(html, status_code=status, headers=security_headers(nonce))

    def error(self, request: Request, status: int, message: str, back: str | None = None) -> HTMLResponse:
        return self.page(request, "message.html.j2", status=status, message=message, back=back)

    async def writer(self, request: Request) -> tuple[str, dict[str, str]] | HTMLResponse:
        """The reviewer and the form of a POST, or an error page (read-only, no token, foreign origin, CSRF)."""
        if self.read_only:
            return self.error(request, 403, "This review server is read-only: nothing was recorded.")
        token = self.token_of(request)
        name = self.team.who(token)
        if name is None:
            return self.error(request, 403, "Sign in with your reviewer token first: nothing was recorded.", "/login")
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return self.error(request, 403, "Cross-origin form rejected: nothing was recorded.")
        form = await read_form(request)
        if not hmac.compare_digest(form.get("csrf", ""), self.csrf_for(token)):
            return self.error(request, 403, "The form's CSRF token is missing or wrong (a form from another "
                              "session?): reload the page — nothing was recorded.")
        return name, form

    # ---- pages ----------------------------------------------------------------------------------------------------
    async def healthz(self) -> dict:
        return {"status": "ok", "read_only": self.read_only}

    async def index(self, request: Request) -> Response:
        return self.page(request, "index.html.j2", progress=self.state.progress(),
                         guard=self.state.guard is not None, severities=self.sources.severities)

    async def login_form(self, request: Request) -> Response:
        return self.page(request, "login.html.j2")

    async def login(self, request: Request) -> Response:
        token = (await read_form(request)).get("token", "").strip()
        if self.team.who(token) is None:
            return self.error(request, 403, "Unknown reviewer token.", "/login")
        resp = RedirectResponse("/?msg=login", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return resp

    async def logout(self, request: Request) -> Response:
        resp = RedirectResponse("/?msg=logout", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    async def export(self, request: Request) -> Response:
        labels = sorted(self.state.store.current().values(), key=lambda x: (x.ts, x.rev))
        body = "".join(json.dumps(x.dump(), ensure_ascii=False) + "\n" for x in labels)
        return Response(body, media_type="application/x-ndjson", headers={
            "x-content-type-options": "nosniff", "content-disposition": 'attachment; filename="review-labels.jsonl"'})

    async def queue_page(self, request: Request, queue: str) -> Response:
        if queue not in QUEUES:
            return self.error(request, 404, f"Unknown queue '{queue}' (expert, ab or guard).", "/")
        return self.page(request, "queue.html.j2", queue=queue, items=self.state.items(queue),
                         labels=self.state.labels(queue), progress=self.state.progress()[queue],
                         guard=self.state.guard is not None)

    async def next_item(self, request: Request, queue: str, after: str = "") -> Response:
        if queue not in QUEUES:
            return self.error(request, 404, f"Unknown queue '{queue}' (expert, ab or guard).", "/")
        nxt = next_open(self.state.items(queue), self.state.labels(queue), after)
        msg = request.query_params.get("msg", "")
        if nxt is None:
            return RedirectResponse(f"/q/{queue}?msg={'duplicate' if msg == 'duplicate' else 'done'}", 303)
        return RedirectResponse(f"/q/{queue}/{nxt}" + (f"?msg={msg}" if msg in FLASH else ""), 303)

    async def item_page(self, request: Request, queue: str, item_id: str) -> Response:
        found = find(self.state, queue, item_id)
        if found is None:
            return self.error(request, 404, f"No item '{item_id}' in the {queue} queue.", f"/q/{queue}")
        return self.render_item(request, queue, *found)

    def render_item(self, request: Request, queue: str, items: list, idx: int, status: int = 200,
                    problem: str | None = None) -> HTMLResponse:
        item = items[idx]
        label = self.state.store.get(queue, item.id)
        who = self.team.who(self.token_of(request))
        locked = self.read_only or who is None or (label is not None and label.reviewer != who)
        return self.page(request, f"{queue}.html.j2", status=status, queue=queue, item=item, label=label,
                         pos=idx + 1, locked=locked, total=len(items), prev=items[idx - 1].id if idx else None,
                         next=items[idx + 1].id if idx + 1 < len(items) else None, form_nonce=uuid.uuid4().hex,
                         problem=problem, taxonomy=self.sources.taxonomy, progress=self.state.progress()[queue])

    async def submit(self, request: Request, queue: str, item_id: str) -> Response:
        found = find(self.state, queue, item_id)
        if found is None:
            return self.error(request, 404, f"No item '{item_id}' in the {queue} queue: nothing was recorded.",
                              f"/q/{queue}")
        got = await self.writer(request)
        if isinstance(got, HTMLResponse):
            return got
        name, form = got
        items, idx = found
        build: dict[str, Callable[[], ReviewLabel]] = {
            "expert": lambda: expert_label(items[idx], form, name),
            "ab": lambda: ab_label(items[idx], form, name),
            "guard": lambda: guard_label(items[idx], form, name, self.sources.taxonomy)}
        try:
            label = build[queue]()
            _, written = self.state.store.add(label, base_rev(form))
        except ReviewConflict as e:
            return self.error(request, 409, str(e), f"/q/{queue}/{item_id}")
        except BadInput as e:
            return self.render_item(request, queue, items, idx, status=400, problem=f"Not recorded: {e}")
        return RedirectResponse(f"/q/{queue}/next?after={item_id}&msg={'saved' if written else 'duplicate'}", 303)


def create_review_app(sources: RunSources, store: LabelStore, *, guard: GuardSource | None = None,
                      reviewers: dict[str, str] | None = None, read_only: bool = False,
                      secret: bytes | None = None) -> FastAPI:
    """The review app. ``reviewers`` maps token → name; without any the app is read-only."""
    team = Reviewers(reviewers or {})
    srv = ReviewServer(ReviewState(sources, store, guard), team, read_only or not team.tokens,
                       secret or secrets.token_bytes(32))
    app = FastAPI(title="safestack review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.review, app.state.read_only = srv.state, srv.read_only
    routes = [("/healthz", srv.healthz, "GET"), ("/", srv.index, "GET"), ("/login", srv.login_form, "GET"),
              ("/login", srv.login, "POST"), ("/logout", srv.logout, "POST"), ("/export.jsonl", srv.export, "GET"),
              ("/q/{queue}", srv.queue_page, "GET"), ("/q/{queue}/next", srv.next_item, "GET"),
              ("/q/{queue}/{item_id}", srv.item_page, "GET"), ("/q/{queue}/{item_id}", srv.submit, "POST")]
    for path, fn, method in routes:
        app.add_api_route(path, fn, methods=[method], include_in_schema=False)
    return app


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (first value of each field)."""
    return {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}


def find(state: ReviewState, queue: str, item_id: str) -> tuple[list, int] | None:
    if queue not in QUEUES:
        return None
    items = state.items(queue)
    idx = next((i for i, it in enumerate(items) if it.id == item_id), None)
    return None if idx is None else (items, idx)


def next_open(items: list, labels: dict[str, ReviewLabel], after: str = "") -> str | None:
    """The first unlabelled item after ``after`` (wrapping round), or None when all are labelled."""
    start = next((i + 1 for i, it in enumerate(items) if it.id == after), 0)
    for it in items[start:] + items[:start]:
        if it.id not in labels:
            return it.id
    return None


def security_headers(nonce: str) -> dict[str, str]:
    return {"content-security-policy": f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
                                       "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                                       "frame-ancestors 'none'",
            "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-store",
            "x-frame-options": "DENY"}


def load_reviewers(path: str | Path | None, env_value: str | None = None) -> dict[str, str]:
    """Reviewer tokens from a YAML/JSON mapping {name: token} and/or ``name:token,…`` (SAFESTACK_REVIEW_TOKENS)."""
    from ..records import read_yaml

    pairs: list[tuple[str, Any]] = list(read_yaml(path, "reviewers file").items()) if path else []
    for part in (env_value or "").split(","):
        if part.strip():
            name, sep, tok = part.strip().partition(":")
            if not sep:
                raise BadInput("SAFESTACK_REVIEW_TOKENS: expected name:token,name:token")
            pairs.append((name, tok))
    out: dict[str, str] = {}
    for name, tok in pairs:
        if not isinstance(tok, str) or not tok:
            raise BadInput(f"{path or 'SAFESTACK_REVIEW_TOKENS'}: reviewer '{name}': token must be a string")
        if tok in out:
            raise BadInput(f"{path or 'SAFESTACK_REVIEW_TOKENS'}: reviewers '{out[tok]}' and '{name}' share a token")
        out[tok] = str(name)
    Reviewers(out)  # validate lengths
    return out
