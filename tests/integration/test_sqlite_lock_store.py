"""The machine's local SQLite file across processes: one conversation's messages never overlap,
an expired lock or one whose process ended is taken over, a waiter gives up in time, a broken
file is Rasa's LockError, and the widget's once-only claims behave as the Redis commands do."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import time
from pathlib import Path
from typing import Any, List

import pytest
from rasa.core.lock_store import LockError

from channels.shared import LocalClaims, SharedReplies
from spine_rasa.local_file import local_file_path
from spine_rasa.sqlite_lock_store import SQLiteLockStore, holder_ended, holder_id


async def _increment(store: SQLiteLockStore, counter: Path, times: int, trace: Path) -> None:
    for _ in range(times):
        async with store.lock("patient-1"):
            with trace.open("a") as log:
                log.write(f"in:{os.getpid()}\n")
            value = int(counter.read_text() or 0)
            await asyncio.sleep(0.002)  # another worker would step in here without the lock
            counter.write_text(str(value + 1))
            with trace.open("a") as log:
                log.write(f"out:{os.getpid()}\n")
        await asyncio.sleep(0.001)  # let the other process in


def _worker(path: str, counter: str, times: int, trace: str, ready: Any) -> None:
    store = SQLiteLockStore(path=path)
    ready.wait(30)  # both processes start their loops together
    asyncio.run(_increment(store, Path(counter), times, Path(trace)))


def test_two_processes_take_turns_on_one_conversation(tmp_path: Path) -> None:
    counter, trace = tmp_path / "counter", tmp_path / "trace"
    counter.write_text("0")
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(2)
    args = (str(tmp_path / "locks.db"), str(counter), 60, str(trace), ready)
    workers = [context.Process(target=_worker, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(90)
        assert worker.exitcode == 0
    assert counter.read_text() == "120"  # no update lost
    lines: List[str] = trace.read_text().split()
    assert [line.split(":")[0] for line in lines] == ["in", "out"] * 120  # one holder at a time
    for entered, left in zip(lines[::2], lines[1::2], strict=True):
        assert entered.split(":")[1] == left.split(":")[1]
    holders = [line.split(":")[1] for line in lines[::2]]
    switches = sum(a != b for a, b in zip(holders, holders[1:], strict=False))
    assert switches >= 2, switches  # both held it, each while the other was waiting


async def test_a_dead_holders_lock_expires(tmp_path: Path) -> None:
    store = SQLiteLockStore(path=tmp_path / "locks.db")
    assert await store.try_acquire("patient-1", "a-holder-of-unknown-origin", lifetime=0.3)
    assert not await store.try_acquire("patient-1", "another", lifetime=0.3)
    started = time.monotonic()
    async with store.lock("patient-1", lock_lifetime=5):
        waited = time.monotonic() - started
    assert 0.1 < waited < 3
    assert not await store.release("patient-1", "a-holder-of-unknown-origin")  # it lost the lock


async def test_a_waiter_gives_up_after_the_lock_lifetime(tmp_path: Path) -> None:
    store = SQLiteLockStore(path=tmp_path / "locks.db")
    async with store.lock("patient-1", lock_lifetime=30):
        with pytest.raises(LockError):
            async with store.lock("patient-1", lock_lifetime=0.2):
                pass
        async with store.lock("patient-2", lock_lifetime=0.2):  # other conversations go on
            pass


async def test_a_lock_whose_process_ended_is_taken_over_at_once(tmp_path: Path) -> None:
    store = SQLiteLockStore(path=tmp_path / "locks.db")
    child = subprocess.Popen(
        ["python3", "-c", "import time; time.sleep(30)"], stdout=subprocess.DEVNULL
    )
    try:
        started = (Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split())[19]
        mine = holder_id().split(":")
        alive = f"{child.pid}:{started}:{mine[2]}:x"
        assert not holder_ended(alive)
        assert not holder_ended(f"{child.pid}:{started}:another-namespace:x")
        assert holder_ended(f"{child.pid}:{int(started) - 1}:{mine[2]}:x")  # its id was reused
        assert await store.try_acquire("patient-1", alive, lifetime=30)
        with pytest.raises(LockError):  # a live holder is waited for
            async with store.lock("patient-1", lock_lifetime=0.3):
                pass
    finally:
        child.kill()
        child.wait()
    assert holder_ended(alive)
    begun = time.monotonic()
    async with store.lock("patient-1", lock_lifetime=30):
        assert time.monotonic() - begun < 1


async def test_a_broken_lock_file_is_a_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "locks.db"
    store = SQLiteLockStore(path=path)
    store.file._pid = -1  # the next statement opens the file again, as a new process would
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database" * 512)
    with pytest.raises(LockError, match="unavailable"):
        async with store.lock("patient-1"):
            pass


def test_the_file_sits_beside_the_sqlite_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPINE_LOCK_DB", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////srv/spine/spine.db")
    assert local_file_path() == Path("/srv/spine/spine-locks.db")
    monkeypatch.setenv("SPINE_LOCK_DB", "/tmp/elsewhere.db")
    assert local_file_path() == Path("/tmp/elsewhere.db")


async def test_once_only_claims_in_the_local_file(tmp_path: Path) -> None:
    claims = LocalClaims(tmp_path / "locks.db")
    assert await claims.set("k:1", b"running", nx=True, ex=30)
    assert not await claims.set("k:1", b"running", nx=True, ex=30)  # claimed already
    await claims.set("k:1", '[{"text": "hi"}]', ex=30)
    assert await claims.get("k:1") == b'[{"text": "hi"}]'
    await claims.set("k:2", b"x", ex=0.05)
    await asyncio.sleep(0.1)
    assert await claims.get("k:2") is None  # expired
    assert await claims.set("k:2", b"y", nx=True, ex=30)  # and claimable again
    assert sorted([n async for n in claims.scan_iter(match="k:*")]) == [b"k:1", b"k:2"]
    await claims.delete("k:1")
    assert await claims.get("k:1") is None


async def test_expired_claims_are_swept_by_index(tmp_path: Path) -> None:
    claims = LocalClaims(tmp_path / "locks.db")
    await claims.set("old", b"x", ex=0.05)
    await asyncio.sleep(0.1)
    await claims.set("new", b"y", ex=30)
    names = claims.file.call(lambda c: c.execute("SELECT name FROM kept_replies").fetchall())
    assert names == [("new",)]  # the expired row is gone, not only hidden
    plan = claims.file.call(
        lambda c: c.execute(
            "EXPLAIN QUERY PLAN DELETE FROM kept_replies WHERE expires < 0"
        ).fetchall()
    )
    assert "kept_replies_expires" in str(plan)


async def test_a_retry_on_another_worker_gets_the_first_answer(tmp_path: Path) -> None:
    """Two workers' SharedReplies on one file: the message runs once, both get its replies."""
    first, second = (SharedReplies(LocalClaims(tmp_path / "locks.db")) for _ in range(2))
    runs: List[str] = []

    async def answer() -> List[dict]:
        runs.append("run")
        await asyncio.sleep(0.3)
        return [{"recipient_id": "web:a", "text": "Recovery takes 2-4 weeks"}]

    replies = await asyncio.gather(
        first.run_once("web:a", "m1", answer), second.run_once("web:a", "m1", answer)
    )
    assert runs == ["run"]
    assert (
        replies[0] == replies[1] == [{"recipient_id": "web:a", "text": "Recovery takes 2-4 weeks"}]
    )
    await first.forget("web:a", keep="other")
    assert [n async for n in first.redis.scan_iter(match="*")] == []
