"""A conversation lock shared by the Rasa workers of one machine, in a SQLite file.

Rasa runs one Sanic worker unless the lock store is shared between processes: its in-memory lock
store would let two workers answer the same conversation at once. The production profile shares
Redis (spine_rasa/shared_stores.py); the default stack (`make run`) has no Redis, and one worker
uses one core: on two cores, 20 patients writing without pause waited 680 ms (p95) for a reply
with one worker and 440 ms with two (docs/decisions/default-stack-workers.md). This store gives
the default stack the guarantee Redis gives production, with the machine's local file
(spine_rasa/local_file.py): a worker takes a conversation's lock with one atomic statement (an
upsert that only replaces an expired lock), polls while another worker holds it, and gives up
with Rasa's ``LockError`` after ``lock_lifetime`` seconds.

The holder is recorded as its process: id, start time and process-id namespace. A lock whose
process is gone (a crash, a restart of `make run`) is taken over at once instead of blocking
that patient until it expires (``TICKET_LOCK_LIFETIME``, 30 s; spine_rasa/__main__.py). A holder
in another namespace (a container sharing the volume) or unreadable process data is never taken
over: such a lock only expires.

Configured in endpoints.yml (``type: spine_rasa.sqlite_lock_store.SQLiteLockStore``).
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

from spine_rasa.local_file import LocalFile, is_busy

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.02

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS conversation_locks ("
    " conversation_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL)",
)
# Taken when nobody holds the lock or its holder's time is up; otherwise no row changes.
_TAKE = (
    "INSERT INTO conversation_locks (conversation_id, holder, expires) VALUES (?, ?, ?)"
    " ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder,"
    " expires = excluded.expires WHERE conversation_locks.expires < ?"
)
_RELEASE = "DELETE FROM conversation_locks WHERE conversation_id = ? AND holder = ?"
_HOLDER = "SELECT holder FROM conversation_locks WHERE conversation_id = ?"


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "?"


def holder_id() -> str:
    """This process as a lock holder: ``pid:start time:pid namespace:random``."""
    pid = os.getpid()
    return f"{pid}:{_started(pid) or '?'}:{_namespace()}:{uuid.uuid4().hex}"


def holder_ended(holder: str) -> bool:
    """Whether the process that wrote ``holder`` has certainly ended (same namespace, and its
    id is free or now another process's)."""
    parts = holder.split(":")
    if len(parts) != 4 or not parts[0].isdigit() or "?" in parts[1:3]:
        return False
    pid, started, namespace = int(parts[0]), parts[1], parts[2]
    if namespace != _namespace() or pid == os.getpid():
        return False
    now = _started(pid)
    return now is None or now != started


class SQLiteLockStore(LockStore):
    """Rasa's lock store interface over the local file: only :meth:`lock` is used by Rasa."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        settings = {**((endpoint_config.kwargs if endpoint_config else None) or {}), **kwargs}
        self.file = LocalFile(settings.get("path"), SCHEMA)
        self.file.call(lambda connection: None)  # the file and its table exist, or start fails
        logger.info("Lock store: SQLite file %s", self.file.path)

    @staticmethod
    def _take(
        connection: sqlite3.Connection, conversation_id: str, holder: str, life: float
    ) -> bool:
        now = time.time()
        try:
            cursor = connection.execute(_TAKE, (conversation_id, holder, now + life, now))
        except sqlite3.OperationalError as error:
            if is_busy(error):
                return False  # another process is writing the file: poll again
            raise
        if cursor.rowcount == 1:
            return True
        row = connection.execute(_HOLDER, (conversation_id,)).fetchone()
        if row and holder_ended(str(row[0])):
            logger.warning("took over a conversation lock whose process had ended")
            connection.execute(_RELEASE, (conversation_id, row[0]))
            cursor = connection.execute(_TAKE, (conversation_id, holder, now + life, now))
            return cursor.rowcount == 1
        return False

    async def try_acquire(self, conversation_id: str, holder: str, lifetime: float) -> bool:
        return await self.file.run(lambda c: self._take(c, conversation_id, holder, lifetime))

    async def release(self, conversation_id: str, holder: str) -> bool:
        """False when the lock had expired and another worker took it meanwhile."""
        return await self.file.run(
            lambda c: c.execute(_RELEASE, (conversation_id, holder)).rowcount == 1
        )

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock while a message is processed (the same contract as the
        Redis store's: a waiter gives up with ``LockError`` after ``lock_lifetime`` seconds)."""
        holder = holder_id()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lock_lifetime
        try:
            while not await self.try_acquire(conversation_id, holder, lock_lifetime):
                if loop.time() > deadline:
                    raise LockError(f"Could not acquire lock for conversation '{conversation_id}'.")
                await asyncio.sleep(POLL_SECONDS)
        except sqlite3.Error as error:
            raise LockError(f"Lock store unavailable ({type(error).__name__}).") from None
        try:
            yield TicketLock(conversation_id)
        finally:
            await self._release_soon(conversation_id, holder)

    async def _release_soon(self, conversation_id: str, holder: str) -> None:
        """Release, retrying a busy file a few times: a lock left behind by a live worker blocks
        that patient until it expires."""
        for attempt in range(5):
            try:
                if not await self.release(conversation_id, holder):
                    logger.warning("lock of a conversation expired while its message was processed")
                return
            except sqlite3.Error as error:
                logger.warning("could not release a conversation lock (%s)", type(error).__name__)
                await asyncio.sleep(0.05 * (attempt + 1))
