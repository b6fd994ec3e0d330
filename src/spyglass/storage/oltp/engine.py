"""URL → SQLAlchemy engine, with the per-dialect settings the OLTP store relies on.

The repositories and migrations are dialect-neutral; every SQLite/PostgreSQL
difference that matters at run time is decided here.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

# How long a SQLite connection waits for another writer before failing with
# "database is locked". Writes here are small (a key's last_used_at, a prompt
# version), so several seconds of queueing is better than an error under bursts.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_engine_for(url: str) -> Engine:
    """Build the engine for an OLTP URL (`sqlite:///path` or `postgresql+psycopg://…`)."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        return _sqlite_engine(sa_url)
    return sa.create_engine(
        sa_url,
        # Servers drop idle connections (restarts, proxies); a ping on checkout turns
        # that into a transparent reconnect instead of a failed request.
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_recycle=1800,
    )


def _sqlite_engine(sa_url: sa.URL) -> Engine:
    in_memory = sa_url.database in (None, "", ":memory:")
    connect_args: dict[str, Any] = {
        # Connections are pooled and handed between threads (web threadpool, worker);
        # the pool guarantees one user at a time, so the sqlite3 thread check only hurts.
        "check_same_thread": False,
        "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
    }
    if in_memory:
        # Every new connection to ":memory:" is a new empty database: keep exactly one.
        engine = sa.create_engine(sa_url, connect_args=connect_args, poolclass=StaticPool)
    else:
        # WAL lets readers run beside the single writer, so a modest pool is useful;
        # more connections than that only queue on SQLite's one write lock.
        engine = sa.create_engine(sa_url, connect_args=connect_args, pool_size=8, max_overflow=8)
    event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # journal_mode is stored in the file; setting it on every connect is a cheap no-op
        # after the first time and also covers files created by older versions.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Off by default in SQLite; the schema's ON DELETE CASCADE depends on it.
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL is still crash-safe for the database (a power loss can drop
        # only the last commits, never corrupt); FULL would fsync on every commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
