"""End to end over the REST webhook: specialist cards, booking into the database, unhappy paths,
call-back. The real Procfile (action server + Rasa server); SQLite, and PostgreSQL when
TEST_DATABASE_URL is set (CI)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from console.accounts import Accounts
from console.indexer import key_for_sender
from devstack.servers import Stack, free_port, texts
from tests.support.console_client import PASSWORD, Client
from tests.support.databases import BACKENDS, database_url, plain

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp(f"booking-{request.param}")
    with database_url(request.param, workdir) as url:
        running = Stack(workdir, free_port(), free_port(), database_url=url).start()
        try:
            yield running
        finally:
            running.stop()
            sa.create_engine(url).dispose()


def rows(stack: Stack, sql: str, **params: Any) -> List[Dict[str, Any]]:
    """Rows as stored, names and numbers decrypted (they are encrypted at rest)."""
    engine = sa.create_engine(stack.db_url)
    try:
        with engine.connect() as conn:
            return [
                {k: plain(v) for k, v in r._mapping.items()}
                for r in conn.execute(sa.text(sql), params)
            ]
    finally:
        engine.dispose()


def cards(replies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    for reply in replies:
        custom = reply.get("custom")
        if isinstance(custom, dict) and custom.get("type") == "specialist_cards":
            return custom["cards"]
    return []


@pytest.fixture(autouse=True)
def no_unfilled_placeholders(stack: Stack) -> Iterator[None]:
    """Every reply a test sees must be fully filled in (no "{max_days}" left in a text)."""
    original = stack.say

    def checked(sender: str, message: str) -> List[Dict[str, Any]]:
        replies = original(sender, message)
        for reply in replies:
            assert not re.search(r"\{\w+\}", reply.get("text", "")), reply
        return replies

    stack.say = checked  # type: ignore[method-assign]
    yield
    stack.say = original  # type: ignore[method-assign]


def chat(stack: Stack, sender: str, *messages: str) -> List[Dict[str, Any]]:
    replies: List[Dict[str, Any]] = []
    for message in messages:
        replies = stack.say(sender, message)
    return replies


def test_book_with_a_doctor_from_the_cards_and_find_it_in_the_database(stack: Stack) -> None:
    sender = f"book-{stack.rasa_port}"
    replies = stack.say(sender, "show me neurosurgeons in Delhi")
    shown = cards(replies)
    assert [c["name"] for c in shown] == [
        "Dr. Aditendraditya Singh Bhati",
        "Dr. Sunit Mediratta",
        "Dr Debnath Dwaipayan",
    ]
    assert "Dr. Sunit Mediratta" in texts(replies)  # the readable version, same response
    mediratta = next(c for c in shown if c["id"] == "sunit-mediratta")
    online = next(b for b in mediratta["buttons"] if b["title"] == "Book online consultation")

    replies = stack.say(sender, online["payload"])
    assert "Which date would you prefer?" in texts(replies)
    assert "within the next 60 days" in texts(replies)
    assert "preferred time" not in texts(replies).lower()
    assert "time of day" in texts(stack.say(sender, "tomorrow"))
    assert "full name" in texts(stack.say(sender, "morning"))
    assert "mobile number" in texts(stack.say(sender, "Asha Verma"))
    assert "contact you" in texts(stack.say(sender, "+91 98765-43210"))
    summary = texts(stack.say(sender, "yes"))
    tomorrow = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)).date()
    assert "Dr. Sunit Mediratta" in summary
    assert "Online consultation" in summary
    assert f"{tomorrow.day} {tomorrow:%B %Y}" in summary
    assert "+91 98XXXXXX10" in summary

    done = texts(stack.say(sender, "yes"))
    reference = re.search(r"BK-[A-Z2-9]{6}", done)
    assert reference, done
    assert "There are no booking fees." in done  # the page says "No Booking Fees" for him
    [booking] = rows(stack, "SELECT * FROM bookings WHERE reference = :r", r=reference.group(0))
    assert booking["conversation_id"] == sender
    assert booking["doctor_id"] == "sunit-mediratta"
    assert booking["consult_mode"] == "online"
    assert str(booking["preferred_date"]) == str(tomorrow)
    assert booking["mobile"] == "+919876543210"
    assert booking["contact_consent"] in (True, 1)
    # The conversation is in the same database, next to the booking.
    events = rows(stack, "SELECT data FROM events WHERE sender_id = :s", s=sender)
    slots = [json.loads(e["data"]) for e in events if '"event": "slot"' in e["data"]]
    assert any(
        slot["name"] == "booking_reference" and slot["value"] == reference.group(0)
        for slot in slots
    )


def test_plain_messages_are_not_flagged(stack: Stack) -> None:
    sender = f"plain-{stack.rasa_port}"
    stack.say(sender, "how long is the recovery after a discectomy")
    flagged = rows(
        stack,
        "SELECT data FROM events WHERE sender_id = :s AND type_name = 'slot'",
        s=sender,
    )
    assert not [r for r in flagged if "safety_flag" in r["data"] or "red_flags" in r["data"]]


def test_city_without_a_listed_specialist(stack: Stack) -> None:
    text = texts(stack.say(f"chennai-{stack.rasa_port}", "any spine surgeon in Chennai?"))
    assert "I don't have a listed specialist in Chennai" in text
    assert "Delhi, Kolkata, Rudrapur" in text
    assert "online consultation" in text


def test_follow_up_refers_to_the_doctor_just_shown(stack: Stack) -> None:
    sender = f"follow-{stack.rasa_port}"
    assert len(cards(stack.say(sender, "doctor near Rudrapur"))) == 1
    text = texts(stack.say(sender, "what are his qualifications?"))
    assert text == "Dr Mayank Nakipuria: MBBS, DNB Neurosurgery"
    replies = stack.say(sender, "book with him")
    assert "online consultation or a hospital visit" in texts(replies)


def test_question_mid_form_then_resume_change_and_cancel(stack: Stack) -> None:
    sender = f"unhappy-{stack.rasa_port}"
    assert "online consultation or a hospital visit" in texts(
        stack.say(sender, "i want to book an appointment with dr bhati")
    )
    replies = stack.say(sender, "how big is the incision in keyhole surgery?")
    assert "less than one inch" in texts(replies)  # answered from the guide ...
    assert "online consultation or a hospital visit" in texts(replies)  # ... then asked again
    assert "Which date" in texts(stack.say(sender, "hospital visit"))
    assert "already passed" in texts(stack.say(sender, "yesterday"))
    assert "time of day" in texts(stack.say(sender, "next monday"))
    replies = stack.say(sender, "change the date")
    assert "change the date" in texts(replies)
    assert "Which date" in texts(replies)
    # A day and month the way patients type them, ten days from now (a fixed "5 dec" was
    # today's date on 5 December and was read as next year's).
    ahead = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=10)).date()
    assert "time of day" in texts(stack.say(sender, f"{ahead.day} {ahead:%b}".lower()))
    text = texts(stack.say(sender, "never mind"))
    assert "Nothing was sent" in text
    assert not rows(stack, "SELECT id FROM bookings WHERE conversation_id = :s", s=sender)


def test_possibly_urgent_message_mid_form_gets_the_urgent_help_numbers_not_taken_as_answer(
    stack: Stack,
) -> None:
    """The classifiers read this as crisis, too unsure to act on (no red-flag pattern): inside a
    form it must not become the patient's name; the clarifying question with the urgent-help
    numbers comes, then the form's question again."""
    sender = f"unsure-{stack.rasa_port}"
    chat(
        stack,
        sender,
        '/book_appointment{"doctor_id":"gopal-achari","consult_mode":"online"}',
        "tomorrow",
    )
    assert "full name" in texts(stack.say(sender, "evening"))
    text = texts(stack.say(sender, "explain everything from start till end"))
    assert "Tele-MANAS on 14416" in text
    assert "112" in text
    assert "full name" in text  # asked again: the message was not taken as the name
    assert "mobile number" in texts(stack.say(sender, "Asha Verma"))


def test_invalid_mobile_is_explained_then_a_call_back_is_offered_and_stored(stack: Stack) -> None:
    sender = f"callback-{stack.rasa_port}"
    chat(
        stack,
        sender,
        '/book_appointment{"doctor_id":"gopal-achari","consult_mode":"online"}',
        "tomorrow",
        "evening",
    )
    assert "mobile" in texts(stack.say(sender, "Ravi Kumar"))
    assert "start with 6, 7, 8 or 9" in texts(stack.say(sender, "5876543210"))
    assert "10 digits" in texts(stack.say(sender, "98765"))
    replies = stack.say(sender, "i'd rather not say")
    assert "call you instead" in texts(replies)
    offer = next(b for r in replies for b in r.get("buttons") or [] if "Call me" in b["title"])
    replies = stack.say(sender, offer["payload"])
    assert "mobile number" in texts(replies)  # the name is reused, the number is asked again
    assert "contact you" in texts(stack.say(sender, "98765 43210"))
    done = texts(stack.say(sender, "yes"))
    reference = re.search(r"CB-[A-Z2-9]{6}", done)
    assert reference, done
    assert "Ravi Kumar" in done
    [callback] = rows(stack, "SELECT * FROM callbacks WHERE reference = :r", r=reference.group(0))
    assert callback["conversation_id"] == sender
    assert callback["mobile"] == "+919876543210"
    assert callback["reason"] == "offered after repeated invalid answers"


def test_talk_to_a_person_reuses_known_details(stack: Stack) -> None:
    sender = f"person-{stack.rasa_port}"
    assert "name" in texts(stack.say(sender, "i want to talk to a person"))
    assert "mobile" in texts(stack.say(sender, "Meera Nair"))
    assert "contact you" in texts(stack.say(sender, "9123456789"))
    done = texts(stack.say(sender, "yes"))
    assert re.search(r"CB-[A-Z2-9]{6}", done)
    assert "(IST)" in done
    flags = rows(
        stack,
        "SELECT data FROM events WHERE sender_id = :s AND type_name = 'slot'",
        s=sender,
    )
    assert any('"callback_requested"' in r["data"] and "true" in r["data"] for r in flags)


def test_the_staff_console_reads_the_conversations_this_server_stored(stack: Stack) -> None:
    """The console on the real thing: a Rasa server writes the conversations (SQLite / PostgreSQL),
    the website's console lists, filters and shows them, with the booking in the queue."""
    urgent, booker = f"urgent-{stack.rasa_port}", f"console-{stack.rasa_port}"
    assert "112" in texts(stack.say(urgent, "I can't control my bladder since this morning"))
    stack.say(booker, "show me neurosurgeons in Delhi")
    done = texts(
        chat(
            stack,
            booker,
            '/book_appointment{"doctor_id":"sunit-mediratta","consult_mode":"online"}',
            "tomorrow",
            "evening",
            "Kavya Rao",
            "98765 43210",
            "yes",
            "yes",
        )
    )
    reference = re.search(r"BK-[A-Z2-9]{6}", done)
    assert reference, done
    engine = sa.create_engine(stack.db_url)
    try:
        Accounts(engine).add("reviewer", PASSWORD, "agent")
    finally:
        engine.dispose()
    client = Client(stack.web_url)
    assert client.login("reviewer")[0] == 302

    # agents see each conversation by its key, never by its id (the id lets one write as the
    # patient)
    _, _, listing = client.request("GET", "/console/conversations?flag=emergency")
    assert urgent not in listing
    emergency = listing
    _, _, listing = client.request("GET", "/console/conversations?flag=booking&channel=rest")
    assert booker not in listing
    engine = sa.create_engine(stack.db_url)
    try:
        keys = {s: str(key_for_sender(engine, s)) for s in (urgent, booker)}
    finally:
        engine.dispose()
    assert keys[urgent] in emergency
    assert keys[booker] not in emergency
    assert keys[booker] in listing
    assert keys[urgent] not in listing

    status, _, page = client.request("GET", f"/console/conversations/{keys[booker]}")
    assert status == 200
    assert "show me neurosurgeons in Delhi" in page
    assert "find_specialist (" in page  # intent and confidence of the user message
    assert "action_show_specialists" in page
    assert f"Booking {reference.group(0)}" in page
    assert "Kavya Rao" not in page  # masked for an agent
    assert "98765" not in page

    _, _, queue = client.request("GET", "/console/queues/bookings")
    assert reference.group(0) in queue
    _, _, metrics = client.request("GET", "/console/metrics?days=7")
    assert re.search(r'id="m-emergencies">[1-9]', metrics)
    assert re.search(r'id="m-bookings">[1-9]', metrics)
    assert re.search(r'id="m-conversion">\d+%', metrics)


def everything_stored(stack: Stack) -> str:
    """Every row of every table of the database, as one string (the erasure scan), encrypted
    cells decrypted: an erasure must remove the data, not only its readable form."""
    engine = sa.create_engine(stack.db_url)
    try:
        dump = []
        with engine.connect() as conn:
            for table in sa.inspect(engine).get_table_names():
                target = sa.table(table)
                dump += [
                    repr(tuple(map(plain, r)))
                    for r in conn.execute(sa.select(sa.text("*")).select_from(target))
                ]
        return "\n".join(dump)
    finally:
        engine.dispose()


def test_a_patient_sees_then_erases_their_data_and_nothing_of_them_is_left(stack: Stack) -> None:
    sender = f"erase-{stack.rasa_port}"
    replies = stack.say(sender, "please call me back")
    assert "we keep your name, mobile number and this chat" in texts(replies)  # the notice first
    assert "delete my data" in texts(replies)
    assert "mobile number" in texts(stack.say(sender, "Ravindra Kulkarni"))
    assert "contact you" in texts(stack.say(sender, "93456 78120"))
    done = texts(stack.say(sender, "yes"))
    reference = re.search(r"CB-[A-Z2-9]{6}", done)
    assert reference, done
    [callback] = rows(stack, "SELECT * FROM callbacks WHERE reference = :r", r=reference.group(0))
    assert callback["privacy_notice"]  # consent recorded with the notice's version
    assert callback["consented_at"] is not None

    summary = texts(stack.say(sender, "what do you know about me"))
    assert reference.group(0) in summary
    assert "Kulkarni" not in summary
    assert "78120" not in summary

    assert "cannot be undone" in texts(stack.say(sender, "delete my data"))
    receipt = stack.say(sender, "yes")
    assert "I deleted this conversation" in texts(receipt)
    assert any((r.get("custom") or {}).get("type") == "erased" for r in receipt)
    stored = everything_stored(stack)
    for secret in (sender, "Ravindra", "Kulkarni", "9345678120", "93456 78120"):
        assert secret not in stored, secret
    # the request is kept for the hospital's records, without the patient; the erasure audited
    [kept] = rows(stack, "SELECT * FROM callbacks WHERE reference = :r", r=reference.group(0))
    assert kept["patient_name"] == "(erased)"
    assert rows(stack, "SELECT action FROM audit_log WHERE action = 'erasure'")
    # writing again starts a new conversation
    assert texts(stack.say(sender, "hello"))
    assert (
        len(
            rows(
                stack, "SELECT id FROM events WHERE sender_id = :s AND type_name = 'user'", s=sender
            )
        )
        == 1
    )
