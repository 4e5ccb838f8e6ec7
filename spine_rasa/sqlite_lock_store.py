"""A conversation lock shared by the Rasa workers of one machine, in a SQLite file.

Rasa runs one Sanic worker unless the lock store is shared between processes: its in-memory lock
store would let two workers answer the same conversation at once. The production profile shares
Redis (spine_rasa/shared_stores.py); the default stack (`make run`) has no Redis, and one worker
uses one core: on two cores, 20 patients writing without pause waited 680 ms (p95) for a reply
with one worker and 410 ms with two (docs/benchmark.md). This store gives the default stack the
same guarantee as Redis does with a file next to its database: a worker takes a conversation's
lock with one atomic statement (an upsert that only replaces an expired lock), polls while another
worker holds it, and gives up with Rasa's ``LockError`` after ``lock_lifetime`` seconds. The holder
is recorded with its process id: a lock whose process is gone (a crash, a restart of `make run`)
is taken over at once instead of blocking that patient until it expires (``TICKET_LOCK_LIFETIME``,
30 s; spine_rasa/__main__.py). Process ids are this machine's: the file is for the workers of one
machine, never shared between machines.

Configured in endpoints.yml (``type: spine_rasa.sqlite_lock_store.SQLiteLockStore``). The file is
``SPINE_LOCK_DB`` if set, else beside the SQLite database (``var/spine-locks.db`` for
``var/spine.db``), else ``var/locks.db``. The lock's statements are short and run in the event
loop; a separate file keeps them from waiting behind the conversation store's writes.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncGenerator

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from spine_db.config import DEFAULT_SQLITE_PATH, database_url

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02
# A statement waits this long for another process's write to the lock file before failing.
BUSY_TIMEOUT_S = 5.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS conversation_locks ("
    " conversation_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL)"
)
# Taken when nobody holds the lock or its holder's time is up; otherwise no row changes.
_TAKE = (
    "INSERT INTO conversation_locks (conversation_id, holder, expires) VALUES (?, ?, ?)"
    " ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder,"
    " expires = excluded.expires WHERE conversation_locks.expires < ?"
)
_RELEASE = "DELETE FROM conversation_locks WHERE conversation_id = ? AND holder = ?"
_HOLDER = "SELECT holder FROM conversation_locks WHERE conversation_id = ?"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def lock_file() -> Path:
    """Where the locks live when endpoints.yml does not say (see the module docstring)."""
    configured = os.environ.get("SPINE_LOCK_DB", "").strip()
    if configured:
        return Path(configured)
    url = database_url()
    if url.startswith("sqlite:///") and url != "sqlite:///":
        database = Path(url[len("sqlite:///") :])
        return database.with_name(f"{database.stem}-locks.db")
    return DEFAULT_SQLITE_PATH.with_name("locks.db")


class SQLiteLockStore(LockStore):
    """Rasa's lock store interface over a SQLite file: only :meth:`lock` is used by Rasa."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        settings = {**((endpoint_config.kwargs if endpoint_config else None) or {}), **kwargs}
        self.path = Path(settings.get("path") or lock_file())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._connect().execute(_SCHEMA)
        logger.info("Lock store: SQLite file %s", self.path)

    def _connect(self) -> sqlite3.Connection:
        """This process's connection (Sanic starts its workers as new processes; a connection is
        never shared across a fork)."""
        if self._connection is None or self._pid != os.getpid():
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._connection, self._pid = connection, os.getpid()
        return self._connection

    def try_acquire(self, conversation_id: str, holder: str, lifetime: float) -> bool:
        now = time.time()
        cursor = self._connect().execute(_TAKE, (conversation_id, holder, now + lifetime, now))
        return cursor.rowcount == 1

    def release(self, conversation_id: str, holder: str) -> bool:
        """False when the lock had expired and another worker took it meanwhile."""
        return self._connect().execute(_RELEASE, (conversation_id, holder)).rowcount == 1

    def release_if_holder_died(self, conversation_id: str) -> bool:
        row = self._connect().execute(_HOLDER, (conversation_id,)).fetchone()
        if not row:
            return False
        pid = str(row[0]).split(":", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            return False
        logger.warning("took over a conversation lock whose process had ended")
        return self.release(conversation_id, row[0])

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock while a message is processed (the same contract as the
        Redis store's: a waiter gives up with ``LockError`` after ``lock_lifetime`` seconds)."""
        holder = f"{os.getpid()}:{uuid.uuid4().hex}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lock_lifetime
        try:
            while not self.try_acquire(conversation_id, holder, lock_lifetime):
                if self.release_if_holder_died(conversation_id):
                    continue
                if loop.time() > deadline:
                    raise LockError(f"Could not acquire lock for conversation '{conversation_id}'.")
                await asyncio.sleep(POLL_SECONDS)
        except sqlite3.Error as error:
            raise LockError(f"Lock store unavailable ({type(error).__name__}).") from None
        try:
            yield TicketLock(conversation_id)
        finally:
            try:
                if not self.release(conversation_id, holder):
                    logger.warning("lock of a conversation expired while its message was processed")
            except sqlite3.Error as error:
                logger.warning("could not release a conversation lock (%s)", type(error).__name__)
