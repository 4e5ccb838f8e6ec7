"""Rasa's SQL tracker store on the project database (``DATABASE_URL`` or var/spine.db).

Used from endpoints.yml as ``type: spine_rasa.tracker_store.ProjectSQLTrackerStore`` so that the
conversations live in the same database as bookings and call-backs, whatever the environment.

Unlike Rasa's own SQLTrackerStore it does not wait forever for an unreachable database: it checks
the connection first and stops the server with a clear message (Rasa would otherwise retry every
5 s without end, or — once running — keep conversations in memory and lose them).

Saving is cheaper than Rasa's (same rows, same events streamed): Rasa counts the stored events of
the session with a second query before every save, re-reads the whole tracker to find the events
to stream when a broker is configured, and inserts the new events one statement each. Here the
tracker remembers how many stored events it was read with (valid while the conversation lock is
held, as it is for every message) and the new events go in one multi-row INSERT. A tracker that
was not read by this store (or a copy of one) falls back to Rasa's count query. Rasa's queries
are sent as they are, but built once as Core statements instead of through an ORM session per call
(~0.8 → ~0.2 ms of CPU per read; serving at 20 users +13 % messages/s, bench/levers.md). With
POSTGRESQL_SCHEMA set, Rasa checks on every call that the schema exists; here once, at start.

Rasa runs its SQL calls synchronously inside the server's event loop: while one conversation waits
for PostgreSQL, no other message is processed by that server. Here the database round trips run in
a small thread pool (one thread per pooled connection) and the loop goes on with other messages;
the CPU work (JSON, rebuilding the tracker) stays in the loop. SQLite (the `make run` default) runs
on one thread of its own, in write-ahead-log mode with ``synchronous=NORMAL`` (a commit is one
append, not two file syncs) and a busy timeout for the action server's writes
(``spine_db.config.tune_sqlite``).

The next message of a conversation costs the same at the 300th message as at the first. Rasa
reads and replays every event of the session for every message, and its policies rebuild the
dialogue states from the first event. Here the tracker handed out is a ConversationTracker
(spine_rasa/trackers.py: it remembers the states it computed), and after a save this process
keeps it: the next message of that conversation gets the same object back when the database
holds exactly the rows it was saved with (one count-and-max query on the sender's index),
otherwise the session is read as Rasa reads it. A deletion (erasure, retention), another
process's write, an unsaved change or a new session all make that check fail. At most
``SPINE_TRACKER_MEMORY_EVENTS`` events (20,000 by default) are kept, least recently used first
out. ``SPINE_RASA_FIXES=0`` (Rasa's own behaviour, to compare with) turns both off.

A database that fails mid-service fails loudly. Rasa wraps every tracker store in
``FailSafeTrackerStore``, which turns any ``Exception`` into "no such conversation" (the patient
silently starts over, a half-filled form is lost) or "keep it in memory" (a copy nobody reads
back). This store therefore raises :class:`ConversationStoreUnavailable`, a ``BaseException`` like
``asyncio.CancelledError``, which that wrapper lets through: Rasa stops the turn before any policy
runs or anything is sent, and the channels' guard (channels/guard.py) tells the patient to try
again shortly (urgent replies never wait for the store). Nothing is kept in memory; when the
database is back, the conversation continues from what it holds. A connection the pool kept from
before a restart is retried once on a fresh one.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple, TypeVar

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.constants import POSTGRESQL_SCHEMA
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import ConnectionException
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from spine_db.config import database_url, postgres_timeouts, production, redacted, tune_sqlite
from spine_db.erasure import erase_conversation
from spine_rasa.fixes import enabled
from spine_rasa.trackers import ConversationTracker

CONNECT_TIMEOUT = 5  # seconds
STATEMENT_TIMEOUT_MS = 5000  # under the guard's reply deadline (10 s)


class ConversationStoreUnavailable(BaseException):
    """The conversation database cannot be read or written (see the module docstring: a
    ``BaseException`` so that Rasa's ``FailSafeTrackerStore`` does not swallow it)."""


STORED = "_spine_stored_events"  # (weak reference to the tracker, its events in the database)
T = TypeVar("T")
MEMORY_EVENTS = 20_000  # default of SPINE_TRACKER_MEMORY_EVENTS
_Summary = Tuple[int, int]  # the sender's rows in the events table: (how many, highest id)


@dataclass
class _Kept:
    """A saved tracker and what the database held right after its save."""

    tracker: DialogueStateTracker
    events: int
    summary: _Summary


def check_database(url: str) -> None:
    """Raise ConnectionException (message without the password) if ``url`` cannot be reached."""
    connect_args = postgres_timeouts(url, CONNECT_TIMEOUT, STATEMENT_TIMEOUT_MS)
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
        super().__init__(
            domain=domain, host=_with_timeouts(url), event_broker=event_broker, **kwargs
        )
        tune_sqlite(self.engine)
        self._threads: ThreadPoolExecutor | None = None
        # SQLite: one thread, so this process's writes never wait on each other.
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._queries = _Queries(self.SQLEvent.__table__)
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._kept_events = 0
        self._memory_events = int(os.environ.get("SPINE_TRACKER_MEMORY_EVENTS", MEMORY_EVENTS))
        self._tracker_class = ConversationTracker if enabled() else DialogueStateTracker
        if not enabled():
            self._memory_events = 0
        if os.environ.get(POSTGRESQL_SCHEMA):
            with self.session_scope():  # Rasa's check of the schema (it checks per call): once
                pass

    async def _database(self, call: Callable[..., T], *args: Any) -> T:
        """Run a blocking database call off the event loop (see the module docstring); a failure
        raises ConversationStoreUnavailable, after one retry when the connection was stale."""
        for attempt in (1, 2):
            try:
                return await self._call(call, *args)
            except sa.exc.DBAPIError as error:
                # A disconnect invalidates the pool's older connections: the retry gets a new one.
                if attempt == 1 and error.connection_invalidated:
                    continue
                raise _unavailable(error) from None
            except sa.exc.SQLAlchemyError as error:
                raise _unavailable(error) from None
        raise AssertionError("unreachable")

    async def _call(self, call: Callable[..., T], *args: Any) -> T:
        if self._threads is None:  # created in the serving process (Sanic workers fork)
            size = 1 if self._sqlite else getattr(self.engine.pool, "size", lambda: 5)()
            self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tracker-db")
        return await asyncio.get_running_loop().run_in_executor(self._threads, call, *args)

    def _read(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Tuple[List[str], _Summary]:
        queries = self._queries
        query = queries.all_sessions if fetch_events_from_all_sessions else queries.latest
        with self.engine.connect() as conn:
            summary = self._summarise(conn, sender_id)
            rows = [data for (data,) in conn.execute(query, {"sender_id": sender_id})]
        return rows, summary

    def _summary(self, sender_id: str) -> _Summary:
        with self.engine.connect() as conn:
            return self._summarise(conn, sender_id)

    def _summarise(self, conn: Any, sender_id: str) -> _Summary:
        rows, top = conn.execute(self._queries.summary, {"sender_id": sender_id}).one()
        return int(rows), int(top or 0)

    def _count(self, sender_id: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(self._queries.count, {"sender_id": sender_id}).scalar_one())

    def _erase(self, sender_id: str) -> None:
        """The conversation and everything derived from it, in one transaction."""
        with self.engine.begin() as conn:
            erase_conversation(conn, sender_id)

    def _insert(self, sender_id: str, rows: List[Dict[str, Any]]) -> _Summary:
        with self.engine.begin() as conn:
            conn.execute(self._queries.insert, rows)
            return self._summarise(conn, sender_id)

    def init_tracker(self, sender_id: str) -> DialogueStateTracker:
        return self._tracker_class(
            sender_id, self.domain.slots, max_event_history=self.max_event_history
        )

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        """Rasa's SQLTrackerStore._retrieve, with the query off the event loop; the tracker kept
        from this conversation's last save when the database still holds just what it saved."""
        if not fetch_events_from_all_sessions:
            kept = self._forget(sender_id)
            if kept is not None:
                if len(kept.tracker.events) == kept.events == _stored(kept.tracker):
                    if await self._database(self._summary, sender_id) == kept.summary:
                        self._keep(sender_id, kept)
                        return kept.tracker
        stored, summary = await self._database(
            self._read, sender_id, fetch_events_from_all_sessions
        )
        if not self.domain or not stored:
            return None
        events = [json.loads(data) for data in stored]
        tracker = self._tracker_class.from_dict(sender_id, events, self.domain.slots)
        if not fetch_events_from_all_sessions:
            _remember_stored(tracker, len(tracker.events))
            self._keep(sender_id, _Kept(tracker, len(tracker.events), summary))
        return tracker

    def _keep(self, sender_id: str, kept: _Kept) -> None:
        """Remember ``kept`` as the conversation's latest tracker, within the memory bound."""
        self._forget(sender_id)
        if kept.events > self._memory_events:
            return
        self._kept[sender_id] = kept
        self._kept_events += kept.events
        while self._kept_events > self._memory_events:
            _, out = self._kept.popitem(last=False)
            self._kept_events -= out.events

    def _forget(self, sender_id: str) -> _Kept | None:
        """Let the conversation's kept tracker go; returns it."""
        old = self._kept.pop(sender_id, None)
        if old is not None:
            self._kept_events -= old.events
        return old

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store (and stream) the tracker's events that are not in the database yet; erase the
        conversation instead when this turn asked for it ("delete my data")."""
        stored = _stored(tracker)
        if stored is None:  # not read by this store: ask the database, as Rasa does
            stored = await self._database(self._count, tracker.sender_id)
        new = list(itertools.islice(tracker.events, stored, len(tracker.events)))
        kept = self._forget(tracker.sender_id)
        if any(_erasure(event) for event in new):
            await self._database(self._erase, tracker.sender_id)
            if self.event_broker is not None:
                # Consumers of the analytics stream erase their copies on this notice.
                self.event_broker.publish({"event": "erasure", "sender_id": tracker.sender_id})
            _remember_stored(tracker, 0)
            return
        if self.event_broker is not None:
            await self._stream_new_events(self.event_broker, new, tracker.sender_id)
        if new:
            rows = [_row(tracker.sender_id, event) for event in new]
            summary = await self._database(self._insert, tracker.sender_id, rows)
        elif kept is not None and kept.tracker is tracker:
            summary = kept.summary
        else:
            summary = None
        _remember_stored(tracker, stored + len(new))
        # Kept for the next message when it is the tracker this store read (a new session is
        # read afresh: Rasa reads only the latest one).
        if (
            summary is not None
            and isinstance(tracker, ConversationTracker)
            and _stored(tracker) == len(tracker.events)
            and not any(isinstance(event, SessionStarted) for event in new)
        ):
            self._keep(tracker.sender_id, _Kept(tracker, len(tracker.events), summary))


def _with_timeouts(url: str) -> str:
    """The URL with the PostgreSQL timeouts (Rasa builds the engine from the URL alone) that it
    does not set itself: statements must not hold a patient's turn past the reply deadline."""
    parsed = sa.engine.make_url(url)
    timeouts = postgres_timeouts(url, CONNECT_TIMEOUT, STATEMENT_TIMEOUT_MS)
    missing = {k: v for k, v in timeouts.items() if k not in parsed.query}
    if not missing:
        return url
    return parsed.update_query_dict(missing).render_as_string(hide_password=False)


def _unavailable(error: Exception) -> ConversationStoreUnavailable:
    """The error without its SQL or parameters (they hold patients' messages)."""
    reason = str(getattr(error, "orig", None) or type(error).__name__).strip().splitlines()
    return ConversationStoreUnavailable(f"conversation database unavailable: {reason[0]}")


class _Queries:
    """Rasa's event queries (SQLTrackerStore._event_query) as Core statements built once.

    Rasa builds them per call through an ORM session: ~0.8 ms of CPU per read against ~0.2 ms
    for the same SQL built once (measured on PostgreSQL, a 24-event conversation). The SQL sent
    is the same; tests/integration/test_tracker_store.py reads back what Rasa's store reads.
    """

    def __init__(self, events: sa.Table) -> None:
        sender = sa.bindparam("sender_id")
        session_start = (
            sa.select(sa.func.max(events.c.timestamp).label("session_start"))
            .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
            .subquery()
        )
        in_latest_session = sa.or_(
            events.c.timestamp >= session_start.c.session_start,
            session_start.c.session_start.is_(None),
        )
        self.all_sessions = (
            sa.select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id)
        )
        self.latest = (
            sa.select(events.c.data)
            .where(events.c.sender_id == sender, in_latest_session)
            .order_by(events.c.id)
        )
        self.count = sa.select(sa.func.count()).select_from(
            sa.select(events).where(events.c.sender_id == sender, in_latest_session).subquery()
        )
        self.insert = events.insert()
        # Every session's rows: a deletion anywhere in the conversation changes it.
        self.summary = sa.select(sa.func.count(), sa.func.max(events.c.id)).where(
            events.c.sender_id == sender
        )


ERASURE_SLOT = "erasure_requested"  # set by action_erase_my_data ("delete my data")


def _erasure(event: Event) -> bool:
    return isinstance(event, SlotSet) and event.key == ERASURE_SLOT and bool(event.value)


def _remember_stored(tracker: DialogueStateTracker, count: int) -> None:
    setattr(tracker, STORED, (weakref.ref(tracker), count))


def _stored(tracker: DialogueStateTracker) -> int | None:
    """The count remembered by this very object; a copy carries a reference to its original."""
    mark = getattr(tracker, STORED, None)
    return mark[1] if mark and mark[0]() is tracker else None


def _row(sender_id: str, event: Event) -> Dict[str, Any]:
    """The events-table row Rasa's SQLTrackerStore.save writes for ``event``."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }
