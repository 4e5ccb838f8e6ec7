"""Database settings from the environment (never from files in the repo)."""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Dict
from urllib.parse import parse_qsl, urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = ROOT / "var" / "spine.db"


def production() -> bool:
    """``ENV=production``: shared stores are required (PostgreSQL, Redis), nothing falls back."""
    return os.environ.get("ENV", "").strip().lower() in ("production", "prod")


def database_url() -> str:
    """``DATABASE_URL`` if set (e.g. ``postgresql://user@host:5432/db``), else the SQLite file."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        # Heroku-style URLs use the scheme SQLAlchemy 1.4 no longer accepts.
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        require_tls(url, "DATABASE_URL")
        return url
    if production():
        raise RuntimeError("ENV=production: set DATABASE_URL (postgresql://user@host:5432/db)")
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


# libpq modes that encrypt the connection (PGSSLMODE or ?sslmode= in the URL).
TLS_SSLMODES = ("require", "verify-ca", "verify-full")
# Schemes that are TLS; what to use instead of the plain one.
TLS_SCHEMES = {"redis": "rediss", "amqp": "amqps"}


def _is_loopback(host: str | None) -> bool:
    if not host:  # a Unix socket (PostgreSQL's ?host=/run/postgresql): never leaves the machine
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def require_tls(url: str, setting: str) -> None:
    """``ENV=production``: health data crosses the network only encrypted. A PostgreSQL, Redis or
    RabbitMQ URL whose host is not this machine (loopback, e.g. a TLS sidecar) must use TLS;
    otherwise raise with what to change (the URL's password is never in the message)."""
    if not production():
        return
    parsed = urlparse(url)
    if _is_loopback(parsed.hostname):
        return
    scheme = parsed.scheme.split("+")[0]
    if scheme == "postgresql":
        mode = dict(parse_qsl(parsed.query)).get("sslmode") or os.environ.get("PGSSLMODE", "")
        if mode in TLS_SSLMODES:
            return
        fix = "add ?sslmode=verify-full (or require) to it"
    elif scheme in TLS_SCHEMES:
        fix = f"use {TLS_SCHEMES[scheme]}:// instead of {scheme}://"
    else:
        return
    raise RuntimeError(
        f"ENV=production: {setting} reaches {parsed.hostname} without TLS; {fix}. Health data "
        "must not cross the network unencrypted (a loopback address is accepted)."
    )


def redacted(url: str) -> str:
    """The URL (database, Redis, RabbitMQ) without its password, for log lines and errors."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never leak a malformed URL either
        return "<unparseable URL>"


def postgres_timeouts(url: str, connect_s: int, statement_ms: int) -> Dict[str, str]:
    """libpq settings that bound a PostgreSQL connection attempt and each statement (libpq
    otherwise waits for the OS, minutes on an unreachable host); none for other databases."""
    if not url.startswith("postgresql"):
        return {}
    return {"connect_timeout": str(connect_s), "options": f"-c statement_timeout={statement_ms}"}


SQLITE_BUSY_TIMEOUT_MS = 5000


def tune_sqlite(engine: Any) -> Any:
    """``engine`` with the settings a SQLite file shared by three processes needs (no-op for other
    databases): write-ahead logging, so readers never wait for the writer and a commit is one
    append; ``synchronous=NORMAL``, safe with WAL (a power cut can lose the last commits, never
    corrupt the file); and a busy timeout, so a writer waits for another process's write instead
    of failing with "database is locked"."""
    import sqlalchemy as sa

    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


DEFAULT_TIMEZONE = "Asia/Kolkata"


def support_timezone_name() -> str:
    """``SUPPORT_TIMEZONE``: the clinic's time zone, one setting for the support hours, "today" in
    booking dates and the console's days (metrics, queues, date filters)."""
    return os.environ.get("SUPPORT_TIMEZONE", "").strip() or DEFAULT_TIMEZONE


def support_timezone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(support_timezone_name())
