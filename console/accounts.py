"""Staff accounts, login sessions and the audit log (tables from spine_db migrations)."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from spine_db.models import AuditEntry, StaffSession, StaffUser

ROLES = ("agent", "admin")
SESSION_HOURS = 8
MIN_PASSWORD = 12
_hasher = PasswordHasher()
# Compared against when the user does not exist, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Staff:
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    staff: Staff
    csrf_token: str


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    # --- accounts -------------------------------------------------------------------------

    def add(self, username: str, password: str, role: str) -> Staff:
        if not re.fullmatch(r"[a-z0-9._-]{3,64}", username):
            raise AccountError("username: 3-64 lowercase letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(StaffUser.__table__).values(
                        username=username,
                        password_hash=_hasher.hash(password),
                        role=role,
                        active=True,
                        created_at=_now(),
                    )
                )
        except sa.exc.IntegrityError as error:
            raise AccountError(f"user {username!r} already exists") from error
        return Staff(username, role)

    def authenticate(self, username: str, password: str) -> Staff | None:
        table = StaffUser.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(table).where(table.c.username == username, table.c.active.is_(True))
            ).first()
        try:
            _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(sa.update(table).where(table.c.id == row.id).values(last_login_at=_now()))
        return Staff(row.username, row.role)

    def usernames(self) -> list[str]:
        """Active staff, for assigning requests."""
        table = StaffUser.__table__
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(table.c.username)
                    .where(table.c.active.is_(True))
                    .order_by(table.c.username)
                ).scalars()
            )

    def accounts(self) -> list[dict]:
        """Every account (active or not), for the admin page and ``console.users list``."""
        table = StaffUser.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    table.c.username, table.c.role, table.c.active, table.c.last_login_at
                ).order_by(table.c.username)
            )
            return [dict(r._mapping) for r in rows]

    def _change(self, username: str, **values: object) -> None:
        table = StaffUser.__table__
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(table).where(table.c.username == username).values(**values)
            )
            if not done.rowcount:
                raise AccountError(f"no user {username!r}")
            if values.get("active") is False or "password_hash" in values:
                # a deactivated account or a reset password: its sessions end now
                conn.execute(
                    sa.delete(StaffSession.__table__).where(
                        StaffSession.__table__.c.username == username
                    )
                )

    def set_active(self, username: str, active: bool) -> None:
        self._change(username, active=active)

    def set_role(self, username: str, role: str) -> None:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        self._change(username, role=role)

    def reset_password(self, username: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
        self._change(username, password_hash=_hasher.hash(password))

    def end_sessions(self, username: str) -> int:
        """Log the user out everywhere; returns how many sessions ended."""
        table = StaffSession.__table__
        with self.engine.begin() as conn:
            return int(conn.execute(sa.delete(table).where(table.c.username == username)).rowcount)

    # --- sessions ---------------------------------------------------------------------------

    def open_session(self, staff: Staff) -> tuple[str, Session]:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(StaffSession.__table__).values(
                    token_hash=_token_hash(token),
                    username=staff.username,
                    csrf_token=csrf,
                    created_at=_now(),
                    expires_at=_now() + timedelta(hours=SESSION_HOURS),
                )
            )
        return token, Session(staff, csrf)

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        sessions, users = StaffSession.__table__, StaffUser.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    sessions.c.csrf_token, sessions.c.expires_at, users.c.username, users.c.role
                )
                .join(users, users.c.username == sessions.c.username)
                .where(sessions.c.token_hash == _token_hash(token), users.c.active.is_(True))
            ).first()
        if row is None:
            return None
        expires = (
            row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        )
        if expires <= _now():
            return None
        return Session(Staff(row.username, row.role), row.csrf_token)

    def close_session(self, token: str | None) -> None:
        if token:
            with self.engine.begin() as conn:
                table = StaffSession.__table__
                conn.execute(sa.delete(table).where(table.c.token_hash == _token_hash(token)))

    # --- audit ------------------------------------------------------------------------------

    def audit(self, staff: Staff, action: str, target: str = "", detail: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(AuditEntry.__table__).values(
                    at=_now(), username=staff.username, action=action, target=target, detail=detail
                )
            )


def csrf_ok(expected: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), str(given).encode("utf-8", "surrogateescape"))
