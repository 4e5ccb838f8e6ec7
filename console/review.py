"""Conversation transcripts for review, with patient data masked unless an admin reveals it."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Set

import sqlalchemy as sa

from console.indexer import EVENTS, IST, form_answer, topics_of
from spine_db.models import Booking, Callback, ConversationSummary

PHONE = re.compile(r"\+?\d[\d\s\-().]{7,}\d")
PERSONAL_SLOTS = {"patient_name", "mobile"}


def mask_phone(text: str) -> str:
    """Digits of phone-like numbers hidden but the last two ("+91 98765 43210" → "•••• ••10")."""

    def hide(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "•••• ••" + digits[-2:] if len(digits) >= 8 else match.group(0)

    return PHONE.sub(hide, text)


def mask_text(text: str, names: Set[str]) -> str:
    masked = mask_phone(text)
    for name in sorted(names, key=len, reverse=True):
        if len(name) >= 2:
            masked = re.sub(re.escape(name), "[name]", masked, flags=re.IGNORECASE)
    return masked


def mask_id(sender_id: str) -> str:
    """Conversation ids that are phone numbers (WhatsApp) are masked like the numbers."""
    return mask_phone(sender_id)


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(float(timestamp), IST).strftime("%d %b %Y, %H:%M IST")


@dataclass
class Turn:
    kind: str  # user | bot | action | slot
    at: str
    text: str = ""
    intent: str = ""
    confidence: float | None = None
    entities: List[str] = field(default_factory=list)
    event_id: int = 0
    form_answer: str = ""  # the form question (slot) this message answered


@dataclass
class Transcript:
    sender_id: str
    turns: List[Turn]
    summary: Dict[str, Any] | None
    bookings: List[Dict[str, Any]]
    callbacks: List[Dict[str, Any]]
    masked: bool


def transcript(engine: sa.engine.Engine, sender_id: str, reveal: bool = False) -> Transcript | None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS).where(EVENTS.c.sender_id == sender_id).order_by(EVENTS.c.id)
        ).all()
        if not rows:
            return None
        summary = conn.execute(
            sa.select(ConversationSummary.__table__).where(
                ConversationSummary.__table__.c.sender_id == sender_id
            )
        ).first()
        bookings = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(Booking.__table__).where(Booking.__table__.c.conversation_id == sender_id)
            )
        ]
        callbacks = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(Callback.__table__).where(
                    Callback.__table__.c.conversation_id == sender_id
                )
            )
        ]
    events = [(row.id, row.type_name, row.timestamp, _json(row.data)) for row in rows]
    names = {
        str(data.get("value"))
        for _, kind, _, data in events
        if kind == "slot" and data.get("name") == "patient_name" and data.get("value")
    } | {str(b["patient_name"]) for b in bookings + callbacks}

    def show(text: str) -> str:
        return text if reveal else mask_text(text, names)

    turns: List[Turn] = []
    for event_id, kind, timestamp, data in events:
        at = when(timestamp)
        if kind == "user":
            parse = data.get("parse_data") or {}
            intent = parse.get("intent") or {}
            turns.append(
                Turn(
                    "user",
                    at,
                    show(str(data.get("text") or "")),
                    intent=" + ".join(topics_of(parse)),
                    form_answer=form_answer(parse) or "",
                    confidence=intent.get("confidence"),
                    entities=[
                        f"{e.get('entity')}={e.get('value')}" for e in parse.get("entities") or []
                    ],
                    event_id=event_id,
                )
            )
        elif kind == "bot":
            text = str(data.get("text") or "")
            custom = (data.get("data") or {}).get("custom")
            if not text and isinstance(custom, dict):
                text = f"[{custom.get('type', 'custom')}]"
            turns.append(Turn("bot", at, show(text)))
        elif kind == "action" and data.get("name") not in ("action_listen", None):
            turns.append(Turn("action", at, str(data.get("name"))))
        elif kind == "slot" and data.get("name") != "requested_slot":
            value = data.get("value")
            shown = json.dumps(value, ensure_ascii=False)
            if data.get("name") in PERSONAL_SLOTS and value and not reveal:
                shown = "[hidden]" if data.get("name") == "patient_name" else mask_phone(str(value))
            turns.append(Turn("slot", at, f"{data.get('name')} = {shown}"))
    if not reveal:
        for record in bookings + callbacks:
            record["patient_name"] = "[hidden]"
            record["mobile"] = mask_phone(str(record["mobile"]))
    return Transcript(
        sender_id,
        turns,
        dict(summary._mapping) if summary else None,
        bookings,
        callbacks,
        masked=not reveal,
    )


def mark_reviewed(engine: sa.engine.Engine, sender_id: str, note: str) -> bool:
    table = ConversationSummary.__table__
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(table)
            .where(table.c.sender_id == sender_id)
            .values(reviewed=True, note=note.strip()[:2000] or None)
        )
    return bool(result.rowcount)


def _json(raw: str | None) -> Dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
