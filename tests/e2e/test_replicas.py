"""The production profile with two Rasa servers sharing PostgreSQL, Redis and RabbitMQ.

Alternate messages of one conversation go to each server (a whole booking form among them), two
messages arrive at both servers at the same moment, and a retried message reaches the other
server: slots, answers and the stored booking must be consistent and no event lost or duplicated.
Also: each configured store that is unreachable stops the server at start with a clear message.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import sqlalchemy as sa

from devstack.servers import BOOKING_SCRIPT, ROOT, Stack, free_port, http, texts
from tests.support.databases import fresh_postgres_database, plain
from tests.support.services import RABBITMQ_URL, REDIS_URL, require

pytestmark = pytest.mark.e2e


def production_env(database: str, queue: str, prefix: str, actions_port: int) -> Dict[str, str]:
    return {
        "ENV": "production",
        "DATABASE_URL": database,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "RABBITMQ_URL": RABBITMQ_URL,
        "RABBITMQ_QUEUE": queue,
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{actions_port}/webhook",
        "RASA_CREDENTIALS": str(ROOT / "credentials.prod.yml"),
    }


@pytest.fixture(scope="module")
def replicas(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tuple[Stack, Stack, Dict[str, str]]]:
    require(REDIS_URL, RABBITMQ_URL)
    with fresh_postgres_database() as database:
        token = uuid.uuid4().hex[:10]
        actions = free_port()
        env = production_env(database, f"rasa_events_{token}", f"t{token}", actions)
        endpoints = ROOT / "endpoints.prod.yml"
        first = Stack(
            tmp_path_factory.mktemp("replica-a"),
            free_port(),
            actions,
            database_url=database,
            extra_env=env,
            processes=("actions", "rasa"),
            endpoints=endpoints,
        )
        second = Stack(
            tmp_path_factory.mktemp("replica-b"),
            free_port(),
            actions,
            database_url=database,
            extra_env=env,
            processes=("rasa",),
            endpoints=endpoints,
        )
        first.start()
        try:
            second.start()
            try:
                yield first, second, env
            finally:
                second.stop()
        finally:
            first.stop()
            sa.create_engine(database).dispose()


def say(stack: Stack, sender: str, message: str, message_id: str | None = None) -> List[Dict]:
    status, replies = http(
        "POST",
        f"{stack.base_url}/webhooks/webchat/webhook",
        {"sender": sender, "message": message, "message_id": message_id or uuid.uuid4().hex},
    )
    assert status == 200, (status, replies)
    return replies


def events(database: str, sender: str) -> List[Dict[str, Any]]:
    engine = sa.create_engine(database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
            )
            return [json.loads(r.data) for r in rows]
    finally:
        engine.dispose()


def user_texts(stored: List[Dict[str, Any]]) -> List[str]:
    return [e["text"] for e in stored if e["event"] == "user"]


def test_one_conversation_alternating_between_two_servers(replicas: Tuple) -> None:
    a, b, env = replicas
    sender = uuid.uuid4().hex  # the widget's random id
    script = [
        ("hello", "Minimally Invasive Spine Surgery"),
        ("how long is the recovery after keyhole spine surgery?", "weeks"),
        ("show me neurosurgeons in Delhi", "Dr. Sunit Mediratta"),
        *BOOKING_SCRIPT,
    ]
    sent: List[str] = []
    for index, (message, expected) in enumerate(script):
        server = a if index % 2 == 0 else b
        text = texts(say(server, sender, message))
        sent.append(message)
        assert expected.lower() in text.lower(), (index, message, text)
    reference = re.search(r"BK-[A-Z2-9]{6}", text)
    assert reference

    stored = events(env["DATABASE_URL"], f"web:{sender}")
    assert user_texts(stored) == sent  # every message once, in order
    slots = [(e["name"], e["value"]) for e in stored if e["event"] == "slot"]
    assert ("booking_reference", reference.group(0)) in slots
    assert ("patient_name", "Kavya Rao") in slots
    assert ("mobile", "+919876543210") in slots
    assert ("doctor_id", "sunit-mediratta") in slots  # set on one server, used by the other
    engine = sa.create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            bookings = conn.execute(
                sa.text(
                    "SELECT reference, patient_name, mobile FROM bookings "
                    "WHERE conversation_id = :s"
                ),
                {"s": f"web:{sender}"},
            ).all()
    finally:
        engine.dispose()
    assert [tuple(map(plain, r)) for r in bookings] == [
        (reference.group(0), "Kavya Rao", "+919876543210")
    ]


def test_simultaneous_messages_to_both_servers_are_processed_one_after_the_other(
    replicas: Tuple,
) -> None:
    a, b, env = replicas
    sender = uuid.uuid4().hex
    say(a, sender, "hi")
    questions = [
        ("how big is the incision in keyhole surgery?", "is MISS safe for elderly people?"),
        ("how long will i stay in hospital", "can i walk after the surgery"),
        ("will i need physiotherapy afterwards", "what are the risks of the surgery"),
        ("how long is the recovery?", "which conditions can be treated with MISS?"),
    ]
    for first, second in questions * 2:  # each pair arrives at both servers at the same moment
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(lambda job: say(*job), [(a, sender, first), (b, sender, second)])
            )
        assert all(texts(replies) for replies in answers)
    stored = events(env["DATABASE_URL"], f"web:{sender}")
    assert sorted(user_texts(stored)[1:]) == sorted(q for pair in questions * 2 for q in pair)
    # The lock: each message's turn ends (action_listen) before the next message is read.
    kinds = [(e["event"], e.get("name")) for e in stored if e["event"] in ("user", "action")]
    turns = [i for i, kind in enumerate(kinds) if kind[0] == "user"]
    for start, end in zip(turns, turns[1:] + [len(kinds)], strict=True):
        assert kinds[end - 1] == ("action", "action_listen"), kinds
        assert ("user", None) not in kinds[start + 1 : end]


def test_many_conversations_at_once_each_get_their_own_answers(replicas: Tuple) -> None:
    """24 conversations at the same moment over both servers, specialist searches (the action
    server) among them: every message gets its own conversation's answer, stored once."""
    a, b, env = replicas
    asked = [
        ("how soon can I return to work after a discectomy?", "2-4 weeks"),
        ("how many days will I be in hospital", "1-2 days"),
        ("which doctors are in kolkata", "Kolkata"),
        ("how big is the incision in keyhole spine surgery", "less than one inch"),
    ]
    senders = [uuid.uuid4().hex for _ in range(24)]

    def conversation(index: int) -> List[str]:
        sender, got = senders[index], []
        for step in range(2):
            question, fact = asked[(index + step) % len(asked)]
            replies = say((a, b)[(index + step) % 2], sender, question)
            got.append(fact if fact in json.dumps(replies) else json.dumps(replies)[:300])
        return got

    with ThreadPoolExecutor(len(senders)) as pool:
        results = list(pool.map(conversation, range(len(senders))))
    for index, got in enumerate(results):
        assert got == [asked[(index + step) % len(asked)][1] for step in range(2)]
        stored = user_texts(events(env["DATABASE_URL"], f"web:{senders[index]}"))
        assert stored == [asked[(index + step) % len(asked)][0] for step in range(2)]


def test_a_retry_reaching_the_other_server_is_answered_once(replicas: Tuple) -> None:
    a, b, env = replicas
    sender, message_id = uuid.uuid4().hex, uuid.uuid4().hex
    first = say(a, sender, "what is minimally invasive spine surgery?", message_id)
    retry = say(b, sender, "what is minimally invasive spine surgery?", message_id)
    assert retry == first
    assert user_texts(events(env["DATABASE_URL"], f"web:{sender}")) == [
        "what is minimally invasive spine surgery?"
    ]


def test_events_are_streamed_to_rabbitmq(replicas: Tuple) -> None:
    """Every stored event of a conversation also went to the analytics queue, once."""
    import asyncio

    import aio_pika

    a, b, env = replicas
    sender = uuid.uuid4().hex
    say(a, sender, "what is the recovery time?")
    say(b, sender, "thanks")

    async def consume() -> List[Dict[str, Any]]:
        connection = await aio_pika.connect(RABBITMQ_URL)
        received: List[Dict[str, Any]] = []
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(env["RABBITMQ_QUEUE"])
            while True:
                message = await queue.get(fail=False, timeout=5)
                if message is None:
                    return received
                await message.ack()
                received.append(json.loads(message.body))

    deadline = time.monotonic() + 20
    streamed: List[Dict[str, Any]] = []
    while time.monotonic() < deadline:
        streamed += asyncio.run(consume())
        mine = [e for e in streamed if e.get("sender_id") == f"web:{sender}"]
        if len(mine) >= len(events(env["DATABASE_URL"], f"web:{sender}")):
            break
        time.sleep(0.5)
    stored = events(env["DATABASE_URL"], f"web:{sender}")
    key = lambda e: (e["event"], e.get("timestamp"), e.get("text"), e.get("name"))  # noqa: E731
    assert sorted(map(key, mine)) == sorted(map(key, stored))


def test_open_rest_channel_is_off_in_production(replicas: Tuple) -> None:
    a, _, _ = replicas
    status, _ = http(
        "POST", f"{a.base_url}/webhooks/rest/webhook", {"sender": "x", "message": "hi"}
    )
    assert status == 404


def test_an_erasure_leaves_nothing_of_the_patient_in_redis_or_the_database(
    replicas: Tuple,
) -> None:
    """A call-back over both servers, then "delete my data": no Redis key or value of this
    deployment and no row of any table (encrypted cells decrypted) names the patient."""
    import redis

    a, b, env = replicas
    sender = uuid.uuid4().hex
    script = [
        ("please call me back", "delete my data"),  # the privacy notice comes first
        ("Ravindra Kulkarni", "mobile number"),
        ("93456 78120", "contact you"),
        ("yes", "CB-"),
        ("delete my data", "cannot be undone"),
        ("yes", "I deleted this conversation"),
    ]
    for index, (message, expected) in enumerate(script):
        reply = texts(say(a if index % 2 == 0 else b, sender, message))
        assert expected in reply, (message, reply)
    secrets = (sender, "Ravindra", "Kulkarni", "9345678120", "93456 78120")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        held = []
        for key in client.scan_iter(match=f"*{env['REDIS_KEY_PREFIX']}*"):
            kind = client.type(key).decode()
            value = client.get(key) if kind == "string" else client.dump(key)
            held.append(repr(key) + repr(value))
    finally:
        client.close()
    assert held  # the deployment's keys were found (the scan looks at the right place)
    engine = sa.create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            stored = [
                repr(tuple(map(plain, row)))
                for table in sa.inspect(engine).get_table_names()
                for row in conn.execute(sa.select(sa.text("*")).select_from(sa.table(table)))
            ]
    finally:
        engine.dispose()
    for secret in secrets:
        assert not [h for h in held if secret in h], secret
        assert not [s for s in stored if secret in s], secret
