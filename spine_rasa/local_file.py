"""A SQLite file the Rasa workers of one machine share (the default stack has no Redis): the
conversation locks (spine_rasa/sqlite_lock_store.py) and the widget's once-only claims
(channels/shared.py) live in it.

Its statements run on one thread of each worker's own, never in the event loop: a file held by
another writer (a backup, an operator's sqlite3 shell, a slow checkpoint) then delays the lock
or claim that waits for it, not every conversation of the worker, urgent replies included.
The file is ``SPINE_LOCK_DB`` if set, else beside the SQLite database (``var/spine-locks.db`` for
``var/spine.db``), else ``var/locks.db``.
"""
from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from spine_db.config import DEFAULT_SQLITE_PATH, database_url

T = TypeVar("T")

# A statement waits this long for another process's write before failing ("database is locked");
# callers that poll treat that as "not yet".
BUSY_TIMEOUT_S = 1.0
# How long opening the file keeps retrying while another process sets it up.
OPEN_TIMEOUT_S = 15.0


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether another process holds the file: Python 3.10's sqlite3 exposes no error codes, so
    the message ("database is locked", "database table is busy") is all there is to read."""
    return "locked" in str(error) or "busy" in str(error)


def local_file_path() -> Path:
    configured = os.environ.get("SPINE_LOCK_DB", "").strip()
    if configured:
        return Path(configured)
    url = database_url()
    if url.startswith("sqlite:///") and url != "sqlite:///":
        database = Path(url[len("sqlite:///") :])
        return database.with_name(f"{database.stem}-locks.db")
    return DEFAULT_SQLITE_PATH.with_name("locks.db")


class LocalFile:
    """One connection per process, used only from that process's own thread."""

    def __init__(self, path: Path | str | None = None, schema: tuple[str, ...] = ()) -> None:
        self.path = Path(path or local_file_path())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._schema = schema
        self._pid = 0
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        # The workers start together and open a new file at the same moment: switching it to WAL
        # or creating a table can find the other's write under way, and SQLite's busy handler
        # does not cover the journal-mode switch. A worker that failed here would be gone.
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        while True:
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                for statement in self._schema:
                    connection.execute(statement)
                return connection
            except sqlite3.OperationalError as error:
                connection.close()
                if not is_busy(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _in_thread(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            self._connection = self._connect()
        return work(self._connection)

    def _pool(self) -> ThreadPoolExecutor:
        # Sanic forks its workers: a thread or connection made before the fork is not this
        # process's own.
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="spine-local-file")
            self._connection, self._pid = None, os.getpid()
        return self._executor

    def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` now, from the calling thread (start-up, tests)."""
        return self._pool().submit(self._in_thread, work).result()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` on the file's thread, without blocking the event loop."""
        future = self._pool().submit(self._in_thread, work)
        return await asyncio.wrap_future(future)
