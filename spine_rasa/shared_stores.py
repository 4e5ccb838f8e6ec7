"""The production stores besides the database, configured from the environment and checked at
start (a store that is configured but unreachable stops the server with a clear message):

- ``ProjectRedisLockStore`` (``REDIS_URL``): a lock per conversation in Redis, so two Rasa servers
  (or Sanic workers) never process messages of one conversation at the same time. Rasa's own
  RedisLockStore is not safe for that: it issues tickets with a read-modify-write of one Redis
  value, so two servers receiving a message at the same moment can both get ticket 0 and both run
  (RasaHQ/rasa#9213; the fix, ConcurrentRedisLockStore, is not in Rasa Open Source). Here the lock
  is one atomic ``SET NX PX`` with a token and a compare-and-delete release (redis-py's Lock),
  through redis-py's asyncio client: waiting for Redis never holds up the server's other
  conversations (Rasa's lock stores call Redis synchronously inside the event loop).
- ``ProjectEventBroker`` (``RABBITMQ_URL``, optional): Rasa's RabbitMQ broker streaming every
  conversation event to the ``RABBITMQ_QUEUE`` queue (default ``rasa_events``) for analytics. Not
  set → no broker.

endpoints.prod.yml names them; secrets stay in the environment, never in the file.
"""
from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator
from urllib.parse import unquote, urlparse

import redis.asyncio
import redis.exceptions
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.shared.exceptions import ConnectionException
from rasa.utils.endpoints import EndpointConfig

from spine_db.config import redacted, require_tls

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.02


def redis_settings(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise ConnectionException(
            f"REDIS_URL must start with redis:// or rediss:// ({redacted(url)})"
        )
    db = parsed.path.strip("/")
    return {
        "host": parsed.hostname or "localhost",
        "port": parsed.port or 6379,
        "db": int(db) if db.isdigit() else 1,
        "username": unquote(parsed.username) if parsed.username else None,
        "password": unquote(parsed.password) if parsed.password else None,
        "use_ssl": parsed.scheme == "rediss",
    }


class ProjectRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **_: Any) -> None:
        url = os.environ.get("REDIS_URL", "").strip()
        if not url:
            raise ConnectionException(
                "The Redis lock store needs REDIS_URL (e.g. redis://127.0.0.1:6379/1)."
            )
        require_tls(url, "REDIS_URL")
        kwargs = dict((endpoint_config.kwargs if endpoint_config else {}) or {})
        settings = redis_settings(url)
        timeout = float(kwargs.get("socket_timeout", 5))
        super().__init__(
            **settings,
            key_prefix=kwargs.get("key_prefix") or os.environ.get("REDIS_KEY_PREFIX") or None,
            socket_timeout=timeout,
        )
        ssl = settings.pop("use_ssl")
        self._async_settings = {**settings, "ssl": ssl, "socket_timeout": timeout}
        self._async: tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis] | None = None
        try:
            self.red.ping()
        except Exception as error:  # noqa: BLE001 - redis raises several kinds
            raise ConnectionException(
                f"Cannot reach the Redis lock store {redacted(url)} ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}). Not starting: without "
                "it two servers could answer the same conversation at once. Check REDIS_URL."
            ) from None
        logger.info("Lock store: Redis at %s", redacted(url))

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Hold the conversation's lock while a message is processed. A lock whose holder died
        expires after ``lock_lifetime`` seconds; a waiter gives up (LockError) after as long."""
        mutex = self._client().lock(
            f"{self.key_prefix}mutex:{conversation_id}", timeout=lock_lifetime, blocking=False
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lock_lifetime
        while not await mutex.acquire(blocking=False):
            if loop.time() > deadline:
                raise LockError(f"Could not acquire lock for conversation '{conversation_id}'.")
            await asyncio.sleep(POLL_SECONDS)
        try:
            yield TicketLock(conversation_id)
        finally:
            try:
                await mutex.release()
            except redis.exceptions.LockError:
                logger.warning("lock of a conversation expired while its message was processed")

    def _client(self) -> redis.asyncio.Redis:
        """The asyncio client of the running event loop (each Sanic worker has its own loop)."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, redis.asyncio.Redis(**self._async_settings))
        return self._async[1]


class ProjectEventBroker(PikaEventBroker):
    @classmethod
    async def from_endpoint_config(  # type: ignore[override]
        cls,
        broker_config: EndpointConfig | None,
        event_loop: asyncio.AbstractEventLoop | None = None,
    ) -> PikaEventBroker | None:
        url = os.environ.get("RABBITMQ_URL", "").strip()
        if not url:
            logger.info("Event broker: none (RABBITMQ_URL not set)")
            return None
        parsed = urlparse(url)
        if parsed.scheme not in ("amqp", "amqps"):
            raise ConnectionException(f"RABBITMQ_URL must start with amqp:// ({redacted(url)})")
        require_tls(url, "RABBITMQ_URL")
        kwargs = dict((broker_config.kwargs if broker_config else {}) or {})
        port = parsed.port or 5672
        vhost = parsed.path if parsed.path not in ("", "/") else ""
        broker = cls(
            # With the port in the host URL: Rasa appends the port only if its digits do not
            # already occur somewhere in the URL (port 1 on 127.0.0.1 would be dropped).
            f"{parsed.scheme}://{parsed.hostname}:{port}{vhost}",
            username=unquote(parsed.username or "guest"),
            password=unquote(parsed.password or "guest"),
            port=port,
            queues=[os.environ.get("RABBITMQ_QUEUE", "").strip() or "rasa_events"],
            connection_attempts=int(kwargs.get("connection_attempts", 3)),
            retry_delay_in_seconds=float(kwargs.get("retry_delay_in_seconds", 1)),
            event_loop=event_loop,
        )
        try:
            await broker.connect()
        except Exception as error:  # noqa: BLE001 - aio-pika raises several kinds
            raise ConnectionException(
                f"Cannot reach the RabbitMQ event broker {redacted(url)} ({type(error).__name__}). "
                "Not starting: events for analytics would be lost. Check RABBITMQ_URL or unset "
                "it to run without a broker."
            ) from None
        logger.info("Event broker: RabbitMQ at %s", redacted(url))
        return broker
