"""Applies the numbered `.sql` files in `migrations/` once each, in order (rendered for a cluster if set)."""

from __future__ import annotations

import logging
from dataclasses import replace
from importlib import resources

from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.dialect import (
    ServerOptions,
    create_database_statement,
    ledger_ddl,
    render_statement,
    server_database,
    without_database,
)

log = logging.getLogger(__name__)


def migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("spyglass.storage.olap") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements, dropping `--` comment lines."""
    code = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [part.strip() for part in code.split(";") if part.strip()]


def ensure_database(dsn: str, options: ServerOptions) -> None:
    """Create the server's database (SPYGLASS_CLICKHOUSE_DATABASE, else the URL's) if missing; nothing for chDB.

    Call before building the pool: its clients name the database and cannot connect until it exists.
    """
    database = server_database(dsn, options)
    if database is None:
        return
    client = OlapClient(without_database(dsn), pool_size=1, options=replace(options, database=None))
    try:
        client.command(create_database_statement(database, client.cluster))
    finally:
        client.close()


def _applied_versions(client: OlapClient) -> set[int]:
    return {row["version"] for row in client.rows("SELECT version FROM schema_migrations")}


def pending_migrations(client: OlapClient) -> list[str]:
    """Names of the migrations not applied yet. Reads only (creates no ledger): for processes that must not migrate."""
    ledger = client.scalar(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'"
    )
    done = _applied_versions(client) if ledger else set()
    return [name for version, name, _ in migration_files() if version not in done]


def migrate(client: OlapClient) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to run repeatedly."""
    client.command(ledger_ddl(client.cluster))
    done = _applied_versions(client)
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        for statement in _statements(sql):
            client.command(render_statement(statement, client.cluster))
        client.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": version, "n": name},
        )
        log.info("applied OLAP migration %s", name)
        applied.append(name)
    return applied
