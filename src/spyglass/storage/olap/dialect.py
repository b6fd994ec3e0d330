"""Everything that differs between embedded chDB (`chdb://`) and a ClickHouse server (`http(s)://`).

Both run the same SQL. Only two things change: the keyword arguments the clickhouse-connect client
gets (credentials, session handling, insert settings), and, on a cluster, the migration DDL, which
gains `ON CLUSTER '<name>'` and `Replicated*` engines. No ClickHouse server can run in our tests, so
all of it is pure string and dict building, unit-tested on what it renders (chDB parses the
rendered DDL with `EXPLAIN AST`).

Versions. The chDB we ship (chdb 4.4 / chdb-core 26.9) embeds ClickHouse 26.9.2.1, and every query
is tested there. A server needs ClickHouse 24.3 LTS or newer:
* 24.3 made the new query analyzer the default, and our queries are only ever tested under it;
* `ReplacingMergeTree(ver, is_deleted)` appeared in 23.2 and got its lasting semantics when it was
  re-introduced in 23.12 (`clean_deleted_rows` has had no effect since); lightweight `DELETE` is GA
  since 23.3; older 23.x releases also let deleted rows through `FINAL` under
  `do_not_merge_across_partitions_select_final` (ClickHouse issue #49685), which metrics use;
* Replicated engines without a Keeper path and replica name take `default_replica_path` /
  `default_replica_name` from the server config since 20.10 (since 21.3 for engines with arguments
  of their own, like `ReplacingMergeTree(event_ts, is_deleted)`).
Langfuse v3 asks for the same floor (>= 24.3), so its ClickHouse can host Spyglass's tables too.
Defaults that moved since then are pinned per client below, see `client_kwargs`.

Cluster rendering (`render_statement`) assumes our own migration SQL, not arbitrary SQL: one
statement per call, the table name right after the statement's leading keywords (`CREATE TABLE
[IF NOT EXISTS] name`, `ALTER TABLE name`, `DROP TABLE [IF EXISTS] name`, `TRUNCATE TABLE [IF EXISTS]
name`), one table per DROP/TRUNCATE, and no `ON CLUSTER` of its own. Anything else that is not plain
DML raises, so a migration never runs DDL on one replica only without anyone noticing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class ServerOptions:
    """SPYGLASS_CLICKHOUSE_USER/PASSWORD/DATABASE/CLUSTER: a ClickHouse server only; they override the URL's."""

    user: str | None = None
    password: str | None = None
    database: str | None = None
    cluster: str | None = None


# 64-bit integers and decimals as JSON numbers (not strings) so usage and cost maps decode to numbers.
# Pinned because servers before 25.8 quote 64-bit integers by default, and a profile may change either.
# Set once per client: per-call settings cost chDB a snapshot, SETs and a restore around every query
# (measured: SELECT 1 takes 4.7 ms that way, 0.8 ms without).
_OUTPUT_SETTINGS: dict[str, Any] = {
    "output_format_json_quote_64bit_integers": 0,
    "output_format_json_quote_decimals": 0,
}

# Server inserts.
# * async_insert=0: the worker batches already, and it acknowledges a job only once the INSERT has
#   returned; a synchronous insert returns after the part is written (and fsynced: the tables set
#   fsync_after_insert). Servers since 26.2 default to async inserts, so this must be explicit.
# * insert_deduplicate=1: every version's default (26.2+ governs it with `deduplicate_insert`, default
#   `enable`, which we cannot send because older servers reject unknown settings). Pinned so a server
#   profile cannot turn it off: every write carries a fresh, strictly increasing event_ts, so two distinct
#   writes never hash alike and Replicated tables only drop a byte-identical re-send of a block that did
#   commit (a timeout after the commit). TRUNCATE clears a partition's block hashes, so re-running the
#   0004 rebuild is not swallowed either. A no-op on non-replicated tables.
# * No insert_quorum: a quorum makes every insert fail whenever fewer replicas than the quorum are up,
#   and it only gives read-after-write on another replica together with select_sequential_consistency,
#   which needs insert_quorum_parallel=0 (serialising our parallel table inserts) and fails reads on
#   lagging replicas. With the default, an insert is durable on the replica that took it, and others
#   see it after replication lag (usually well under a second): point one Spyglass process at one replica.
_SERVER_INSERT_SETTINGS: dict[str, Any] = {"async_insert": 0, "insert_deduplicate": 1}

_EMBEDDED_PREFIX = "chdb://"
_SERVER_SCHEMES = ("http", "https")


def is_embedded(dsn: str) -> bool:
    return dsn.startswith(_EMBEDDED_PREFIX)


def client_kwargs(dsn: str, options: ServerOptions) -> dict[str, Any]:
    """Keyword arguments for `clickhouse_connect.get_client(...)`: one client of the pool."""
    if is_embedded(dsn):
        if options != ServerOptions():
            raise ValueError(
                "SPYGLASS_CLICKHOUSE_USER/PASSWORD/DATABASE/CLUSTER apply to a ClickHouse server "
                "(an http(s):// SPYGLASS_CLICKHOUSE_URL), not to embedded chDB"
            )
        return {"dsn": dsn, "settings": dict(_OUTPUT_SETTINGS)}
    if urlsplit(dsn).scheme not in _SERVER_SCHEMES:
        raise ValueError(f"unsupported ClickHouse URL scheme in {_redacted(dsn)!r}: use chdb://, http:// or https://")
    kwargs: dict[str, Any] = {
        "dsn": dsn,
        # One server session per client would pin state on a server that a load balancer may not route
        # back to, and ClickHouse refuses concurrent queries in one session: stay stateless.
        "autogenerate_session_id": False,
        "client_name": "spyglass",  # shows in system.query_log's http_user_agent
        "settings": {**_OUTPUT_SETTINGS, **_SERVER_INSERT_SETTINGS},
    }
    overrides = {"username": options.user, "password": options.password, "database": options.database}
    kwargs.update({key: value for key, value in overrides.items() if value is not None})
    return kwargs


def server_database(dsn: str, options: ServerOptions) -> str | None:
    """The database a server client works in (the option, else the URL's path); None for chDB or the user's default."""
    if is_embedded(dsn):
        return None
    return options.database or urlsplit(dsn).path.strip("/").split("/")[0] or None


def without_database(dsn: str) -> str:
    """The server URL without its database path, for a client that may connect before the database exists."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "", parts.query, parts.fragment))


def _redacted(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


# ---- cluster DDL -------------------------------------------------------------------------------------

# Whitespace and comments before the first keyword.
_LEAD = r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
_NAME = r"(?:`[^`]+`|\w+)(?:\.(?:`[^`]+`|\w+))?"
_FLAGS = re.IGNORECASE | re.DOTALL

# `ON CLUSTER` goes right after the object's name.
_AFTER_NAME = re.compile(
    _LEAD
    + r"(?P<head>(?:CREATE\s+(?:OR\s+REPLACE\s+)?TABLE|CREATE\s+(?:MATERIALIZED\s+)?VIEW|CREATE\s+DATABASE"
    r"|ALTER\s+TABLE|DROP\s+(?:TABLE|VIEW|DATABASE)|TRUNCATE\s+TABLE)"
    r"(?:\s+IF\s+(?:NOT\s+)?EXISTS)?\s+" + _NAME + ")",
    _FLAGS,
)
# `RENAME TABLE a TO b, c TO d [ON CLUSTER x]` and `EXCHANGE TABLES a AND b [ON CLUSTER x]` end with it.
_AT_END = re.compile(_LEAD + r"(?:RENAME|EXCHANGE)\s", _FLAGS)
# DML runs once, on the replica it reaches; Replicated tables copy its effect (inserted parts,
# lightweight deletes and merges go through the replication log).
_PASS_THROUGH = re.compile(_LEAD + r"(?:INSERT|SELECT|WITH|DELETE|OPTIMIZE)\b", _FLAGS)
_HAS_CLUSTER = re.compile(r"\bON\s+CLUSTER\b", re.IGNORECASE)
# Engine names are case-sensitive in ClickHouse; the keyword is not.
_MERGE_TREE_ENGINE = re.compile(r"(?P<lead>\b(?i:ENGINE)\s*=\s*)(?!Replicated|Shared)(?P<engine>\w*MergeTree)\b")
_TRAILER = re.compile(r"\s*;?\s*\Z")
_BAD_CLUSTER_CHARS = re.compile(r"['\"`\\\x00-\x1f\x7f]")
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def render_statement(sql: str, cluster: str | None) -> str:
    """One migration statement as it runs: unchanged without a cluster; on a cluster, DDL runs `ON CLUSTER`
    and MergeTree-family tables become their Replicated twins.

    The Replicated engines get no Keeper path or replica name, so each server's `default_replica_path`
    (`/clickhouse/tables/{uuid}/{shard}`) and `default_replica_name` (`{replica}`) apply: a path keyed by
    the table's UUID survives RENAME, which a `{database}/{table}` path refuses. `{uuid}` in a path needs
    an Atomic database and an ON CLUSTER create, which is what this renders.
    """
    if cluster is None:
        return sql
    on_cluster = f" ON CLUSTER {_quote_cluster(cluster)}"
    if _HAS_CLUSTER.search(sql):
        raise ValueError(f"migration SQL names its own cluster; the cluster is a setting: {sql[:80]!r}")
    if _PASS_THROUGH.match(sql):
        return sql
    if head := _AFTER_NAME.match(sql):
        rendered = sql[: head.end()] + on_cluster + sql[head.end() :]
        if re.match(r"CREATE\b", head.group("head"), re.IGNORECASE):
            rendered = _MERGE_TREE_ENGINE.sub(r"\g<lead>Replicated\g<engine>", rendered, count=1)
        return rendered
    if _AT_END.match(sql):
        trailer = _TRAILER.search(sql)
        assert trailer is not None  # the pattern matches the empty string at the end
        return sql[: trailer.start()] + on_cluster + sql[trailer.start() :]
    raise ValueError(f"no cluster rendering for this statement; extend dialect.render_statement: {sql[:80]!r}")


def _quote_cluster(cluster: str) -> str:
    # Macros such as '{cluster}' are fine; quotes, backslashes and control characters are refused rather
    # than escaped, since no real cluster name needs them.
    if not cluster or _BAD_CLUSTER_CHARS.search(cluster):
        raise ValueError(f"invalid ClickHouse cluster name: {cluster!r}")
    return f"'{cluster}'"


_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = MergeTree ORDER BY version
"""


def ledger_ddl(cluster: str | None) -> str:
    """The table recording which migrations ran."""
    return render_statement(_LEDGER, cluster)


def create_database_statement(database: str, cluster: str | None) -> str:
    if not _DATABASE_NAME.fullmatch(database):
        raise ValueError(f"invalid ClickHouse database name (letters, digits, _ and - only): {database!r}")
    return render_statement(f"CREATE DATABASE IF NOT EXISTS `{database}`", cluster)
