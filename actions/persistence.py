"""The action server's handle on the project database (``DATABASE_URL`` or var/spine.db)."""
from __future__ import annotations

from functools import lru_cache

from spine_db.config import database_url
from spine_db.store import Store


@lru_cache(maxsize=4)
def _store_for(url: str) -> Store:
    return Store(url)


def store() -> Store:
    """One engine (connection pool) per database URL, shared by all actions."""
    return _store_for(database_url())
