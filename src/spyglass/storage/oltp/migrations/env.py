"""Alembic environment for the OLTP schema.

Run through `OltpStore.migrate()`, which passes an open connection in
`config.attributes["connection"]` (so the SQLite pragmas and the PostgreSQL migration
lock apply). A `sqlalchemy.url` main option is accepted as a fallback for running the
alembic command line against a scratch database while writing a new revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from spyglass.storage.oltp.engine import create_engine_for
from spyglass.storage.oltp.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
