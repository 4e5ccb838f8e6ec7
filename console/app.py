"""The staff console's web layer (Sanic blueprint mounted by the website under /console).

Access: every route except the login page requires a session (server-side; the cookie holds a
random token, HttpOnly, SameSite=Strict, Secure over https). Every POST checks a CSRF token (the
session's, or a double-submit cookie on the login form). Failed logins are rate limited per client
address and per username.
"""
from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Any, Callable, Coroutine

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import Accounts, Session, csrf_ok
from console.ratelimit import FailureLimiter
from spine_db.config import database_url

COOKIE = "spine_console"
LOGIN_COOKIE = "spine_console_login"
TEMPLATES = Path(__file__).resolve().parent / "templates"
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


def create_console(url: str | None = None) -> Blueprint:
    console = Blueprint("console", url_prefix="/console")
    accounts = Accounts(sa.create_engine(url or database_url(), future=True, pool_pre_ping=True))
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
        session: Session = request.ctx.session
        return render("home.html", session=session)

    return console
