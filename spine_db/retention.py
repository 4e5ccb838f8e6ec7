"""Retention: conversations and patient requests are deleted once their purpose is served.

    python -m spine_db.retention            # apply the windows below
    python -m spine_db.retention --dry-run  # count what would go, delete nothing

Conversations are health data (symptoms, names, numbers), so they are kept only as long as staff
need them for review: a conversation whose last message is older than
``RETENTION_CONVERSATION_DAYS`` (default 90) is deleted with everything derived from it (Rasa's
``events``, the console's summary and annotations). Bookings and call-backs that are closed (done
or cancelled) go ``RETENTION_REQUEST_DAYS`` (default 365) after their last change; open ones
stay until staff close them. WhatsApp deliveries (message text and phone number) that were
handled go after ``RETENTION_DELIVERY_DAYS`` (default 7): they exist only to answer each message
once. Per-day counters hold no personal data and stay. Redis keys expire by themselves (minutes).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Dict

import sqlalchemy as sa

from spine_db.config import database_url, redacted
from spine_db.models import (
    CLOSED_STATUSES,
    RASA_EVENTS,
    Annotation,
    Booking,
    Callback,
    ConversationSummary,
    WhatsAppDelivery,
    WhatsAppReply,
)

EVENTS = RASA_EVENTS


@dataclass(frozen=True)
class Windows:
    conversation_days: int = 90
    request_days: int = 365
    delivery_days: int = 7

    @classmethod
    def from_env(cls) -> Windows:
        def days(name: str, default: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            value = int(raw)
            if value < 1:
                raise ValueError(f"{name} must be at least 1 day, got {raw!r}")
            return value

        return cls(
            days("RETENTION_CONVERSATION_DAYS", cls.conversation_days),
            days("RETENTION_REQUEST_DAYS", cls.request_days),
            days("RETENTION_DELIVERY_DAYS", cls.delivery_days),
        )


def apply(
    engine: sa.engine.Engine,
    windows: Windows,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Dict[str, int]:
    """Delete what is past its window; returns how many rows each table lost (or would lose)."""
    now = now or datetime.now(timezone.utc)
    conversation_cut = now - timedelta(days=windows.conversation_days)
    request_cut = now - timedelta(days=windows.request_days)
    delivery_cut = now - timedelta(days=windows.delivery_days)
    counts: Dict[str, int] = {}
    inspector = sa.inspect(engine)
    with engine.begin() as conn:
        has_events = inspector.has_table("events")
        # A conversation goes as a whole, by its last message: never half a conversation.
        old = (
            sa.select(EVENTS.c.sender_id)
            .group_by(EVENTS.c.sender_id)
            .having(sa.func.max(EVENTS.c.timestamp) < conversation_cut.timestamp())
        )
        annotations = Annotation.__table__
        if inspector.has_table(annotations.name):
            # annotations carry the message text: they go with their conversation
            gone = annotations.c.created_at < conversation_cut
            if has_events:
                gone = annotations.c.sender_id.in_(old)
            counts[annotations.name] = _delete(conn, annotations, gone, dry_run)
        if has_events:
            counts["events"] = _delete(conn, EVENTS, EVENTS.c.sender_id.in_(old), dry_run)
        summaries = ConversationSummary.__table__
        if inspector.has_table(summaries.name):
            counts[summaries.name] = _delete(
                conn, summaries, summaries.c.last_at < conversation_cut.timestamp(), dry_run
            )
        for table in (Booking.__table__, Callback.__table__):
            if inspector.has_table(table.name):
                last_change = sa.func.coalesce(table.c.updated_at, table.c.created_at)
                where = sa.and_(table.c.status.in_(CLOSED_STATUSES), last_change < request_cut)
                counts[table.name] = _delete(conn, table, where, dry_run)
        inbox = WhatsAppDelivery.__table__
        if inspector.has_table(inbox.name):
            where = sa.and_(inbox.c.done_at.isnot(None), inbox.c.done_at < delivery_cut)
            counts[inbox.name] = _delete(conn, inbox, where, dry_run)
        outbox = WhatsAppReply.__table__
        if inspector.has_table(outbox.name):
            where = sa.and_(outbox.c.sent_at.isnot(None), outbox.c.sent_at < delivery_cut)
            where = sa.or_(where, outbox.c.created_at < request_cut)
            counts[outbox.name] = _delete(conn, outbox, where, dry_run)
    return counts


def _delete(
    conn: sa.engine.Connection,
    table: sa.sql.expression.TableClause,
    where: sa.sql.expression.ColumnElement,
    dry_run: bool,
) -> int:
    if dry_run:
        count = sa.select(sa.func.count()).select_from(table).where(where)
        return int(conn.execute(count).scalar() or 0)
    return int(conn.execute(sa.delete(table).where(where)).rowcount or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    args = parser.parse_args()
    url = database_url()
    windows = Windows.from_env()
    engine = sa.create_engine(url, future=True)
    counts = apply(engine, windows, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"retention on {redacted(url)} (conversations {windows.conversation_days} d, closed "
        f"requests {windows.request_days} d, deliveries {windows.delivery_days} d): {verb} "
        + ", ".join(f"{table} {n}" for table, n in counts.items())
    )


if __name__ == "__main__":
    main()
