"""Urgent replies never go silent: a real Rasa server (the Procfile's entry) with the trained model,
the real action server in its own process, stopped (SIGSTOP), killed and replaced by one answering
500, while patients write on the website widget and on WhatsApp (a fake Graph API on loopback).

Emergency, crisis and urgent messages are answered within a second in every state (the issue's
bar); everything else gets an answer or the kind "having trouble" reply, never nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import signal
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from devstack.servers import ROOT, ActionServer, Stack, ask, chromium, free_port, open_chat, webchat
from spine_db import migrate
from tests.support.fake_graph import FakeGraph

pytestmark = pytest.mark.e2e

SECRET = "app-secret-for-fault-tests"
URGENT_TEXTS = {
    "emergency": ("my legs went numb and I can't control my bladder", "112"),
    "crisis": ("i have been saving my tablets to take them all at once", "14416"),
    "urgent": ("the wound is red and warm since yesterday but no fever", "surgeon"),
}
TROUBLE = "having trouble"


@pytest.fixture(scope="module")
def stack(
    model_path: Path, graph: FakeGraph, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tuple[Stack, ActionServer]]:
    workdir = tmp_path_factory.mktemp("faults")
    actions = ActionServer(free_port(), workdir / "actions.log")
    actions.start()
    env = {
        "WHATSAPP_VERIFY_TOKEN": "verify",
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": "token",
        "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
        "WHATSAPP_GRAPH_URL": graph.url,
        "ACTION_TIMEOUT": "2",
        "REPLY_DEADLINE": "4",
    }
    running = Stack(workdir, free_port(), actions.port, extra_env=env, processes=("rasa", "web"))
    migrate.upgrade(running.db_url)  # what the Procfile's action server would have done
    running.start()
    yield running, actions
    running.stop()
    actions.stop()


def whatsapp(stack: Stack, graph: FakeGraph, number: str, text: str, expect: str) -> float:
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messages": [
                                    {
                                        "from": number,
                                        "id": f"wamid.{uuid.uuid4().hex}",
                                        "type": "text",
                                        "text": {"body": text},
                                    }
                                ]
                            },
                        }
                    ]
                }
            ],
        }
    ).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    before = len(graph.sent_to(number))
    started = time.monotonic()
    request = urllib.request.Request(
        f"{stack.base_url}/webhooks/whatsapp/webhook",
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200
    graph.wait_for(
        number,
        lambda sent: any(expect in json.dumps(m) for m in sent[before:]),
        timeout=15,
    )
    return time.monotonic() - started


def texts(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def web_sender() -> str:
    return uuid.uuid4().hex


def assert_urgent_replies_within_a_second(stack: Stack, graph: FakeGraph, sender: str) -> None:
    for level, (text, marker) in URGENT_TEXTS.items():
        replies, took = webchat(stack, sender, text)
        assert marker in texts(replies), (level, replies)
        assert took < 1.0, (level, took)
        assert replies[0].get("text")
        number = "9190000" + str(abs(hash((sender, level))) % 100000).zfill(5)
        assert whatsapp(stack, graph, number, text, marker) < 1.0, level


def test_all_well_answers_and_records_the_flag(stack: Tuple[Stack, ActionServer]) -> None:
    running, _ = stack
    sender = web_sender()
    replies, _ = webchat(running, sender, "is there a specialist in delhi")
    assert "Bhati" in texts(replies) or "Mediratta" in texts(replies)
    replies, _ = webchat(running, sender, URGENT_TEXTS["emergency"][0])
    assert "112" in replies[0]["text"]
    assert TROUBLE not in texts(replies)


@pytest.mark.parametrize("fault", ["hung", "stopped", "answers 500"])
def test_urgent_replies_never_wait_for_a_failing_action_server(
    stack: Tuple[Stack, ActionServer], graph: FakeGraph, fault: str
) -> None:
    running, actions = stack
    if fault == "hung":
        actions.signal(signal.SIGSTOP)
    elif fault == "stopped":
        actions.kill()
    else:
        actions.kill()
        actions.answer_500()
    try:
        sender = web_sender()
        # A question that needs the action server: a kind reply instead of silence...
        replies, took = webchat(running, sender, "is there a specialist in delhi")
        assert TROUBLE in texts(replies), replies
        assert "112" in texts(replies)
        # ...and urgent messages, this patient's too, answered at once on both channels.
        assert_urgent_replies_within_a_second(running, graph, sender)
        # FAQ answers need no action server at all.
        replies, _ = webchat(running, web_sender(), "how big is the incision in MISS?")
        assert "less than one inch" in texts(replies)
    finally:
        if fault == "hung":
            actions.signal(signal.SIGCONT)
            actions.kill()
        if actions.failing is not None:
            actions.failing.shutdown()
            actions.failing.server_close()
            actions.failing = None
        actions.start()


def test_a_hung_action_still_ends_in_a_reply_for_the_next_message(
    stack: Tuple[Stack, ActionServer]
) -> None:
    """The action call's own limit (ACTION_TIMEOUT, below the lock lifetime) frees the
    conversation: the patient's next message after a hung action is answered normally."""
    running, actions = stack
    sender = web_sender()
    actions.signal(signal.SIGSTOP)
    try:
        replies, _ = webchat(running, sender, "is there a specialist in delhi")
        assert TROUBLE in texts(replies)
    finally:
        actions.signal(signal.SIGCONT)
    replies, took = webchat(running, sender, "how long is the hospital stay?")
    assert TROUBLE not in texts(replies)
    assert texts(replies)


def test_the_widget_in_a_real_browser_shows_the_urgent_reply_with_the_action_server_hung(
    stack: Tuple[Stack, ActionServer]
) -> None:
    running, actions = stack
    actions.signal(signal.SIGSTOP)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(running.web_url + "/")
            open_chat(page)
            ask(page, URGENT_TEXTS["emergency"][0])
            urgent = page.locator("#spine-care-widget .msg.bot.urgent")
            urgent.first.wait_for(timeout=3000)
            assert "112" in urgent.first.inner_text()
            shots = ROOT / "artifacts" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "urgent-with-action-server-hung.png"))
    finally:
        actions.signal(signal.SIGCONT)
