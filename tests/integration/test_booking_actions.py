"""Booking and call-back forms, specialist actions: run with Tracker/Dispatcher fixtures and a real
(SQLite, migrated) database."""
from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import (
    ActionAskBookingConfirmed,
    ActionCancelForm,
    ActionChangeBookingDetail,
    ActionSubmitBooking,
    ValidateBookingForm,
    today,
)
from actions.callback import ActionSubmitCallback, ValidateCallbackForm
from actions.specialists import ActionShowSpecialists, ActionSpecialistDetail
from spine_db import migrate
from tests.conftest import TrackerFactory
from tests.support.databases import plain

FILLED = {
    "doctor_id": "sunit-mediratta",
    "consult_mode": "online",
    "preferred_date": (date.today() + timedelta(days=3)).isoformat(),
    "preferred_time": "Morning",
    "patient_name": "Asha Verma",
    "mobile": "+919876543210",
    "contact_consent": True,
    "booking_confirmed": True,
}


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "spine.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    migrate.upgrade()
    return path


def turn(
    make_tracker: TrackerFactory,
    text: str,
    requested: str | None,
    intent: str = "nlu_fallback",
    confidence: float = 0.5,
    slots: Dict[str, Any] | None = None,
    entities: List[Dict[str, Any]] | None = None,
) -> Any:
    return make_tracker(
        parse_data={
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities or [],
        },
        slots={"requested_slot": requested, **(slots or {})},
        events=[{"event": "user", "text": text}],
    )


def slot_events(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def responses(dispatcher: CollectingDispatcher) -> List[str]:
    return [m.get("response") for m in dispatcher.messages]


async def validate(tracker: Any, dispatcher: CollectingDispatcher, domain: Dict, form: Any = None):
    action = form or ValidateBookingForm()
    return slot_events(await action.run(dispatcher, tracker, domain))


@pytest.mark.parametrize(
    ("requested", "text", "expected"),
    [
        ("preferred_date", "tomorrow", (today() + timedelta(days=1)).isoformat()),
        ("preferred_time", "10 am", "10:00 AM"),
        ("patient_name", "my name is asha verma", "Asha Verma"),
        ("mobile", "98765-43210", "+919876543210"),
        ("contact_consent", "yes", True),
        ("consult_mode", "Hospital visit", "hospital_visit"),
        ("doctor_id", "mediratta", "sunit-mediratta"),
    ],
)
async def test_answers_are_taken_normalised_and_reset_the_attempts(
    make_tracker: TrackerFactory, dispatcher, domain, requested: str, text: str, expected: Any
) -> None:
    events = await validate(turn(make_tracker, text, requested), dispatcher, domain)
    assert events[requested] == expected
    assert events.get("form_attempts") == 0
    assert dispatcher.messages == []


async def test_invalid_answer_says_why_and_is_asked_again(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    events = await validate(turn(make_tracker, "12345", "mobile"), dispatcher, domain)
    assert events == {"mobile": None, "form_attempts": 1}
    assert responses(dispatcher) == ["utter_invalid_mobile_length"]


async def test_past_date_is_refused(make_tracker: TrackerFactory, dispatcher, domain) -> None:
    events = await validate(turn(make_tracker, "yesterday", "preferred_date"), dispatcher, domain)
    assert events["preferred_date"] is None
    assert responses(dispatcher) == ["utter_invalid_date_past"]


async def test_too_many_invalid_answers_offer_a_call_back(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = turn(make_tracker, "soon", "preferred_date", slots={"form_attempts": 2})
    events = await validate(tracker, dispatcher, domain)
    assert events["form_attempts"] == 3
    assert responses(dispatcher) == ["utter_invalid_date_format", "utter_offer_callback"]


@pytest.mark.parametrize(
    ("text", "intent", "confidence"),
    [
        ("how long is the recovery?", "faq", 0.9),
        ("what are the risks of miss", "article", 0.95),
        ("never mind", "cancel", 0.99),
        ("stop", "cancel", 0.6),
        ("call me instead", "request_callback", 0.9),
        ("I can't feel my legs", "emergency", 1.0),
        ("my wound is red and warm", "urgent", 1.0),
        ("topic:faq/recovery_time", "faq", 1.0),
        ("/cancel", "cancel", 1.0),
    ],
)
async def test_interruptions_are_not_taken_as_answers(
    make_tracker: TrackerFactory, dispatcher, domain, text: str, intent: str, confidence: float
) -> None:
    tracker = turn(make_tracker, text, "patient_name", intent=intent, confidence=confidence)
    # No slot event at all: Rasa rejects the form for this turn and the rules answer instead.
    assert await validate(tracker, dispatcher, domain) == {}
    assert dispatcher.messages == []


async def test_an_answer_the_nlu_mistook_for_a_question_is_still_an_answer(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    # e.g. a name that resembles the article's author: valid answer, not a question.
    tracker = turn(make_tracker, "Mayank Shah", "patient_name", intent="article", confidence=0.9)
    assert (await validate(tracker, dispatcher, domain))["patient_name"] == "Mayank Shah"


@pytest.mark.parametrize(
    ("requested", "text", "response"),
    [
        ("preferred_date", "yesterday", "utter_invalid_date_past"),
        ("preferred_date", "in 6 months", "utter_invalid_date_too_far"),
        ("mobile", "1234567890", "utter_invalid_mobile_start"),
    ],
)
async def test_a_confidently_misread_answer_that_breaks_a_rule_gets_the_reason(
    make_tracker: TrackerFactory, dispatcher, domain, requested: str, text: str, response: str
) -> None:
    # The NLU is sure it is off-topic, but it is an answer of the right kind, so not an
    # interruption: the user learns why it cannot be accepted, not "I can only help with MISS".
    slots = {"doctor_id": "mayank-nakipuria", "consult_mode": "online"}
    tracker = turn(make_tracker, text, requested, "out_of_scope", confidence=0.95, slots=slots)
    events = await validate(tracker, dispatcher, domain)
    assert events[requested] is None
    assert responses(dispatcher)[0] == response


async def test_off_topic_text_is_still_an_interruption_of_the_date_question(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = turn(make_tracker, "what's the weather", "preferred_date", "out_of_scope", 0.95)
    assert await validate(tracker, dispatcher, domain) == {}


async def test_book_with_doctor_named_at_the_start(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = turn(
        make_tracker,
        "book an online consultation with dr bhati",
        None,
        intent="book_appointment",
        confidence=0.9,
    )
    events = await validate(tracker, dispatcher, domain)
    assert events["doctor_id"] == "aditendraditya-singh-bhati"
    assert events["consult_mode"] == "online"


async def test_book_with_him_refers_to_the_doctor_just_shown(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = turn(
        make_tracker,
        "book with him",
        None,
        intent="book_appointment",
        confidence=0.9,
        slots={"specialist_ids": ["mayank-nakipuria"]},
    )
    assert (await validate(tracker, dispatcher, domain))["doctor_id"] == "mayank-nakipuria"


async def test_refusing_consent_explains_why(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    events = await validate(turn(make_tracker, "no", "contact_consent"), dispatcher, domain)
    assert events["contact_consent"] is None
    assert responses(dispatcher) == ["utter_consent_needed"]


async def test_no_at_the_summary_asks_what_to_change(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    events = await validate(turn(make_tracker, "no", "booking_confirmed"), dispatcher, domain)
    assert events["booking_confirmed"] is None
    assert responses(dispatcher) == ["utter_ask_what_to_change"]


async def test_summary_lists_every_answer(make_tracker: TrackerFactory, dispatcher, domain) -> None:
    slots = {**FILLED, "preferred_date": "2026-11-30"}
    await ActionAskBookingConfirmed().run(dispatcher, make_tracker(slots=slots), domain)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_booking_summary"
    assert message["doctor_name"] == "Dr. Sunit Mediratta"
    assert message["date_label"] == "Monday, 30 November 2026"
    assert message["mode_label"] == "Online consultation"
    assert message["mobile_label"] == "+91 98XXXXXX10"


async def test_submit_stores_the_booking_then_tells_the_reference(
    make_tracker: TrackerFactory, dispatcher, domain, database: Path
) -> None:
    tracker = make_tracker(slots=dict(FILLED), sender_id="conv-book")
    events = slot_events(await ActionSubmitBooking().run(dispatcher, tracker, domain))
    reference = events["booking_reference"]
    message = dispatcher.messages[0]
    assert message["response"] == "utter_booking_done"
    assert message["reference"] == reference
    assert "no booking fees" in message["fee_note"].lower()
    with sqlite3.connect(database) as conn:
        row = conn.execute(
            "SELECT conversation_id, doctor_id, patient_name, mobile FROM bookings "
            "WHERE reference = ?",
            (reference,),
        ).fetchone()
    assert "Asha" not in str(row)  # encrypted at rest
    assert tuple(map(plain, row)) == ("conv-book", "sunit-mediratta", "Asha Verma", "+919876543210")
    assert events["booking_confirmed"] is None
    assert events["doctor_id"] is None
    assert "patient_name" not in events  # kept for a later call-back


async def test_no_booking_fee_note_only_where_the_card_says_so(
    make_tracker: TrackerFactory, dispatcher, domain, database: Path
) -> None:
    tracker = make_tracker(slots={**FILLED, "doctor_id": "gopal-achari"})
    await ActionSubmitBooking().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["fee_note"] == ""


async def test_failed_write_is_told_honestly_and_keeps_the_answers(
    make_tracker: TrackerFactory, dispatcher, domain, tmp_path: Path, monkeypatch
) -> None:
    # A real database without the tables (migrations not run): the insert fails.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
    tracker = make_tracker(slots=dict(FILLED))
    events = slot_events(await ActionSubmitBooking().run(dispatcher, tracker, domain))
    assert responses(dispatcher) == ["utter_booking_failed"]
    assert events == {"booking_confirmed": None}  # everything else stays filled


async def test_change_the_date_clears_only_the_date(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(parse_data={"text": "change the date"}, slots=dict(FILLED))
    events = slot_events(await ActionChangeBookingDetail().run(dispatcher, tracker, domain))
    assert events == {"preferred_date": None, "booking_confirmed": None, "form_attempts": 0}
    assert dispatcher.messages[0]["field_label"] == "date"


async def test_cancel_drops_the_booking_answers(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    events = slot_events(
        await ActionCancelForm().run(dispatcher, make_tracker(slots=FILLED), domain)
    )
    assert events["doctor_id"] is None
    assert events["requested_slot"] is None
    assert events["patient_name"] is None  # consent given for a cancelled request is not kept
    assert events["contact_consent"] is None
    assert responses(dispatcher) == ["utter_form_cancelled"]


async def test_callback_is_stored_linked_and_flagged(
    make_tracker: TrackerFactory, dispatcher, domain, database: Path
) -> None:
    tracker = make_tracker(slots=dict(FILLED), sender_id="conv-call")
    events = slot_events(await ActionSubmitCallback().run(dispatcher, tracker, domain))
    assert events["callback_requested"] is True
    message = dispatcher.messages[0]
    assert message["response"] == "utter_callback_done"
    assert message["support_hours"] == "Monday to Saturday, 09:00–18:00 (IST)"
    assert message["when"]
    with sqlite3.connect(database) as conn:
        row = conn.execute(
            "SELECT conversation_id, patient_name FROM callbacks WHERE reference = ?",
            (events["callback_reference"],),
        ).fetchone()
    assert tuple(map(plain, row)) == ("conv-call", "Asha Verma")


async def test_callback_form_takes_call_me_again_as_no_interruption(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = turn(
        make_tracker, "Ravi Kumar", "patient_name", intent="request_callback", confidence=0.7
    )
    events = await validate(tracker, dispatcher, domain, ValidateCallbackForm())
    assert events["patient_name"] == "Ravi Kumar"


async def test_specialists_in_delhi_as_cards_and_text(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(parse_data={"text": "neurosurgeons in new delhi"})
    events = slot_events(await ActionShowSpecialists().run(dispatcher, tracker, domain))
    assert len(events["specialist_ids"]) == 3
    message = dispatcher.messages[0]
    assert message["custom"]["type"] == "specialist_cards"
    assert [c["city"] for c in message["custom"]["cards"]] == ["Delhi"] * 3
    assert "Dr. Sunit Mediratta" in message["cards_text"]
    assert "Recommendation: not listed" in message["cards_text"]
    assert "₹1,000 and ₹1,500 (what each covers is not listed)" in message["cards_text"]
    assert all(b["payload"].startswith("/book_appointment{") for b in message["buttons"])


async def test_city_without_specialist(make_tracker: TrackerFactory, dispatcher, domain) -> None:
    tracker = make_tracker(
        parse_data={
            "text": "doctors in chennai",
            "entities": [{"entity": "city", "value": "chennai"}],
        }
    )
    assert await ActionShowSpecialists().run(dispatcher, tracker, domain) == []
    message = dispatcher.messages[0]
    assert message["response"] == "utter_no_specialist_in_city"
    assert message["place"] == "Chennai"
    assert message["cities"] == "Delhi, Kolkata, Rudrapur"


async def test_place_of_the_patient_does_not_hide_the_answer(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(
        parse_data={
            "text": "i drive an auto in kanpur, which doctor has the lowest consultation fee",
            "entities": [{"entity": "city", "value": "kanpur"}],
        }
    )
    events = slot_events(await ActionShowSpecialists().run(dispatcher, tracker, domain))
    assert [m.get("response") for m in dispatcher.messages] == [
        "utter_no_specialist_in_city",
        "utter_specialist_cards",
    ]
    assert events["specialist_ids"] == ["mayank-nakipuria"]


async def test_a_town_next_to_a_listed_city_gets_that_citys_doctor(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(
        parse_data={
            "text": "i am in haldwani, any spine doctor near my side? delhi is too far",
            "entities": [
                {"entity": "city", "value": "Haldwani"},
                {"entity": "city", "value": "Delhi"},
            ],
        }
    )
    events = slot_events(await ActionShowSpecialists().run(dispatcher, tracker, domain))
    no_one, cards = dispatcher.messages
    assert (no_one["response"], no_one["place"]) == ("utter_no_specialist_in_city", "Haldwani")
    assert cards["cards_text"].startswith("The nearest listed specialist is in Rudrapur:")
    assert events["specialist_ids"] == ["mayank-nakipuria"]


async def test_no_doctor_under_a_fee_names_the_limit(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(parse_data={"text": "any doctor with fee under 500"})
    assert await ActionShowSpecialists().run(dispatcher, tracker, domain) == []
    assert dispatcher.messages[0]["response"] == "utter_no_specialist_under_fee"
    assert dispatcher.messages[0]["fee_limit"] == "under ₹500"


async def test_follow_up_about_the_doctor_just_shown(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(
        parse_data={"text": "what are his qualifications?"},
        slots={"specialist_ids": ["gopal-achari"]},
    )
    await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    message = dispatcher.messages[0]
    assert message["detail_text"] == "Dr. Gopal Achari: MBBS, MS (GEN SUR), MCH (NEURO SUR)"
    assert "gopal-achari" in message["buttons"][0]["payload"]


async def test_the_other_one_is_the_doctor_shown_before(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    outside_delhi = ["gopal-achari", "mayank-nakipuria"]
    tracker = make_tracker(
        parse_data={"text": "and the other one, how much is his fee"},
        slots={"specialist_ids": ["gopal-achari"]},
        events=[
            {"event": "slot", "name": "specialist_ids", "value": outside_delhi},
            {"event": "slot", "name": "specialist_ids", "value": ["gopal-achari"]},
        ],
    )
    events = await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["detail_text"].startswith("Dr Mayank Nakipuria")
    assert events[0]["value"] == ["mayank-nakipuria"]


async def test_the_first_doctor_you_said_is_the_first_of_the_conversation(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(
        parse_data={"text": "the first doctor you said, what are his qualifications"},
        slots={"specialist_ids": ["mayank-nakipuria"]},
        events=[
            {"event": "slot", "name": "specialist_ids", "value": ["gopal-achari"]},
            {"event": "slot", "name": "specialist_ids", "value": ["mayank-nakipuria"]},
        ],
    )
    events = await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    assert dispatcher.messages[0]["detail_text"].startswith("Dr. Gopal Achari: ")
    assert events[0]["value"] == ["gopal-achari"]


async def test_the_second_one_is_the_second_card_shown(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    # shown most experienced first: not the order of the directory
    tracker = make_tracker(
        parse_data={"text": "the second one, how much is the fee"},
        slots={"specialist_ids": ["sunit-mediratta", "gopal-achari"]},
    )
    events = await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    assert events[0]["value"] == ["gopal-achari"]


async def test_the_same_hospital_lists_the_colleagues_of_the_doctor_in_view(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(
        parse_data={"text": "any other doctor at that same hospital?"},
        slots={"specialist_ids": ["sunit-mediratta"]},
    )
    events = await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    assert events[0]["value"] == ["aditendraditya-singh-bhati", "debnath-dwaipayan"]
    alone = make_tracker(
        parse_data={"text": "anyone else at the same hospital as him"},
        slots={"specialist_ids": ["gopal-achari"]},
    )
    dispatcher.messages.clear()
    assert await ActionSpecialistDetail().run(dispatcher, alone, domain) == []
    assert dispatcher.messages[0]["detail_text"].startswith("No other doctor in the guide's list")
    # two doctors named: where each one is
    both = make_tracker(parse_data={"text": "is dr bhati at the same hospital as dr achari"})
    dispatcher.messages.clear()
    events = await ActionSpecialistDetail().run(dispatcher, both, domain)
    assert set(events[0]["value"]) == {"aditendraditya-singh-bhati", "gopal-achari"}


async def test_fee_of_a_doctor_without_listed_fee_says_not_listed(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(parse_data={"text": "what is the fee of dr achari"})
    await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    assert "Dr. Gopal Achari: fees not listed" in dispatcher.messages[0]["detail_text"]


async def test_a_booking_fee_question_without_a_doctor_is_answered_from_the_cards(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    tracker = make_tracker(parse_data={"text": "is there a booking fee?"})
    await ActionSpecialistDetail().run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["response"] == "utter_specialist_detail"
    answer = message["detail_text"]
    assert 'Dr. Sunit Mediratta, Dr Mayank Nakipuria say "No Booking Fees"' in answer
    assert "Dr. Gopal Achari, Dr Debnath Dwaipayan do not mention a booking fee" in answer


async def test_a_detail_without_a_doctor_in_view_still_asks_which_one(
    make_tracker: TrackerFactory, dispatcher, domain
) -> None:
    await ActionSpecialistDetail().run(dispatcher, make_tracker(parse_data={"text": "him"}), domain)
    assert dispatcher.messages[0]["response"] == "utter_which_specialist"


@pytest.mark.parametrize(
    ("action", "table", "form", "slot"),
    [
        (ActionSubmitBooking, "bookings", "booking_form", "booking_reference"),
        (ActionSubmitCallback, "callbacks", "callback_form", "callback_reference"),
    ],
)
async def test_a_retried_submit_makes_the_request_once(
    make_tracker: TrackerFactory, domain, database: Path, action, table, form, slot
) -> None:
    """The turn that submitted is sent again (its conversation could not be saved): the same
    form run gets the same reference; the next run of the form makes a new request (another
    number: the same details again would be the same open request, see
    tests/integration/test_spine_db.py)."""
    first_run = [{"event": "active_loop", "name": form, "timestamp": 1765000000.25}]
    second_run = [*first_run, {"event": "active_loop", "name": None, "timestamp": 1765000100.5}]
    second_run.append({"event": "active_loop", "name": form, "timestamp": 1765000200.75})
    references = []
    for events in (first_run, first_run, second_run):
        slots = dict(FILLED, mobile="+919812345678") if events is second_run else dict(FILLED)
        tracker = make_tracker(slots=slots, sender_id="conv-retry", events=events)
        got = slot_events(await action().run(CollectingDispatcher(), tracker, domain))
        references.append(got[slot])
    assert references[0] == references[1] != references[2]
    with sqlite3.connect(database) as conn:
        count = conn.execute(
            f"SELECT count(*) FROM {table} WHERE conversation_id = 'conv-retry'"  # noqa: S608
        ).fetchone()[0]
    assert count == 2
