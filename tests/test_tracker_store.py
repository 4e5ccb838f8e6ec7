"""ProjectSQLTrackerStore saves what Rasa's SQLTrackerStore saves (same rows, same streamed events),
with fewer queries — compared operation by operation on SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import time
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

from spine_db.tracker_store import ProjectSQLTrackerStore
from tests.databases import BACKENDS
from tests.databases import database_url as backend_url

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


async def _script(store: TrackerStore) -> None:
    """What Rasa does to a conversation over a few messages, a restart and a copy."""
    tracker = DialogueStateTracker("patient-1", DOMAIN.slots)  # new: saved without being read
    for event in _session(1):
        tracker.update(event)
    tracker.update(ActionExecuted("action_listen", timestamp=NOW + 1.5))
    await store.save(tracker)
    for second in (10, 20):
        tracker = await store.retrieve("patient-1")
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
    assert tracker is not None
    twin = copy.deepcopy(tracker)  # a copy is not trusted: the database is asked
    for event in _turn("from a copy", 40):
        twin.update(event)
    await store.save(twin)
    await store.save(tracker)  # the original is behind the database now: it adds nothing new


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

    await _script(ours)
    await _script(rasas)

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


async def test_new_events_go_in_one_statement(tmp_path: Path) -> None:
    store = ProjectSQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{tmp_path / 'spine.db'}")
    tracker = await store.get_or_create_tracker("patient-2")
    await store.save(tracker)
    tracker = await store.retrieve("patient-2")
    assert tracker is not None
    for event in _turn("hello", 5):
        tracker.update(event)
    statements: List[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    await store.save(tracker)
    assert [s.split()[0] for s in statements] == ["INSERT"]  # no count query, one insert
