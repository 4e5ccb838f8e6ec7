"""Patients' names and numbers in our own tables (bookings, call-backs), encrypted at rest.

``FIELD_ENCRYPTION_KEYS``: comma-separated Fernet keys (AES-128-CBC + HMAC-SHA256, from the
``cryptography`` package), the newest first. Values are written with the newest key and read
with any of them, so a new key can be put first, deployed, and the old rows re-encrypted with
``python -m spine_db.crypto rotate`` (``make rotate-keys``); the old key is dropped after that.
A new key: ``python -m spine_db.crypto new-key``.

An encrypted number cannot be compared, so each request also stores ``mobile_index``, an
HMAC-SHA256 of the number's last ten digits under a key derived from an encryption key: a
lookup or de-duplication compares indexes computed under every configured key.

Without keys (development) values are stored as given and a warning is logged once;
``ENV=production`` refuses to write or start without them. Rows written before keys were set
are read as they are and encrypted by ``rotate``.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import os
import re
import sys
from functools import lru_cache
from typing import Any, List, Tuple

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import TypeDecorator

from spine_db.config import production

logger = logging.getLogger(__name__)
PREFIX = "enc:"  # marks an encrypted value; a value without it is plain (legacy or development)
SETTING = "FIELD_ENCRYPTION_KEYS"


class FieldKeyError(RuntimeError):
    """Keys missing in production, malformed, or not the ones a value was written with."""


@lru_cache(maxsize=4)
def _keys_from(raw: str) -> Tuple[Tuple[bytes, ...], MultiFernet | None]:
    keys = tuple(k.strip().encode() for k in raw.split(",") if k.strip())
    if not keys:
        return (), None
    try:
        return keys, MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError):
        raise FieldKeyError(
            f"{SETTING} holds a malformed key: each must be a Fernet key "
            "(python -m spine_db.crypto new-key)"
        ) from None


def _configured() -> Tuple[Tuple[bytes, ...], MultiFernet | None]:
    keys, fernet = _keys_from(os.environ.get(SETTING, ""))
    if fernet is None:
        if production():
            raise FieldKeyError(
                f"ENV=production: set {SETTING} (python -m spine_db.crypto new-key); patients' "
                "names and numbers are not stored unencrypted"
            )
        _warn_plain()
    return keys, fernet


@lru_cache(maxsize=1)
def _warn_plain() -> None:
    logger.warning(
        "%s is not set: names and numbers in bookings and call-backs are stored unencrypted "
        "(development only)",
        SETTING,
    )


def check() -> None:
    """Raise now if the keys are missing (production) or malformed: at start, not mid-booking."""
    _configured()


def encrypt(value: str | None) -> str | None:
    if value is None:
        return None
    _, fernet = _configured()
    if fernet is None:
        return value
    return PREFIX + fernet.encrypt(value.encode()).decode()


def decrypt(value: str | None) -> str | None:
    if value is None or not value.startswith(PREFIX):
        return value
    _, fernet = _configured()
    if fernet is None:
        raise FieldKeyError(f"an encrypted value was read but {SETTING} is not set")
    try:
        return fernet.decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise FieldKeyError(f"a value was encrypted with a key that is not in {SETTING}") from None


def _digits(mobile: str) -> str:
    return re.sub(r"\D", "", mobile)[-10:]


def mobile_indexes(mobile: str) -> List[str]:
    """The number's index under every configured key, the newest first, then unkeyed (rows
    written before keys were set, whose number is still plain until ``rotate``)."""
    keys, _ = _configured()
    digits = _digits(mobile).encode()
    secrets_ = [hashlib.sha256(b"spine mobile index\0" + k).digest() for k in keys] + [b""]
    return [hmac.new(s, digits, hashlib.sha256).hexdigest() for s in secrets_]


def mobile_index(mobile: str) -> str:
    """The index a request is stored with (under the newest key)."""
    return mobile_indexes(mobile)[0]


class Encrypted(TypeDecorator):
    """A text column stored encrypted (see the module's docstring); reads give the plain text."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return encrypt(None if value is None else str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return decrypt(value)


def rotate(engine: sa.engine.Engine) -> int:
    """Re-encrypt every request's name and number with the newest key (plain ones too) and
    recompute its index; returns the rows rewritten. Each table in one transaction."""
    from spine_db.models import Booking, Callback

    keys, fernet = _configured()
    if fernet is None:
        raise FieldKeyError(f"set {SETTING} first")
    done = 0
    for table in (Booking.__table__, Callback.__table__):
        raw = sa.table(table.name, sa.column("id"), sa.column("patient_name"), sa.column("mobile"))
        with engine.begin() as conn:
            for row in conn.execute(sa.select(raw.c.id, raw.c.patient_name, raw.c.mobile)).all():
                name, mobile = decrypt(row.patient_name), decrypt(row.mobile) or ""
                index = mobile_index(mobile) if _digits(mobile) else None  # None: erased
                conn.execute(
                    sa.update(table)
                    .where(table.c.id == row.id)
                    .values(patient_name=name, mobile=mobile, mobile_index=index)
                )
                done += 1
    return done


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Field encryption keys")
    parser.add_argument("command", choices=["new-key", "rotate"])
    args = parser.parse_args(argv)
    if args.command == "new-key":
        print(Fernet.generate_key().decode())
        return 0
    from spine_db.config import database_url

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        count = rotate(sa.create_engine(database_url(), future=True))
    except FieldKeyError as error:
        logger.error("%s", error)
        return 1
    logger.info("re-encrypted %d requests with the newest key", count)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
