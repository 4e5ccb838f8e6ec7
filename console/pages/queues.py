"""The bookings and call-backs queues: status, assignee, notes, revealing a number."""
from __future__ import annotations

import asyncio

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import Session
from console.queues import (
    KINDS,
    TRANSITIONS,
    Change,
    QueueError,
    list_requests,
    masked,
    update_request,
)
from console.web import (
    PER_PAGE,
    Console,
    created_local,
    page_number,
)


def register(console: Blueprint, web: Console) -> None:
    """Mounts this page's routes on ``console``, over the console's shared state ``web``."""

    @console.get("/queues/<kind>")
    @web.login_required
    async def queue(request: Request, kind: str) -> HTTPResponse:
        return await _queue_page(request, kind)

    @console.post("/queues/<kind>/<reference>")
    @web.login_required
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
                web.engine,
                kind,
                reference,
                int(seen) if seen.isascii() and seen.isdigit() else -1,
                change,
                session.staff.username,
                web.accounts.usernames(),
            )
        except QueueError as error:
            return await _queue_page(request, kind, error=str(error), status=409)
        return response.redirect(f"/console/queues/{kind}?{request.query_string}#r-{reference}")

    @console.post("/queues/<kind>/<reference>/reveal")
    @web.login_required
    @web.admin_only("reveal patient data")
    async def reveal_request(request: Request, kind: str, reference: str) -> HTTPResponse:
        """One request with its contact details, for an admin (audited)."""
        session: Session = request.ctx.session
        if (
            kind not in KINDS
            or not (await asyncio.to_thread(list_requests, web.engine, kind, reference=reference))[
                1
            ]
        ):
            return response.text("No such request", status=404)
        web.accounts.audit(session.staff, "reveal", f"{kind[:-1]}:{reference}")
        return await _queue_page(request, kind, revealed=reference)

    async def _queue_page(
        request: Request,
        kind: str,
        error: str | None = None,
        status: int = 200,
        revealed: str | None = None,
    ) -> HTTPResponse:
        if kind not in KINDS:
            return web.render(
                "message.html", status=404, session=request.ctx.session, message="No such queue."
            )
        args = request.args
        wanted = args.get("status") or "open"
        mine = args.get("assignee")
        rows, total = await asyncio.to_thread(
            list_requests, web.engine, kind, wanted, mine, page_number(args), PER_PAGE, revealed
        )
        return web.render(
            "queue.html",
            status=status,
            session=request.ctx.session,
            kind=kind,
            rows=[
                {**masked(row, reveal=row["reference"] == revealed), "created": created_local(row)}
                for row in rows
            ],
            total=total,
            wanted=wanted,
            assignee=mine,
            staff=web.accounts.usernames(),
            transitions=TRANSITIONS,
            error=error,
            query=request.query_string,
        )
