"""Conversation transcripts for review, with patient data masked unless an admin reveals it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Iterable, List, Set

import sqlalchemy as sa

from console.indexer import EVENTS, LOCAL_TZ, form_answer, replay_of, topics_of
from console.masking import mask_phone, mask_text, names_in
from spine_db.models import Booking, Callback, ConversationSummary

PERSONAL_SLOTS = {"patient_name", "mobile"}


def known_names(conn: Any, sender_ids: Iterable[str]) -> Dict[str, Set[str]]:
    """The names each conversation knows: the form's answers and its requests' names."""
    wanted = list(sender_ids)
    names: Dict[str, Set[str]] = {s: set() for s in wanted}
    if not wanted:
        return names
    for sender, raw in conn.execute(
        sa.select(EVENTS.c.sender_id, EVENTS.c.data).where(
            EVENTS.c.sender_id.in_(wanted),
            EVENTS.c.type_name == "slot",
            EVENTS.c.data.contains('"patient_name"'),
        )
    ):
        value = _json(raw).get("value")
        if _json(raw).get("name") == "patient_name" and value:
            names[sender].add(str(value))
    for table in (Booking.__table__, Callback.__table__):
        for sender, name in conn.execute(
            sa.select(table.c.conversation_id, table.c.patient_name).where(
                table.c.conversation_id.in_(wanted)
            )
        ):
            if name:
                names[sender].add(str(name))
    return names


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(float(timestamp), LOCAL_TZ).strftime("%d %b %Y, %H:%M %Z")


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
    # The check question this message was carried out again after (console.indexer.replay_of);
    # its first row is the one to annotate.
    replayed_after: str = ""


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
        names = known_names(conn, [sender_id])[sender_id]
    events = [(row.id, row.type_name, row.timestamp, _json(row.data)) for row in rows]
    for _, kind, _, data in events:  # a name told in one message is hidden in all of them
        if kind == "user":
            names |= names_in(str(data.get("text") or ""))

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
                    replayed_after=replay_of(parse) or "",
                    confidence=intent.get("confidence"),
                    entities=[
                        show(f"{e.get('entity')}={e.get('value')}")
                        for e in parse.get("entities") or []
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
            else:
                shown = show(shown)
            turns.append(Turn("slot", at, f"{data.get('name')} = {shown}"))
    if not reveal:
        for record in bookings + callbacks:
            record["patient_name"] = "[hidden]"
            record["mobile"] = mask_phone(str(record["mobile"]))
    found = dict(summary._mapping) if summary else None
    if found is not None and found.get("note") and not reveal:
        masked_note = mask_text(str(found["note"]), names)
        found["note_masked"] = masked_note != found["note"]
        found["note"] = masked_note
    return Transcript(
        sender_id,
        turns,
        found,
        bookings,
        callbacks,
        masked=not reveal,
    )


def still_found_masked(engine: sa.engine.Engine, sender_ids: List[str], text: str) -> Set[str]:
    """The conversations among ``sender_ids`` whose patient messages contain ``text`` (any case)
    as an agent sees them, masked."""
    needle = text.casefold()
    if not sender_ids:
        return set()
    messages: Dict[str, List[str]] = {s: [] for s in sender_ids}
    with engine.connect() as conn:
        names = known_names(conn, sender_ids)
        for sender, raw in conn.execute(
            sa.select(EVENTS.c.sender_id, EVENTS.c.data).where(
                EVENTS.c.sender_id.in_(sender_ids), EVENTS.c.type_name == "user"
            )
        ):
            messages[sender].append(str(_json(raw).get("text") or ""))
    found = set()
    for sender, texts in messages.items():
        told = names[sender].union(*(names_in(t) for t in texts))
        if any(needle in mask_text(t, told).casefold() for t in texts):
            found.add(sender)
    return found


def mark_reviewed(
    engine: sa.engine.Engine, sender_id: str, note: str | None, keep_note: bool = False
) -> bool:
    """Mark reviewed with ``note``; ``keep_note`` leaves the note as it is (an agent saw it
    masked, and saving the masked text would destroy it)."""
    table = ConversationSummary.__table__
    values: Dict[str, Any] = {"reviewed": True}
    if not keep_note:
        values["note"] = (note or "").strip()[:2000] or None
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(table).where(table.c.sender_id == sender_id).values(**values)
        )
    return bool(result.rowcount)


def _json(raw: str | None) -> Dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
