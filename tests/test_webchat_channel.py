"""The widget's channel (channels/web.py): request validation and exactly-once handling."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from channels.web import MAX_MESSAGE_CHARS, BadRequest, ReplyCache, parse_body


def test_valid_body() -> None:
    assert parse_body({"sender": "s", "message": "hi", "message_id": "m1"}) == ("s", "hi", "m1")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"message": "hi", "message_id": "m"}, "'sender'"),
        ({"sender": "s", "message": "hi"}, "'message_id'"),
        ({"sender": "s", "message": "  ", "message_id": "m"}, "'message'"),
        ({"sender": "s", "message": 5, "message_id": "m"}, "'message'"),
        ({"sender": "s", "message": "x" * (MAX_MESSAGE_CHARS + 1), "message_id": "m"}, "longer"),
        ({"sender": "s" * 200, "message": "hi", "message_id": "m"}, "longer"),
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


async def test_memory_is_bounded() -> None:
    cache = ReplyCache(size=2)

    async def handle() -> List[Dict[str, Any]]:
        return []

    for i in range(5):
        await cache.run_once(("s", str(i)), handle)
    assert len(cache._done) == 2
