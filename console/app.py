"""The staff console's web layer (Sanic blueprint mounted by the website under /console).

Access: every route except the login page requires a session (server-side; the cookie holds a
random token, HttpOnly, SameSite=Strict, Secure over https). Every POST checks a CSRF token (the
session's, or a double-submit cookie on the login form). Failed logins are rate limited per client
address and per username.
"""
from __future__ import annotations

import asyncio
import functools
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Coroutine

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import Accounts, Session, csrf_ok
from console.annotations import AnnotationError, annotate, export_nlu_yaml, labels, labels_for
from console.indexer import Filters, list_conversations, sender_for_key, update_summaries
from console.ratelimit import FailureLimiter
from console.review import IST, mark_reviewed, mask_id, transcript, when
from spine_db.config import database_url

COOKIE = "spine_console"
LOGIN_COOKIE = "spine_console_login"
TEMPLATES = Path(__file__).resolve().parent / "templates"
PER_PAGE = 50
FLAG_CHOICES = ("emergency", "crisis", "callback", "booking", "fallback", "low_confidence")
Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


def _secure(request: Request) -> bool:
    return request.scheme == "https" or request.headers.get("X-Forwarded-Proto") == "https"


def _set_cookie(resp: HTTPResponse, request: Request, name: str, value: str, max_age: int) -> None:
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["path"] = "/console"
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["max-age"] = max_age
    if _secure(request):
        cookie["secure"] = True


def _day(value: str | None, end: bool = False) -> float | None:
    """A YYYY-MM-DD filter as a timestamp (start of that day, or of the next one for ``end``)."""
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=IST)
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


def create_console(url: str | None = None) -> Blueprint:
    console = Blueprint("console", url_prefix="/console")
    engine = sa.create_engine(url or database_url(), future=True, pool_pre_ping=True)
    accounts = Accounts(engine)
    limiter = FailureLimiter()
    templates = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )

    def render(name: str, status: int = 200, **context: Any) -> HTTPResponse:
        return response.html(
            templates.get_template(name).render(**context),
            status=status,
            headers={"Cache-Control": "no-store"},
        )

    def login_required(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            session = accounts.session(request.cookies.get(COOKIE))
            if session is None:
                return response.redirect("/console/login")
            if request.method == "POST" and not csrf_ok(
                session.csrf_token, request.form.get("csrf")
            ):
                return response.text("CSRF check failed", status=403)
            request.ctx.session = session
            return await handler(request, *args, **kwargs)

        return wrapped

    @console.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        token = secrets.token_urlsafe(32)
        resp = render("login.html", csrf=token, error=None)
        _set_cookie(resp, request, LOGIN_COOKIE, token, 3600)
        return resp

    @console.post("/login")
    async def login(request: Request) -> HTTPResponse:
        username = (request.form.get("username") or "").strip().lower()
        password = request.form.get("password") or ""
        keys = (f"ip:{request.remote_addr or request.ip}", f"user:{username}")
        if not csrf_ok(request.cookies.get(LOGIN_COOKIE) or "", request.form.get("csrf")):
            return response.text("CSRF check failed", status=403)
        if limiter.blocked(*keys):
            return render(
                "login.html",
                status=429,
                csrf=request.form.get("csrf"),
                error="Too many failed attempts. Try again in 15 minutes.",
            )
        staff = accounts.authenticate(username, password)
        if staff is None:
            limiter.failed(*keys)
            return render(
                "login.html",
                status=401,
                csrf=request.form.get("csrf"),
                error="Wrong username or password.",
            )
        limiter.succeeded(*keys)
        token, _ = accounts.open_session(staff)
        resp = response.redirect("/console/")
        _set_cookie(resp, request, COOKIE, token, 8 * 3600)
        return resp

    @console.post("/logout")
    @login_required
    async def logout(request: Request) -> HTTPResponse:
        accounts.close_session(request.cookies.get(COOKIE))
        resp = response.redirect("/console/login")
        del resp.cookies[COOKIE]
        return resp

    @console.get("/")
    @login_required
    async def home(request: Request) -> HTTPResponse:
        return response.redirect("/console/conversations")

    @console.get("/conversations")
    @login_required
    async def conversations(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        args = request.args
        filters = Filters(
            flag=args.get("flag") or None,
            channel=args.get("channel") or None,
            reviewed={"yes": True, "no": False}.get(args.get("reviewed") or ""),
            started_from=_day(args.get("from")),
            started_to=_day(args.get("to"), end=True),
            text=(args.get("q") or "").strip()[:200] or None,
        )
        page = int(args.get("page") or 1) if (args.get("page") or "1").isdigit() else 1
        await asyncio.to_thread(update_summaries, engine)
        rows, total = await asyncio.to_thread(list_conversations, engine, filters, page, PER_PAGE)
        for row in rows:
            row["label"] = mask_id(row["sender_id"])
            row["started"] = when(row["started_at"])
        query = {k: v for k, v in args.items() if k != "page"}
        return render(
            "conversations.html",
            session=session,
            rows=rows,
            total=total,
            page=page,
            pages=max(1, -(-total // PER_PAGE)),
            args=request.args,
            query=query,
            flags=FLAG_CHOICES,
        )

    @console.get("/conversations/<key>")
    @login_required
    async def conversation(request: Request, key: str) -> HTTPResponse:
        return await _transcript_page(request, key, reveal=False)

    @console.post("/conversations/<key>/reveal")
    @login_required
    async def reveal(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        if not session.staff.is_admin:
            return response.text("Only an admin can reveal patient data.", status=403)
        accounts.audit(session.staff, "reveal", f"conversation:{key}")
        return await _transcript_page(request, key, reveal=True)

    @console.post("/conversations/<key>/review")
    @login_required
    async def review(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        sender_id = sender_for_key(engine, key)
        note = request.form.get("note") or ""
        if sender_id is None or not mark_reviewed(engine, sender_id, note):
            return response.text("Unknown conversation", status=404)
        accounts.audit(session.staff, "review", f"conversation:{key}")
        return response.redirect(f"/console/conversations/{key}")

    @console.post("/conversations/<key>/annotate")
    @login_required
    async def annotate_message(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        sender_id = sender_for_key(engine, key)
        event = request.form.get("event_id") or ""
        if sender_id is None or not event.isdigit():
            return response.text("Unknown message", status=404)
        try:
            annotate(
                engine,
                sender_id,
                int(event),
                request.form.get("label") or "",
                session.staff.username,
            )
        except AnnotationError as error:
            return response.text(f"Not saved: {error}", status=400)
        return response.redirect(f"/console/conversations/{key}#e{event}")

    @console.get("/annotations.yml")
    @login_required
    async def export_annotations(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        accounts.audit(session.staff, "export", "annotations")
        return response.text(
            export_nlu_yaml(engine),
            content_type="text/yaml; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="annotations.yml"'},
        )

    async def _transcript_page(request: Request, key: str, reveal: bool) -> HTTPResponse:
        await asyncio.to_thread(update_summaries, engine)
        sender_id = sender_for_key(engine, key)
        found = (
            await asyncio.to_thread(transcript, engine, sender_id, reveal) if sender_id else None
        )
        if found is None:
            return render(
                "message.html",
                status=404,
                session=request.ctx.session,
                message="No conversation with that id.",
            )
        return render(
            "transcript.html",
            session=request.ctx.session,
            t=found,
            labels=labels(),
            annotated=labels_for(engine, found.sender_id),
            label=found.sender_id if reveal else mask_id(found.sender_id),
            url=f"/console/conversations/{key}",
        )

    return console
