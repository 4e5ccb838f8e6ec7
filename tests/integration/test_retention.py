"""Retention on the real stores (SQLite and PostgreSQL): what is past its window is gone, with
everything derived from it, and what is recent or still open is kept."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import sqlalchemy as sa

from console.indexer import update_summaries
from devstack.servers import ROOT
from spine_db.models import Annotation, Booking, Callback, WhatsAppDelivery
from spine_db.retention import Windows, apply
from tests.integration.test_console_indexer import add_events, user
from tests.support.databases import BACKENDS, database_url, project_database

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
WINDOWS = Windows(conversation_days=90, request_days=365, delivery_days=7)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(request.param, tmp_path) as found:
        project_database(found).dispose()
        yield found


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def request_row(reference: str, conversation: str, status: str, changed: datetime) -> dict:
    return {
        "reference": reference,
        "conversation_id": conversation,
        "channel": "webchat",
        "patient_name": "Asha Verma",
        "mobile": "+919876543210",
        "contact_consent": True,
        "status": status,
        "created_at": changed - timedelta(days=1),
        "updated_at": changed,
    }


def seed(engine: sa.engine.Engine) -> None:
    # an old conversation (last message 120 days ago) and a recent one (10 days ago)
    add_events(
        engine, "web:old", [user("my name is Asha", "greet", 0.9)], days_ago(120).timestamp()
    )
    add_events(
        engine, "web:new", [user("how big is the cut", "faq", 0.9)], days_ago(10).timestamp()
    )
    # a conversation that started long ago but is still going: kept whole
    add_events(engine, "web:long", [user("hello", "greet", 0.9)], days_ago(200).timestamp())
    add_events(engine, "web:long", [user("and the stay?", "faq", 0.9)], days_ago(1).timestamp())
    update_summaries(engine)
    booking: Dict[str, Any] = {"doctor_id": "gopal-achari", "doctor_name": "Dr. Gopal Achari"}
    booking |= {"consult_mode": "online", "preferred_date": NOW.date(), "preferred_time": "Morning"}
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Annotation.__table__),
            [
                {
                    "sender_id": "web:old",
                    "event_id": 1,
                    "text": "my name is Asha",
                    "label": "greet",
                    "created_by": "ravi",
                    "created_at": days_ago(100),
                },
                {
                    "sender_id": "web:new",
                    "event_id": 2,
                    "text": "how big is the cut",
                    "label": "faq/incision_size",
                    "created_by": "ravi",
                    "created_at": days_ago(5),
                },
            ],
        )
        conn.execute(
            sa.insert(Booking.__table__),
            [
                {**request_row("BK-OLDONE", "web:old", "done", days_ago(400)), **booking},
                {**request_row("BK-NEWONE", "web:new", "done", days_ago(30)), **booking},
                # open for over a year: staff have not closed it, so it stays
                {**request_row("BK-OPENED", "web:old", "contacted", days_ago(500)), **booking},
            ],
        )
        conn.execute(
            sa.insert(Callback.__table__),
            [request_row("CB-OLDONE", "web:old", "cancelled", days_ago(366))],
        )
        conn.execute(
            sa.insert(WhatsAppDelivery.__table__),
            [
                {
                    "message_id": "wamid.old",
                    "sender": "919876543210",
                    "text": "hi",
                    "received_at": days_ago(9),
                    "done_at": days_ago(8),
                },
                {
                    "message_id": "wamid.new",
                    "sender": "919876543210",
                    "text": "hi",
                    "received_at": days_ago(1),
                    "done_at": days_ago(1),
                },
            ],
        )


def column(engine: sa.engine.Engine, sql: str) -> list:
    with engine.connect() as conn:
        return sorted(row[0] for row in conn.execute(sa.text(sql)))


def test_old_data_is_gone_and_recent_data_is_kept(url: str) -> None:
    engine = sa.create_engine(url, future=True)
    seed(engine)
    dry = apply(engine, WINDOWS, NOW, dry_run=True)
    assert column(engine, "SELECT DISTINCT sender_id FROM events") == [
        "web:long",
        "web:new",
        "web:old",
    ]  # a dry run deletes nothing
    counts = apply(engine, WINDOWS, NOW)
    assert counts == dry
    assert counts["events"] == 1
    assert counts["bookings"] == 1
    assert counts["callbacks"] == 1
    assert column(engine, "SELECT DISTINCT sender_id FROM events") == ["web:long", "web:new"]
    assert column(engine, "SELECT sender_id FROM conversation_summaries") == [
        "web:long",
        "web:new",
    ]
    assert column(engine, "SELECT sender_id FROM annotations") == ["web:new"]
    assert column(engine, "SELECT reference FROM bookings") == ["BK-NEWONE", "BK-OPENED"]
    assert column(engine, "SELECT reference FROM callbacks") == []
    assert column(engine, "SELECT message_id FROM whatsapp_inbox") == ["wamid.new"]
    # nothing of the old conversation is left in its tables
    for table in ("events", "conversation_summaries", "annotations"):
        left = sa.select(sa.func.count()).select_from(sa.table(table, sa.column("sender_id")))
        with engine.connect() as conn:
            assert conn.execute(left.where(sa.column("sender_id") == "web:old")).scalar() == 0
    assert apply(engine, WINDOWS, NOW)["events"] == 0  # applying again changes nothing


def test_the_command_reads_its_windows_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spine.db'}"
    engine = project_database(url)
    add_events(
        engine,
        "web:a",
        [user("hi", "greet", 0.9)],
        (datetime.now(timezone.utc) - timedelta(days=3)).timestamp(),
    )
    env = {**os.environ, "DATABASE_URL": url, "RETENTION_CONVERSATION_DAYS": "2"}
    run = [sys.executable, "-m", "spine_db.retention"]
    dry = subprocess.run([*run, "--dry-run"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "would delete" in dry.stdout
    assert "events 1" in dry.stdout
    assert column(engine, "SELECT COUNT(*) FROM events") == [1]
    done = subprocess.run(run, env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert column(engine, "SELECT COUNT(*) FROM events") == [0]
    bad = subprocess.run(
        run,
        env={**env, "RETENTION_CONVERSATION_DAYS": "0"},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "at least 1 day" in bad.stderr
