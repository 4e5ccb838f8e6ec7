"""Writes and reads booking and call-back requests. Every write is one transaction: when a method
returns, the row is committed; when it raises ``StoreError``, nothing was written."""
from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Callable, Dict, List, Tuple, Type

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from spine_db.config import database_url, postgres_timeouts, redacted, tune_sqlite
from spine_db.crypto import check as check_keys
from spine_db.crypto import mobile_index, mobile_indexes
from spine_db.erasure import erase_requests
from spine_db.models import OPEN_STATUSES, AuditEntry, Booking, Callback

logger = logging.getLogger(__name__)

# Unambiguous when read out on the phone: no 0/O, 1/I/L.
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 6


def new_reference(prefix: str, choice: Callable[[str], str] = secrets.choice) -> str:
    """A short reference such as ``BK-7F3K2Q`` (31^6 ≈ 890 million values)."""
    return f"{prefix}-" + "".join(choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


# A booking must not hang a patient's turn: PostgreSQL connections and statements are bounded
# (together under the action time limit, 8 s, so the patient is told it failed).
CONNECT_TIMEOUT = 3  # seconds
STATEMENT_TIMEOUT_MS = 3000


def engine_options(url: str) -> Dict[str, Any]:
    """create_engine options for the project's own tables: stale pooled connections are
    replaced, PostgreSQL connections and statements are bounded."""
    return {
        "pool_pre_ping": True,
        "connect_args": postgres_timeouts(url, CONNECT_TIMEOUT, STATEMENT_TIMEOUT_MS),
    }


# What makes two requests of one conversation the same request. Two identical open requests
# would have staff call the patient twice.
SAME_REQUEST: Dict[Type[Any], Tuple[str, ...]] = {
    Booking: ("doctor_id", "consult_mode", "preferred_date", "preferred_time", "mobile"),
    Callback: ("mobile", "reason", "booking_reference"),
}


class StoreError(RuntimeError):
    """The request could not be stored (database down, constraint, ...). Nothing was written."""


@dataclass(frozen=True)
class BookingRequest:
    conversation_id: str
    channel: str | None
    doctor_id: str
    doctor_name: str
    consult_mode: str
    preferred_date: date
    preferred_time: str
    patient_name: str
    mobile: str
    contact_consent: bool
    form_run: str | None = None  # see Store.save_booking
    privacy_notice: str | None = None  # the notice version the patient was shown
    consented_at: datetime | None = None


@dataclass(frozen=True)
class CallbackRequest:
    conversation_id: str
    channel: str | None
    patient_name: str
    mobile: str
    contact_consent: bool
    reason: str | None = None
    booking_reference: str | None = None
    form_run: str | None = None
    privacy_notice: str | None = None
    consented_at: datetime | None = None


class Store:
    """Bookings and call-backs in the project database (``DATABASE_URL`` or var/spine.db)."""

    def __init__(
        self, url: str | None = None, reference: Callable[[str], str] = new_reference
    ) -> None:
        self.url = url or database_url()
        check_keys()
        self.new_reference = reference
        self.engine = tune_sqlite(
            sa.create_engine(self.url, future=True, **engine_options(self.url))
        )

    def save_booking(self, request: BookingRequest) -> str:
        """Store the request and return its reference. A request is made at most once per
        conversation: saving it again returns the reference of the one already stored. "Again"
        is the same ``form_run`` (a retried submit), or the same details while the first is still
        open (the patient booked again because a fault lost the confirmation and the form)."""
        return self._insert(Booking, "BK", asdict(request))

    def save_callback(self, request: CallbackRequest) -> str:
        """As save_booking."""
        return self._insert(Callback, "CB", asdict(request))

    def _insert(self, table: Type[Any], prefix: str, values: Dict[str, Any]) -> str:
        for _ in range(5):
            reference = self.new_reference(prefix)
            try:
                with self.engine.begin() as conn:
                    existing = self._made_before(conn, table, values)
                    if existing is not None:
                        logger.info("%s: retried submit, kept %s", table.__tablename__, existing)
                        return existing
                    conn.execute(
                        sa.insert(table.__table__).values(
                            reference=reference,
                            mobile_index=mobile_index(values["mobile"]),
                            **values,
                        )
                    )
                return reference
            except IntegrityError as error:
                made = self._made_concurrently(table, values)
                if made is not None:
                    return made
                if not self._is_reference_clash(conn_error=error, table=table, reference=reference):
                    raise StoreError(f"{table.__tablename__}: constraint failed") from error
            except SQLAlchemyError as error:
                logger.error(
                    "Could not store a %s row in %s: %s",
                    table.__tablename__,
                    redacted(self.url),
                    type(error).__name__,
                )
                raise StoreError(f"{table.__tablename__}: database unavailable") from error
        raise StoreError(f"{table.__tablename__}: could not find a free reference")

    @staticmethod
    def _made_before(conn: Any, table: Type[Any], values: Dict[str, Any]) -> str | None:
        columns = table.__table__.c
        mine = columns.conversation_id == values["conversation_id"]
        if values.get("form_run"):
            found = conn.execute(
                sa.select(columns.reference).where(mine, columns.form_run == values["form_run"])
            ).scalar_one_or_none()
            if found is not None:
                return found
        same = [
            columns.mobile_index.in_(mobile_indexes(values[name]))
            if name == "mobile"  # stored encrypted: compared by its index
            else columns[name] == values[name]
            for name in SAME_REQUEST[table]
        ]
        return conn.execute(
            sa.select(columns.reference)
            .where(mine, columns.status.in_(OPEN_STATUSES), *same)
            .order_by(columns.id)
            .limit(1)
        ).scalar_one_or_none()

    def _made_concurrently(self, table: Type[Any], values: Dict[str, Any]) -> str | None:
        """The same submit, committed by a concurrent retry between our check and our insert."""
        try:
            with self.engine.connect() as conn:
                return self._made_before(conn, table, values)
        except SQLAlchemyError:
            return None

    def _is_reference_clash(
        self, conn_error: IntegrityError, table: Type[Any], reference: str
    ) -> bool:
        try:
            with self.engine.connect() as conn:
                found = conn.execute(
                    sa.select(table.__table__.c.id).where(table.__table__.c.reference == reference)
                ).first()
        except SQLAlchemyError:
            return False
        return found is not None

    def find_booking(self, reference: str) -> Dict[str, Any] | None:
        return self._find(Booking, reference)

    def find_callback(self, reference: str) -> Dict[str, Any] | None:
        return self._find(Callback, reference)

    def _find(self, table: Type[Any], reference: str) -> Dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(table.__table__).where(table.__table__.c.reference == reference)
            ).first()
        return dict(row._mapping) if row else None

    # --- a patient's rights over their requests ---------------------------------------------

    def requests_of(self, conversation_id: str) -> List[Dict[str, Any]]:
        """The booking and call-back requests made in one conversation, oldest first."""
        found: List[Dict[str, Any]] = []
        try:
            with self.engine.connect() as conn:
                for table in (Booking.__table__, Callback.__table__):
                    rows = conn.execute(
                        sa.select(table).where(table.c.conversation_id == conversation_id)
                    )
                    found += [{**row._mapping, "kind": table.name} for row in rows]
        except SQLAlchemyError as error:
            raise StoreError(str(error)) from None
        return sorted(found, key=lambda r: r["created_at"])

    def withdraw_consent(self, conversation_id: str) -> List[str]:
        """The patient no longer agrees to be contacted: every open request of the conversation
        is cancelled and marked so staff see why. Returns their references."""
        withdrawn: List[str] = []
        note = "Cancelled: the patient withdrew consent to be contacted (in chat)."
        try:
            with self.engine.begin() as conn:
                for table in (Booking.__table__, Callback.__table__):
                    where = sa.and_(
                        table.c.conversation_id == conversation_id,
                        table.c.status.in_(OPEN_STATUSES),
                    )
                    refs = [r for (r,) in conn.execute(sa.select(table.c.reference).where(where))]
                    conn.execute(
                        sa.update(table)
                        .where(where)
                        .values(
                            status="cancelled",
                            contact_consent=False,
                            notes=sa.func.coalesce(table.c.notes + "\n", "") + note,
                            updated_at=sa.func.now(),
                            version=table.c.version + 1,
                        )
                    )
                    withdrawn += refs
        except SQLAlchemyError as error:
            raise StoreError(str(error)) from None
        return withdrawn

    def erase_requests(self, conversation_id: str, policy: str = "anonymise") -> Dict[str, int]:
        """Erase the patient from the conversation's requests (spine_db.erasure)."""
        try:
            with self.engine.begin() as conn:
                return erase_requests(conn, conversation_id, policy)
        except SQLAlchemyError as error:
            raise StoreError(str(error)) from None

    def audit(self, username: str, action: str, target: str = "", detail: str = "") -> None:
        """One audit-log line (never the personal data the action concerned)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(AuditEntry.__table__).values(
                        username=username, action=action, target=target, detail=detail
                    )
                )
        except SQLAlchemyError as error:
            raise StoreError(str(error)) from None
