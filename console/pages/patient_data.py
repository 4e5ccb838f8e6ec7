"""Patients' requests made by phone or e-mail: find their conversations, export or erase them."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List

import sqlalchemy as sa
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from console.accounts import Session
from console.indexer import (
    key_for_sender,
    sender_for_key,
)
from console.masking import mask_id
from console.web import (
    Console,
)
from spine_db.erasure import (
    conversations_of,
    erase_conversation,
    erase_requests,
    export_conversation,
    policy,
)


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


def register(console: Blueprint, web: Console) -> None:
    """Mounts this page's routes on ``console``, over the console's shared state ``web``."""

    @console.get("/patient-data")
    @web.login_required
    @web.admin_only("handle patient data requests")
    async def patient_data_form(request: Request) -> HTTPResponse:
        session: Session = request.ctx.session
        return web.render("patient_data.html", session=session, found=None, result=None)

    @console.post("/patient-data")
    @web.login_required
    @web.admin_only("handle patient data requests")
    async def patient_data(request: Request) -> HTTPResponse:
        """Find, export or erase one patient's conversations by mobile number or conversation
        id, for requests that arrive by phone or e-mail (admin only, audited)."""
        session: Session = request.ctx.session
        form = request.form
        mobile, key = (form.get("mobile") or "").strip(), (form.get("key") or "").strip()
        await web.refresh()  # conversations are listed by their console key
        senders = await asyncio.to_thread(_senders, web.engine, mobile, key)
        context: Dict[str, Any] = {"session": session, "mobile": mobile, "key": key, "result": None}
        do = form.get("do") or "find"
        if do == "export" and senders:
            export = await asyncio.to_thread(_export, web.engine, senders)
            web.accounts.audit(
                session.staff, "export", "patient data", f"{len(senders)} conversations"
            )
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
                counts = await asyncio.to_thread(_erase, web.engine, senders, policy())
                detail = ", ".join(f"{t} {n}" for t, n in counts.items())
                # what and how much, never whose: the erased data must not live on here
                web.accounts.audit(session.staff, "erasure", "console", detail)
                context["result"] = {
                    "erased": True,
                    "message": f"Erased {len(senders)} conversation(s): {detail}.",
                }
                senders = []
        found = await asyncio.to_thread(_described_senders, web.engine, senders)
        if not senders and context["result"] is None:
            context["result"] = {"erased": False, "message": "No conversation found."}
        return web.render("patient_data.html", found=found, **context)
