"""Database settings from the environment (never from files in the repo)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

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
        return "postgresql://" + url[len("postgres://") :] if url.startswith("postgres://") else url
    if production():
        raise RuntimeError("ENV=production: set DATABASE_URL (postgresql://user@host:5432/db)")
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def redacted(url: str) -> str:
    """The URL without its password, for log lines and error messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never leak a malformed URL either
        return "<unparseable database URL>"


def postgres_timeouts(url: str, connect_s: int, statement_ms: int) -> Dict[str, str]:
    """libpq settings that bound a PostgreSQL connection attempt and each statement (libpq
    otherwise waits for the OS, minutes on an unreachable host); none for other databases."""
    if not url.startswith("postgresql"):
        return {}
    return {"connect_timeout": str(connect_s), "options": f"-c statement_timeout={statement_ms}"}
