"""The data layer: migrations, transactional writes, references — on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from spine_db import migrate
from spine_db.config import database_url, redacted, require_tls
from spine_db.models import Base
from spine_db.store import (
    REFERENCE_ALPHABET,
    BookingRequest,
    CallbackRequest,
    Store,
    StoreError,
    new_reference,
)
from tests.support.databases import BACKENDS
from tests.support.databases import database_url as backend_url

BOOKING = BookingRequest(
    conversation_id="conv-1",
    channel="rest",
    doctor_id="sunit-mediratta",
    doctor_name="Dr. Sunit Mediratta",
    consult_mode="online",
    preferred_date=date(2026, 12, 5),
    preferred_time="Morning",
    patient_name="Asha Verma",
    mobile="+919876543210",
    contact_consent=True,
)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as value:
        yield value


@pytest.fixture
def store(url: str) -> Store:
    migrate.upgrade(url)
    return Store(url)


def test_migrations_create_the_tables_and_match_the_models(url: str) -> None:
    migrate.upgrade(url)
    engine = sa.create_engine(url, future=True)
    tables = set(sa.inspect(engine).get_table_names())
    assert {"bookings", "callbacks", "alembic_version"} <= tables
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == [], f"models changed without a migration: {diff}"
    migrate.upgrade(url)  # idempotent on start
    migrate.downgrade(url, "base")
    assert not {"bookings", "callbacks"} & set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_booking_is_stored_with_a_unique_reference(store: Store) -> None:
    reference = store.save_booking(BOOKING)
    assert re.fullmatch(r"BK-[A-Z2-9]{6}", reference)
    row = store.find_booking(reference)
    assert row is not None
    assert row["patient_name"] == "Asha Verma"
    assert row["preferred_date"] == date(2026, 12, 5)
    assert row["status"] == "new"
    assert row["created_at"] is not None


@pytest.mark.parametrize(
    ("again", "same"),
    [
        (BOOKING, True),  # booked again after a fault lost the confirmation and the form
        (replace(BOOKING, form_run="booking_form@2"), True),
        (replace(BOOKING, preferred_date=date(2026, 12, 6)), False),
        (replace(BOOKING, doctor_id="other", doctor_name="Dr. Other"), False),
        (replace(BOOKING, conversation_id="conv-other"), False),
    ],
)
def test_the_same_open_request_is_stored_once(
    store: Store, url: str, again: BookingRequest, same: bool
) -> None:
    first = store.save_booking(replace(BOOKING, form_run="booking_form@1"))
    assert (store.save_booking(again) == first) is same
    assert store.save_booking(replace(BOOKING, form_run="booking_form@1")) == first


def test_a_closed_request_does_not_absorb_a_new_one(store: Store, url: str) -> None:
    first = store.save_booking(BOOKING)
    with sa.create_engine(url, future=True).begin() as conn:
        conn.execute(
            sa.text("UPDATE bookings SET status = 'done' WHERE reference = :r"), {"r": first}
        )
    assert store.save_booking(BOOKING) != first
    callback = CallbackRequest("conv-2", "rest", "Ravi", "+919812345678", True)
    assert store.save_callback(callback) == store.save_callback(callback)


def test_callback_is_stored_linked_to_the_conversation(store: Store) -> None:
    reference = store.save_callback(
        CallbackRequest("conv-2", "rest", "Ravi", "+919812345678", True, "requested by the user")
    )
    assert reference.startswith("CB-")
    row = store.find_callback(reference)
    assert row is not None
    assert row["conversation_id"] == "conv-2"


def test_a_reference_clash_is_retried_not_lost(store: Store, url: str) -> None:
    first = store.save_booking(BOOKING)
    # A generator that repeats the first reference once: the store must pick another.
    picks = iter(first[3:] + "ABCDEF")
    unlucky = Store(url, reference=lambda prefix: new_reference(prefix, lambda _: next(picks)))
    second = unlucky.save_booking(replace(BOOKING, preferred_time="Evening"))
    assert second == "BK-ABCDEF"
    assert store.find_booking(first) is not None
    assert store.find_booking(second) is not None


def test_unreachable_database_raises_store_error_and_writes_nothing(tmp_path: Path) -> None:
    broken = Store("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError):
        broken.save_booking(BOOKING)


def test_missing_tables_raise_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store(f"sqlite:///{tmp_path / 'empty.db'}").save_booking(BOOKING)


def test_references_use_an_unambiguous_alphabet() -> None:
    assert not set("01OIL") & set(REFERENCE_ALPHABET)
    drawn = [new_reference("BK") for _ in range(2000)]
    # every reference is the prefix and six characters of the alphabet, all of which are used;
    # two equal draws are possible (31^6 references), so uniqueness is the database's job
    assert all(r[:3] == "BK-" and len(r) == 9 for r in drawn)
    assert set("".join(r[3:] for r in drawn)) == set(REFERENCE_ALPHABET)
    assert len(set(drawn)) >= 1990


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url().endswith("/var/spine.db")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:secret@db:5432/spine")
    assert database_url() == "postgresql://u:secret@db:5432/spine"
    assert "secret" not in redacted(database_url())


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("postgresql://u:s3cret@db.internal:5432/spine", False),
        ("postgresql://u:s3cret@db.internal:5432/spine?sslmode=prefer", False),
        ("postgresql://u:s3cret@db.internal:5432/spine?sslmode=verify-full", True),
        ("postgresql+psycopg2://u@10.0.0.5/spine?sslmode=require", True),
        ("postgresql://u:s3cret@127.0.0.1:5432/spine", True),  # loopback: a TLS sidecar, or dev
        ("postgresql://u@/spine?host=/run/postgresql", True),  # a Unix socket
        ("redis://:s3cret@redis.internal:6379/1", False),
        ("rediss://:s3cret@redis.internal:6379/1", True),
        ("redis://[::1]:6379/1", True),
        ("amqp://guest:s3cret@mq.internal:5672/", False),
        ("amqps://guest:s3cret@mq.internal:5671/", True),
    ],
)
def test_production_reaches_stores_on_other_hosts_only_over_tls(
    monkeypatch: pytest.MonkeyPatch, url: str, allowed: bool
) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    monkeypatch.delenv("ENV", raising=False)
    require_tls(url, "STORE_URL")  # development: anything goes
    monkeypatch.setenv("ENV", "production")
    if allowed:
        require_tls(url, "STORE_URL")
        return
    with pytest.raises(RuntimeError, match="STORE_URL reaches .* without TLS") as raised:
        require_tls(url, "STORE_URL")
    assert "s3cret" not in str(raised.value)


def test_pgsslmode_from_the_environment_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.internal/spine")
    with pytest.raises(RuntimeError, match="sslmode=verify-full"):
        database_url()
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    assert database_url() == "postgresql://u@db.internal/spine"
