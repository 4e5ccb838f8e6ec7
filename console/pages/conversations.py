"""The conversation list with its filters and CSV export, one transcript (masked; an admin may
reveal it), review notes, and the annotations with their NLU export."""
from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from typing import Any, Dict, List

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import Session
from console.annotations import AnnotationError, annotate, export_nlu_yaml, labels, labels_for
from console.indexer import (
    FLAGS,
    Filters,
    list_conversations,
    sender_for_key,
)
from console.masking import mask_id
from console.review import LOCAL_TZ, mark_reviewed, transcript, when
from console.web import (
    PER_PAGE,
    Console,
    page_number,
)

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


def register(console: Blueprint, web: Console) -> None:
    """Mounts this page's routes on ``console``, over the console's shared state ``web``."""

    @console.get("/conversations")
    @web.login_required
    async def conversations(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        args = request.args
        filters = _filters(args)
        page = page_number(args)
        behind = await web.refresh()
        refused = _searches_masked_data(filters, session)
        rows, total = (
            ([], 0)
            if refused
            else await asyncio.to_thread(
                list_conversations, web.engine, filters, page, PER_PAGE, web.search_as_seen(session)
            )
        )
        for row in rows:
            row["label"] = mask_id(row["sender_id"])
            row["started"] = when(row["started_at"])
        query = {k: v for k, v in args.items() if k != "page"}
        return web.render(
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
    @web.login_required
    async def export_conversations(request: Request) -> HTTPResponse:
        """The filtered list as CSV: masked; an admin may ask for it unmasked (a POST, logged)."""
        session: Session = request.ctx.session
        reveal = request.method == "POST" and request.form.get("reveal") == "1"
        if reveal and not session.staff.is_admin:
            return response.text("Only an admin can export patient data.", status=403)
        args = request.form if request.method == "POST" else request.args
        filters = _filters(args)
        await web.refresh()
        rows, total = (
            ([], 0)
            if _searches_masked_data(filters, session)
            else await asyncio.to_thread(
                list_conversations,
                web.engine,
                filters,
                1,
                10**7,
                None if reveal else web.search_as_seen(session),
            )
        )
        web.accounts.audit(
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

    @console.get("/conversations/<key>")
    @web.login_required
    async def conversation(request: Request, key: str) -> HTTPResponse:
        return await _transcript_page(request, key, reveal=False)

    @console.post("/conversations/<key>/reveal")
    @web.login_required
    @web.admin_only("reveal patient data")
    async def reveal(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        web.accounts.audit(session.staff, "reveal", f"conversation:{key}")
        return await _transcript_page(request, key, reveal=True)

    @console.post("/conversations/<key>/review")
    @web.login_required
    async def review(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        sender_id = sender_for_key(web.engine, key)
        note = request.form.get("note") or ""
        keep = request.form.get("keep_note") == "1" or request.form.get("note") is None
        if sender_id is None or not mark_reviewed(web.engine, sender_id, note, keep_note=keep):
            return response.text("Unknown conversation", status=404)
        web.accounts.audit(session.staff, "review", f"conversation:{key}")
        return response.redirect(f"/console/conversations/{key}")

    @console.post("/conversations/<key>/annotate")
    @web.login_required
    async def annotate_message(request: Request, key: str) -> HTTPResponse:
        session: Session = request.ctx.session
        sender_id = sender_for_key(web.engine, key)
        event = request.form.get("event_id") or ""
        if sender_id is None or not event.isdigit():
            return response.text("Unknown message", status=404)
        try:
            annotate(
                web.engine,
                sender_id,
                int(event),
                request.form.get("label") or "",
                session.staff.username,
            )
        except AnnotationError as error:
            return response.text(f"Not saved: {error}", status=400)
        return response.redirect(f"/console/conversations/{key}#e{event}")

    @console.get("/annotations.yml")
    @web.login_required
    async def export_annotations(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        web.accounts.audit(session.staff, "export", "annotations")
        return response.text(
            export_nlu_yaml(web.engine),
            content_type="text/yaml; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="annotations.yml"'},
        )

    async def _transcript_page(request: Request, key: str, reveal: bool) -> HTTPResponse:
        await web.refresh()
        sender_id = sender_for_key(web.engine, key)
        found = (
            await asyncio.to_thread(transcript, web.engine, sender_id, reveal)
            if sender_id
            else None
        )
        if found is None:
            return web.render(
                "message.html",
                status=404,
                session=request.ctx.session,
                message="No conversation with that id.",
            )
        return web.render(
            "transcript.html",
            session=request.ctx.session,
            t=found,
            labels=labels(),
            annotated=labels_for(web.engine, found.sender_id),
            label=found.sender_id if reveal else mask_id(found.sender_id),
            url=f"/console/conversations/{key}",
        )
