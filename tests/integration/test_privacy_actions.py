"""A patient's rights in chat, against a real (SQLite) project database: the notice before the
first personal question, consent recorded with its version, "what do you know about me",
"withdraw consent" and "delete my data" (the requests' part; the conversation's part is the
tracker store's, tested end to end in test_e2e_booking.py)."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict, List

import pytest

from actions.booking import ActionSubmitBooking
from actions.privacy import (
    ActionAskPatientName,
    ActionEraseMyData,
    ActionMyData,
    ActionWithdrawConsent,
    receipt,
)
from spine_content.privacy_notice import NOTICE, notice, page, version
from spine_db import migrate
from tests.conftest import TrackerFactory
from tests.integration.test_booking_actions import FILLED, responses, slot_events
from tests.support.databases import plain

SENDER = "web:privacy-test"
TABLE_DUMPS = ("SELECT * FROM bookings", "SELECT * FROM callbacks", "SELECT * FROM audit_log")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "spine.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("PRIVACY_URL", "https://hospital.example/privacy")
    migrate.upgrade()
    return path


def rows(database: Path, sql: str, *params: str) -> List[tuple]:
    """Rows as stored, with encrypted cells decrypted: what the erasure left, not the cipher."""
    with sqlite3.connect(database) as conn:
        return [tuple(map(plain, row)) for row in conn.execute(sql, params).fetchall()]


def notice_event() -> Dict[str, Any]:
    return {"event": "bot", "text": "...", "metadata": {"utter_action": NOTICE}}


async def book(make_tracker: TrackerFactory, dispatcher, domain, shown: bool = True) -> str:
    events = [notice_event()] if shown else []
    tracker = make_tracker(slots=dict(FILLED), sender_id=SENDER, events=events)
    found = slot_events(await ActionSubmitBooking().run(dispatcher, tracker, domain))
    return str(found["booking_reference"])


def test_the_notice_says_what_why_how_long_and_how_to_delete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RETENTION_CONVERSATION_DAYS", "45")
    monkeypatch.setenv("PRIVACY_URL", "https://hospital.example/privacy")
    text = notice()
    for part in ("name, mobile number and this chat", "to arrange this request", "45 days"):
        assert part in text
    assert '"delete my data"' in text
    assert text.endswith("https://hospital.example/privacy")
    assert [h for h, _ in page()][0] == "What we store"


async def test_notice_comes_once_before_the_first_personal_question(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    await ActionAskPatientName().run(dispatcher, make_tracker(sender_id=SENDER), domain)
    assert responses(dispatcher) == [NOTICE, "utter_ask_patient_name"]
    assert dispatcher.messages[0]["notice"] == notice()
    dispatcher.messages.clear()
    again = make_tracker(sender_id=SENDER, events=[notice_event()])
    await ActionAskPatientName().run(dispatcher, again, domain)
    assert responses(dispatcher) == ["utter_ask_patient_name"]


async def test_consent_is_recorded_with_the_notice_version_and_time(
    make_tracker: TrackerFactory, dispatcher, domain, database: Path
) -> None:
    reference = await book(make_tracker, dispatcher, domain)
    [(shown, at)] = rows(
        database,
        "SELECT privacy_notice, consented_at FROM bookings WHERE reference = ?",
        reference,
    )
    assert shown == version()
    assert at is not None


async def test_what_do_you_know_about_me_is_readable_and_masked(
    make_tracker: TrackerFactory, dispatcher, domain, database: Path
) -> None:
    reference = await book(make_tracker, dispatcher, domain)
    dispatcher.messages.clear()
    events = [{"event": "user", "text": "hi"}, {"event": "user", "text": "book"}]
    tracker = make_tracker(sender_id=SENDER, events=events, slots={"mobile": "+919876543210"})
    await ActionMyData().run(dispatcher, tracker, domain)
    text = dispatcher.messages[0]["summary"]
    assert "your 2 messages" in text
    assert reference in text
    assert "consultation request, status new" in text
    assert "+91 98XXXXXX10" in text
    assert "Asha" not in text
    assert "9876543210" not in text
    assert '"delete my data"' in text


async def test_withdrawing_consent_cancels_the_open_requests(
    make_tracker: TrackerFactory, dispatcher, domain, database: Path
) -> None:
    reference = await book(make_tracker, dispatcher, domain)
    dispatcher.messages.clear()
    tracker = make_tracker(sender_id=SENDER, slots=dict(FILLED))
    events = slot_events(await ActionWithdrawConsent().run(dispatcher, tracker, domain))
    assert reference in dispatcher.messages[0]["summary"]
    assert events["patient_name"] is None
    assert events["mobile"] is None
    [(status, consent, notes)] = rows(
        database,
        "SELECT status, contact_consent, notes FROM bookings WHERE reference = ?",
        reference,
    )
    assert (status, consent) == ("cancelled", 0)
    assert "withdrew consent" in notes


@pytest.mark.parametrize("policy", ["anonymise", "delete"])
async def test_erasure_removes_the_patient_from_requests_and_is_audited_without_them(
    make_tracker: TrackerFactory,
    dispatcher,
    domain,
    database: Path,
    policy: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ERASURE_REQUESTS", policy)
    reference = await book(make_tracker, dispatcher, domain)
    dispatcher.messages.clear()
    tracker = make_tracker(sender_id=SENDER, events=[{"event": "user", "text": "delete"}])
    events = slot_events(await ActionEraseMyData().run(dispatcher, tracker, domain))
    assert events == {"erasure_requested": True}  # the tracker store erases the conversation
    assert responses(dispatcher) == ["utter_data_erased"]
    kept = rows(database, "SELECT reference, patient_name, mobile, conversation_id FROM bookings")
    if policy == "delete":
        assert kept == []
    else:
        assert kept == [(reference, "(erased)", "(erased)", f"erased:{reference}")]
    dump = "\n".join(str(r) for query in TABLE_DUMPS for r in rows(database, query))
    for secret in ("Asha", "9876543210", SENDER):
        assert secret not in dump
    [(action, detail)] = rows(database, "SELECT action, detail FROM audit_log")
    assert action == "erasure"
    assert "(1 messages)" in detail


def test_the_receipt_says_what_was_erased() -> None:
    assert receipt({"bookings": 1, "callbacks": 0}, 12, "anonymise") == (
        "I deleted this conversation (12 messages) and removed your name and number from "
        "1 consultation request."
    )
    assert receipt({"bookings": 0, "callbacks": 2}, 1, "delete") == (
        "I deleted this conversation (1 message) and deleted 2 call-back requests."
    )


async def test_a_database_that_is_down_changes_nothing_and_says_so(
    make_tracker: TrackerFactory, dispatcher, domain, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
    tracker = make_tracker(sender_id=SENDER)
    assert await ActionEraseMyData().run(dispatcher, tracker, domain) == []
    assert responses(dispatcher) == ["utter_store_unavailable"]
