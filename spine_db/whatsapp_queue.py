"""WhatsApp's durable inbox and outbox in the project database (``DATABASE_URL`` or var/spine.db).

Meta delivers each message at least once and never again once acknowledged, so a delivery is
stored here before the webhook answers 200; a worker in any replica claims it (a lease, taken over
when it expires: the replica died), runs it and stores its replies in the outbox together with
marking it done. Replies are sent from the outbox in order per recipient, retried with backoff
until sent or until WhatsApp's 24-hour window after the patient's message closes (then
``failed``: staff see them). Claims are conditional updates, so any number of replicas share the
tables without locks; only the earliest pending row of a conversation is claimable, which keeps
each patient's messages and replies in order.

Blocking calls: the channel runs them in a thread (``asyncio.to_thread``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Dict, List, Sequence, Tuple

import sqlalchemy as sa

from spine_db.config import database_url, tune_sqlite
from spine_db.models import WhatsAppDelivery, WhatsAppReply
from spine_db.store import engine_options

WINDOW = timedelta(hours=24)  # WhatsApp's customer service window
INBOX = WhatsAppDelivery.__table__
OUTBOX = WhatsAppReply.__table__


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _free(table: sa.Table, now: datetime) -> Any:
    """Pending, and not claimed or the claim has run out."""
    return sa.and_(
        table.c.status == "pending",
        sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
    )


def _claimable(table: sa.Table, per: str, now: datetime, *where: Any) -> Any:
    """The oldest free rows that are the earliest pending row of their ``per`` column (one
    patient's rows are handled in order, one at a time)."""
    earlier = table.alias("earlier")
    return (
        sa.select(table)
        .where(
            _free(table, now),
            *where,
            ~sa.exists().where(
                earlier.c[per] == table.c[per],
                earlier.c.status == "pending",
                earlier.c.id < table.c.id,
            ),
        )
        .order_by(table.c.id)
        .limit(10)
    )


def _take(
    conn: Any, table: sa.Table, row_id: int, now: datetime, lease: float, **values: Any
) -> bool:
    """Claim one row for ``lease`` seconds; False if another worker was first."""
    return (
        conn.execute(
            table.update()
            .where(table.c.id == row_id, _free(table, now))
            .values(claimed_until=now + timedelta(seconds=lease), **values)
        ).rowcount
        == 1
    )


@dataclass(frozen=True)
class Delivery:
    id: int
    message_id: str
    sender: str
    text: str | None
    received_at: datetime
    attempts: int


@dataclass(frozen=True)
class Reply:
    id: int
    recipient: str
    body: Dict[str, Any]
    attempts: int


@lru_cache(maxsize=4)
def queue_for(url: str) -> WhatsAppQueue:
    """One queue (one connection pool) per database URL, shared by the process's channels."""
    return WhatsAppQueue(url)


class WhatsAppQueue:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = tune_sqlite(
            sa.create_engine(self.url, future=True, **engine_options(self.url))
        )

    # ---- inbox ----------------------------------------------------------------------------

    def accept(self, messages: Sequence[Tuple[str, str, str | None]]) -> int:
        """Store (message id, sender, text) deliveries; one already stored (Meta's redelivery)
        is skipped. Returns how many were new. Raises SQLAlchemyError when it cannot store them:
        the webhook must then not acknowledge."""
        new = 0
        with self.engine.begin() as conn:
            for message_id, sender, text in messages:
                known = conn.execute(
                    sa.select(INBOX.c.id).where(INBOX.c.message_id == message_id)
                ).first()
                if known is None:
                    conn.execute(
                        INBOX.insert().values(
                            message_id=message_id,
                            sender=sender,
                            text=text,
                            received_at=now_utc(),
                            status="pending",
                            attempts=0,
                        )
                    )
                    new += 1
        return new

    def seen_once(self, message_id: str, sender: str) -> bool:
        """For a channel that answers at once (Twilio): record the message as done; False if it
        was recorded before (a retry)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    INBOX.insert().values(
                        message_id=message_id,
                        sender=sender[:32],
                        text=None,
                        received_at=now_utc(),
                        status="done",
                        attempts=1,
                        done_at=now_utc(),
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def claim_delivery(self, lease: float) -> Delivery | None:
        """The oldest claimable delivery (the earliest pending one of its conversation, not
        claimed or its claim expired), claimed for ``lease`` seconds."""
        now = now_utc()
        with self.engine.begin() as conn:
            for row in conn.execute(_claimable(INBOX, "sender", now)).mappings().all():
                if _take(conn, INBOX, row["id"], now, lease, attempts=INBOX.c.attempts + 1):
                    return Delivery(
                        row["id"],
                        row["message_id"],
                        row["sender"],
                        row["text"],
                        row["received_at"],
                        row["attempts"] + 1,
                    )
        return None

    def finish_delivery(self, delivery: Delivery, bodies: List[Dict[str, Any]]) -> None:
        """Store the delivery's replies and mark it done, in one transaction."""
        received = delivery.received_at
        if received.tzinfo is None:  # SQLite keeps no time zone; stored as UTC
            received = received.replace(tzinfo=timezone.utc)
        now = now_utc()
        with self.engine.begin() as conn:
            for body in bodies:
                conn.execute(
                    OUTBOX.insert().values(
                        delivery_id=delivery.id,
                        recipient=delivery.sender,
                        body=json.dumps(body, ensure_ascii=False),
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        window_closes_at=received + WINDOW,
                        created_at=now,
                    )
                )
            conn.execute(
                INBOX.update()
                .where(INBOX.c.id == delivery.id)
                .values(status="done", done_at=now, claimed_until=None)
            )

    # ---- outbox ---------------------------------------------------------------------------

    def claim_reply(self, lease: float) -> Reply | None:
        """The next reply due (the earliest pending one of its recipient), claimed for
        ``lease`` seconds. Replies whose window has closed are marked failed first."""
        now = now_utc()
        with self.engine.begin() as conn:
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.status == "pending", OUTBOX.c.window_closes_at < now)
                .values(status="failed", last_error="24-hour window closed before delivery")
            )
            due = OUTBOX.c.next_attempt_at <= now
            for row in conn.execute(_claimable(OUTBOX, "recipient", now, due)).mappings().all():
                if _take(conn, OUTBOX, row["id"], now, lease):
                    return Reply(
                        row["id"], row["recipient"], json.loads(row["body"]), row["attempts"]
                    )
        return None

    def reply_sent(self, reply: Reply) -> None:
        self._tried(reply, status="sent", sent_at=now_utc())

    def reply_retry(self, reply: Reply, delay: float, error: str) -> None:
        self._tried(
            reply, next_attempt_at=now_utc() + timedelta(seconds=delay), last_error=error[:255]
        )

    def reply_failed(self, reply: Reply, error: str) -> None:
        """Refused for good (a 4xx other than 429): retrying cannot help."""
        self._tried(reply, status="failed", last_error=error[:255])

    def _tried(self, reply: Reply, **values: Any) -> None:
        """Record one try of a claimed reply and release the claim."""
        with self.engine.begin() as conn:
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == reply.id)
                .values(attempts=reply.attempts + 1, claimed_until=None, **values)
            )

    def undelivered(self) -> List[Dict[str, Any]]:
        """Replies given up on (recipient, error, when), newest first, for staff."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(OUTBOX.c.id, OUTBOX.c.recipient, OUTBOX.c.last_error, OUTBOX.c.created_at)
                .where(OUTBOX.c.status == "failed")
                .order_by(OUTBOX.c.id.desc())
            ).mappings()
            return [dict(r) for r in rows]
