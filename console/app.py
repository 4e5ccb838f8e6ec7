"""The staff console's web layer (Sanic blueprint mounted by the website under /console).

Access: every route except the login page requires a session (server-side; the cookie holds a
random token, HttpOnly, SameSite=Strict, Secure over https). Every POST checks a CSRF token (the
session's, or a double-submit cookie on the login form). Failed logins are rate limited per client
address and per username.
"""
from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import logging
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Coroutine, Dict, List, Set

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import AccountError, Accounts, Session, csrf_ok
from console.annotations import AnnotationError, annotate, export_nlu_yaml, labels, labels_for
from console.charts import bar_chart, hbar_chart
from console.indexer import (
    FLAGS,
    Filters,
    backlog,
    key_for_sender,
    list_conversations,
    sender_for_key,
    update_summaries,
)
from console.masking import mask_id
from console.metrics import compute
from console.queues import (
    KINDS,
    TRANSITIONS,
    Change,
    QueueError,
    list_requests,
    masked,
    update_request,
)
from console.ratelimit import FailureLimiter
from console.review import LOCAL_TZ, mark_reviewed, still_found_masked, transcript, when
from spine_db.config import database_url, tune_sqlite
from spine_db.erasure import (
    conversations_of,
    erase_conversation,
    erase_requests,
    export_conversation,
    policy,
)

COOKIE = "spine_console"
LOGIN_COOKIE = "spine_console_login"
TEMPLATES = Path(__file__).resolve().parent / "templates"
PER_PAGE = 50
BATCH, MAX_BATCHES = 5000, 4  # events folded per page view, at most
logger = logging.getLogger(__name__)
# The summary flags, in CSV_COLUMNS' order.
CSV_FLAGS = ("emergency", "crisis", "urgent", "callback", "booking")
CSV_COLUMNS = (
    "conversation_key",
    "conversation",
    "started",
    "last_message",
    "channel",
    "turns",
    "emergency",
    "crisis",
    "urgent",
    "callback",
    "booking",
    "cards_shown",
    "fallback_count",
    "low_confidence_count",
    "reviewed",
    "note",
)
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


def _day(value: str | None, end: bool = False) -> float | None:
    """A YYYY-MM-DD filter as a timestamp (start of that day, or of the next one for ``end``)."""
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        return None
    return day.timestamp() + (86400 if end else 0)


def _filters(args: Any) -> Filters:
    return Filters(
        flag=args.get("flag") or None,
        channel=args.get("channel") or None,
        reviewed={"yes": True, "no": False}.get(args.get("reviewed") or ""),
        started_from=_day(args.get("from")),
        started_to=_day(args.get("to"), end=True),
        text=(args.get("q") or "").strip()[:200] or None,
    )


def _searches_masked_data(filters: Filters, session: Session) -> bool:
    """An agent's search for a number or an e-mail address: not run. The console masks them, and
    a search that says which conversations contain "98765" would reveal them digit by digit."""
    text = filters.text or ""
    return not session.staff.is_admin and (sum(c.isdigit() for c in text) >= 3 or "@" in text)


def _described(filters: Filters) -> str:
    """The filters for the audit log, without the search text (it may be a name or a number)."""
    shown = {k: v for k, v in vars(filters).items() if v is not None and k != "text"}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) + (
        "; text search" if filters.text else ""
    )


def _page(args: Any) -> int:
    raw = args.get("page") or "1"
    return max(1, min(int(raw), 10**6)) if raw.isascii() and raw.isdigit() else 1


def _csv_cell(value: Any) -> str:
    """A spreadsheet must not run a cell as a formula (=, +, -, @ at the start)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def conversations_csv(rows: List[Dict[str, Any]], reveal: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        sender = str(row["sender_id"])
        note = row.get("note") or ""
        writer.writerow(
            _csv_cell(value)
            for value in (
                row["conversation_key"],
                sender if reveal else mask_id(sender),
                when(row["started_at"]),
                when(row["last_at"]),
                row["channel"] or "",
                row["turns"],
                *(int(bool(row[flag])) for flag in CSV_FLAGS),
                int(bool(row.get("cards_shown"))),
                row["fallback_count"],
                row["low_confidence_count"],
                int(bool(row["reviewed"])),
                note if reveal else ("(hidden: may name the patient)" if note else ""),
            )
        )
    return out.getvalue()


def create_console(url: str | None = None) -> Blueprint:
    console = Blueprint("console", url_prefix="/console")
    engine = tune_sqlite(sa.create_engine(url or database_url(), future=True, pool_pre_ping=True))
    accounts = Accounts(engine)
    limiter = FailureLimiter()
    templates = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"])
    )

    def render(name: str, status: int = 200, **context: Any) -> HTTPResponse:
        return response.html(
            templates.get_template(name).render(**context),
            status=status,
            headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP},
        )

    def _search_as_seen(session: Session) -> Callable[[List[str], str], Set[str]] | None:
        """Agents search what they can see (masked); admins, who may reveal, search it all."""
        if session.staff.is_admin:
            return None
        return lambda senders, text: still_found_masked(engine, senders, text)

    async def refresh() -> int:
        """Fold new events before a page is drawn (bounded, so a big backlog — e.g. right after
        an upgrade — does not hold the page up); returns how many events are still waiting."""
        try:
            read = await asyncio.to_thread(update_summaries, engine, BATCH, MAX_BATCHES)
            return backlog(engine) if read >= BATCH * MAX_BATCHES else 0
        except sa.exc.OperationalError as error:  # e.g. SQLite busy: show what is indexed
            logger.warning("console: indexing skipped this time (%s)", type(error).__name__)
            return 0

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
        filters = _filters(args)
        page = _page(args)
        behind = await refresh()
        refused = _searches_masked_data(filters, session)
        rows, total = (
            ([], 0)
            if refused
            else await asyncio.to_thread(
                list_conversations, engine, filters, page, PER_PAGE, _search_as_seen(session)
            )
        )
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
            flags=FLAGS,
            export_query=query,
            behind=behind,
            refused=refused,
        )

    @console.route("/conversations.csv", methods=["GET", "POST"])
    @login_required
    async def export_conversations(request: Request) -> HTTPResponse:
        """The filtered list as CSV: masked; an admin may ask for it unmasked (a POST, logged)."""
        session: Session = request.ctx.session
        reveal = request.method == "POST" and request.form.get("reveal") == "1"
        if reveal and not session.staff.is_admin:
            return response.text("Only an admin can export patient data.", status=403)
        args = request.form if request.method == "POST" else request.args
        filters = _filters(args)
        await refresh()
        rows, total = (
            ([], 0)
            if _searches_masked_data(filters, session)
            else await asyncio.to_thread(
                list_conversations,
                engine,
                filters,
                1,
                10**7,
                None if reveal else _search_as_seen(session),
            )
        )
        accounts.audit(
            session.staff,
            "export",
            "conversations.csv",
            f"{total} conversations; {'unmasked' if reveal else 'masked'}; "
            f"filters {_described(filters)}",
        )
        return response.text(
            conversations_csv(rows, reveal),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="conversations.csv"',
                "Cache-Control": "no-store",
            },
        )

    @console.get("/queues/<kind>")
    @login_required
    async def queue(request: Request, kind: str) -> HTTPResponse:
        return await _queue_page(request, kind)

    @console.post("/queues/<kind>/<reference>")
    @login_required
    async def change_request(request: Request, kind: str, reference: str) -> HTTPResponse:
        session: Session = request.ctx.session
        if kind not in KINDS:
            return response.text("Unknown queue", status=404)
        form = request.form
        change = Change(
            status=form.get("status") or "",
            assignee=(form.get("assignee") or "").strip() or None,
            add_note=form.get("add_note"),
        )
        seen = form.get("seen_version") or ""
        try:
            await asyncio.to_thread(
                update_request,
                engine,
                kind,
                reference,
                int(seen) if seen.isascii() and seen.isdigit() else -1,
                change,
                session.staff.username,
                accounts.usernames(),
            )
        except QueueError as error:
            return await _queue_page(request, kind, error=str(error), status=409)
        return response.redirect(f"/console/queues/{kind}?{request.query_string}#r-{reference}")

    @console.post("/queues/<kind>/<reference>/reveal")
    @login_required
    @admin_only("reveal patient data")
    async def reveal_request(request: Request, kind: str, reference: str) -> HTTPResponse:
        """One request with its contact details, for an admin (audited)."""
        session: Session = request.ctx.session
        if (
            kind not in KINDS
            or not (await asyncio.to_thread(list_requests, engine, kind, reference=reference))[1]
        ):
            return response.text("No such request", status=404)
        accounts.audit(session.staff, "reveal", f"{kind[:-1]}:{reference}")
        return await _queue_page(request, kind, revealed=reference)

    @console.get("/metrics")
    @login_required
    async def metrics(request: Request) -> HTTPResponse:
        days = {"7": 7, "30": 30, "90": 90}.get(request.args.get("days") or "30", 30)
        behind = await refresh()
        numbers = await asyncio.to_thread(compute, engine, days)
        short = [day[5:] for day in numbers.days]  # MM-DD under the bars
        charts = {
            "conversations": bar_chart(short, numbers.conversations, "Conversations per day"),
            "messages": bar_chart(short, numbers.messages, "Patient messages per day"),
            "requests": bar_chart(
                short,
                [b + c for b, c in zip(numbers.bookings, numbers.callbacks, strict=True)],
                "Bookings and call-backs per day",
            ),
            "topics": hbar_chart(numbers.top_topics, "Top asked topics"),
        }
        return render(
            "metrics.html",
            session=request.ctx.session,
            m=numbers,
            days=days,
            timezone=LOCAL_TZ.key,
            charts=charts,
            behind=behind,
        )

    @console.get("/conversations/<key>")
    @login_required
    async def conversation(request: Request, key: str) -> HTTPResponse:
        return await _transcript_page(request, key, reveal=False)

    @console.post("/conversations/<key>/reveal")
    @login_required
    @admin_only("reveal patient data")
    async def reveal(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        accounts.audit(session.staff, "reveal", f"conversation:{key}")
        return await _transcript_page(request, key, reveal=True)

    @console.post("/conversations/<key>/review")
    @login_required
    async def review(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        sender_id = sender_for_key(engine, key)
        note = request.form.get("note") or ""
        keep = request.form.get("keep_note") == "1" or request.form.get("note") is None
        if sender_id is None or not mark_reviewed(engine, sender_id, note, keep_note=keep):
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

    @console.get("/accounts")
    @login_required
    @admin_only("manage accounts")
    async def staff_accounts(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        return render("accounts.html", session=session, rows=accounts.accounts(), message=None)

    @console.post("/accounts")
    @login_required
    @admin_only("manage accounts")
    async def change_account(request: Request) -> HTTPResponse:
        """Deactivate / reactivate, switch the role, end the sessions or reset the password of
        a staff account (admin only, audited; never one's own role or activation)."""
        session: Session = request.ctx.session
        form = request.form
        username, do = form.get("username") or "", form.get("do") or ""
        rows = {row["username"]: row for row in accounts.accounts()}
        try:
            if username not in rows:
                raise AccountError(f"no user {username!r}")
            if username == session.staff.username and do in ("deactivate", "role"):
                raise AccountError("an admin cannot lock themselves out")
            if do in ("deactivate", "reactivate"):
                accounts.set_active(username, do == "reactivate")
                detail = f"{do}d"
            elif do == "role":
                role = "agent" if rows[username]["role"] == "admin" else "admin"
                accounts.set_role(username, role)
                detail = f"role {role}"
            elif do == "password":
                accounts.reset_password(username, form.get("password") or "")
                detail = "password reset; sessions ended"
            elif do == "logout":
                detail = f"{accounts.end_sessions(username)} sessions ended"
            else:
                raise AccountError("unknown change")
        except AccountError as error:
            message = f"Not changed: {error}"
        else:
            accounts.audit(session.staff, "account", username, detail)
            message = f"{username}: {detail}."
        return render("accounts.html", session=session, rows=accounts.accounts(), message=message)

    @console.get("/patient-data")
    @login_required
    @admin_only("handle patient data requests")
    async def patient_data_form(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        return render("patient_data.html", session=session, found=None, result=None)

    @console.post("/patient-data")
    @login_required
    @admin_only("handle patient data requests")
    async def patient_data(request: Request) -> HTTPResponse:
        """Find, export or erase one patient's conversations by mobile number or conversation
        id, for requests that arrive by phone or e-mail (admin only, audited)."""
        session: Session = request.ctx.session
        form = request.form
        mobile, key = (form.get("mobile") or "").strip(), (form.get("key") or "").strip()
        await refresh()  # conversations are listed by their console key
        senders = await asyncio.to_thread(_senders, engine, mobile, key)
        context: Dict[str, Any] = {"session": session, "mobile": mobile, "key": key, "result": None}
        do = form.get("do") or "find"
        if do == "export" and senders:
            export = await asyncio.to_thread(_export, engine, senders)
            accounts.audit(session.staff, "export", "patient data", f"{len(senders)} conversations")
            return response.text(
                json.dumps(export, ensure_ascii=False, indent=2, default=str),
                content_type="application/json; charset=utf-8",
                headers={
                    "Content-Disposition": 'attachment; filename="patient-data.json"',
                    "Cache-Control": "no-store",
                },
            )
        if do == "erase" and senders:
            if form.get("confirm") != "yes":
                context["result"] = {"erased": False, "message": "Tick the confirmation first."}
            else:
                counts = await asyncio.to_thread(_erase, engine, senders, policy())
                detail = ", ".join(f"{t} {n}" for t, n in counts.items())
                # what and how much, never whose: the erased data must not live on here
                accounts.audit(session.staff, "erasure", "console", detail)
                context["result"] = {
                    "erased": True,
                    "message": f"Erased {len(senders)} conversation(s): {detail}.",
                }
                senders = []
        found = await asyncio.to_thread(_described_senders, engine, senders)
        if not senders and context["result"] is None:
            context["result"] = {"erased": False, "message": "No conversation found."}
        return render("patient_data.html", found=found, **context)

    async def _queue_page(
        request: Request,
        kind: str,
        error: str | None = None,
        status: int = 200,
        revealed: str | None = None,
    ) -> HTTPResponse:
        if kind not in KINDS:
            return render(
                "message.html", status=404, session=request.ctx.session, message="No such queue."
            )
        args = request.args
        wanted = args.get("status") or "open"
        mine = args.get("assignee")
        rows, total = await asyncio.to_thread(
            list_requests, engine, kind, wanted, mine, _page(args), PER_PAGE, revealed
        )
        return render(
            "queue.html",
            status=status,
            session=request.ctx.session,
            kind=kind,
            rows=[
                {**masked(row, reveal=row["reference"] == revealed), "created": _local(row)}
                for row in rows
            ],
            total=total,
            wanted=wanted,
            assignee=mine,
            staff=accounts.usernames(),
            transitions=TRANSITIONS,
            error=error,
            query=request.query_string,
        )

    async def _transcript_page(request: Request, key: str, reveal: bool) -> HTTPResponse:
        await refresh()
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


def _senders(engine: sa.engine.Engine, mobile: str, key: str) -> List[str]:
    found: List[str] = []
    if key:
        sender = sender_for_key(engine, key)
        found += [sender] if sender else []
    if mobile:
        with engine.connect() as conn:
            found += conversations_of(conn, mobile)
    return sorted(set(found))


def _export(engine: sa.engine.Engine, senders: List[str]) -> Dict[str, Any]:
    with engine.connect() as conn:
        return {"conversations": [export_conversation(conn, s) for s in senders]}


def _erase(engine: sa.engine.Engine, senders: List[str], policy: str) -> Dict[str, int]:
    totals: Dict[str, int] = {}
    with engine.begin() as conn:
        for sender in senders:
            counts = {**erase_requests(conn, sender, policy), **erase_conversation(conn, sender)}
            for table, count in counts.items():
                totals[table] = totals.get(table, 0) + count
    return totals


def _described_senders(engine: sa.engine.Engine, senders: List[str]) -> List[Dict[str, Any]]:
    out = []
    with engine.connect() as conn:
        for sender in senders:
            export = export_conversation(conn, sender)
            key = key_for_sender(engine, sender)
            # never the sender id itself: a web one works as a password for the conversation
            label = f"conversation {key}" if key else "a conversation not indexed yet"
            if sender.isdigit():
                label += f" (WhatsApp {mask_id(sender)})"
            out.append(
                {
                    "key": key,
                    "label": label,
                    "messages": sum(1 for m in export["messages"] if m.get("from") == "user"),
                    "requests": len(export["requests"]),
                }
            )
    return out


def _local(row: Dict[str, Any]) -> str:
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return when(created.timestamp())
