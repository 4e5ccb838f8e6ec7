"""Databases for tests: a SQLite file always; PostgreSQL when TEST_DATABASE_URL is set (CI sets it).

Each PostgreSQL user gets a fresh database (created from TEST_DATABASE_URL's server, dropped after),
so runs never see each other's rows.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from devstack.databases import fresh_database

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite", "postgresql"]


def require_postgres() -> str:
    """The server URL, or skip locally / fail in CI (no silent skips in CI)."""
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    if os.environ.get("CI"):
        pytest.fail("CI must set TEST_DATABASE_URL (PostgreSQL) — see .ci/run")
    pytest.skip("TEST_DATABASE_URL not set: PostgreSQL variant skipped on this machine")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    with fresh_database(require_postgres()) as url:
        yield url


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'spine.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


def project_database(url: str) -> sa.engine.Engine:
    """A database as a deployment has it: Rasa's ``events`` table (created by Rasa's own SQL
    tracker store, as the Rasa server does) and the project's tables (migrations)."""
    from rasa.core.tracker_store import SQLTrackerStore

    from spine_db import migrate

    SQLTrackerStore(host=url)
    migrate.upgrade(url)
    return sa.create_engine(url, future=True)


def plain(value: Any) -> Any:
    """A stored cell as the application reads it: names and numbers (encrypted at rest,
    spine_db/crypto.py) decrypted, anything else as it is."""
    from spine_db.crypto import decrypt

    return decrypt(value) if isinstance(value, str) else value
