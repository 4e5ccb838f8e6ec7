"""Bookings and call-back requests as work queues: status new → contacted → done / cancelled,
an assigned staff member and notes. Every change is written to the audit log in the same
transaction, and a change made on a stale page is refused instead of overwriting someone else's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Tuple

import sqlalchemy as sa

from console.indexer import conversation_key
from console.review import mask_phone
from spine_db.models import STATUSES, AuditEntry, Booking, Callback

KINDS: Dict[str, Any] = {"bookings": Booking.__table__, "callbacks": Callback.__table__}
TRANSITIONS: Dict[str, Tuple[str, ...]] = {
    "new": ("contacted", "cancelled"),
    "contacted": ("done", "cancelled"),
    "done": (),
    "cancelled": (),
}
OPEN = ("new", "contacted")
MAX_NOTES = 4000


class QueueError(ValueError):
    """A change that cannot be made; the message is shown to the staff member."""


@dataclass(frozen=True)
class Change:
    status: str
    assignee: str | None
    notes: str | None


def list_requests(
    engine: sa.engine.Engine,
    kind: str,
    status: str = "open",
    assignee: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of requests, oldest open first (first come, first served)."""
    table = KINDS[kind]
    where: List[Any] = []
    if status == "open":
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
            sa.select(table)
            .where(*where)
            .order_by(table.c.created_at, table.c.id)
            .limit(per_page)
            .offset((max(1, page) - 1) * per_page)
        ).all()
    return [dict(r._mapping) for r in rows], int(total or 0)


def masked(record: Dict[str, Any], reveal: bool = False) -> Dict[str, Any]:
    shown = dict(record)
    shown["conversation_key"] = conversation_key(str(record["conversation_id"]))
    if not reveal:
        shown["patient_name"] = "[hidden]"
        shown["mobile"] = mask_phone(str(record["mobile"]))
        shown["notes"] = mask_phone(str(record.get("notes") or "")) or None
    return shown


def get_request(engine: sa.engine.Engine, kind: str, reference: str) -> Dict[str, Any] | None:
    table = KINDS[kind]
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.reference == reference)).first()
    return dict(row._mapping) if row else None


def update_request(
    engine: sa.engine.Engine,
    kind: str,
    reference: str,
    seen_status: str,
    change: Change,
    by: str,
    staff: List[str],
) -> List[str]:
    """Apply a staff member's change; returns what changed (also audited)."""
    table = KINDS[kind]
    if change.assignee and change.assignee not in staff:
        raise QueueError("That staff member does not exist or is inactive.")
    notes = (change.notes or "").strip()
    if len(notes) > MAX_NOTES:
        raise QueueError(f"Notes are limited to {MAX_NOTES} characters.")
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(table).where(table.c.reference == reference).with_for_update()
        ).first()
        if row is None:
            raise QueueError("No such request.")
        if row.status != seen_status:
            raise QueueError(
                f"This request was changed meanwhile (it is now {row.status!r}); "
                "reload the page and try again."
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
        if (notes or None) != row.notes:
            values["notes"] = notes or None
            changes.append("notes")
        if not values:
            return []
        now = datetime.now(timezone.utc)
        conn.execute(sa.update(table).where(table.c.id == row.id).values(updated_at=now, **values))
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
