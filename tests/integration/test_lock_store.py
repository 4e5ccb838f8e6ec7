"""The Redis lock store on a real Redis: one message of a conversation at a time, other
conversations untouched, and a slow Redis never holds up the server's event loop."""
from __future__ import annotations

import asyncio
import uuid
from typing import List

import pytest
import redis

from spine_rasa.shared_stores import ProjectRedisLockStore
from tests.support.loop_ticks import loop_ticks
from tests.support.services import REDIS_URL, require


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> ProjectRedisLockStore:
    require(REDIS_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)  # configuration, as the server reads it
    monkeypatch.setenv("REDIS_KEY_PREFIX", f"locktest{uuid.uuid4().hex[:8]}")
    return ProjectRedisLockStore()


async def test_one_message_of_a_conversation_at_a_time(store: ProjectRedisLockStore) -> None:
    order: List[str] = []

    async def message(conversation: str, name: str) -> None:
        async with store.lock(conversation):
            order.append(f"{name} in")
            await asyncio.sleep(0.1)
            order.append(f"{name} out")

    await asyncio.gather(message("c1", "a"), message("c1", "b"), message("c2", "x"))
    same = [step for step in order if step[0] in "ab"]
    assert same in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    assert order.index("x in") < order.index("x out") < len(order) - 1  # c2 did not wait


async def test_the_event_loop_runs_while_redis_keeps_a_lock_waiting(
    store: ProjectRedisLockStore,
) -> None:
    admin = redis.Redis.from_url(REDIS_URL)
    async with loop_ticks() as ticks:
        admin.execute_command("CLIENT", "PAUSE", "800", "WRITE")  # SET NX waits ~0.8 s
        try:
            before = ticks[0]
            async with store.lock("c3"):
                pass
            during = ticks[0] - before
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
            admin.close()
    assert during >= 30  # ~80 ticks while the lock waited for Redis; 0 if Redis blocked the loop
