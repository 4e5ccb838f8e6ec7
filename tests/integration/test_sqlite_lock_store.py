"""The SQLite lock store across processes: one conversation's messages never overlap, an expired
lock or one whose process ended is taken over, a waiter gives up in time, and a broken file is
Rasa's LockError."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import time
from pathlib import Path
from typing import List

import pytest
from rasa.core.lock_store import LockError

from spine_rasa.sqlite_lock_store import SQLiteLockStore, lock_file


async def _increment(store: SQLiteLockStore, counter: Path, times: int, trace: Path) -> None:
    for _ in range(times):
        async with store.lock("patient-1"):
            with trace.open("a") as log:
                log.write("in\n")
            value = int(counter.read_text() or 0)
            await asyncio.sleep(0.002)  # another worker would step in here without the lock
            counter.write_text(str(value + 1))
            with trace.open("a") as log:
                log.write("out\n")


def _worker(path: str, counter: str, times: int, trace: str) -> None:
    store = SQLiteLockStore(path=path)
    asyncio.run(_increment(store, Path(counter), times, Path(trace)))


def test_two_processes_take_turns_on_one_conversation(tmp_path: Path) -> None:
    counter, trace = tmp_path / "counter", tmp_path / "trace"
    counter.write_text("0")
    context = multiprocessing.get_context("spawn")  # as Sanic starts its workers
    args = (str(tmp_path / "locks.db"), str(counter), 40, str(trace))
    workers = [context.Process(target=_worker, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert counter.read_text() == "80"  # no update lost
    lines: List[str] = trace.read_text().split()
    assert lines == ["in", "out"] * 80  # never two holders at once


async def test_a_dead_holders_lock_expires(tmp_path: Path) -> None:
    store = SQLiteLockStore(path=tmp_path / "locks.db")
    assert store.try_acquire("patient-1", "crashed-worker", lifetime=0.3)
    assert not store.try_acquire("patient-1", "another", lifetime=0.3)
    started = time.monotonic()
    async with store.lock("patient-1", lock_lifetime=5):
        waited = time.monotonic() - started
    assert 0.2 < waited < 2
    assert not store.release("patient-1", "crashed-worker")  # it had lost the lock


async def test_a_waiter_gives_up_after_the_lock_lifetime(tmp_path: Path) -> None:
    store = SQLiteLockStore(path=tmp_path / "locks.db")
    async with store.lock("patient-1", lock_lifetime=30):
        with pytest.raises(LockError):
            async with store.lock("patient-1", lock_lifetime=0.2):
                pass
        async with store.lock("patient-2", lock_lifetime=0.2):  # other conversations go on
            pass


async def test_a_broken_lock_file_is_a_lock_error(tmp_path: Path) -> None:
    path = tmp_path / "locks.db"
    store = SQLiteLockStore(path=path)
    store._connection = None  # the next statement opens the file again
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database" * 512)
    with pytest.raises(LockError, match="unavailable"):
        async with store.lock("patient-1"):
            pass


def test_the_file_sits_beside_the_sqlite_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPINE_LOCK_DB", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////srv/spine/spine.db")
    assert lock_file() == Path("/srv/spine/spine-locks.db")
    monkeypatch.setenv("SPINE_LOCK_DB", "/tmp/elsewhere.db")
    assert lock_file() == Path("/tmp/elsewhere.db")


async def test_a_lock_whose_process_ended_is_taken_over_at_once(tmp_path: Path) -> None:
    store = SQLiteLockStore(path=tmp_path / "locks.db")
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert store.try_acquire("patient-1", f"{gone.pid}:a-crashed-worker", lifetime=30)
    started = time.monotonic()
    async with store.lock("patient-1", lock_lifetime=30):
        assert time.monotonic() - started < 1
    # a live holder (this test's own parent process) is waited for
    assert store.try_acquire("patient-2", f"{os.getppid()}:alive", lifetime=30)
    with pytest.raises(LockError):
        async with store.lock("patient-2", lock_lifetime=0.3):
            pass
