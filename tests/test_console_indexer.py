"""Conversation summaries from Rasa's events table (created by Rasa's own SQL tracker store):
incremental indexing, flags, filters, search, and index-backed pagination at 100,000 rows."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore

from console.indexer import Filters, list_conversations, update_summaries
from spine_db import migrate
from spine_db.models import ConversationSummary


@pytest.fixture
def engine(tmp_path: Path) -> sa.engine.Engine:
    url = f"sqlite:///{tmp_path / 'spine.db'}"
    SQLTrackerStore(host=url)  # Rasa creates its `events` table, as in production
    migrate.upgrade(url)
    return sa.create_engine(url, future=True)


def user(text: str, intent: str, confidence: float, channel: str = "rest") -> Dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "input_channel": channel,
        "parse_data": {"intent": {"name": intent, "confidence": confidence}},
    }


def slot(name: str, value: Any) -> Dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def add_events(
    engine: sa.engine.Engine, sender: str, events: List[Dict[str, Any]], start: float
) -> None:
    with engine.begin() as conn:
        for offset, event in enumerate(events):
            conn.execute(
                sa.text(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                    "VALUES (:s, :t, :ts, :i, :d)"
                ),
                {
                    "s": sender,
                    "t": event["event"],
                    "ts": start + offset,
                    "i": (event.get("parse_data") or {}).get("intent", {}).get("name"),
                    "d": json.dumps({**event, "timestamp": start + offset}),
                },
            )


def test_summaries_flags_and_incremental_updates(engine: sa.engine.Engine) -> None:
    add_events(
        engine,
        "sos",
        [user("i cant pee", "emergency", 1.0, "webchat"), slot("safety_flag", "emergency")],
        1000,
    )
    add_events(
        engine,
        "book",
        [
            user("book", "book_appointment", 0.9),
            user("blah", "nlu_fallback", 0.3),
            user("hmm", "faq", 0.42),
            slot("booking_reference", "BK-7F3K2Q"),
        ],
        2000,
    )
    assert update_summaries(engine) == 6
    rows = {r["sender_id"]: r for r in list_conversations(engine, Filters())[0]}
    assert rows["sos"]["emergency"]
    assert rows["sos"]["channel"] == "webchat"
    assert rows["book"]["booking"]
    assert rows["book"]["turns"] == 3
    assert rows["book"]["fallback_count"] == 1
    assert rows["book"]["low_confidence_count"] == 1
    assert update_summaries(engine) == 0  # nothing new
    add_events(
        engine,
        "book",
        [user("call me", "request_callback", 0.95), slot("callback_requested", True)],
        3000,
    )
    assert update_summaries(engine) == 2
    [book] = list_conversations(engine, Filters(flag="callback"))[0]
    assert book["sender_id"] == "book"
    assert book["turns"] == 4
    assert book["booking"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(flag="emergency"), ["sos"]),
        (Filters(flag="fallback"), ["book"]),
        (Filters(channel="webchat"), ["sos"]),
        (Filters(reviewed=False), ["book", "sos"]),
        (Filters(started_from=1500), ["book"]),
        (Filters(started_to=1500), ["sos"]),
        (Filters(text="pee"), ["sos"]),
        (Filters(text="100%_"), []),  # LIKE wildcards are literal
    ],
)
def test_filters(engine: sa.engine.Engine, filters: Filters, expected: List[str]) -> None:
    add_events(
        engine,
        "sos",
        [user("i cant pee", "emergency", 1.0, "webchat"), slot("safety_flag", "emergency")],
        1000,
    )
    add_events(engine, "book", [user("blah", "nlu_fallback", 0.3)], 2000)
    update_summaries(engine)
    assert [r["sender_id"] for r in list_conversations(engine, filters)[0]] == expected


def test_pagination_at_100000_conversations_uses_the_indexes(engine: sa.engine.Engine) -> None:
    table = ConversationSummary.__table__
    rows = [
        {
            "sender_id": f"c{i:06d}",
            "started_at": float(i),
            "last_at": float(i),
            "channel": "rest",
            "turns": 3,
            "emergency": i % 1000 == 0,
            "crisis": False,
            "callback": False,
            "booking": i % 50 == 0,
            "fallback_count": 0,
            "low_confidence_count": 0,
            "reviewed": False,
            "note": None,
        }
        for i in range(100_000)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(table), rows)
    page, total = list_conversations(engine, Filters(), page=3, per_page=50)
    assert total == 100_000
    assert page[0]["sender_id"] == "c099899"
    page, total = list_conversations(engine, Filters(flag="emergency"), per_page=10)
    assert total == 100
    assert page[0]["sender_id"] == "c099000"
    with engine.connect() as conn:
        plan = " ".join(
            str(r)
            for r in conn.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT * FROM conversation_summaries "
                    "ORDER BY started_at DESC LIMIT 50 OFFSET 100"
                )
            )
        )
        flagged = " ".join(
            str(r)
            for r in conn.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT count(*) FROM conversation_summaries "
                    "WHERE emergency = 1"
                )
            )
        )
    assert "ix_conversation_summaries_started_at" in plan
    assert "ix_conversation_summaries_emergency" in flagged


class Row:
    def __init__(self, id: int, timestamp: float) -> None:  # noqa: A002
        self.id, self.timestamp = id, timestamp


@pytest.mark.parametrize(
    ("ids", "ages", "kept"),
    [
        ([1, 2, 3], [1, 1, 1], 3),  # contiguous: everything
        ([1, 3, 4], [1, 1, 1], 1),  # 2 may still commit (another Rasa server): wait
        ([1, 3, 4], [99, 99, 1], 3),  # the gap is old: a rolled-back insert, pass it
        ([2, 3], [1, 1], 0),  # the gap right after the last folded event
    ],
)
def test_folding_stops_at_a_gap_that_may_still_fill(ids: list, ages: list, kept: int) -> None:
    from console.indexer import settled

    now = 1_000_000.0
    rows = [Row(i, now - age) for i, age in zip(ids, ages, strict=True)]
    assert [r.id for r in settled(rows, 0, now, wait=30)] == ids[:kept]


def test_concurrent_updates_do_not_count_twice(engine: sa.engine.Engine) -> None:
    import threading

    for n in range(40):
        add_events(
            engine,
            f"s{n}",
            [
                user("hi", "greet", 0.99),
                user("recovery?", "faq", 0.9),
                slot("specialist_ids", ["x"]),
            ],
            1_795_000_000 + n * 10,
        )
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        update_summaries(engine, batch=7)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        turns = conn.execute(
            sa.text("SELECT SUM(turns), SUM(cards_shown) FROM conversation_summaries")
        ).one()
        messages = conn.execute(
            sa.text("SELECT SUM(count) FROM daily_counts WHERE metric = 'messages'")
        ).scalar()
    assert tuple(turns) == (80, 40)
    assert messages == 80
