"""Alembic environment: the URL comes from the caller (``spine_db.migrate``) or ``DATABASE_URL``."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from spine_db.config import database_url
from spine_db.models import Base

# Rasa owns `events` (the tracker store); migrations manage only the project's tables.
OWN_TABLES = set(Base.metadata.tables)


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    if type_ == "table":
        return name in OWN_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name in OWN_TABLES


def run() -> None:
    config = context.config
    url = config.attributes.get("url") or database_url()
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = create_engine(url, future=True)
    with engine.connect() as conn:
        _configure_and_run(conn)
    engine.dispose()


def _configure_and_run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
