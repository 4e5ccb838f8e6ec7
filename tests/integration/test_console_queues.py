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
from tests.support.databases import BACKENDS, database_url

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


def version(engine: sa.engine.Engine, ref: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT version FROM bookings WHERE reference = :r"), {"r": ref}
            ).scalar_one()
        )


def change(engine: sa.engine.Engine, ref: str, new: Change, by: str = "asha") -> list:
    return update_request(engine, "bookings", ref, version(engine, ref), new, by, STAFF)


def test_new_to_contacted_to_done_with_assignee_notes_and_audit(db: Tuple) -> None:
    engine, ref = db
    changes = change(engine, ref, Change("contacted", "asha", "Called, rings out"))
    assert changes == ["status new→contacted", "assignee -→asha", "note added"]
    change(engine, ref, Change("done", "asha", "Booked for Friday"))
    [row], total = list_requests(engine, "bookings", status="done")
    assert total == 1
    assert (row["status"], row["assignee"], row["version"]) == ("done", "asha", 2)
    first, second = row["notes"].splitlines()
    assert first.endswith(" asha: Called, rings out")  # a dated log, oldest first
    assert second.endswith(" asha: Booked for Friday")
    assert row["updated_at"] is not None
    assert list_requests(engine, "bookings", status="open") == ([], 0)
    assert audit(engine) == [
        ("asha", "status", f"booking:{ref}", "status new→contacted; assignee -→asha; note added"),
        ("asha", "status", f"booking:{ref}", "status contacted→done; note added"),
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
    for step in steps[:-1]:
        change(engine, ref, Change(step, None), "ravi")
    with pytest.raises(QueueError, match=refused):
        change(engine, ref, Change(steps[-1], None), "ravi")


def test_a_change_made_on_a_stale_page_is_refused_even_with_the_same_status(db: Tuple) -> None:
    engine, ref = db
    update_request(
        engine, "bookings", ref, 0, Change("new", "ravi", "she prefers Hindi"), "ravi", STAFF
    )
    # asha's page was loaded before ravi's change (version 0) and still says "new"
    with pytest.raises(QueueError, match="changed meanwhile.*assigned to ravi"):
        update_request(engine, "bookings", ref, 0, Change("new", None, None), "asha", STAFF)
    [row], _ = list_requests(engine, "bookings", status="all")
    assert (row["status"], row["assignee"], row["version"]) == ("new", "ravi", 1)
    assert row["notes"].endswith("ravi: she prefers Hindi")


def test_unknown_staff_member_unknown_request_and_huge_notes_are_refused(db: Tuple) -> None:
    engine, ref = db
    with pytest.raises(QueueError, match="does not exist"):
        change(engine, ref, Change("new", "mallory"))
    with pytest.raises(QueueError, match="No such request"):
        update_request(engine, "bookings", "BK-NOPE22", 0, Change("new", None), "asha", STAFF)
    with pytest.raises(QueueError, match="limited to 1000"):
        change(engine, ref, Change("new", None, "x" * 1001))
    assert change(engine, ref, Change("new", None, "   ")) == []
    assert audit(engine) == []  # nothing changed, nothing logged
    assert version(engine, ref) == 0


def test_filters_by_assignee_and_call_back_queue(db: Tuple) -> None:
    engine, ref = db
    url = engine.url.render_as_string(hide_password=False)
    callback = Store(url).save_callback(
        CallbackRequest("web:abc", "webchat", "Ravi", "+919812345678", True, "talk to a person")
    )
    change(engine, ref, Change("new", "asha"))
    assert [r["reference"] for r in list_requests(engine, "bookings", assignee="asha")[0]] == [ref]
    assert list_requests(engine, "bookings", assignee="ravi")[1] == 0
    assert list_requests(engine, "bookings", assignee="")[1] == 0  # unassigned only
    [row], _ = list_requests(engine, "callbacks")
    assert row["reference"] == callback
    assert row["reason"] == "talk to a person"
    assert row["conversation_key"] is None  # not indexed yet: no link


def test_contact_details_and_names_in_notes_are_masked_unless_revealed(db: Tuple) -> None:
    engine, ref = db
    change(engine, ref, Change("new", None, "Asha Verma asked us to call 98765 43210 after 6"))
    [row], _ = list_requests(engine, "bookings")
    hidden = masked(row)
    assert hidden["patient_name"] == "[hidden]"
    assert hidden["mobile"] == "•••• ••10"
    assert hidden["notes"].endswith("asha: [name] asked us to call •••• ••10 after 6")
    shown = masked(row, reveal=True)
    assert (shown["patient_name"], shown["mobile"]) == ("Asha Verma", "+919876543210")
    assert "Asha Verma asked us to call 98765 43210" in shown["notes"]
