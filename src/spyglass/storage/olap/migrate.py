"""Applies the numbered `.sql` files in `migrations/` once each, in order."""

from __future__ import annotations

import logging
from importlib import resources

from spyglass.storage.olap.client import OlapClient

log = logging.getLogger(__name__)

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = MergeTree ORDER BY version
"""


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


def migrate(client: OlapClient) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to run repeatedly."""
    client.command(_LEDGER)
    done = {row["version"] for row in client.rows("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, sql in migration_files():
        if version in done:
            continue
        for statement in _statements(sql):
            client.command(statement)
        client.command(
            "INSERT INTO schema_migrations (version, name) VALUES ({v:UInt32}, {n:String})",
            {"v": version, "n": name},
        )
        log.info("applied OLAP migration %s", name)
        applied.append(name)
    return applied
