"""WhatsApp: the Meta Cloud API connector inside a real Rasa server with the trained model, replying
to a fake Graph API on loopback; the Twilio option's signature check. Pure helpers first."""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from rasa.shared.core.events import BotUttered, UserUttered
from twilio.request_validator import RequestValidator

from channels.shared import TWILIO_MAX_BODY, WEBCHAT_MAX_BODY, WHATSAPP_MAX_BODY
from channels.twilio_whatsapp import last_choices, numbered, signature_valid, twilio_signature
from channels.whatsapp import (
    Incoming,
    MalformedPayload,
    WhatsAppSettings,
    interactive_for,
    parse_delivery,
    signature_ok,
    split_text,
    stored_replies,
    whatsapp_markdown,
)
from devstack.servers import Stack, free_port, post_sized, texts, webchat
from spine_db import migrate
from spine_db.whatsapp_queue import WhatsAppQueue
from tests.support.databases import plain
from tests.support.fake_graph import FakeGraph, delivery, text_message, texts_of

SECRET = "app-secret-for-tests-7f3k"
VERIFY = "verify-token-for-tests-2q9z"
TOKEN = "EAAG-access-token-for-tests-x81"


def list_reply(sender: str, message_id: str, row_id: str) -> Dict[str, Any]:
    return {
        "from": sender,
        "id": message_id,
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": row_id, "title": "x"}},
    }


# ---- pure helpers -----------------------------------------------------------------------------


def test_signature_check() -> None:
    body = b'{"entry": []}'
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature_ok(SECRET, body, good)
    assert not signature_ok(SECRET, body + b" ", good)
    assert not signature_ok("other", body, good)
    assert not signature_ok(SECRET, body, None)
    assert not signature_ok(SECRET, body, good.replace("sha256=", "sha1="))


def test_parse_text_buttons_lists_statuses_and_other_types() -> None:
    payload = delivery(
        text_message("91981", "m1", "hello"),
        {
            "from": "91981",
            "id": "m2",
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": "Morning", "title": "Morning"},
            },
        },
        list_reply("91981", "m3", '/book_appointment{"doctor_id":"sunit-mediratta"}'),
        {"from": "91981", "id": "m4", "type": "image", "image": {"id": "img"}},
        statuses=[{"id": "wamid.out", "status": "delivered"}],
    )
    assert parse_delivery(payload) == [
        Incoming("m1", "91981", "hello"),
        Incoming("m2", "91981", "Morning"),
        Incoming("m3", "91981", '/book_appointment{"doctor_id":"sunit-mediratta"}'),
        Incoming("m4", "91981", None),
    ]
    assert parse_delivery(delivery(statuses=[{"id": "x", "status": "read"}])) == []


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"entry": "x"},
        {"entry": [{"changes": [{}]}]},
        {"entry": [{}]},
        {"entry": [{"changes": [{"value": {"messages": "x"}}]}]},
    ],
)
def test_malformed_payloads(payload: Any) -> None:
    with pytest.raises(MalformedPayload):
        parse_delivery(payload)


def test_an_unreadable_message_is_skipped_and_the_others_kept() -> None:
    payload = delivery(
        {"id": "m0", "type": "text", "text": {"body": "no sender"}},
        {"from": "1", "id": "m1", "type": "text", "text": {"body": "  "}},
        {"from": "1", "id": "m2", "type": "text", "text": "not an object"},
        {"from": "1", "id": "m3", "type": "interactive", "interactive": "x"},
        text_message("1", "m4", "hello"),
    )
    assert parse_delivery(payload) == [Incoming("m4", "1", "hello")]


def test_markdown_and_splitting() -> None:
    assert whatsapp_markdown("**Fees:** ₹500 and __this__") == "*Fees:* ₹500 and *this*"
    long = ("word " * 2000).strip()  # 9,999 characters
    chunks = split_text(long)
    assert all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks) == long


def test_buttons_become_reply_buttons_or_a_list() -> None:
    three = [{"title": f"Option number {i} is long", "payload": f"p{i}"} for i in range(3)]
    buttons = interactive_for("Pick one", three)
    assert buttons["type"] == "button"
    assert [b["reply"]["id"] for b in buttons["action"]["buttons"]] == ["p0", "p1", "p2"]
    assert all(len(b["reply"]["title"]) <= 20 for b in buttons["action"]["buttons"])
    twelve = [
        {"title": "A very long doctor name here", "payload": f"p{i}", "description": "d" * 100}
        for i in range(12)
    ]
    listed = interactive_for("x" * 2000, twelve)
    rows = listed["action"]["sections"][0]["rows"]
    assert listed["type"] == "list"
    assert len(rows) == 10
    assert all(len(r["title"]) <= 24 and len(r["description"]) <= 72 for r in rows)
    assert len(listed["body"]["text"]) <= 1024


def test_settings_never_print_secrets() -> None:
    settings = WhatsAppSettings(VERIFY, SECRET, TOKEN, "12345")
    assert TOKEN not in repr(settings)
    assert SECRET not in repr(settings)


def test_twilio_signature_known_vector() -> None:
    # Twilio's documented example (auth token 12345).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature("12345", url, params) == RequestValidator("12345").compute_signature(
        url, params
    )
    assert signature_valid("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not signature_valid(
        "12345", url, {**params, "Digits": "9"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )
    assert not signature_valid("12345", url, params, None)


def test_twilio_buttons_are_numbered() -> None:
    body, payloads = numbered(
        "Which time?",
        [{"title": "Morning", "payload": "Morning"}, {"title": "Evening", "payload": "Evening"}],
    )
    assert body == "Which time?\n\n1. Morning\n2. Evening\n\nReply with a number."
    assert payloads == ["Morning", "Evening"]


def test_twilio_numbers_are_read_back_from_the_conversation() -> None:
    buttons = [{"title": "Online", "payload": "online"}, {"title": "In person", "payload": "visit"}]
    asked = [
        UserUttered("book dr achari"),
        BotUttered("Online or in person?", {"buttons": buttons}),
    ]
    assert last_choices(asked) == ["online", "visit"]
    # a later message without buttons in the same turn keeps them; a user message ends them
    assert last_choices([*asked, BotUttered("It is free.")]) == ["online", "visit"]
    assert last_choices([*asked, UserUttered("online")]) == []
    assert last_choices([]) == []


def test_replies_already_stored_for_a_message_are_found() -> None:
    events = [
        UserUttered("hi", message_id="wamid.1"),
        BotUttered("Hello!"),
        UserUttered("what is miss", message_id="wamid.2"),
        BotUttered("MISS is ...", {"buttons": [{"title": "More", "payload": "/more"}]}),
        BotUttered("Anything else?"),
        UserUttered("thanks", message_id="wamid.3"),
    ]
    assert stored_replies(events, "wamid.2") == [
        {"text": "MISS is ...", "buttons": [{"title": "More", "payload": "/more"}]},
        {"text": "Anything else?"},
    ]
    assert stored_replies(events, "wamid.3") == []  # stored, nothing answered yet
    assert stored_replies(events, "wamid.9") is None  # never stored: run it


def test_a_twilio_message_sid_is_answered_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spine.db'}"
    migrate.upgrade(url)
    queue = WhatsAppQueue(url)
    assert queue.seen_once("SM0001", "whatsapp:+919000000001") is True
    assert queue.seen_once("SM0001", "whatsapp:+919000000001") is False
    assert queue.seen_once("SM0002", "whatsapp:+919000000001") is True
    assert queue.claim_delivery(lease=5) is None  # answered at once: never queued


# ---- the connector in a real Rasa server --------------------------------------------------------


@pytest.fixture(scope="module")
def stack(
    model_path: Path, graph: FakeGraph, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = {
        "WHATSAPP_VERIFY_TOKEN": VERIFY,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
        "WHATSAPP_GRAPH_URL": graph.url,
        "TWILIO_AUTH_TOKEN": "twilio-token-for-tests",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_NUMBER": "whatsapp:+10000000000",
    }
    running = Stack(tmp_path_factory.mktemp("whatsapp"), free_port(), free_port(), extra_env=env)
    running.start()
    yield running
    running.stop()


def post(
    stack: Stack, payload: Any, secret: str | None = SECRET, raw: bytes | None = None
) -> Tuple[int, str]:
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = (
            "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        )
    request = urllib.request.Request(
        f"{stack.base_url}/webhooks/whatsapp/webhook", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def get(url: str) -> Tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_verification_handshake(stack: Stack) -> None:
    base = f"{stack.base_url}/webhooks/whatsapp/webhook"
    assert get(f"{base}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444") == (
        200,
        "1158201444",
    )
    assert get(f"{base}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")[0] == 403
    assert get(f"{base}?hub.mode=unsubscribe&hub.verify_token={VERIFY}&hub.challenge=1")[0] == 403


def test_signature_missing_or_wrong_is_refused_and_nothing_is_processed(
    stack: Stack, graph: FakeGraph
) -> None:
    payload = delivery(text_message("919000000001", "sig-1", "what is miss"))
    assert post(stack, payload, secret=None)[0] == 401
    assert post(stack, payload, secret="not-the-secret")[0] == 403
    time.sleep(1.5)
    assert graph.sent_to("919000000001") == []


def test_a_question_is_answered_through_the_graph_api(stack: Stack, graph: FakeGraph) -> None:
    status, _ = post(
        stack,
        delivery(
            text_message("919000000002", "q-1", "how soon can I return to work after a discectomy?")
        ),
    )
    assert status == 200
    sent = graph.wait_for("919000000002", lambda s: "2-4 weeks" in texts_of(s))
    assert graph.requests[-1]["path"] == "/v19.0/1234567890/messages"
    assert graph.requests[-1]["auth"] == f"Bearer {TOKEN}"
    assert sent[0]["messaging_product"] == "whatsapp"
    # the answer's related topics come as reply buttons carrying the topic payloads
    buttons = [m for m in sent if m.get("type") == "interactive"]
    assert buttons
    assert buttons[-1]["interactive"]["type"] == "button"
    assert buttons[-1]["interactive"]["action"]["buttons"][0]["reply"]["id"].startswith("topic:")


def test_specialists_as_card_text_and_a_list_then_booking_from_the_list(
    stack: Stack, graph: FakeGraph
) -> None:
    number = "919000000003"
    post(stack, delivery(text_message(number, "d-1", "neurosurgeons in Delhi")))
    sent = graph.wait_for(
        number, lambda s: any(m.get("interactive", {}).get("type") == "list" for m in s)
    )
    cards = [
        m["text"]["body"]
        for m in sent
        if m.get("type") == "text" and "Neurosurgeon" in m["text"]["body"]
    ]
    assert len(cards) == 3  # one readable card per doctor
    assert cards[1].startswith("*Dr. Sunit Mediratta*, Neurosurgeon")
    assert "₹1,000 and ₹1,500 (what each covers is not listed) · No Booking Fees" in cards[0]
    lists = [m["interactive"] for m in sent if m.get("interactive", {}).get("type") == "list"]
    rows = lists[-1]["action"]["sections"][0]["rows"]
    assert len(rows) == 3
    assert all(len(r["title"]) <= 24 for r in rows)
    mediratta = next(r for r in rows if "Mediratta" in r["title"])
    count = len(sent)
    post(stack, delivery(list_reply(number, "d-2", mediratta["id"])))
    later = graph.wait_for(number, lambda s: "hospital visit" in texts_of(s[count:]))
    assert "online consultation or a hospital visit" in texts_of(later[count:])


def test_duplicate_delivery_is_processed_once(stack: Stack, graph: FakeGraph) -> None:
    number = "919000000004"
    payload = delivery(text_message(number, "dup-1", "how big is the incision"))
    assert post(stack, payload)[0] == 200
    assert post(stack, payload)[0] == 200  # Meta re-delivers
    graph.wait_for(number, lambda s: "less than one inch" in texts_of(s))
    time.sleep(1.5)
    assert texts_of(graph.sent_to(number)).count("less than one inch") == 1
    with sqlite3.connect(stack.db_path) as conn:
        users = conn.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ? AND type_name = 'user'", (number,)
        ).fetchone()[0]
    assert users == 1


def test_status_callbacks_are_ignored_and_other_types_get_a_polite_reply(
    stack: Stack, graph: FakeGraph
) -> None:
    number = "919000000005"
    assert (
        post(
            stack,
            delivery(statuses=[{"id": "wamid.out", "status": "read", "recipient_id": number}]),
        )[0]
        == 200
    )
    time.sleep(1)
    assert graph.sent_to(number) == []
    post(stack, delivery({"from": number, "id": "img-1", "type": "image", "image": {"id": "1"}}))
    sent = graph.wait_for(number, lambda s: bool(s))
    assert "only read text" in texts_of(sent)


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"entry": [{"changes": "x"}]}'])
def test_malformed_payloads_get_400(stack: Stack, raw: bytes) -> None:
    assert post(stack, None, raw=raw)[0] == 400


def test_graph_api_errors_are_retried_and_logged(stack: Stack, graph: FakeGraph) -> None:
    number = "919000000006"
    graph.fail_next = 4  # 1 + 2 + 4 + 8 s of backoff: more than the old three quick tries
    post(stack, delivery(text_message(number, "retry-1", "will i need physio after miss")))
    graph.wait_for(number, lambda s: "Physical therapy" in texts_of(s), timeout=40)
    assert graph.failed >= 4
    log = stack.log_path.read_text(errors="replace")
    assert "failed: HTTP 500" in log
    assert queue_rows(stack, "SELECT status FROM whatsapp_outbox WHERE recipient = ?", number)
    assert {
        row[0]
        for row in queue_rows(
            stack, "SELECT status FROM whatsapp_outbox WHERE recipient = ?", number
        )
    } == {"sent"}


def test_rate_limits_are_honoured(stack: Stack, graph: FakeGraph) -> None:
    number = "919000000008"
    graph.retry_after = 3
    graph.throttle_next = 1
    post(stack, delivery(text_message(number, "throttle-1", "what is miss")))
    sent = graph.wait_for(number, lambda s: len(s) > 0, timeout=30)
    assert sent
    first_try = graph.failed_at[-1]
    delivered = min(r["at"] for r in graph.requests if r["body"].get("to") == number)
    assert delivered - first_try >= 3, delivered - first_try


def test_a_delivery_left_by_a_dead_replica_is_answered(stack: Stack, graph: FakeGraph) -> None:
    """Stored and acknowledged, claimed by a replica that died before answering: another
    worker takes it over when the claim runs out."""
    number = "919000000009"
    queue_rows(
        stack,
        "INSERT INTO whatsapp_inbox (message_id, sender, text, received_at, status, attempts,"
        " claimed_until) VALUES (?, ?, ?, ?, 'pending', 1, ?)",
        "orphan-1",
        number,
        "how big is the incision in MISS?",
        _utc(0),
        _utc(-5),  # the dead replica's claim ran out five seconds ago
    )
    graph.wait_for(number, lambda s: "less than one inch" in texts_of(s), timeout=20)
    [(status,)] = queue_rows(
        stack, "SELECT status FROM whatsapp_inbox WHERE message_id = ?", "orphan-1"
    )
    assert status == "done"


def test_a_reply_past_the_24_hour_window_is_failed_and_listed_for_staff(stack: Stack) -> None:
    number = "919000000010"
    queue_rows(
        stack,
        "INSERT INTO whatsapp_outbox (recipient, body, status, attempts, next_attempt_at,"
        " window_closes_at, created_at) VALUES (?, ?, 'pending', 7, ?, ?, ?)",
        number,
        json.dumps({"type": "text", "text": {"body": "late"}}),
        _utc(-60),
        _utc(-1),
        _utc(-86400),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = queue_rows(stack, "SELECT status FROM whatsapp_outbox WHERE recipient = ?", number)
        if rows == [("failed",)]:
            break
        time.sleep(0.2)
    assert rows == [("failed",)]
    undelivered = WhatsAppQueue(stack.db_url).undelivered()
    assert any(r["recipient"] == number and "window" in r["last_error"] for r in undelivered)


def queue_rows(stack: Stack, sql: str, *params: Any) -> List[Tuple[Any, ...]]:
    with sqlite3.connect(stack.db_path) as conn:
        return list(conn.execute(sql, params).fetchall())


def _utc(seconds_from_now: float) -> str:
    """A time as SQLAlchemy stores it in SQLite (UTC, no zone)."""
    moment = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_twilio_webhook_checks_the_signature(stack: Stack) -> None:
    url = f"{stack.base_url}/webhooks/twilio_whatsapp/webhook"
    params = {"From": "whatsapp:+919000000007", "Body": "hi", "To": "whatsapp:+10000000000"}
    data = urllib.parse.urlencode(params).encode()
    for signature, expected in [(None, 403), ("bm90LXRoZS1zaWduYXR1cmU=", 403)]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code
        assert status == expected


def test_secrets_never_appear_in_the_logs(stack: Stack) -> None:
    log = stack.log_path.read_text(errors="replace")
    assert log  # the servers did log
    for secret in (SECRET, VERIFY, TOKEN, "twilio-token-for-tests"):
        assert secret not in log


@pytest.mark.parametrize(
    ("path", "limit", "content_type"),
    [
        ("/webhooks/webchat/webhook", WEBCHAT_MAX_BODY, "application/json"),
        ("/webhooks/whatsapp/webhook", WHATSAPP_MAX_BODY, "application/json"),
        ("/webhooks/twilio_whatsapp/webhook", TWILIO_MAX_BODY, "application/x-www-form-urlencoded"),
    ],
)
def test_oversized_bodies_are_refused_before_they_are_read(
    stack: Stack, graph: FakeGraph, path: str, limit: int, content_type: str
) -> None:
    url = stack.base_url + path
    # Declared 20 MB, nothing sent: refused from the headers.
    status, took = post_sized(url, 20 * 1024 * 1024, content_type=content_type)
    assert (status, took < 2) == (413, True)
    # Sent in full, one byte over the limit.
    status, _ = post_sized(url, limit + 1, b"x" * (limit + 1), content_type=content_type)
    assert status == 413
    # A body at the limit is read (and refused for what it is, not for its size).
    status, _ = post_sized(url, limit, b"x" * limit, content_type=content_type)
    assert status in (400, 401, 403), status
    # The server goes on answering.
    replies, _ = webchat(stack, uuid.uuid4().hex, "how big is the incision in MISS?")
    assert "less than one inch" in texts(replies)


def test_a_message_whose_turn_was_stored_is_not_run_twice(stack: Stack, graph: FakeGraph) -> None:
    """The replica stored the turn, then died before the outbox commit: when the claim runs out,
    the stored replies are sent and the message is not run again."""
    number = "919000000011"
    post(stack, delivery(text_message(number, "twice-1", "how big is the incision in MISS?")))
    graph.wait_for(number, lambda s: "less than one inch" in texts_of(s))
    queue_rows(stack, "DELETE FROM whatsapp_outbox WHERE recipient = ?", number)
    queue_rows(
        stack,
        "UPDATE whatsapp_inbox SET status = 'pending', attempts = 1, done_at = NULL,"
        " claimed_until = ? WHERE message_id = ?",
        _utc(-1),
        "twice-1",
    )
    graph.wait_for(number, lambda s: texts_of(s).count("less than one inch") == 2, timeout=20)
    with sqlite3.connect(stack.db_path) as conn:
        users = conn.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ? AND type_name = 'user'", (number,)
        ).fetchone()[0]
    assert users == 1


def says(wanted: str, sent: List[Dict[str, Any]]) -> bool:
    return wanted in texts_of(sent)


def test_delete_my_data_in_hinglish_erases_the_number_everywhere(
    stack: Stack, graph: FakeGraph
) -> None:
    """A WhatsApp conversation's id is the patient's number: after "mera data delete karo" and
    "haan", no row of the database holds it (events, inbox, outbox, console summaries)."""
    number = "919000000077"
    steps = [
        ("what is miss", "umbrella term"),
        ("mera data delete karo", "cannot be undone"),
        ("haan", "I deleted this conversation"),
    ]
    for n, (text, wanted) in enumerate(steps):
        assert post(stack, delivery(text_message(number, f"erase-{n}", text)))[0] == 200
        graph.wait_for(number, functools.partial(says, wanted))
    time.sleep(1.0)  # the receipt's delivery is marked done after it was sent
    with sqlite3.connect(stack.db_path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        leftovers = {}
        for table in tables:
            rows = [  # encrypted cells decrypted: the data must be gone, not only unreadable
                tuple(map(plain, r))
                for r in conn.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608
            ]
            found = [r for r in rows if number in repr(r) and "I deleted this" not in repr(r)]
            if found:
                leftovers[table] = found
    # only the receipt's own delivery may still name the number (it is how it reaches the
    # patient); retention removes handled deliveries after RETENTION_DELIVERY_DAYS
    assert set(leftovers) <= {"whatsapp_outbox"}, leftovers
