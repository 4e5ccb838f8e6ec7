"""Migrations: ``python -m spine_db.migrate [upgrade | downgrade REV | current | revision MSG]``.

Run on start (Procfile) so the tables exist before the first booking; idempotent.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from spine_db.config import database_url, redacted

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
logger = logging.getLogger(__name__)


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not an ini option: URLs may contain '%' (configparser syntax).
    config.attributes["url"] = url or database_url()
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply the spine_db migrations")
    parser.add_argument(
        "command", choices=["upgrade", "downgrade", "current"], nargs="?", default="upgrade"
    )
    parser.add_argument("revision", nargs="?", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    url = database_url()
    from sqlalchemy.exc import OperationalError

    from spine_db.crypto import FieldKeyError, check

    try:
        check()  # production refuses to start without the field encryption keys
    except FieldKeyError as error:
        logger.error("%s", error)
        return 1

    try:
        if args.command == "upgrade":
            upgrade(url, args.revision or "head")
        elif args.command == "revision":
            command.revision(alembic_config(url), message=args.revision, autogenerate=True)
        elif args.command == "downgrade":
            downgrade(url, args.revision or "base")
        else:
            command.current(alembic_config(url))
    except OperationalError as error:
        logger.error("Database %s is not reachable: %s", redacted(url), type(error).__name__)
        return 1
    logger.info("Database %s: %s done", redacted(url), args.command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
