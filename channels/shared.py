"""Once-only message handling shared by all replicas, through Redis (``REDIS_URL``; the production
profile sets it for the lock store anyway). Without REDIS_URL, by the workers of one machine (the
default stack starts one per core) through the machine's local SQLite file
(spine_rasa/local_file.py), whose table of claims answers the few Redis commands used here.

- Website widget: the first server to claim ``(sender, message_id)`` runs the message and stores its
  replies; a retry that reaches another server waits for those replies instead of running the
  message again.
(WhatsApp's deliveries are de-duplicated by the durable inbox in the database instead:
spine_db/whatsapp_queue.py.)
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List

from spine_db.config import require_tls

logger = logging.getLogger(__name__)

Replies = List[Dict[str, Any]]
RUNNING = b"running"

# The largest request body each webhook reads; a larger one is refused with 413 from its
# Content-Length (or as soon as a chunked body passes it), before it is read, parsed or
# HMAC-checked. Sanic's own default is 100 MB, and one such POST could get a replica killed.
WEBCHAT_MAX_BODY = 16 * 1024  # one message of at most 2,000 characters (4 bytes each) and two ids
WHATSAPP_MAX_BODY = 256 * 1024  # Meta batches messages and statuses in one delivery
TWILIO_MAX_BODY = 32 * 1024  # one form-encoded message
# Every other route of the Rasa server (the channels' health checks; the HTTP API is off).
SERVER_MAX_BODY = 1024 * 1024


async def receive_body(request: Any, limit: int) -> None:
    """Read the body of a ``stream=True`` route into ``request.body``, at most ``limit`` bytes:
    past that, Sanic's PayloadTooLarge (413) is raised before the body is read."""
    request.stream.request_max_size = min(limit, request.stream.request_max_size)
    await request.receive_body()


class NotAnsweredYet(RuntimeError):
    """Another server is still answering this message (the widget retries later)."""


def shared_claims() -> Any:
    """Redis when ``REDIS_URL`` is set, else the machine's local file."""
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        return LocalClaims()
    import redis.asyncio

    require_tls(url, "REDIS_URL")
    # A Redis that does not answer must not hold a patient's message (urgent ones included) for
    # long before the channel falls back to this process's memory.
    return redis.asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=0.5)


class LocalClaims:
    """``SET NX EX``, ``GET``, ``DEL`` and ``SCAN MATCH`` over a table of the local file, for
    :class:`SharedReplies`. Expired rows are deleted on every write: kept replies may hold a
    name, and are kept no longer than in Redis."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS kept_replies"
        " (name TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL)",
        # Every write sweeps the expired rows: by index, not by reading the whole table.
        "CREATE INDEX IF NOT EXISTS kept_replies_expires ON kept_replies (expires)",
    )

    def __init__(self, path: Any = None) -> None:
        from spine_rasa.local_file import LocalFile

        self.file = LocalFile(path, self.SCHEMA)

    async def set(self, name: str, value: Any, nx: bool = False, ex: float = 0) -> bool:
        data = value.encode() if isinstance(value, str) else bytes(value)

        def write(connection: Any) -> bool:
            now = time.time()
            connection.execute("DELETE FROM kept_replies WHERE expires < ?", (now,))
            verb = "INSERT OR IGNORE" if nx else "INSERT OR REPLACE"
            cursor = connection.execute(
                f"{verb} INTO kept_replies (name, value, expires) VALUES (?, ?, ?)",  # noqa: S608
                (name, data, now + (ex or 10**9)),
            )
            return bool(cursor.rowcount == 1)

        return await self.file.run(write)

    async def get(self, name: str) -> bytes | None:
        def read(connection: Any) -> bytes | None:
            row = connection.execute(
                "SELECT value FROM kept_replies WHERE name = ? AND expires >= ?",
                (name, time.time()),
            ).fetchone()
            return bytes(row[0]) if row else None

        return await self.file.run(read)

    async def delete(self, name: str | bytes) -> None:
        key = name.decode() if isinstance(name, bytes) else name  # as scan_iter returns it
        await self.file.run(lambda c: c.execute("DELETE FROM kept_replies WHERE name = ?", (key,)))

    async def scan_iter(self, match: str, count: int = 0) -> AsyncIterator[bytes]:
        rows = await self.file.run(
            lambda c: c.execute(
                "SELECT name FROM kept_replies WHERE name GLOB ?", (match,)
            ).fetchall()
        )
        for (name,) in rows:
            yield name.encode()


def _prefix() -> str:
    return f"spine:{os.environ.get('REDIS_KEY_PREFIX', '').strip()}:"


class SharedReplies:
    """``claim``: how long a server's claim on a message lasts. It answers within the guard's
    reply deadline (10 s), so a claim that outlives 30 s belongs to a server that died, and a
    retry on another server takes the message over instead of waiting for an answer that will
    never come. ``ttl``: how long the answer is kept for retries."""

    def __init__(self, client: Any, ttl: int = 900, wait: float = 60.0, claim: int = 30) -> None:
        self.redis, self.ttl, self.wait, self.claim = client, ttl, wait, claim

    @staticmethod
    def _name(sender: str, message_id: str = "*") -> str:
        """A reply's key. The sender id is hashed: it is a bearer token for the conversation and
        names the patient's conversation, and a receipt of an erasure stays for retries."""
        digest = hashlib.sha256(sender.encode()).hexdigest()[:32]
        return f"{_prefix()}webchat:{digest}:{message_id}"

    async def forget(self, sender: str, keep: str) -> None:
        """Delete the replies kept for ``sender``'s retries, but the one of message ``keep``.
        Best effort: they expire within ``ttl`` anyway."""
        try:
            pattern = self._name(sender)
            async for name in self.redis.scan_iter(match=pattern, count=500):
                text = name.decode() if isinstance(name, bytes) else str(name)
                if not text.endswith(f":{keep}"):
                    await self.redis.delete(name)
        except Exception as error:  # noqa: BLE001 - an erasure is not undone by a Redis outage
            logger.warning("shared replies: could not forget a sender (%s)", type(error).__name__)

    async def run_once(
        self, sender: str, message_id: str, handle: Callable[[], Awaitable[Replies]]
    ) -> Replies:
        """Run ``handle`` once for ``sender``'s message ``message_id`` across all servers."""
        name = self._name(sender, message_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while True:
            if await self.redis.set(name, RUNNING, nx=True, ex=self.claim):
                try:
                    replies = await handle()
                except BaseException:
                    await self.redis.delete(name)  # not answered: a retry runs it again
                    raise
                kept = [{k: v for k, v in r.items() if k != "recipient_id"} for r in replies]
                await self.redis.set(name, json.dumps(kept), ex=self.ttl)
                return replies
            value = await self.redis.get(name)
            if value is not None and value != RUNNING:
                # kept without the sender id (see _name); a retry gets the replies as sent
                return [{"recipient_id": sender, **r} for r in json.loads(value)]
            if loop.time() > deadline:
                raise NotAnsweredYet(message_id)
            await asyncio.sleep(0.1)  # value None: the claim just ended without an answer
