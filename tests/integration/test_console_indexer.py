"""Conversation summaries from Rasa's events table (created by Rasa's own SQL tracker store):
incremental indexing, flags, filters, search, and index-backed pagination at 100,000 rows."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

import pytest
import sqlalchemy as sa

from console.indexer import Filters, list_conversations, update_summaries
from spine_db.models import ConversationSummary, WhatsAppReply
from tests.support.databases import BACKENDS, database_url, project_database


@pytest.fixture
def engine(tmp_path: Path) -> sa.engine.Engine:
    return project_database(f"sqlite:///{tmp_path / 'spine.db'}")


def user(text: str, intent: str, confidence: float, channel: str = "rest") -> Dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "input_channel": channel,
        "parse_data": {"intent": {"name": intent, "confidence": confidence}},
    }


def slot(name: str, value: Any) -> Dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def action(name: str) -> Dict[str, Any]:
    return {"event": "action", "name": name}


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
        [user("i cant pee", "emergency", 1.0, "webchat")],
        1000,
    )
    add_events(engine, "old-sos", [slot("safety_flag", "crisis")], 1500)  # stored by older versions
    add_events(engine, "wound", [user("my scar is red and warm", "urgent", 1.0)], 1600)
    # "yes" to the triage question: the reply, not the message, carries the level
    add_events(
        engine,
        "asked",
        [
            user("my legs feel a bit odd", "triage_check", 0.6),
            action("utter_triage_question"),
            user("yes", "affirm", 0.99),
            action("utter_emergency"),
        ],
        1700,
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
    assert update_summaries(engine) == 11
    rows = {r["sender_id"]: r for r in list_conversations(engine, Filters())[0]}
    assert rows["sos"]["emergency"]
    assert rows["old-sos"]["crisis"]
    assert rows["wound"]["urgent"]
    assert rows["asked"]["emergency"]
    assert rows["asked"]["turns"] == 2
    assert not rows["wound"]["emergency"]
    assert [r["sender_id"] for r in list_conversations(engine, Filters(flag="urgent"))[0]] == [
        "wound"
    ]
    assert not rows["book"]["emergency"]
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
    def __init__(self, id: int, timestamp: float = 0.0) -> None:  # noqa: A002
        self.id, self.timestamp = id, timestamp


def test_folding_waits_at_a_gap_until_it_has_been_seen_long_enough() -> None:
    from console.indexer import settled

    rows = [Row(1), Row(3), Row(4)]  # 2 may still be committed by another Rasa server
    seen: Dict[int, float] = {}
    assert [r.id for r in settled([Row(1), Row(2)], 0, 100.0, seen, wait=30)] == [1, 2]
    assert [r.id for r in settled(rows, 0, 100.0, seen, wait=30)] == [1]
    assert seen == {2: 100.0}
    assert [r.id for r in settled(rows[1:], 1, 129.0, seen, wait=30)] == []  # 29 s: still waiting
    # 30 s after it was first seen here — whatever the events' own timestamps say — 2 is taken
    # to be a rolled-back insert and passed
    assert [r.id for r in settled(rows[1:], 1, 130.0, seen, wait=30)] == [3, 4]
    assert seen == {}


def _fold_in_process(url: str, barrier: Any) -> None:
    engine = sa.create_engine(url, future=True)
    barrier.wait(timeout=120)  # start together, after the imports
    update_summaries(engine, batch=20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_several_processes_folding_at_once_count_each_event_once(
    backend: str, tmp_path: Path
) -> None:
    """The website and a scheduled `python -m console.indexer` may fold at the same moment."""
    import multiprocessing

    with database_url(backend, tmp_path) as url:
        engine = project_database(url)
        for n in range(300):
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
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(4)
        workers = [context.Process(target=_fold_in_process, args=(url, barrier)) for _ in range(3)]
        for worker in workers:
            worker.start()
        barrier.wait(timeout=120)
        update_summaries(engine, batch=20)
        for worker in workers:
            worker.join(timeout=120)
            assert worker.exitcode == 0
        with engine.connect() as conn:
            turns, cards, conversations = conn.execute(
                sa.text(
                    "SELECT SUM(turns), SUM(CASE WHEN cards_shown THEN 1 ELSE 0 END), COUNT(*)"
                    " FROM conversation_summaries"
                )
            ).one()
            messages = conn.execute(
                sa.text("SELECT SUM(count) FROM daily_counts WHERE metric = 'messages'")
            ).scalar()
        engine.dispose()
    assert (turns, cards, conversations, messages) == (600, 300, 300, 600)


def test_conversations_with_an_undelivered_whatsapp_reply_are_flagged(
    engine: sa.engine.Engine,
) -> None:
    for number in ("919000000001", "919000000002"):
        add_events(engine, number, [user("what is miss", "faq", 0.9, "whatsapp")], 1000)
    update_summaries(engine)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        for status in ("failed", "sent"):
            conn.execute(
                WhatsAppReply.__table__.insert().values(
                    recipient="919000000001" if status == "failed" else "919000000002",
                    body="{}",
                    status=status,
                    attempts=3,
                    next_attempt_at=now,
                    window_closes_at=now,
                    created_at=now,
                )
            )
    rows = {r["sender_id"]: r["undelivered"] for r in list_conversations(engine, Filters())[0]}
    assert rows == {"919000000001": True, "919000000002": False}
    flagged = list_conversations(engine, Filters(flag="undelivered"))[0]
    assert [r["sender_id"] for r in flagged] == ["919000000001"]
