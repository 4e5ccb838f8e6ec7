"""Tables owned by the project (Rasa owns ``events``). Change them only with a migration."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

Base = declarative_base()

# Request lifecycle used by the support team (the staff console moves them on).
STATUSES = ("new", "contacted", "done", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RequestColumns:
    """What every request from a patient has: who, how to reach them, where it came from, status."""

    id = sa.Column(sa.Integer, primary_key=True)
    reference = sa.Column(sa.String(16), nullable=False, unique=True)
    conversation_id = sa.Column(sa.String(255), nullable=False, index=True)
    channel = sa.Column(sa.String(64))
    patient_name = sa.Column(sa.String(128), nullable=False)
    mobile = sa.Column(sa.String(20), nullable=False)
    contact_consent = sa.Column(sa.Boolean, nullable=False)
    status = sa.Column(sa.String(16), nullable=False, default="new", server_default="new")
    created_at = sa.Column(sa.DateTime(timezone=True), nullable=False, default=utcnow, index=True)


class Booking(RequestColumns, Base):  # type: ignore[misc,valid-type]
    """A consultation request made through the booking form (not a confirmed appointment)."""

    __tablename__ = "bookings"

    doctor_id = sa.Column(sa.String(64), nullable=False)
    doctor_name = sa.Column(sa.String(128), nullable=False)
    consult_mode = sa.Column(sa.String(32), nullable=False)
    preferred_date = sa.Column(sa.Date, nullable=False)
    preferred_time = sa.Column(sa.String(64), nullable=False)


class Callback(RequestColumns, Base):  # type: ignore[misc,valid-type]
    """A request to be called by the support team, linked to the conversation it came from."""

    __tablename__ = "callbacks"

    reason = sa.Column(sa.String(255))
    booking_reference = sa.Column(sa.String(16))
