"""ProjectSQLTrackerStore saves what Rasa's SQLTrackerStore saves (same rows, same streamed events),
with fewer queries — compared operation by operation on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import copy
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from spine_rasa.tracker_store import ProjectSQLTrackerStore
from tests.support.databases import BACKENDS, fresh_postgres_database
from tests.support.databases import database_url as backend_url
from tests.support.loop_ticks import loop_ticks

DOMAIN = Domain.from_yaml(
    "version: '3.1'\nintents: [greet, faq]\n"
    "slots:\n  doctor_id:\n    type: text\n    mappings: [{type: custom}]\n"
    "responses:\n  utter_greet: [{text: hi}]\n"
)


class Collecting(EventBroker):
    def __init__(self) -> None:
        self.published: List[Dict[str, Any]] = []

    def publish(self, event: Dict[str, Any]) -> None:
        self.published.append(event)


@pytest.fixture(params=BACKENDS)
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tuple[str, str]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with backend_url(request.param, tmp_path / "a") as ours, backend_url(
        request.param, tmp_path / "b"
    ) as rasas:
        yield ours, rasas


NOW = time.time()  # timestamps after the store's own (it stamps new trackers with the clock)


def _turn(text: str, second: float) -> List[Any]:
    when = NOW + second
    return [
        UserUttered(text, {"name": "greet", "confidence": 0.9}, timestamp=when),
        SlotSet("doctor_id", f"dr-{int(second)}", timestamp=when + 0.1),
        ActionExecuted("utter_greet", timestamp=when + 0.2),
        BotUttered("hi", timestamp=when + 0.3),
        ActionExecuted("action_listen", timestamp=when + 0.4),
    ]


def _session(second: float) -> List[Any]:
    return [
        ActionExecuted("action_session_start", timestamp=NOW + second),
        SessionStarted(timestamp=NOW + second),
    ]


def _read_back(tracker: DialogueStateTracker | None) -> List[Dict[str, Any]]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


async def _script(store: TrackerStore) -> List[Any]:
    """What Rasa does to a conversation over a few messages, a restart and a copy; returns what
    was read back along the way."""
    seen: List[Any] = [await store.retrieve("nobody"), await store.retrieve_full_tracker("nobody")]
    tracker = DialogueStateTracker("patient-1", DOMAIN.slots)  # new: saved without being read
    for event in _session(1):
        tracker.update(event)
    tracker.update(ActionExecuted("action_listen", timestamp=NOW + 1.5))
    await store.save(tracker)
    for second in (10, 20):
        tracker = await store.retrieve("patient-1")
        seen.append(_read_back(tracker))
        assert tracker is not None
        for event in _turn(f"message {second}", second):
            tracker.update(event)
        await store.save(tracker)
        await store.save(tracker)  # saved twice in one turn: nothing new the second time
    tracker = await store.retrieve("patient-1")
    assert tracker is not None
    for event in _session(30):
        tracker.update(event)  # a new session: older events are no longer read back
    for event in _turn("after a break", 31):
        tracker.update(event)
    await store.save(tracker)
    tracker = await store.retrieve("patient-1")
    seen.append(_read_back(tracker))
    assert tracker is not None
    twin = copy.deepcopy(tracker)  # a copy is not trusted: the database is asked
    for event in _turn("from a copy", 40):
        twin.update(event)
    await store.save(twin)
    await store.save(tracker)  # the original is behind the database now: it adds nothing new
    seen.append(_read_back(await store.retrieve("patient-1")))
    seen.append(_read_back(await store.retrieve_full_tracker("patient-1")))
    return seen


def _rows(url: str) -> List[Tuple[Any, ...]]:
    engine = sa.create_engine(url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
                "FROM events ORDER BY id"
            )
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


async def test_saves_and_streams_exactly_what_rasas_store_does(urls: Tuple[str, str]) -> None:
    ours_url, rasas_url = urls
    ours_broker, rasas_broker = Collecting(), Collecting()
    ours = ProjectSQLTrackerStore(domain=DOMAIN, host=ours_url, event_broker=ours_broker)
    rasas = SQLTrackerStore(domain=DOMAIN, host=rasas_url, event_broker=rasas_broker)

    read_by_ours = await _script(ours)
    read_by_rasas = await _script(rasas)
    assert read_by_ours == read_by_rasas
    assert read_by_ours[:2] == [None, None]  # unknown conversation
    assert len(read_by_ours[-1]) > len(read_by_ours[-2])  # all sessions vs the latest one

    stored = _rows(ours_url)
    assert stored == _rows(rasas_url)
    texts = [row[5] for row in stored if row[1] == "user"]
    assert len(texts) == 4
    assert "from a copy" in texts[-1]
    assert ours_broker.published == rasas_broker.published
    assert [e["event"] for e in ours_broker.published][:3] == [
        "action",
        "session_started",
        "action",
    ]
    restored = await ours.retrieve("patient-1")
    assert restored is not None
    assert restored.get_slot("doctor_id") == "dr-40"
    assert restored.latest_message.text == "from a copy"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_new_events_go_in_one_statement(backend: str, tmp_path: Path) -> None:
    with backend_url(backend, tmp_path) as url:
        await _one_statement(url)


async def _one_statement(url: str) -> None:
    store = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
    tracker = await store.get_or_create_tracker("patient-2")
    await store.save(tracker)
    tracker = await store.retrieve("patient-2")
    assert tracker is not None
    for event in _turn("hello", 5):
        tracker.update(event)
    statements: List[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    await store.save(tracker)
    # no count query before; one insert, then the sender's row count and highest id (the
    # check that lets the next message reuse this tracker)
    assert [s.split()[0] for s in statements] == ["INSERT", "SELECT"]
    assert "count" in statements[1].lower()
    assert "max" in statements[1].lower()


async def _conversation(store: ProjectSQLTrackerStore, sender: str) -> DialogueStateTracker:
    tracker = await store.get_or_create_tracker(sender)
    for second in (5, 6):
        tracker = await store.retrieve(sender)
        assert tracker is not None
        for event in _turn(f"message {second}", second):
            tracker.update(event)
        await store.save(tracker)
    return tracker


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_next_message_gets_the_saved_tracker_back(backend: str, tmp_path: Path) -> None:
    """The conversation is not read and replayed again: one small query checks that the database
    holds just what was saved, and the same tracker (with the states it computed) comes back."""
    with backend_url(backend, tmp_path) as url:
        store = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
        tracker = await _conversation(store, "patient-3")
        statements: List[str] = []
        sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        again = await store.retrieve("patient-3")
        assert again is tracker
        assert len(statements) == 1
        assert "data" not in statements[0]
        # what a fresh store reads is the same conversation
        fresh = await ProjectSQLTrackerStore(domain=DOMAIN, host=url).retrieve("patient-3")
        assert _read_back(fresh) == _read_back(again)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_anything_the_saved_tracker_does_not_hold_means_a_fresh_read(
    backend: str, tmp_path: Path
) -> None:
    with backend_url(backend, tmp_path) as url:
        store = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
        # another process (a second worker, another pod) wrote to the conversation
        tracker = await _conversation(store, "patient-4")
        other = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
        elsewhere = await other.retrieve("patient-4")
        assert elsewhere is not None
        assert elsewhere is not tracker
        for event in _turn("written elsewhere", 9):
            elsewhere.update(event)
        await other.save(elsewhere)
        read = await store.retrieve("patient-4")
        assert read is not tracker
        assert read is not None
        assert read.latest_message.text == "written elsewhere"

        # a turn that changed the tracker but was not saved (the database failed mid-turn)
        read.update(UserUttered("never saved", {"name": "greet"}))
        again = await store.retrieve("patient-4")
        assert again is not read
        assert again is not None
        assert again.latest_message.text == "written elsewhere"

        # rows deleted outside this store (erasure from the console, the retention job)
        with store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM events WHERE sender_id = 'patient-4'"))
        assert await store.retrieve("patient-4") is None

        # a new session is read as Rasa reads it: from its start
        tracker = await _conversation(store, "patient-5")
        for event in _session(10_000) + _turn("after a break", 10_001):
            tracker.update(event)
        await store.save(tracker)
        read = await store.retrieve("patient-5")
        assert read is not tracker
        assert read is not None
        assert [e.as_dict() for e in read.events] == [
            e.as_dict() for e in list(tracker.events)[-len(read.events) :]
        ]
        assert read.events[0].type_name == "action"
        assert len(read.events) == 7


async def test_memory_is_bounded_by_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPINE_TRACKER_MEMORY_EVENTS", "25")
    with backend_url("sqlite", tmp_path) as url:
        store = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
        first = await _conversation(store, "patient-6")  # 12 events
        second = await _conversation(store, "patient-7")
        third = await _conversation(store, "patient-8")  # the first is let go
        assert await store.retrieve("patient-8") is third
        assert await store.retrieve("patient-7") is second
        assert (await store.retrieve("patient-6")) is not first


async def test_sqlite_waits_off_the_loop_for_another_process_write(tmp_path: Path) -> None:
    """The default stack's SQLite file is shared with the action server and the console: a save
    that waits for another connection's write transaction waits on the store's own thread, the
    loop keeps serving, and the file is in write-ahead-log mode (readers never wait)."""
    url = f"sqlite:///{tmp_path / 'spine.db'}"
    store = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
    await store.save(await store.get_or_create_tracker("patient-5"))
    tracker = await store.retrieve("patient-5")
    assert tracker is not None
    for event in _turn("hello", 3):
        tracker.update(event)
    other = sqlite3.connect(
        str(tmp_path / "spine.db"), isolation_level=None, timeout=1, check_same_thread=False
    )
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.execute("BEGIN IMMEDIATE")  # another process writing (the action server, say)
    release = threading.Timer(1.0, other.rollback)
    release.start()
    async with loop_ticks() as ticks:
        saving = asyncio.create_task(store.save(tracker))
        await asyncio.sleep(0.5)
        waiting, ticked = not saving.done(), ticks[0]
        release.join()
        await asyncio.wait_for(saving, 10)
    other.close()
    assert waiting  # the save waited for the other writer (busy timeout, not "locked") ...
    assert ticked >= 10  # ... and the loop ran meanwhile (a blocked loop: 0 or 1 tick)
    again = await store.retrieve("patient-5")
    assert again is not None
    assert [e.text for e in again.events if isinstance(e, UserUttered)] == ["hello"]


async def test_other_messages_go_on_while_postgresql_keeps_one_waiting() -> None:
    """Rasa queries in the event loop: a slow database would hold up every conversation of the
    server. Here a read waits for a table lock while the loop keeps running."""
    with fresh_postgres_database() as url:
        store = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
        await store.save(await store.get_or_create_tracker("patient-3"))
        locker = sa.create_engine(url, future=True)
        conn = locker.connect()
        conn.execute(sa.text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        release = threading.Timer(1.5, conn.rollback)  # ends the lock even if the loop is stuck
        release.start()
        async with loop_ticks() as ticks:
            reading = asyncio.create_task(store.retrieve("patient-3"))
            await asyncio.sleep(0.5)
            waiting, ticked = not reading.done(), ticks[0]
            release.join()
            tracker = await asyncio.wait_for(reading, 10)
        conn.close()
        locker.dispose()
        assert waiting  # the read waited for the lock ...
        assert ticked >= 20  # ... and the loop ran meanwhile (~50 ticks in 0.5 s)
        assert tracker is not None
        assert tracker.sender_id == "patient-3"


def test_postgresql_schema_is_checked_at_start_and_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """POSTGRESQL_SCHEMA (Rasa's setting): a missing schema stops the server at start, with Rasa's
    message; an existing one holds the events table and the conversations."""
    with fresh_postgres_database() as url:
        monkeypatch.setenv("POSTGRESQL_SCHEMA", "spine_missing")
        with pytest.raises(SystemExit):
            ProjectSQLTrackerStore(domain=DOMAIN, host=url)
        admin = sa.create_engine(url, future=True)
        with admin.begin() as conn:
            conn.execute(sa.text("CREATE SCHEMA spine_conversations"))
        monkeypatch.setenv("POSTGRESQL_SCHEMA", "spine_conversations")
        store = ProjectSQLTrackerStore(domain=DOMAIN, host=url)
        tracker = DialogueStateTracker("patient-4", DOMAIN.slots)
        for event in _session(1) + _turn("hello", 2):
            tracker.update(event)
        asyncio.run(store.save(tracker))
        read = asyncio.run(store.retrieve("patient-4"))
        assert read is not None
        assert read.latest_message.text == "hello"
        with admin.connect() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM spine_conversations.events"))
            assert count.scalar_one() == len(tracker.events)
        store.engine.dispose()
        admin.dispose()


ERASURE_DOMAIN = Domain.from_yaml(
    "version: '3.1'\nintents: [greet, delete_my_data]\n"
    "slots:\n  erasure_requested:\n    type: bool\n    influence_conversation: false\n"
    "    mappings: [{type: custom}]\n"
    "responses:\n  utter_greet: [{text: hi}]\n"
)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_turn_that_asks_for_erasure_erases_the_conversation(
    backend: str, tmp_path: Path
) -> None:
    from console.indexer import update_summaries
    from spine_db import migrate

    with backend_url(backend, tmp_path) as url:
        broker = Collecting()
        store = ProjectSQLTrackerStore(domain=ERASURE_DOMAIN, host=url, event_broker=broker)
        migrate.upgrade(url)
        for sender in ("web:erased", "web:other"):
            tracker = await store.get_or_create_tracker(sender)
            for event in _turn(f"my number is 98765 4321{len(sender)}", 5):
                tracker.update(event)
            await store.save(tracker)
        update_summaries(store.engine)
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO annotations (sender_id, event_id, text, label, created_by, "
                    "created_at) VALUES ('web:erased', 1, 'my number', 'greet', 'ravi', :now)"
                ),
                {"now": datetime.now(timezone.utc)},
            )
        tracker = await store.retrieve("web:erased")
        assert tracker is not None
        for event in _turn("delete my data", 10):
            tracker.update(event)
        tracker.update(SlotSet("erasure_requested", True))
        broker.published.clear()
        await store.save(tracker)

        with store.engine.connect() as conn:
            for table in ("events", "conversation_summaries", "annotations"):
                senders = {
                    row[0]
                    for row in conn.execute(sa.text(f"SELECT sender_id FROM {table}"))  # noqa: S608
                }
                assert "web:erased" not in senders, table
            assert "web:other" in {
                row[0] for row in conn.execute(sa.text("SELECT sender_id FROM events"))
            }
        # analytics consumers are told to erase their copies; the erased turn is not streamed
        assert broker.published == [{"event": "erasure", "sender_id": "web:erased"}]
        # the next message starts a new conversation
        assert await store.retrieve("web:erased") is None
