"""Bookings and call-back requests as work queues: status new → contacted → done / cancelled,
an assigned staff member and notes (a dated log: notes are added, never rewritten, so a masked page
can never write masked text back). Every change is written to the audit log in the same
transaction; a change made on a page that is out of date (any change since, by anyone) is refused
instead of overwriting a colleague's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Tuple

import sqlalchemy as sa

from console.indexer import LOCAL_TZ
from console.masking import mask_phone, mask_text
from spine_db.models import (
    OPEN_STATUSES,
    STATUSES,
    AuditEntry,
    Booking,
    Callback,
    ConversationSummary,
)

KINDS: Dict[str, Any] = {"bookings": Booking.__table__, "callbacks": Callback.__table__}
TRANSITIONS: Dict[str, Tuple[str, ...]] = {
    "new": ("contacted", "cancelled"),
    "contacted": ("done", "cancelled"),
    "done": (),
    "cancelled": (),
}
OPEN = OPEN_STATUSES
MAX_NOTE = 1000
MAX_NOTES = 20000


class QueueError(ValueError):
    """A change that cannot be made; the message is shown to the staff member."""


@dataclass(frozen=True)
class Change:
    status: str
    assignee: str | None
    add_note: str | None = None


def list_requests(
    engine: sa.engine.Engine,
    kind: str,
    status: str = "open",
    assignee: str | None = None,
    page: int = 1,
    per_page: int = 50,
    reference: str | None = None,
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of requests, oldest first (first come, first served), with the console key of
    the conversation each came from."""
    table, summaries = KINDS[kind], ConversationSummary.__table__
    where: List[Any] = []
    if reference:
        where.append(table.c.reference == reference)
    elif status == "open":
        where.append(table.c.status.in_(OPEN))
    elif status in STATUSES:
        where.append(table.c.status == status)
    if assignee == "":
        where.append(table.c.assignee.is_(None))
    elif assignee:
        where.append(table.c.assignee == assignee)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
        rows = conn.execute(
            sa.select(table, summaries.c.conversation_key)
            .select_from(
                table.outerjoin(summaries, summaries.c.sender_id == table.c.conversation_id)
            )
            .where(*where)
            .order_by(table.c.created_at, table.c.id)
            .limit(per_page)
            .offset((max(1, page) - 1) * per_page)
        ).all()
    return [dict(r._mapping) for r in rows], int(total or 0)


def masked(record: Dict[str, Any], reveal: bool = False) -> Dict[str, Any]:
    shown = dict(record)
    if not reveal:
        name = str(record.get("patient_name") or "")
        shown["patient_name"] = "[hidden]"
        shown["mobile"] = mask_phone(str(record["mobile"]))
        shown["notes"] = mask_text(str(record.get("notes") or ""), {name} if name else set())
    return shown


def update_request(
    engine: sa.engine.Engine,
    kind: str,
    reference: str,
    seen_version: int,
    change: Change,
    by: str,
    staff: List[str],
) -> List[str]:
    """Apply a staff member's change to the version they saw; returns what changed (audited)."""
    table = KINDS[kind]
    if change.assignee and change.assignee not in staff:
        raise QueueError("That staff member does not exist or is inactive.")
    note = (change.add_note or "").strip()
    if len(note) > MAX_NOTE:
        raise QueueError(f"A note is limited to {MAX_NOTE} characters.")
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        row = conn.execute(sa.select(table).where(table.c.reference == reference)).first()
        if row is None:
            raise QueueError("No such request.")
        if row.version != seen_version:
            raise QueueError(
                "This request was changed meanwhile (it is now "
                f"{row.status!r}, assigned to {row.assignee or 'nobody'}); nothing was saved. "
                "Reload the page and try again."
            )
        if change.status != row.status and change.status not in TRANSITIONS.get(row.status, ()):
            allowed = ", ".join(TRANSITIONS.get(row.status, ())) or "nothing (it is closed)"
            raise QueueError(f"A {row.status!r} request can move to {allowed}.")
        values: Dict[str, Any] = {}
        changes: List[str] = []
        if change.status != row.status:
            values["status"] = change.status
            changes.append(f"status {row.status}→{change.status}")
        if (change.assignee or None) != row.assignee:
            values["assignee"] = change.assignee or None
            changes.append(f"assignee {row.assignee or '-'}→{change.assignee or '-'}")
        if note:
            entry = f"{now.astimezone(LOCAL_TZ):%d %b %Y %H:%M} {by}: {note}"
            notes = f"{row.notes}\n{entry}" if row.notes else entry
            if len(notes) > MAX_NOTES:
                raise QueueError("This request has too many notes; ask an admin to archive it.")
            values["notes"] = notes
            changes.append("note added")
        if not values:
            return []
        updated = conn.execute(  # only if nobody changed it since it was read (version)
            sa.update(table)
            .where(table.c.id == row.id, table.c.version == seen_version)
            .values(updated_at=now, version=seen_version + 1, **values)
        ).rowcount
        if updated != 1:
            raise QueueError("This request was changed meanwhile; nothing was saved. Reload.")
        conn.execute(
            sa.insert(AuditEntry.__table__).values(
                at=now,
                username=by,
                action="status" if "status" in values else "update",
                target=f"{kind[:-1]}:{reference}",
                detail="; ".join(changes),
            )
        )
    return changes
