"""The message services tests use besides PostgreSQL (tests/support/databases.py): Redis and
RabbitMQ on this machine, or where TEST_REDIS_URL / TEST_RABBITMQ_URL point."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import pytest

from devstack.servers import free_port

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


# ---- throwaway servers a test may stop: never the machine's shared ones ----

PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def _as_postgres(*args: str) -> None:
    # Output to /dev/null, never to a pipe: the server started by pg_ctl would inherit it and
    # this call would wait for it to close.
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class OwnPostgres:
    """A throwaway PostgreSQL cluster (Debian's server binaries) on a free port."""

    def __init__(self) -> None:
        if not PG_BIN or shutil.which("runuser") is None:
            pytest.skip("PostgreSQL server binaries or runuser missing")
        self.bin, self.port = PG_BIN[-1], free_port()
        # The server runs as "postgres", which cannot enter pytest's private temporary folders.
        self.root = Path(tempfile.mkdtemp(prefix="spine-pg-"))
        self.root.chmod(0o777)
        self.data = self.root / "data"
        self.data.mkdir()
        shutil.chown(self.data, "postgres", "postgres")
        _as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        _as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1",
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class OwnRedis:
    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server missing")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not reachable(self.url) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextmanager
def running(*stores: Any) -> Iterator[None]:
    for store in stores:
        store.start()
    try:
        yield
    finally:
        for store in stores:
            with suppress(subprocess.CalledProcessError):  # already stopped by the test
                store.stop()
