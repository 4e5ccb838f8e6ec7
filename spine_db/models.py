"""Tables owned by the project (Rasa owns ``events``). Change them only with a migration."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

from spine_db.crypto import Encrypted

Base = declarative_base()

# Request lifecycle used by the support team (the staff console moves them on).
STATUSES = ("new", "contacted", "done", "cancelled")
OPEN_STATUSES = STATUSES[:2]  # staff have not finished with the request
CLOSED_STATUSES = STATUSES[2:]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RequestColumns:
    """What every request from a patient has: who, how to reach them, where it came from, status."""

    id = sa.Column(sa.Integer, primary_key=True)
    reference = sa.Column(sa.String(16), nullable=False, unique=True)
    conversation_id = sa.Column(sa.String(255), nullable=False, index=True)
    channel = sa.Column(sa.String(64))
    # Encrypted at rest (spine_db.crypto); mobile_index finds a request by its number.
    patient_name = sa.Column(Encrypted, nullable=False)
    mobile = sa.Column(Encrypted, nullable=False)
    mobile_index = sa.Column(sa.String(64), index=True)
    contact_consent = sa.Column(sa.Boolean, nullable=False)
    status = sa.Column(
        sa.String(16), nullable=False, default="new", server_default="new", index=True
    )
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    # Follow-up by the support team (staff console queues).
    assignee = sa.Column(sa.String(64))
    notes = sa.Column(sa.Text)
    updated_at = sa.Column(sa.DateTime(timezone=True))
    version = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")  # per change
    # The form run the request came from (unique per conversation): a retried submit finds it.
    form_run = sa.Column(sa.String(64))
    # The privacy notice version shown before the details were given (content/privacy.yml) and
    # when the patient agreed to be contacted.
    privacy_notice = sa.Column(sa.String(32))
    consented_at = sa.Column(sa.DateTime(timezone=True))


class Booking(RequestColumns, Base):  # type: ignore[misc,valid-type]
    """A consultation request made through the booking form (not a confirmed appointment)."""

    __tablename__ = "bookings"
    __table_args__ = (
        sa.UniqueConstraint(
            "conversation_id", "form_run", name="uq_bookings_conversation_form_run"
        ),
    )

    doctor_id = sa.Column(sa.String(64), nullable=False)
    doctor_name = sa.Column(sa.String(128), nullable=False)
    consult_mode = sa.Column(sa.String(32), nullable=False)
    preferred_date = sa.Column(sa.Date, nullable=False)
    preferred_time = sa.Column(sa.String(64), nullable=False)


class Callback(RequestColumns, Base):  # type: ignore[misc,valid-type]
    """A request to be called by the support team, linked to the conversation it came from."""

    __tablename__ = "callbacks"
    __table_args__ = (
        sa.UniqueConstraint(
            "conversation_id", "form_run", name="uq_callbacks_conversation_form_run"
        ),
    )

    reason = sa.Column(sa.String(255))
    booking_reference = sa.Column(sa.String(16))


class StaffUser(Base):  # type: ignore[misc,valid-type]
    """A support-staff account for the review console (password hashed with argon2)."""

    __tablename__ = "staff_users"

    id = sa.Column(sa.Integer, primary_key=True)
    username = sa.Column(sa.String(64), nullable=False, unique=True)
    password_hash = sa.Column(sa.String(255), nullable=False)
    role = sa.Column(sa.String(16), nullable=False)  # agent | admin
    active = sa.Column(sa.Boolean, nullable=False, default=True, server_default=sa.true())
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    last_login_at = sa.Column(sa.DateTime(timezone=True))


class StaffSession(Base):  # type: ignore[misc,valid-type]
    """A console login. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "staff_sessions"

    id = sa.Column(sa.Integer, primary_key=True)
    token_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    username = sa.Column(sa.String(64), nullable=False, index=True)
    csrf_token = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = sa.Column(sa.DateTime(timezone=True), nullable=False, index=True)


class AuditEntry(Base):  # type: ignore[misc,valid-type]
    """Who revealed, exported or changed what, and when."""

    __tablename__ = "audit_log"

    id = sa.Column(sa.Integer, primary_key=True)
    at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow, index=True)
    username = sa.Column(sa.String(64), nullable=False)
    action = sa.Column(sa.String(32), nullable=False)
    target = sa.Column(sa.String(255))
    detail = sa.Column(sa.Text)


class ConversationSummary(Base):  # type: ignore[misc,valid-type]
    """One row per conversation, kept up to date from Rasa's ``events`` by console.indexer, so the
    console lists and filters 100,000s of conversations without scanning the events."""

    __tablename__ = "conversation_summaries"

    sender_id = sa.Column(sa.String(255), primary_key=True)
    # Opaque handle used in console URLs: a conversation id can be a phone number (WhatsApp).
    conversation_key = sa.Column(sa.String(24), unique=True)
    started_at = sa.Column(sa.Float, nullable=False, index=True)
    last_at = sa.Column(sa.Float, nullable=False)
    channel = sa.Column(sa.String(64), index=True)
    turns = sa.Column(sa.Integer, nullable=False, default=0)
    emergency = sa.Column(sa.Boolean, nullable=False, default=False, index=True)
    crisis = sa.Column(sa.Boolean, nullable=False, default=False, index=True)
    urgent = sa.Column(sa.Boolean, nullable=False, default=False, index=True)  # surgeon today
    callback = sa.Column(sa.Boolean, nullable=False, default=False, index=True)
    booking = sa.Column(sa.Boolean, nullable=False, default=False, index=True)
    cards_shown = sa.Column(sa.Boolean, nullable=False, default=False)  # specialist cards
    fallback_count = sa.Column(sa.Integer, nullable=False, default=0)
    low_confidence_count = sa.Column(sa.Integer, nullable=False, default=0)
    reviewed = sa.Column(sa.Boolean, nullable=False, default=False, index=True)
    note = sa.Column(sa.Text)


class IndexerState(Base):  # type: ignore[misc,valid-type]
    """The last ``events.id`` the indexer has folded into the summaries."""

    __tablename__ = "indexer_state"

    name = sa.Column(sa.String(64), primary_key=True)
    last_event_id = sa.Column(sa.Integer, nullable=False, default=0)


class DailyCount(Base):  # type: ignore[misc,valid-type]
    """Per-day counters folded from the events by console.indexer (messages, fallbacks, topics)."""

    __tablename__ = "daily_counts"

    day = sa.Column(sa.String(10), primary_key=True)  # YYYY-MM-DD in IST
    metric = sa.Column(sa.String(32), primary_key=True)
    key = sa.Column(sa.String(128), primary_key=True)  # "" or e.g. the topic
    count = sa.Column(sa.Integer, nullable=False, default=0)


class Annotation(Base):  # type: ignore[misc,valid-type]
    """A reviewer's correct label for a user message: an intent or a retrieval answer key."""

    __tablename__ = "annotations"

    id = sa.Column(sa.Integer, primary_key=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    event_id = sa.Column(sa.Integer, nullable=False, unique=True)
    text = sa.Column(sa.Text, nullable=False)
    label = sa.Column(sa.String(128), nullable=False)
    created_by = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)


class WhatsAppDelivery(Base):  # type: ignore[misc,valid-type]
    """A WhatsApp message as Meta delivered it, stored before the webhook answers 200, so a crash
    or redeploy cannot lose it (Meta does not resend an acknowledged delivery). ``status``:
    pending until its replies are in the outbox, then done. A replica claims it for a lease;
    an expired claim (the replica died) is taken over by another."""

    __tablename__ = "whatsapp_inbox"

    id = sa.Column(sa.Integer, primary_key=True)
    message_id = sa.Column(sa.String(128), nullable=False, unique=True)
    sender = sa.Column(sa.String(32), nullable=False, index=True)
    text = sa.Column(sa.Text)  # None: a message type the bot cannot read
    received_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    status = sa.Column(sa.String(16), nullable=False, default="pending", index=True)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    claimed_until = sa.Column(sa.DateTime(timezone=True))
    done_at = sa.Column(sa.DateTime(timezone=True))


class WhatsAppReply(Base):  # type: ignore[misc,valid-type]
    """One Graph API message to send, in order per recipient, retried with backoff (honouring
    ``Retry-After``) until sent or until the 24-hour window after the patient's message closes
    (then ``failed``, shown to staff)."""

    __tablename__ = "whatsapp_outbox"

    id = sa.Column(sa.Integer, primary_key=True)
    delivery_id = sa.Column(sa.Integer, index=True)
    recipient = sa.Column(sa.String(32), nullable=False, index=True)
    body = sa.Column(sa.Text, nullable=False)  # the Graph API message (JSON)
    status = sa.Column(sa.String(16), nullable=False, default="pending", index=True)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    next_attempt_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    window_closes_at = sa.Column(sa.DateTime(timezone=True), nullable=False)
    claimed_until = sa.Column(sa.DateTime(timezone=True))
    last_error = sa.Column(sa.String(255))
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    sent_at = sa.Column(sa.DateTime(timezone=True))


# Rasa's own ``events`` table (created by its SQL tracker store, not by our migrations): the
# columns our code reads, declared once.
RASA_EVENTS = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("sender_id", sa.String),
    sa.column("type_name", sa.String),
    sa.column("timestamp", sa.Float),
    sa.column("intent_name", sa.String),
    sa.column("data", sa.Text),
)
