"""Booking and call-back queues: the status lifecycle, assignment, notes, stale pages and the audit
log — on SQLite and, when TEST_DATABASE_URL is set, PostgreSQL."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import sqlalchemy as sa

from console.queues import Change, QueueError, list_requests, masked, update_request
from spine_db import migrate
from spine_db.store import BookingRequest, CallbackRequest, Store
from tests.databases import BACKENDS, database_url

STAFF = ["asha", "ravi"]
BOOKING = BookingRequest(
    conversation_id="919876543210",
    channel="whatsapp",
    doctor_id="sunit-mediratta",
    doctor_name="Dr. Sunit Mediratta",
    consult_mode="online",
    preferred_date=date(2026, 12, 5),
    preferred_time="morning",
    patient_name="Asha Verma",
    mobile="+919876543210",
    contact_consent=True,
)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tuple[sa.engine.Engine, str]]:
    with database_url(request.param, tmp_path) as url:
        migrate.upgrade(url)
        engine = sa.create_engine(url, future=True)
        reference = Store(url).save_booking(BOOKING)
        try:
            yield engine, reference
        finally:
            engine.dispose()


def audit(engine: sa.engine.Engine) -> list:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.text("SELECT username, action, target, detail FROM audit_log"))
        ]


def test_new_to_contacted_to_done_with_assignee_notes_and_audit(db: Tuple) -> None:
    engine, ref = db
    changes = update_request(
        engine,
        "bookings",
        ref,
        "new",
        Change("contacted", "asha", "Called, rings out"),
        "asha",
        STAFF,
    )
    assert changes == ["status new→contacted", "assignee -→asha", "notes"]
    update_request(
        engine, "bookings", ref, "contacted", Change("done", "asha", "Booked"), "asha", STAFF
    )
    [row], total = list_requests(engine, "bookings", status="done")
    assert total == 1
    assert (row["status"], row["assignee"], row["notes"]) == ("done", "asha", "Booked")
    assert row["updated_at"] is not None
    assert list_requests(engine, "bookings", status="open") == ([], 0)
    assert audit(engine) == [
        ("asha", "status", f"booking:{ref}", "status new→contacted; assignee -→asha; notes"),
        ("asha", "status", f"booking:{ref}", "status contacted→done; notes"),
    ]


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        (["done"], "can move to contacted, cancelled"),  # new → done skips contacting the patient
        (["cancelled", "contacted"], "it is closed"),
        (["contacted", "done", "new"], "it is closed"),
        (["bogus"], "can move to contacted, cancelled"),
    ],
)
def test_transitions_outside_the_lifecycle_are_refused(
    db: Tuple, steps: list, refused: str
) -> None:
    engine, ref = db
    seen = "new"
    for step in steps[:-1]:
        update_request(engine, "bookings", ref, seen, Change(step, None, None), "ravi", STAFF)
        seen = step
    with pytest.raises(QueueError, match=refused):
        update_request(engine, "bookings", ref, seen, Change(steps[-1], None, None), "ravi", STAFF)


def test_a_change_made_on_a_stale_page_does_not_overwrite(db: Tuple) -> None:
    engine, ref = db
    update_request(
        engine, "bookings", ref, "new", Change("cancelled", "ravi", "duplicate"), "ravi", STAFF
    )
    with pytest.raises(QueueError, match="changed meanwhile"):  # asha still sees "new"
        update_request(
            engine, "bookings", ref, "new", Change("contacted", "asha", ""), "asha", STAFF
        )
    [row], _ = list_requests(engine, "bookings", status="all")
    assert (row["status"], row["assignee"], row["notes"]) == ("cancelled", "ravi", "duplicate")


def test_unknown_staff_member_unknown_request_and_huge_notes_are_refused(db: Tuple) -> None:
    engine, ref = db
    with pytest.raises(QueueError, match="does not exist"):
        update_request(
            engine, "bookings", ref, "new", Change("new", "mallory", None), "asha", STAFF
        )
    with pytest.raises(QueueError, match="No such request"):
        update_request(
            engine, "bookings", "BK-NOPE22", "new", Change("new", None, None), "asha", STAFF
        )
    with pytest.raises(QueueError, match="limited to 4000"):
        update_request(
            engine, "bookings", ref, "new", Change("new", None, "x" * 4001), "asha", STAFF
        )
    assert (
        update_request(engine, "bookings", ref, "new", Change("new", None, ""), "asha", STAFF) == []
    )
    assert audit(engine) == []  # nothing changed, nothing logged


def test_filters_by_assignee_and_call_back_queue(db: Tuple) -> None:
    engine, ref = db
    url = engine.url.render_as_string(hide_password=False)
    callback = Store(url).save_callback(
        CallbackRequest("web:abc", "webchat", "Ravi", "+919812345678", True, "talk to a person")
    )
    update_request(engine, "bookings", ref, "new", Change("new", "asha", None), "asha", STAFF)
    assert [r["reference"] for r in list_requests(engine, "bookings", assignee="asha")[0]] == [ref]
    assert list_requests(engine, "bookings", assignee="ravi")[1] == 0
    assert list_requests(engine, "bookings", assignee="")[1] == 0  # unassigned only
    [row], _ = list_requests(engine, "callbacks")
    assert row["reference"] == callback
    assert row["reason"] == "talk to a person"


def test_contact_details_are_masked_unless_revealed(db: Tuple) -> None:
    engine, _ = db
    [row], _ = list_requests(engine, "bookings")
    row["notes"] = "she asked us to call 98765 43210 after 6"
    hidden = masked(row)
    assert hidden["patient_name"] == "[hidden]"
    assert hidden["mobile"] == "•••• ••10"
    assert "98765" not in hidden["notes"]
    assert len(hidden["conversation_key"]) == 24
    assert "9876" not in hidden["conversation_key"]
    shown = masked(row, reveal=True)
    assert (shown["patient_name"], shown["mobile"]) == ("Asha Verma", "+919876543210")
