"""What differs between chDB and a ClickHouse server: client arguments and cluster DDL, checked on what they render.

No ClickHouse server runs here. The rendered DDL is parsed by chDB (`EXPLAIN AST`, parse only) in a
subprocess, since chDB allows one data path per process and the OLAP integration tests open their own;
the HTTP client class is replaced by a recorder, so clickhouse-connect's own DSN parsing still runs.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from typing import Any

import clickhouse_connect.driver
import pytest
from clickhouse_connect.driver.httpclient import HttpClient

from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.dialect import (
    ServerOptions,
    client_kwargs,
    create_database_statement,
    ledger_ddl,
    render_statement,
    server_database,
    without_database,
)
from spyglass.storage.olap.migrate import _statements, ensure_database, migrate, migration_files, pending_migrations

CLUSTER = "main"
ON_CLUSTER = f" ON CLUSTER '{CLUSTER}'"
OUTPUT_SETTINGS = {"output_format_json_quote_64bit_integers": 0, "output_format_json_quote_decimals": 0}
SERVER_SETTINGS = {**OUTPUT_SETTINGS, "async_insert": 0, "insert_deduplicate": 1}

STATEMENTS = [(name, statement) for _, name, sql in migration_files() for statement in _statements(sql)]
STATEMENT_IDS = [f"{name}:{i}" for i, (name, _) in enumerate(STATEMENTS)]


def is_dml(statement: str) -> bool:
    return re.match(r"\s*(INSERT|SELECT|DELETE)\b", statement, re.IGNORECASE) is not None


# ---- cluster rendering ----------------------------------------------------------------------------


def test_migrations_hold_every_kind_of_statement_the_checks_below_rely_on():
    kinds = {statement.split(None, 1)[0].upper() for _, statement in STATEMENTS}
    assert {"CREATE", "TRUNCATE", "INSERT", "RENAME", "DROP"} <= kinds


@pytest.mark.parametrize(("name", "statement"), STATEMENTS, ids=STATEMENT_IDS)
def test_without_a_cluster_every_statement_is_left_byte_for_byte(name, statement):
    assert render_statement(statement, None) is statement


@pytest.mark.parametrize(("name", "statement"), STATEMENTS, ids=STATEMENT_IDS)
def test_on_a_cluster_ddl_runs_everywhere_and_dml_once(name, statement):
    rendered = render_statement(statement, CLUSTER)
    if is_dml(statement):
        assert rendered == statement  # replication copies what it inserts
        return
    assert rendered.count(ON_CLUSTER) == 1
    assert len(re.findall(r"ON\s+CLUSTER", rendered, re.IGNORECASE)) == 1
    # Nothing else changes: the cluster clause and the engine prefix are the only insertions.
    assert rendered.replace(ON_CLUSTER, "").replace("ENGINE = Replicated", "ENGINE = ") == statement


@pytest.mark.parametrize(("name", "statement"), STATEMENTS, ids=STATEMENT_IDS)
def test_on_a_cluster_tables_get_replicated_engines_without_keeper_paths(name, statement):
    rendered = render_statement(statement, CLUSTER)
    engines = re.findall(r"ENGINE\s*=\s*(\w+)(\([^)]*\))?", rendered)
    if statement.startswith("CREATE TABLE"):
        assert engines == [("ReplicatedReplacingMergeTree", "(event_ts, is_deleted)")]
        assert rendered.index(ON_CLUSTER) < rendered.index("(")  # right after the table name
    else:
        assert engines == []


def test_cluster_clause_placement_per_statement_kind():
    assert render_statement("TRUNCATE TABLE observations_by_trace", CLUSTER) == (
        "TRUNCATE TABLE observations_by_trace ON CLUSTER 'main'"
    )
    assert render_statement("RENAME TABLE a TO b, c TO a;\n", CLUSTER) == (
        "RENAME TABLE a TO b, c TO a ON CLUSTER 'main';\n"
    )
    assert render_statement("EXCHANGE TABLES a AND b", CLUSTER) == "EXCHANGE TABLES a AND b ON CLUSTER 'main'"
    assert render_statement("DROP TABLE IF EXISTS db.`old one` SYNC", CLUSTER) == (
        "DROP TABLE IF EXISTS db.`old one` ON CLUSTER 'main' SYNC"
    )
    assert render_statement("alter table t add column c UInt8", CLUSTER) == (
        "alter table t ON CLUSTER 'main' add column c UInt8"
    )
    assert render_statement("-- why\nCREATE TABLE t (x UInt8) ENGINE = MergeTree() ORDER BY x", CLUSTER) == (
        "-- why\nCREATE TABLE t ON CLUSTER 'main' (x UInt8) ENGINE = ReplicatedMergeTree() ORDER BY x"
    )
    # Already replicated, or not a MergeTree: the engine stays.
    assert "ENGINE = Memory" in render_statement("CREATE TABLE m (x UInt8) ENGINE = Memory", CLUSTER)
    replicated = "CREATE TABLE r (x UInt8) ENGINE = ReplicatedMergeTree ORDER BY x"
    assert render_statement(replicated, CLUSTER) == replicated.replace(" (", ON_CLUSTER + " (", 1)
    for dml in ("INSERT INTO t SELECT * FROM u", "DELETE FROM t WHERE 1", "OPTIMIZE TABLE t FINAL", "SELECT 1"):
        assert render_statement(dml, CLUSTER) == dml


def test_statements_the_cluster_rendering_does_not_know_are_refused():
    with pytest.raises(ValueError, match="no cluster rendering"):
        render_statement("CREATE DICTIONARY d (k UInt64) PRIMARY KEY k SOURCE(NULL()) LAYOUT(FLAT()) LIFETIME(0)", "c")
    with pytest.raises(ValueError, match="names its own cluster"):
        render_statement("CREATE TABLE t ON CLUSTER other (x UInt8) ENGINE = MergeTree ORDER BY x", "c")
    # Without a cluster the SQL is not even looked at.
    assert render_statement("CREATE DICTIONARY d", None) == "CREATE DICTIONARY d"


@pytest.mark.parametrize("cluster", ["", "it's", 'say "hi"', "back\\slash", "tick`", "new\nline", "nul\x00"])
def test_unsafe_cluster_names_are_refused(cluster):
    with pytest.raises(ValueError, match="cluster name"):
        render_statement("DROP TABLE t", cluster)
    with pytest.raises(ValueError, match="cluster name"):
        ledger_ddl(cluster)


def test_cluster_names_may_be_macros_or_carry_dashes_and_dots():
    assert render_statement("DROP TABLE t", "{cluster}") == "DROP TABLE t ON CLUSTER '{cluster}'"
    assert render_statement("DROP TABLE t", "prod-eu.1") == "DROP TABLE t ON CLUSTER 'prod-eu.1'"


def test_ledger_ddl():
    plain = ledger_ddl(None)
    assert "ENGINE = MergeTree ORDER BY version" in plain and "ON CLUSTER" not in plain
    clustered = ledger_ddl(CLUSTER)
    assert "CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER 'main'\n" in clustered
    assert "ENGINE = ReplicatedMergeTree ORDER BY version" in clustered


def test_create_database_statement():
    assert create_database_statement("spyglass", None) == "CREATE DATABASE IF NOT EXISTS `spyglass`"
    assert create_database_statement("spy-glass_2", CLUSTER) == (
        "CREATE DATABASE IF NOT EXISTS `spy-glass_2` ON CLUSTER 'main'"
    )
    for bad in ("", "a`b", "a;DROP", "db.x", "a b", "-x"):
        with pytest.raises(ValueError, match="database name"):
            create_database_statement(bad, None)


# ---- chDB parses every rendered statement ---------------------------------------------------------

_PARSE_SCRIPT = """
import json, sys, tempfile
from spyglass.storage.olap.client import OlapClient

client = OlapClient(f"chdb://{tempfile.mkdtemp()}", pool_size=1)
results = []
for statement in json.load(sys.stdin):
    try:
        client.command("EXPLAIN AST " + statement)  # parse only: the tables need not exist
        results.append({"formatted": client.scalar("SELECT formatQuery({q:String})", {"q": statement})})
    except Exception as error:
        results.append({"error": str(error)})
client.close()
print(json.dumps(results))
"""


def extra_ddl() -> list[str]:
    return [
        ledger_ddl(CLUSTER),
        create_database_statement("spyglass", CLUSTER),
        render_statement("ALTER TABLE traces ADD COLUMN IF NOT EXISTS x UInt8", CLUSTER),
        render_statement("DROP TABLE IF EXISTS db.t SYNC", CLUSTER),
        render_statement("EXCHANGE TABLES a AND b", CLUSTER),
    ]


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, str]]:
    """Each statement rendered for the cluster → chDB's formatting of it, or its parse error."""
    statements = [render_statement(s, CLUSTER) for _, s in STATEMENTS] + extra_ddl()
    done = subprocess.run(
        [sys.executable, "-c", _PARSE_SCRIPT],
        input=json.dumps(statements),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # The last line: chDB may print notices of its own before it.
    return dict(zip(statements, json.loads(done.stdout.strip().splitlines()[-1]), strict=True))


@pytest.mark.parametrize(("name", "statement"), STATEMENTS, ids=STATEMENT_IDS)
def test_chdb_parses_each_rendered_migration_statement(parsed, name, statement):
    result = parsed[render_statement(statement, CLUSTER)]
    assert "error" not in result, result.get("error")
    # ClickHouse's own formatting keeps the cluster: the parser took it as ON CLUSTER, not as a name.
    assert ("ON CLUSTER main" in result["formatted"]) is not is_dml(statement)


def test_chdb_parses_the_ledger_the_database_and_other_ddl(parsed):
    for statement in extra_ddl():
        result = parsed[statement]
        assert "error" not in result, result.get("error")
        assert "ON CLUSTER main" in result["formatted"]


# ---- client arguments -----------------------------------------------------------------------------


def test_chdb_client_gets_the_dsn_and_output_settings_only():
    kwargs = client_kwargs("chdb:///data/olap", ServerOptions())
    assert kwargs == {"dsn": "chdb:///data/olap", "settings": OUTPUT_SETTINGS}


@pytest.mark.parametrize(
    "options", [ServerOptions(cluster="main"), ServerOptions(user="u"), ServerOptions(database="d")]
)
def test_server_options_with_chdb_are_an_error_not_ignored(options):
    with pytest.raises(ValueError, match="not to embedded chDB"):
        client_kwargs("chdb:///data/olap", options)


def test_server_client_is_stateless_synchronous_and_keeps_the_url_credentials():
    dsn = "http://user:pw@h:8123/db"
    assert client_kwargs(dsn, ServerOptions()) == {
        "dsn": dsn,
        "autogenerate_session_id": False,
        "client_name": "spyglass",
        "settings": SERVER_SETTINGS,
    }


def test_server_options_override_the_url():
    kwargs = client_kwargs("https://user:pw@h:8443/db", ServerOptions(user="app", password="s3cret", database="spy"))
    assert (kwargs["username"], kwargs["password"], kwargs["database"]) == ("app", "s3cret", "spy")
    assert kwargs["settings"] == SERVER_SETTINGS


def test_unsupported_url_schemes_are_refused_without_echoing_the_password():
    with pytest.raises(ValueError, match="unsupported") as raised:
        client_kwargs("clickhouse://user:pw@h:9000/db", ServerOptions())
    assert "pw" not in str(raised.value)


def test_server_database_and_url_without_it():
    assert server_database("chdb:///data/olap", ServerOptions()) is None
    assert server_database("http://h:8123", ServerOptions()) is None
    assert server_database("http://h:8123/db", ServerOptions()) == "db"
    assert server_database("http://h:8123/db", ServerOptions(database="spy")) == "spy"
    assert without_database("https://u:p@h:8443/db?secure=true") == "https://u:p@h:8443?secure=true"


class RecordingHttpClient:
    """Stands in for clickhouse-connect's HttpClient: binds the arguments to its real signature."""

    made: list[RecordingHttpClient] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = inspect.signature(HttpClient).bind(*args, **kwargs).arguments
        self.commands: list[str] = []
        RecordingHttpClient.made.append(self)

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self.commands.append(sql)

    def raw_query(self, sql: str, parameters: dict[str, Any] | None = None) -> bytes:
        self.commands.append(sql)
        return b""  # no ledger table, an empty ledger: every migration is pending

    def close(self) -> None:
        pass


@pytest.fixture
def http_clients(monkeypatch) -> list[RecordingHttpClient]:
    RecordingHttpClient.made = []
    monkeypatch.setattr(clickhouse_connect.driver, "HttpClient", RecordingHttpClient)
    return RecordingHttpClient.made


def test_clickhouse_connect_takes_the_arguments_with_options_winning_over_the_url(http_clients):
    options = ServerOptions(user="app", password="s3cret", database="spy", cluster=CLUSTER)
    client = OlapClient("https://user:pw@h:8443/db", pool_size=2, options=options)
    assert client.cluster == CLUSTER and not client.embedded
    assert len(http_clients) == 2
    args = http_clients[0].args
    assert (args["interface"], args["host"], args["port"]) == ("https", "h", 8443)
    assert (args["username"], args["password"], args["database"]) == ("app", "s3cret", "spy")
    assert args["settings"] == SERVER_SETTINGS
    # Bound to HttpClient's real signature: a misspelt option would have raised.
    assert args["autogenerate_session_id"] is False and args["client_name"] == "spyglass"


def test_url_credentials_apply_without_options(http_clients):
    OlapClient("http://user:pw@h:8123/db", pool_size=1)
    args = http_clients[0].args
    assert (args["username"], args["password"], args["database"]) == ("user", "pw", "db")


def test_ensure_database_creates_it_from_a_client_without_one(http_clients):
    ensure_database("http://user:pw@h:8123/db", ServerOptions(database="spy", cluster=CLUSTER))
    [bootstrap] = http_clients
    assert bootstrap.args["database"] is None
    assert bootstrap.commands == ["CREATE DATABASE IF NOT EXISTS `spy` ON CLUSTER 'main'"]


def test_ensure_database_does_nothing_for_chdb_or_without_a_database(http_clients):
    ensure_database("chdb:///nowhere", ServerOptions())  # would fail if it opened chDB at that path
    ensure_database("http://h:8123", ServerOptions())
    assert http_clients == []


def test_migrate_on_a_cluster_renders_the_ledger_and_every_statement(http_clients):
    client = OlapClient("http://h:8123", pool_size=1, options=ServerOptions(cluster=CLUSTER))
    applied = migrate(client)
    assert applied == [name for _, name, _ in migration_files()]
    commands = http_clients[0].commands
    assert commands[0] == ledger_ddl(CLUSTER)
    ddl = [c for c in commands if not c.startswith(("INSERT", "SELECT"))]
    assert all(c.count(ON_CLUSTER) == 1 for c in ddl)
    assert sum(c.startswith("INSERT INTO schema_migrations") for c in commands) == len(applied)
    assert "INSERT INTO observations_by_trace SELECT * FROM observations" in commands


def test_pending_migrations_only_reads(http_clients):
    client = OlapClient("http://h:8123", pool_size=1, options=ServerOptions(cluster=CLUSTER))
    assert pending_migrations(client) == [name for _, name, _ in migration_files()]
    assert all(sql.startswith("SELECT") for sql in http_clients[0].commands)
