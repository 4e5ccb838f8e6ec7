"""The message services tests use besides PostgreSQL (tests/databases.py): Redis and RabbitMQ on
this machine, or where TEST_REDIS_URL / TEST_RABBITMQ_URL point."""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 0), timeout=2).close()
        return True
    except OSError:
        return False


def require(*urls: str) -> None:
    """Skip locally / fail in CI (no silent skips in CI) when a service cannot be reached."""
    for url in urls:
        if not reachable(url):
            if os.environ.get("CI"):
                pytest.fail(f"CI must provide {url.split(':')[0]} on {url}")
            pytest.skip(f"{url} not reachable")
