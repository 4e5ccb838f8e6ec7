"""Rasa's SQL tracker store on the project database (``DATABASE_URL`` or var/spine.db).

Used from endpoints.yml as ``type: spine_db.tracker_store.ProjectSQLTrackerStore`` so that the
conversations live in the same database as bookings and call-backs, whatever the environment.
"""
from __future__ import annotations

from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from spine_db.config import database_url


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
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
