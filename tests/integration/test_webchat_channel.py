"""The widget's channel (channels/web.py): request validation and exactly-once handling."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from channels.web import MAX_MESSAGE_CHARS, BadRequest, ReplyCache, parse_body

SENDER = "3f2b6c1e-8d4a-4f7b-9a61-2c5d7e9f0a1b"


def test_valid_body_gets_the_web_namespace() -> None:
    body = {"sender": SENDER, "message": "hi", "message_id": "m1"}
    assert parse_body(body) == (f"web:{SENDER}", "hi", "m1")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"message": "hi", "message_id": "m"}, "'sender'"),
        ({"sender": SENDER, "message": "hi"}, "'message_id'"),
        ({"sender": SENDER, "message": "  ", "message_id": "m"}, "'message'"),
        ({"sender": SENDER, "message": 5, "message_id": "m"}, "'message'"),
        ({"sender": SENDER, "message": "x" * (MAX_MESSAGE_CHARS + 1), "message_id": "m"}, "longer"),
        ({"sender": "s" * 200, "message": "hi", "message_id": "m"}, "longer"),
        # a WhatsApp user's id (their number) or any chosen name cannot be used from the web
        ({"sender": "919876543210", "message": "hi", "message_id": "m"}, "random id"),
        ({"sender": "whatsapp:+919876543210", "message": "hi", "message_id": "m"}, "random id"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body: Any, error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        parse_body(body)


async def test_a_message_is_handled_once_even_when_retried_concurrently() -> None:
    cache = ReplyCache()
    calls: List[str] = []
    release = asyncio.Event()

    async def handle() -> List[Dict[str, Any]]:
        calls.append("handled")
        await release.wait()
        return [{"text": "answer"}]

    first = asyncio.ensure_future(cache.run_once(("s", "m1"), handle))
    retry = asyncio.ensure_future(cache.run_once(("s", "m1"), handle))
    await asyncio.sleep(0)
    release.set()
    assert await first == await retry == [{"text": "answer"}]
    assert await cache.run_once(("s", "m1"), handle) == [{"text": "answer"}]  # later retry
    assert calls == ["handled"]
    assert await cache.run_once(("s", "m2"), handle) == [{"text": "answer"}]
    assert calls == ["handled", "handled"]


async def test_a_failed_attempt_can_be_retried() -> None:
    cache = ReplyCache()
    attempts: List[int] = []

    async def handle() -> List[Dict[str, Any]]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("down")
        return [{"text": "ok"}]

    with pytest.raises(RuntimeError):
        await cache.run_once(("s", "m"), handle)
    assert await cache.run_once(("s", "m"), handle) == [{"text": "ok"}]


async def test_a_disconnecting_client_does_not_cancel_the_bot() -> None:
    cache = ReplyCache()
    calls: List[str] = []
    release = asyncio.Event()

    async def handle() -> List[Dict[str, Any]]:
        calls.append("handled")
        await release.wait()
        return [{"text": "answer"}]

    first = asyncio.ensure_future(cache.run_once(("s", "m"), handle))
    await asyncio.sleep(0)
    first.cancel()  # Sanic cancels the request when the client goes away
    await asyncio.sleep(0)
    release.set()
    assert await cache.run_once(("s", "m"), handle) == [{"text": "answer"}]  # the retry
    assert calls == ["handled"]


async def test_memory_is_bounded() -> None:
    cache = ReplyCache(size=2)

    async def handle() -> List[Dict[str, Any]]:
        return []

    for i in range(5):
        await cache.run_once(("s", str(i)), handle)
    assert len(cache._done) == 2


async def test_an_erasure_forgets_the_senders_remembered_replies() -> None:
    cache = ReplyCache()

    async def reply() -> List[Dict[str, Any]]:
        return [{"text": "Thank you, Ravindra"}]

    for key in (("web:a", "1"), ("web:a", "2"), ("web:b", "1")):
        await cache.run_once(key, reply)
    cache.forget("web:a", keep="2")
    assert list(cache._done) == [("web:a", "2"), ("web:b", "1")]


async def test_an_erasure_forgets_the_shared_replies_in_redis() -> None:
    import os
    import uuid

    import redis.asyncio as aioredis

    from channels.shared import SharedReplies

    os.environ["REDIS_KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:8]}"
    # the machine's Redis (every dev and CI machine has one); keys under a test prefix
    client = aioredis.from_url(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    shared = SharedReplies(client)

    async def reply() -> List[Dict[str, Any]]:
        return [{"text": "Thank you, Ravindra"}]

    try:
        for sender, message_id in (("web:a", "1"), ("web:a", "2"), ("web:b", "1")):
            await shared.run_once(sender, message_id, reply)
        await shared.forget("web:a", keep="2")
        prefix = f"spine:{os.environ['REDIS_KEY_PREFIX']}:webchat:"
        left = sorted([k.decode() async for k in client.scan_iter(match=prefix + "*")])
        assert left == sorted(
            [SharedReplies._name("web:a", "2"), SharedReplies._name("web:b", "1")]
        )
        assert not any("web:" in key for key in left)  # no sender id in Redis
    finally:
        async for key in client.scan_iter(match=f"spine:{os.environ['REDIS_KEY_PREFIX']}:*"):
            await client.delete(key)
        del os.environ["REDIS_KEY_PREFIX"]
        await client.close()
