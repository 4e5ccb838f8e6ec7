"""Console accounts: argon2 hashes, sessions, audit log, login rate limiting, the CLI."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from console.accounts import AccountError, Accounts, Staff, csrf_ok
from console.ratelimit import FailureLimiter
from spine_db import migrate

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


@pytest.fixture
def engine(tmp_path: Path) -> sa.engine.Engine:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    migrate.upgrade(url)
    return sa.create_engine(url, future=True)


@pytest.fixture
def accounts(engine: sa.engine.Engine) -> Accounts:
    return Accounts(engine)


def test_passwords_are_stored_as_argon2_hashes(
    accounts: Accounts, engine: sa.engine.Engine
) -> None:
    accounts.add("asha", PASSWORD, "agent")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM staff_users")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("username", "password", "role", "error"),
    [
        ("Asha Verma", PASSWORD, "agent", "username"),
        ("asha", "short", "agent", "at least 12"),
        ("asha", PASSWORD, "root", "role"),
    ],
)
def test_bad_accounts_are_refused(
    accounts: Accounts, username: str, password: str, role: str, error: str
) -> None:
    with pytest.raises(AccountError, match=error):
        accounts.add(username, password, role)


def test_duplicate_username(accounts: Accounts) -> None:
    accounts.add("asha", PASSWORD, "agent")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("asha", PASSWORD, "admin")


def test_authenticate(accounts: Accounts) -> None:
    accounts.add("ravi", PASSWORD, "admin")
    assert accounts.authenticate("ravi", PASSWORD) == Staff("ravi", "admin")
    assert accounts.authenticate("ravi", PASSWORD + "!") is None
    assert accounts.authenticate("nobody", PASSWORD) is None


def test_sessions_open_expire_and_close(accounts: Accounts, engine: sa.engine.Engine) -> None:
    staff = accounts.add("meera", PASSWORD, "agent")
    token, session = accounts.open_session(staff)
    assert accounts.session(token) == session
    assert accounts.session("forged") is None
    assert accounts.session(None) is None
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM staff_sessions")).scalar_one()
    assert stored != token  # only the hash is stored
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE staff_sessions SET expires_at = :t"),
            {"t": datetime.now(timezone.utc) - timedelta(minutes=1)},
        )
    assert accounts.session(token) is None
    token, _ = accounts.open_session(staff)
    accounts.close_session(token)
    assert accounts.session(token) is None


def test_audit_entries(accounts: Accounts, engine: sa.engine.Engine) -> None:
    staff = accounts.add("admin1", PASSWORD, "admin")
    accounts.audit(staff, "reveal", "conversation:abc", "mobile")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT username, action, target FROM audit_log")).one()
    assert tuple(row) == ("admin1", "reveal", "conversation:abc")


def test_csrf_comparison() -> None:
    assert csrf_ok("abc", "abc")
    assert not csrf_ok("abc", "abd")
    assert not csrf_ok("abc", None)
    assert not csrf_ok("abc", "")


def test_failure_limiter_blocks_then_forgets() -> None:
    now = [0.0]
    limiter = FailureLimiter(attempts=3, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        assert not limiter.blocked("ip:1", "user:asha")
        limiter.failed("ip:1", "user:asha")
    assert limiter.blocked("ip:1")
    assert limiter.blocked("user:asha")
    assert not limiter.blocked("ip:2")
    now[0] = 61
    assert not limiter.blocked("ip:1", "user:asha")


def test_cli_creates_an_account_without_the_password_on_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "console.users",
            "add",
            "desk1",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Created admin account 'desk1'" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert Accounts(sa.create_engine(url, future=True)).authenticate("desk1", PASSWORD)
    weak = subprocess.run(
        [sys.executable, "-m", "console.users", "add", "desk2", "--password-stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert weak.returncode == 1
    assert "at least 12" in weak.stderr


def test_the_limiter_forgets_stale_keys() -> None:
    from console.ratelimit import PRUNE_AT

    now = [0.0]
    limiter = FailureLimiter(attempts=3, window_seconds=60, clock=lambda: now[0])
    for n in range(PRUNE_AT):
        limiter.failed(f"ip:10.0.{n // 250}.{n % 250}")
    assert len(limiter) == PRUNE_AT
    now[0] = 61  # every one of them is past the window
    limiter.failed("ip:10.9.9.9")
    assert len(limiter) == 1


def test_deactivating_or_resetting_a_password_ends_the_sessions(accounts: Accounts) -> None:
    staff = accounts.add("kiran", PASSWORD, "agent")
    token, _ = accounts.open_session(staff)
    accounts.set_active("kiran", False)
    assert accounts.session(token) is None
    assert accounts.authenticate("kiran", PASSWORD) is None
    accounts.set_active("kiran", True)
    token, _ = accounts.open_session(staff)
    accounts.reset_password("kiran", "a new long passphrase")
    assert accounts.session(token) is None
    assert accounts.authenticate("kiran", PASSWORD) is None
    assert accounts.authenticate("kiran", "a new long passphrase") == staff
    accounts.set_role("kiran", "admin")
    assert accounts.authenticate("kiran", "a new long passphrase") == Staff("kiran", "admin")
    accounts.open_session(staff)
    assert accounts.end_sessions("kiran") == 1
    with pytest.raises(AccountError, match="no user"):
        accounts.set_active("nobody", False)


def test_cli_manages_accounts_and_audits_each_change(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "USER": "ops"}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "console.users", *args],
            env=env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert cli("add", "desk2", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    assert cli("deactivate", "desk2").returncode == 0
    assert "deactivated" in cli("list").stdout
    assert cli("reactivate", "desk2").returncode == 0
    assert cli("role", "desk2", "--role", "admin").returncode == 0
    done = cli("password", "desk2", "--password-stdin", stdin="another long passphrase\n")
    assert done.returncode == 0
    assert "another long passphrase" not in done.stdout + done.stderr
    assert cli("logout", "desk2").returncode == 0
    missing = cli("deactivate", "nobody")
    assert missing.returncode == 1
    assert "no user" in missing.stderr
    engine = sa.create_engine(url, future=True)
    with engine.connect() as conn:
        audit = [
            tuple(r)
            for r in conn.execute(sa.text("SELECT username, target, detail FROM audit_log"))
        ]
    assert audit == [
        ("cli:ops", "desk2", "created as agent"),
        ("cli:ops", "desk2", "deactivated"),
        ("cli:ops", "desk2", "reactivated"),
        ("cli:ops", "desk2", "role admin"),
        ("cli:ops", "desk2", "password reset; sessions ended"),
        ("cli:ops", "desk2", "0 sessions ended"),
    ]
    assert Accounts(engine).authenticate("desk2", "another long passphrase") == Staff(
        "desk2", "admin"
    )
