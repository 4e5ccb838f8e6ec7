"""End to end: the real action server + Rasa server (Procfile under honcho), chatting over REST."""
from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from devstack.servers import UNCLEAR_RED_FLAG, Stack, free_port, http, texts

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("stack"), free_port(), free_port()).start()
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("question", "facts"),
    [
        ("how soon can I return to work after a discectomy?", ["2-4 weeks"]),
        ("how long does a spinal fusion take to heal", ["3-6 months"]),
        ("how big is the incision in keyhole spine surgery", ["less than one inch", "5-6 inches"]),
        ("what's the success rate of minimally invasive fusion", ["80%", "95%"]),
        ("how many days will I be in hospital", ["1-2 days"]),
        ("when can I walk after the operation", ["within hours"]),
        ("will i need physio after MISS", ["Physical therapy"]),
        ("who wrote this article", ["Dr. Dhankecha Mayank Dineshbhai", "18th Sep, 2025"]),
    ],
)
def test_answers_carry_the_source_facts(stack: Stack, question: str, facts: list) -> None:
    replies = stack.say("facts-user", question)
    for fact in facts:
        assert fact in texts(replies)
    assert replies[-1]["buttons"], "answers end with follow-up quick replies"
    assert all(b["payload"].startswith("topic:") for b in replies[-1]["buttons"])


def test_quick_reply_payload_opens_that_topic(stack: Stack) -> None:
    replies = stack.say("button-user", "topic:faq/recovery_time")
    assert "2-4 weeks" in texts(replies)


def test_greeting_states_scope_and_disclaimer(stack: Stack) -> None:
    text = texts(stack.say("greet-user", "hello"))
    assert "minimally invasive spine surgery" in text
    assert "not medical advice" in text


@pytest.mark.parametrize("message", ["what's the weather in Delhi tomorrow", "tell me a joke"])
def test_out_of_scope_gets_the_fallback_not_an_article(stack: Stack, message: str) -> None:
    replies = stack.say("oos-user", message)
    text = texts(replies)
    assert "I can only help with questions about minimally invasive spine surgery" in text
    assert "topic:" in str(replies[-1].get("buttons"))


def test_unclear_spine_message_is_clarified_with_candidate_topics(stack: Stack) -> None:
    replies = stack.say("unclear-user", "surgery stuff?")
    text = texts(replies)
    assert "Did you mean" in text or "I can only help" in text
    assert replies[-1]["buttons"]


def test_http_api_is_not_exposed(stack: Stack) -> None:
    for path in ("/status", "/model/parse", "/conversations/x/tracker"):
        status, _ = http("GET", stack.base_url + path)
        assert status in (404, 405), path


def this_machines_address() -> str:
    """An address of this machine that is not loopback (the one its default route uses)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.123", 9))  # no packet is sent: only the route is chosen
        address = probe.getsockname()[0]
    assert not address.startswith("127."), "no non-loopback address to test with"
    return address


def test_default_servers_listen_on_loopback_only(stack: Stack) -> None:
    """`make run`: the channels (which trust any sender id) and the action server (no
    authentication) answer on this machine only, never on its network address."""
    import socket

    address = this_machines_address()
    for port in (stack.rasa_port, stack.actions_port, stack.web_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # up on loopback
        with socket.socket() as outside:
            outside.settimeout(5)
            with pytest.raises(ConnectionRefusedError):
                outside.connect((address, port))


def test_conversation_survives_a_restart(stack: Stack) -> None:
    stack.say("restart-user", "what is minimally invasive spine surgery")
    before = _events(stack.db_path, "restart-user")
    assert any(name == "user" for name, _ in before)
    assert stack.stop() == 0 or stack.process.returncode is not None  # type: ignore[union-attr]
    stack.start()
    replies = stack.say("restart-user", "how big is the cut")
    assert "less than one inch" in texts(replies)
    after = _events(stack.db_path, "restart-user")
    assert after[: len(before)] == before
    assert len(after) > len(before)


def test_emergency_reply_comes_first_and_alone_and_is_flagged(stack: Stack) -> None:
    stack.say("sos-user", "hi")
    replies = stack.say(
        "sos-user", "how long is recovery? also since this morning I can't pee at all"
    )
    assert "112" in replies[0]["text"]
    assert "108" in replies[0]["text"]
    assert "emergency department" in replies[0]["text"]
    assert not replies[0].get("buttons")
    # the urgent message (+ its marker for rich channels), then only an offer to help further
    assert replies[1] == {
        "recipient_id": "sos-user",
        "custom": {"type": "urgent", "kind": "emergency"},
    }
    assert len(replies) == 3
    assert "2-4 weeks" not in texts(replies)
    # The flag is the message's own parse data, stored with the message (no action sets it).
    with sqlite3.connect(stack.db_path) as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'", ("sos-user",)
        ).fetchall()
    flagged = [json.loads(row[0])["parse_data"] for row in rows]
    assert flagged[-1]["intent"]["name"] == "emergency"
    assert "urinary_retention" in [f["id"] for f in flagged[-1]["red_flags"]]


def test_crisis_gets_helplines(stack: Stack) -> None:
    text = texts(stack.say("crisis-user", "i dont see the point of living anymore"))
    assert "14416" in text
    assert "1-800-891-4416" in text
    assert "112" in text


def test_an_unclear_red_flag_gets_one_triage_question_then_the_answer(stack: Stack) -> None:
    [question] = stack.say("triage-no", UNCLEAR_RED_FLAG)
    for sign in (
        "both legs",
        "after a fall",
        "fluid or pus from the wound",
        "swollen painful calf",
    ):
        assert sign in question["text"]  # every emergency sign of the triage rules
    assert "call 112 or 108 now" in question["text"]
    assert [b["payload"] for b in question["buttons"]] == ["/affirm", "/deny"]
    replies = stack.say("triage-no", "/deny")  # the "No, none of these" button
    assert "If any of those start, call 112 or 108" in replies[0]["text"]
    assert len(replies) >= 2, replies  # then the answer, or topics to choose from
    assert "medical emergency" not in texts(replies)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("please delete everything i told you", "Do you want me to delete this conversation"),
        (
            "i don't want you to keep my data, delete it",
            "Do you want me to delete this conversation",
        ),
        ("that is all i wanted to ask", "Take care!"),
    ],
)
def test_a_request_is_carried_out_after_the_crisis_check(
    stack: Stack, message: str, expected: str
) -> None:
    """First-person requests can read as a possible crisis; a "no" to the check must not lose
    them. Where the check is not asked, the request is answered at once."""
    sender = f"check-then-request-{len(message)}"
    replies = stack.say(sender, message)
    if "thoughts of ending your life" in texts(replies):
        replies = stack.say(sender, "no")
        assert "Tele-MANAS" in replies[0]["text"], replies  # the check's "no" is answered first
    assert expected in texts(replies), replies


@pytest.mark.parametrize("answer", ["yes", "haan", "/affirm"])
def test_yes_to_the_triage_question_gets_the_emergency_reply(stack: Stack, answer: str) -> None:
    sender = f"triage-yes-{answer}"
    stack.say(sender, UNCLEAR_RED_FLAG)
    replies = stack.say(sender, answer)
    assert replies[0]["text"].startswith("This could be a medical emergency"), replies


@pytest.mark.parametrize("message", ["yes", "no", "haan", "/affirm"])
def test_a_yes_or_no_out_of_context_gets_one_reply(stack: Stack, message: str) -> None:
    """Without a rule for them, no policy predicts anything after the fallback action and Rasa
    repeats it up to ten times."""
    replies = stack.say(f"yes-no-{len(message)}-{message.isascii()}", message)
    assert len(replies) == 1, replies
    assert replies[0]["text"].startswith("What would you like to know?")


@pytest.mark.parametrize("answer", ["no, nothing like that", "nahi", "नहीं"])
def test_a_typed_no_to_the_triage_question_is_understood(stack: Stack, answer: str) -> None:
    """Also in Hindi: too short for the triage classifier, a bare "nahi" is the answer "no"."""
    sender = f"triage-typed-no-{len(answer)}"
    stack.say(sender, UNCLEAR_RED_FLAG)
    replies = stack.say(sender, answer)
    assert "If any of those start" in replies[0]["text"], replies


@pytest.mark.parametrize(
    ("message", "net"),
    [
        ("tingling in my foot since last month, is that sciatica?", "numbness around the groin"),
        ("numbness in my left foot for 6 months", "numbness around the groin"),
        ("my back is sore after the operation, how long is recovery?", "wound becomes red"),
    ],
)
def test_ordinary_symptoms_are_answered_then_safety_netted(
    stack: Stack, message: str, net: str
) -> None:
    """One-sided tingling is not "both legs": the question gets its answer, then one line on
    what would make it urgent, last; no emergency reply."""
    replies = stack.say(f"net-{abs(hash(message))}", message)
    assert len(replies) >= 2, replies
    assert net in replies[-1]["text"]
    assert "112" in replies[-1]["text"]
    assert "This could be a medical emergency" not in texts(replies)
    assert net not in texts(replies[:-1])


def test_no_safety_net_for_a_question_about_a_condition(stack: Stack) -> None:
    assert "numbness around the groin" not in texts(stack.say("net-q", "what is sciatica?"))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("how many mg of paracetamol should I take after the op", "can't advise on medicines"),
        ("do I have a slipped disc?", "can't diagnose"),
        ("should I have the surgery?", "decision for you and a spine specialist"),
        ("how do I treat diabetes", "Please consult a doctor"),
    ],
)
def test_guardrails(stack: Stack, message: str, expected: str) -> None:
    text = texts(stack.say("guard-user", message))
    assert expected in text
    assert " mg" not in text


def _events(db: Path, sender: str) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT type_name, timestamp FROM events WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()


def _preflight(stack: Stack, origin: str) -> Dict[str, str]:
    request = urllib.request.Request(
        f"{stack.base_url}/webhooks/webchat/webhook",
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return {k.lower(): v for k, v in response.headers.items()}


def test_cors_allows_only_the_configured_origin(stack: Stack) -> None:
    allowed = _preflight(stack, stack.web_url)
    assert allowed.get("access-control-allow-origin") == stack.web_url
    refused = _preflight(stack, "https://evil.example")
    assert "access-control-allow-origin" not in refused


def test_webchat_retry_with_the_same_id_is_answered_once(stack: Stack) -> None:
    sender = "0b1c2d3e-4f50-4617-8899-aabbccddeeff"
    body = {"sender": sender, "message": "how big is the cut", "message_id": "m-1"}
    url = f"{stack.base_url}/webhooks/webchat/webhook"
    first = http("POST", url, body)
    again = http("POST", url, body)
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    assert "less than one inch" in texts(first[1])
    user_events = [e for e in _events(stack.db_path, f"web:{sender}") if e[0] == "user"]
    assert len(user_events) == 1


@pytest.mark.parametrize(
    "body",
    [{"sender": "x", "message": "hi"}, {"sender": "x", "message": "", "message_id": "1"}, []],
)
def test_webchat_bad_requests_get_a_clear_400(stack: Stack, body: Any) -> None:
    status, reply = http("POST", f"{stack.base_url}/webhooks/webchat/webhook", body)
    assert status == 400
    assert "error" in reply
