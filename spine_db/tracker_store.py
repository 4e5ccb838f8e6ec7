"""Rasa's SQL tracker store on the project database (``DATABASE_URL`` or var/spine.db).

Used from endpoints.yml as ``type: spine_db.tracker_store.ProjectSQLTrackerStore`` so that the
conversations live in the same database as bookings and call-backs, whatever the environment.

Unlike Rasa's own SQLTrackerStore it does not wait forever for an unreachable database: it checks
the connection first and stops the server with a clear message (Rasa would otherwise retry every
5 s without end, or — once running — keep conversations in memory and lose them).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.exceptions import ConnectionException

from spine_db.config import database_url, production, redacted

CONNECT_TIMEOUT = 5  # seconds


def check_database(url: str) -> None:
    """Raise ConnectionException (message without the password) if ``url`` cannot be reached."""
    connect_args = {"connect_timeout": CONNECT_TIMEOUT} if url.startswith("postgresql") else {}
    engine = sa.create_engine(url, connect_args=connect_args, future=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0:1]
        raise ConnectionException(
            f"Cannot reach the conversation database {redacted(url)} "
            f"({reason[0] if reason else type(error).__name__}). Not starting: without it "
            "conversations would be kept in memory and lost. Check DATABASE_URL."
        ) from None
    finally:
        engine.dispose()


class ProjectSQLTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        # `host` is endpoints.yml's `url`; a full URL there wins over DATABASE_URL.
        url = host if host and "://" in host else database_url()
        if production() and not url.startswith("postgresql"):
            raise ConnectionException(
                "ENV=production needs DATABASE_URL=postgresql://... (replicas share it); "
                f"got {redacted(url)}."
            )
        check_database(url)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
