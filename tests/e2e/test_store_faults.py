"""Urgent replies with the stores down: the real stack on its own PostgreSQL (tracker store,
bookings) and its own Redis (lock store), both started here on free ports and stopped mid-test, so
the machine's shared services are never touched.

Emergency and crisis messages are answered within a second while a store is down; other messages
get an answer or the kind "having trouble" reply, never nothing; after the store is back the
assistant answers normally.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from devstack.servers import Stack, free_port, webchat
from tests.support.fake_graph import FakeGraph, delivery, signed_post, text_message, texts_of
from tests.support.services import OwnPostgres, OwnRedis, running

pytestmark = pytest.mark.e2e

EMERGENCY = ("my legs went numb and I can't control my bladder", "112")
CRISIS = ("i want to end my life tonight", "14416")
TROUBLE = "having trouble answering right now"
WHATSAPP_SECRET = "secret-for-store-faults"


@pytest.fixture(scope="module")
def stores() -> Iterator[Tuple[OwnPostgres, OwnRedis]]:
    postgres, redis = OwnPostgres(), OwnRedis()
    try:
        with running(postgres, redis):
            yield postgres, redis
    finally:
        postgres.remove()


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(
    model_path: Path,
    stores: Tuple[OwnPostgres, OwnRedis],
    graph: FakeGraph,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    postgres, redis = stores
    workdir = tmp_path_factory.mktemp("stores")
    actions_port = free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n'
        "tracker_store:\n  type: spine_rasa.tracker_store.ProjectSQLTrackerStore\n"
        "lock_store:\n  type: spine_rasa.shared_stores.ProjectRedisLockStore\n"
    )
    env = {
        "REDIS_URL": redis.url,
        "REPLY_DEADLINE": "5",
        "ACTION_TIMEOUT": "3",
        "WHATSAPP_VERIFY_TOKEN": "verify-for-store-faults",
        "WHATSAPP_APP_SECRET": WHATSAPP_SECRET,
        "WHATSAPP_ACCESS_TOKEN": "token-for-store-faults",
        "WHATSAPP_PHONE_NUMBER_ID": "1234567890",
        "WHATSAPP_GRAPH_URL": graph.url,
    }
    app = Stack(
        workdir,
        free_port(),
        actions_port,
        database_url=postgres.url,
        extra_env=env,
        processes=("actions", "rasa"),
        endpoints=endpoints,
    )
    app.start()
    yield app
    app.stop()


def joined(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


@pytest.mark.parametrize("down", ["tracker store (PostgreSQL)", "lock store (Redis)"])
def test_urgent_replies_go_out_while_a_store_is_down(
    stack: Stack, stores: Tuple[OwnPostgres, OwnRedis], down: str
) -> None:
    postgres, redis = stores
    sender = uuid.uuid4().hex
    replies, _ = webchat(stack, sender, "how big is the incision in MISS?")
    assert "less than one inch" in joined(replies)
    store = postgres if down.startswith("tracker") else redis
    store.stop()
    try:
        for text, marker in (EMERGENCY, CRISIS):
            replies, took = webchat(stack, sender, text)
            assert marker in joined(replies), (down, replies)
            assert took < 1.0, (down, took)
        replies, _ = webchat(stack, sender, "how long is the hospital stay?")
        assert joined(replies).strip(), "silence while a store is down"
        if store is postgres:  # no answer from a blank conversation: the database holds it
            assert TROUBLE in joined(replies), replies
    finally:
        store.start()
    wait_until_answering(stack)


def wait_until_answering(stack: Stack) -> None:
    deadline = time.monotonic() + 30
    while True:  # pooled connections notice the restart on their next use
        replies, _ = webchat(stack, uuid.uuid4().hex, "how big is the incision in MISS?")
        if "less than one inch" in joined(replies) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "less than one inch" in joined(replies)


def test_a_database_outage_mid_form_loses_nothing(
    stack: Stack, stores: Tuple[OwnPostgres, OwnRedis]
) -> None:
    postgres, _ = stores
    sender = uuid.uuid4().hex
    replies, _ = webchat(stack, sender, "can someone call me back")
    assert "full name" in joined(replies), replies
    postgres.stop()
    try:
        # Neither answered as a new conversation nor kept in memory: "try again".
        replies, _ = webchat(stack, sender, "Asha Verma")
        assert TROUBLE in joined(replies), replies
        assert "mobile" not in joined(replies).lower()
    finally:
        postgres.start()
    wait_until_answering(stack)
    # The form goes on where the database left it: the name is asked for again, once.
    replies, _ = webchat(stack, sender, "Asha Verma")
    assert "What mobile number" in joined(replies), replies
    replies, _ = webchat(stack, sender, "98765 43210")
    assert "agree" in joined(replies), replies


def test_whatsapp_is_acknowledged_only_once_stored(
    stack: Stack, stores: Tuple[OwnPostgres, OwnRedis], graph: FakeGraph
) -> None:
    """With the database down the delivery is refused (Meta delivers it again later), never
    acknowledged and lost; the redelivery after the restart is answered once."""
    postgres, _ = stores
    url = f"{stack.base_url}/webhooks/whatsapp/webhook"
    number = "919000000031"
    payload = delivery(text_message(number, "outage-1", "how big is the incision in MISS?"))
    urgent_number = "919000000032"
    urgent = delivery(text_message(urgent_number, "outage-2", EMERGENCY[0]))
    postgres.stop()
    try:
        assert signed_post(url, payload, WHATSAPP_SECRET) == 503
        # An urgent message is refused too (Meta delivers it again) but answered at once.
        started = time.monotonic()
        assert signed_post(url, urgent, WHATSAPP_SECRET) == 503
        sent = graph.wait_for(urgent_number, lambda s: EMERGENCY[1] in texts_of(s), timeout=5)
        assert time.monotonic() - started < 1.5, sent
        assert signed_post(url, urgent, WHATSAPP_SECRET) == 503  # redelivered: not sent again
        time.sleep(0.5)
        assert texts_of(graph.sent_to(urgent_number)).count(EMERGENCY[1]) == 1
        assert graph.sent_to(number) == []
    finally:
        postgres.start()
    wait_until_answering(stack)
    assert signed_post(url, payload, WHATSAPP_SECRET) == 200
    assert signed_post(url, payload, WHATSAPP_SECRET) == 200  # and again: stored once
    graph.wait_for(number, lambda sent: len(sent) > 0, timeout=20)
    time.sleep(1.5)
    assert texts_of(graph.sent_to(number)).count("less than one inch") == 1
