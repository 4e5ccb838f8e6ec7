"""Names and numbers in bookings and call-backs are encrypted at rest, found by number through
their index, and re-encrypted by the rotation command — on SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from devstack.servers import ROOT
from spine_db import crypto
from spine_db.erasure import conversations_of
from spine_db.store import Store
from tests.integration.test_spine_db import BOOKING
from tests.support.databases import BACKENDS, project_database
from tests.support.databases import database_url as backend_url

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as value:
        project_database(value).dispose()
        yield value


def module(name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m name args`` as an operator runs it, with only ``env`` set (no test key)."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", name, *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def raw_rows(url: str) -> str:
    with sa.create_engine(url, future=True).connect() as conn:
        return repr(conn.execute(sa.text("SELECT * FROM bookings")).all())


def test_a_booking_is_stored_encrypted_and_read_back_plain(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(crypto.SETTING, OLD)
    store = Store(url)
    reference = store.save_booking(BOOKING)
    stored = raw_rows(url)
    for secret in ("Asha", "Verma", "9876543210"):
        assert secret not in stored
    assert "enc:" in stored
    row = store.find_booking(reference)
    assert row is not None
    assert (row["patient_name"], row["mobile"]) == ("Asha Verma", "+919876543210")
    assert store.save_booking(BOOKING) == reference  # the same request, compared by its index
    with sa.create_engine(url, future=True).connect() as conn:
        assert conversations_of(conn, "098765 43210") == ["conv-1"]


def test_rotation_moves_every_row_to_the_new_key(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crypto.SETTING, raising=False)
    plain = Store(url).save_booking(BOOKING)  # written before keys were set
    assert "Asha Verma" in raw_rows(url)
    monkeypatch.setenv(crypto.SETTING, OLD)
    old = Store(url).save_booking(replace(BOOKING, conversation_id="c2"))
    monkeypatch.setenv(crypto.SETTING, f"{NEW},{OLD}")  # the new key deployed first
    with sa.create_engine(url, future=True).connect() as conn:
        assert conversations_of(conn, "9876543210") == ["c2", "conv-1"]  # found meanwhile
    result = module(
        "spine_db.crypto", "rotate", DATABASE_URL=url, **{crypto.SETTING: f"{NEW},{OLD}"}
    )
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 2 requests" in result.stderr
    assert "Asha" not in raw_rows(url)
    monkeypatch.setenv(crypto.SETTING, NEW)  # the old key dropped after the rotation
    store = Store(url)
    for reference in (plain, old):
        row = store.find_booking(reference)
        assert row is not None
        assert row["patient_name"] == "Asha Verma"
    with sa.create_engine(url, future=True).connect() as conn:
        assert conversations_of(conn, "+91 98765 43210") == ["c2", "conv-1"]


def test_a_value_under_an_unknown_key_is_an_error_not_garbage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(crypto.SETTING, OLD)
    token = crypto.encrypt("Asha")
    monkeypatch.setenv(crypto.SETTING, NEW)
    with pytest.raises(crypto.FieldKeyError, match="not in FIELD_ENCRYPTION_KEYS"):
        crypto.decrypt(token)
    monkeypatch.setenv(crypto.SETTING, "not-a-key")
    with pytest.raises(crypto.FieldKeyError, match="malformed"):
        crypto.check()


def test_production_refuses_to_store_contacts_without_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.delenv(crypto.SETTING, raising=False)
    with pytest.raises(crypto.FieldKeyError, match="ENV=production: set FIELD_ENCRYPTION_KEYS"):
        Store(f"sqlite:///{tmp_path / 'x.db'}")
    # the start command (Procfile) refuses too
    result = module(
        "spine_db.migrate", ENV="production", DATABASE_URL="postgresql://u@127.0.0.1:1/x"
    )
    assert result.returncode == 1
    assert "set FIELD_ENCRYPTION_KEYS" in result.stderr


def test_a_new_key_is_a_working_fernet_key() -> None:
    result = module("spine_db.crypto", "new-key")
    Fernet(result.stdout.strip().encode())
