"""Logging in and out (the only pages without a session)."""
from __future__ import annotations

import secrets

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import csrf_ok
from console.web import (
    COOKIE,
    LOGIN_COOKIE,
    Console,
    _set_cookie,
)


def register(console: Blueprint, web: Console) -> None:
    """Mounts this page's routes on ``console``, over the console's shared state ``web``."""

    @console.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        token = secrets.token_urlsafe(32)
        resp = web.render("login.html", csrf=token, error=None)
        _set_cookie(resp, request, LOGIN_COOKIE, token, 3600)
        return resp

    @console.post("/login")
    async def login(request: Request) -> HTTPResponse:
        username = (request.form.get("username") or "").strip().lower()
        password = request.form.get("password") or ""
        keys = (f"ip:{request.remote_addr or request.ip}", f"user:{username}")
        if not csrf_ok(request.cookies.get(LOGIN_COOKIE) or "", request.form.get("csrf")):
            return response.text("CSRF check failed", status=403)
        if web.limiter.blocked(*keys):
            return web.render(
                "login.html",
                status=429,
                csrf=request.form.get("csrf"),
                error="Too many failed attempts. Try again in 15 minutes.",
            )
        staff = web.accounts.authenticate(username, password)
        if staff is None:
            web.limiter.failed(*keys)
            return web.render(
                "login.html",
                status=401,
                csrf=request.form.get("csrf"),
                error="Wrong username or password.",
            )
        web.limiter.succeeded(*keys)
        token, _ = web.accounts.open_session(staff)
        resp = response.redirect("/console/")
        _set_cookie(resp, request, COOKIE, token, 8 * 3600)
        return resp

    @console.post("/logout")
    @web.login_required
    async def logout(request: Request) -> HTTPResponse:
        web.accounts.close_session(request.cookies.get(COOKIE))
        resp = response.redirect("/console/login")
        del resp.cookies[COOKIE]
        return resp

    @console.get("/")
    @web.login_required
    async def home(request: Request) -> HTTPResponse:
        return response.redirect("/console/conversations")
