"""Erasing and exporting one patient's data, shared by the three places that do it: the tracker
store ("delete my data" in chat), the action server's store (the patient's requests) and the
staff console (requests that arrive by phone or e-mail).

A conversation goes with everything derived from it; requests are anonymised (kept for the
hospital's records without name, number, notes or link to the conversation) or deleted.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List

import sqlalchemy as sa

from spine_db.crypto import mobile_indexes
from spine_db.models import RASA_EVENTS, Booking, Callback

# (table, column holding the conversation's sender id). A WhatsApp conversation's sender id is
# the patient's number.
WITH_CONVERSATION = (
    ("events", "sender_id"),
    ("conversation_summaries", "sender_id"),
    ("annotations", "sender_id"),
    ("whatsapp_inbox", "sender"),
    ("whatsapp_outbox", "recipient"),
)
REQUESTS = (Booking.__table__, Callback.__table__)
# What an erased request keeps instead of the patient's name and number.
ERASED = "(erased)"
POLICIES = ("anonymise", "delete")


def policy() -> str:
    """``ERASURE_REQUESTS``: ``anonymise`` (default) or ``delete`` the patient's requests; the
    same for an erasure asked in chat and one done from the console."""
    return os.environ.get("ERASURE_REQUESTS", "").strip().lower() or "anonymise"


EVENTS = RASA_EVENTS


def erase_conversation(conn: sa.engine.Connection, sender_id: str) -> Dict[str, int]:
    """Delete the conversation and what is derived from it; rows deleted per table."""
    tables = set(sa.inspect(conn).get_table_names())
    counts: Dict[str, int] = {}
    for table, column in WITH_CONVERSATION:
        if table in tables:
            target = sa.table(table, sa.column(column))
            result = conn.execute(sa.delete(target).where(sa.column(column) == sender_id))
            counts[table] = int(result.rowcount or 0)
    return counts


def erase_requests(
    conn: sa.engine.Connection, conversation_id: str, policy: str = "anonymise"
) -> Dict[str, int]:
    """Erase the patient from the conversation's bookings and call-backs; rows per table."""
    if policy not in POLICIES:
        raise ValueError(f"erasure policy must be one of {POLICIES}, got {policy!r}")
    counts: Dict[str, int] = {}
    for table in REQUESTS:
        where = table.c.conversation_id == conversation_id
        if policy == "delete":
            result = conn.execute(sa.delete(table).where(where))
        else:
            result = conn.execute(
                sa.update(table)
                .where(where)
                .values(
                    patient_name=ERASED,
                    mobile=ERASED,
                    mobile_index=None,
                    notes=None,
                    conversation_id=sa.literal("erased:") + table.c.reference,
                    updated_at=sa.func.now(),
                    version=table.c.version + 1,
                )
            )
        counts[table.name] = int(result.rowcount or 0)
    return counts


def mobile_digits(text: str) -> str | None:
    """The 10 digits of an Indian mobile number written any way (+91, 0, spaces, dashes)."""
    digits = re.sub(r"\D", "", text or "")
    if len(digits) == 12 and digits.startswith("91"):
        digits = digits[2:]
    elif len(digits) == 11 and digits.startswith("0"):
        digits = digits[1:]
    return digits if len(digits) == 10 else None


def conversations_of(conn: sa.engine.Connection, mobile: str) -> List[str]:
    """The conversations a mobile number made requests from, and its WhatsApp conversation."""
    digits = mobile_digits(mobile)
    if digits is None:
        return []
    found: List[str] = []
    for table in REQUESTS:
        rows = conn.execute(
            sa.select(table.c.conversation_id).where(
                table.c.mobile_index.in_(mobile_indexes(digits))
            )
        )
        found += [r[0] for r in rows if not str(r[0]).startswith("erased:")]
    whatsapp = f"91{digits}"
    if conn.execute(sa.select(EVENTS.c.id).where(EVENTS.c.sender_id == whatsapp).limit(1)).first():
        found.append(whatsapp)
    return sorted(set(found))


def export_conversation(conn: sa.engine.Connection, sender_id: str) -> Dict[str, Any]:
    """Everything stored for one conversation, readable: messages, replies, slots, requests."""
    events = conn.execute(
        sa.select(EVENTS.c.data).where(EVENTS.c.sender_id == sender_id).order_by(EVENTS.c.id)
    )
    turns: List[Dict[str, Any]] = []
    for (data,) in events:
        event = json.loads(data)
        kind = event.get("event")
        if kind in ("user", "bot"):
            turns.append({"at": event.get("timestamp"), "from": kind, "text": event.get("text")})
        elif kind == "slot" and event.get("value") is not None:
            turns.append(
                {
                    "at": event.get("timestamp"),
                    "slot": event.get("name"),
                    "value": event.get("value"),
                }
            )
    requests: List[Dict[str, Any]] = []
    for table in REQUESTS:
        for row in conn.execute(sa.select(table).where(table.c.conversation_id == sender_id)):
            requests.append({k: _plain(v) for k, v in row._mapping.items()} | {"kind": table.name})
    return {"conversation": sender_id, "messages": turns, "requests": requests}


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
