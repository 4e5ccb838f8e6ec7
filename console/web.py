"""What every console page shares: the database, staff accounts and sessions, the login
limiter, templates, and the checks a route runs before its page (login, CSRF, admin)."""
from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timezone
from pathlib import Path
from typing import Any, Callable, Coroutine, Dict, List, Set

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import Accounts, Session, csrf_ok
from console.indexer import (
    backlog,
    update_summaries,
)
from console.ratelimit import FailureLimiter
from console.review import still_found_masked, when
from spine_db.config import database_url, tune_sqlite

COOKIE = "spine_console"
LOGIN_COOKIE = "spine_console_login"
TEMPLATES = Path(__file__).resolve().parent / "templates"
PER_PAGE = 50
BATCH, MAX_BATCHES = 5000, 4  # events folded per page view, at most
logger = logging.getLogger("console.app")
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
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


class Console:
    """The console's shared state, built once per website process."""

    def __init__(self, url: str | None = None) -> None:
        self.engine = tune_sqlite(
            sa.create_engine(url or database_url(), future=True, pool_pre_ping=True)
        )
        self.accounts = Accounts(self.engine)
        self.limiter = FailureLimiter()
        self.templates = Environment(
            loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
        )

    def render(self, name: str, status: int = 200, **context: Any) -> HTTPResponse:
        return response.html(
            self.templates.get_template(name).render(**context),
            status=status,
            headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP},
        )

    def search_as_seen(self, session: Session) -> Callable[[List[str], str], Set[str]] | None:
        """Agents search what they can see (masked); admins, who may reveal, search it all."""
        if session.staff.is_admin:
            return None
        engine = self.engine
        return lambda senders, text: still_found_masked(engine, senders, text)

    async def refresh(self) -> int:
        """Fold new events before a page is drawn (bounded, so a big backlog — e.g. right after
        an upgrade — does not hold the page up); returns how many events are still waiting."""
        try:
            read = await asyncio.to_thread(update_summaries, self.engine, BATCH, MAX_BATCHES)
            return backlog(self.engine) if read >= BATCH * MAX_BATCHES else 0
        except sa.exc.OperationalError as error:  # e.g. SQLite busy: show what is indexed
            logger.warning("console: indexing skipped this time (%s)", type(error).__name__)
            return 0

    def login_required(self, handler: Handler) -> Handler:
        accounts = self.accounts

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

    @staticmethod
    def admin_only(what: str) -> Callable[[Handler], Handler]:
        """After ``login_required``: a 403 for staff who are not admins ("Only an admin can
        <what>.")."""

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                if not request.ctx.session.staff.is_admin:
                    return response.text(f"Only an admin can {what}.", status=403)
                return await handler(request, *args, **kwargs)

            return wrapped

        return decorate


def page_number(args: Any) -> int:
    raw = args.get("page") or "1"
    return max(1, min(int(raw), 10**6)) if raw.isascii() and raw.isdigit() else 1


def created_local(row: Dict[str, Any]) -> str:
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return when(created.timestamp())
