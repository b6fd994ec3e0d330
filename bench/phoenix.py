#!/usr/bin/env python3
"""Arize Phoenix as the benchmark's peer: install it, serve it on SQLite or PostgreSQL, read from it.

    .venv/bin/python bench/phoenix.py install
    .venv/bin/python bench/phoenix.py serve --backend sqlite      # Ctrl-C stops it
    .venv/bin/python bench/phoenix.py serve --backend postgres

Phoenix (``arize-phoenix`` from PyPI, pinned to ``PHOENIX_VERSION``) lives in its own
virtualenv under ``$XDG_CACHE_HOME/spyglass-bench`` (default ``~/.cache``), never in the
project's ``.venv``. ``PhoenixServer`` runs ``phoenix serve`` on free ports with a throw-away
working dir (SQLite, Phoenix's default) or a fresh database on the local PostgreSQL.

The workload's spans carry ``service.name=bench-llm-app`` and no
``openinference.project.name``, so Phoenix files them under its "default" project. Phoenix
translates the OTel GenAI attributes (``gen_ai.request.model``, ``gen_ai.usage.*``) into
OpenInference ones (``llm.model_name``, ``llm.token_count.*``) and prices them from its own
model table; the Langfuse ones (``langfuse.observation.input``/``output``,
``langfuse.trace.tags``) it keeps as plain span attributes.

``PhoenixReader`` asks Phoenix's own GraphQL API (``POST /graphql``, what its UI uses) the
read-latency questions, one HTTP request each. How each differs from the same question on
the Langfuse API:

* ``latest_traces``: the project's root spans (``filterCondition: "parent_span is None"``,
  how Phoenix's traces tab defines a trace) whose start lies in [start, end), newest first,
  ``first: limit``, with the columns of a row in Phoenix's traces table (name, kind, status,
  times, latency, cumulative tokens, truncated input/output, trace id, user id, span count,
  trace cost). The UI's own query also fetches each root's first 50 descendants and the
  annotation summaries; we leave those out, as the Langfuse list has neither. Phoenix
  maps no Langfuse input/output attribute, so ``input``/``output`` come back empty.
* ``traces_by_user``: the same, with ``traceFilterCondition:
  "attributes['user.id'] == '<id>'"``, the traces tab's filter box over the root span's
  attributes (every span of the workload carries ``user.id``).
* ``traces_by_tag``: the same, with ``traceFilterCondition: "'\\"<tag>\\"' in
  attributes['langfuse.trace.tags']"``. Phoenix has no tag column or tag filter: tags are
  span attributes like any other, and its ``in`` on an array attribute is a
  case-insensitive substring test on the array's JSON text, so the tag is quoted to match
  whole elements only (still case-insensitively).
* ``trace``: ``project.trace(traceId)`` with all its spans (``first: 1000``) including their
  ``attributes`` (where the input/output lives), latency and cost. Phoenix's UI gets there in
  two requests (the span tree without content, then the selected span's details); one
  request returning everything is the same question ``GET /api/public/traces/{id}`` answers.
* ``cost_by_model_day``: Phoenix has no per-model-per-day aggregate. Its dashboard's
  ``topModelsByCost(timeRange)`` groups tokens and cost by model for one range (by span start
  time), so one request carries one aliased ``topModelsByCost`` per UTC day of [start, end),
  each with the model's prompt/completion/total tokens and cost for that day. Returns the
  number of (day, model) rows. Models Phoenix cannot price (absent from its cost table:
  ``claude-3-5-sonnet-20241022`` in 20.26) get no model row and are missing from this
  breakdown, so the workload's four models give three rows per day.
* ``metrics_cost_by_model_day`` / ``metrics_p95_latency_by_trace_name`` (Langfuse's
  ``/api/public/v2/metrics`` queries): Phoenix has no general metrics-query API, so both raise
  ``EndpointMissing`` and are reported as status "missing".

The project's GraphQL node id is looked up once per reader (``getProjectByName``), as the UI
has it in its URL; the first call made through a reader pays that extra request.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).parent))  # sibling modules, whichever cwd we run from

import httpx  # noqa: E402
from processes import log_tail, stop_process  # noqa: E402
from procstats import status_kb  # noqa: E402
from readback import graphql_data  # noqa: E402
from reads import EndpointMissing  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402

PHOENIX_VERSION = "20.26.1"  # newest on PyPI that installs and runs here (Python 3.11)
PROJECT = "default"
PG_ADMIN_URL = os.environ.get("SPYGLASS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
Backend = Literal["sqlite", "postgres"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgres")
console = Console()


# ---------------------------------------------------------------- install


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spyglass-bench"


def ensure_phoenix(version: str = PHOENIX_VERSION) -> Path:
    """Path of the ``phoenix`` executable of ``arize-phoenix[pg]==version``, installed on first use.

    The virtualenv is ``<cache>/spyglass-bench/phoenix-<version>``; a marker file written after
    a successful ``pip install`` makes later calls instant. pip's output goes to
    ``phoenix-<version>-install.log`` beside it. A file lock keeps two benchmark runs from
    installing at once.
    """
    venv = cache_root() / f"phoenix-{version}"
    exe = venv / "bin" / "phoenix"
    spec = f"arize-phoenix[pg]=={version}"  # [pg]: asyncpg, Phoenix's PostgreSQL driver
    marker = venv / ".spyglass-bench-installed"
    if marker.is_file() and marker.read_text().strip() == spec and exe.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"phoenix-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text().strip() == spec and exe.exists():
            return exe  # another process installed it while we waited
        log_path = venv.parent / f"phoenix-{version}-install.log"
        with open(log_path, "w") as log, console.status(f"installing {escape(spec)} into {venv} …") as status:

            def run(*argv: str) -> None:
                log.write(f"$ {' '.join(argv)}\n")
                log.flush()
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                assert proc.stdout is not None
                for line in proc.stdout:
                    log.write(line)
                    if line.strip():
                        status.update(f"installing {escape(spec)}: [dim]{escape(line.strip()[:90])}[/]")
                if proc.wait() != 0:
                    log.flush()
                    tail = "\n".join(log_path.read_text().splitlines()[-15:])
                    raise SystemExit(f"{argv[0]} failed (exit {proc.returncode}); log {log_path}:\n{tail}")

            t0 = time.perf_counter()
            if not (venv / "bin" / "python").exists():
                run(sys.executable, "-m", "venv", str(venv))
            py = str(venv / "bin" / "python")
            run(py, "-m", "pip", "install", "--upgrade", "pip")
            run(py, "-m", "pip", "install", spec)
        if not exe.exists():
            raise SystemExit(f"{spec} installed but {exe} is missing; log {log_path}")
        marker.write_text(spec + "\n")
        console.print(f"[dim]installed {escape(spec)} in {time.perf_counter() - t0:.0f} s → {venv}[/]")
    return exe


# ---------------------------------------------------------------- server


def _free_port(avoid: frozenset[int] | set[int] = frozenset()) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


def _allocated_bytes(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        try:
            total += os.lstat(p).st_blocks * 512
        except FileNotFoundError:
            pass
    return total


class PhoenixServer:
    """``phoenix serve`` on free ports with a fresh store; a context manager.

    HTTP and OTLP/gRPC ports are picked free, the host is 127.0.0.1 (Phoenix binds gRPC on
    all interfaces regardless), ``PHOENIX_WORKING_DIR`` is a temporary dir. ``backend``:

    * ``"sqlite"``: Phoenix's default, ``<working dir>/phoenix.db``;
    * ``"postgres"``: a new database ``phoenix_bench_<hex>`` on the local PostgreSQL
      (``SPYGLASS_BENCH_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``,
      trust auth), passed as ``PHOENIX_SQL_DATABASE_URL`` and dropped on exit.

    The server runs in its own session (a Ctrl-C in the terminal reaches only us), logs to
    ``<workdir>/phoenix.log`` and counts as up when ``/readyz`` (a database round trip)
    answers 200. On exit: SIGTERM to its pid, SIGKILL after ``stop_timeout``; ``startup_s``
    and ``shutdown_s`` are recorded. Telemetry pixels and downloads of external resources
    are switched off (the machine has no internet; they change nothing on the data path).
    ``max_spans_queue`` sets ``PHOENIX_MAX_SPANS_QUEUE_SIZE``: Phoenix answers 503 to new
    OTLP requests while that many decoded spans (default 20,000) wait to be written. It
    decodes after answering 200, so a burst gets more through: 30,000 spans sent by 4
    senders were all acknowledged.

    Peak RSS: ``procstats.RssSampler(server.pid)`` (the process tree). On PostgreSQL the
    database's own backends are not in that tree: see ``postgres_backend_memory_kb()``.
    """

    def __init__(
        self,
        backend: Backend = "sqlite",
        *,
        version: str = PHOENIX_VERSION,
        workdir: Path | None = None,
        startup_timeout: float = 180.0,
        stop_timeout: float = 60.0,
        max_spans_queue: int | None = None,
        keep: bool = False,
        pg_admin_url: str = PG_ADMIN_URL,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        self.backend: Backend = backend
        self.pinned_version = version
        self.version: str | None = None  # what the running server reports
        self.startup_timeout, self.stop_timeout = startup_timeout, stop_timeout
        self.max_spans_queue = max_spans_queue
        self.keep = keep
        self.pg_admin_url = pg_admin_url
        self._own_workdir = workdir is None
        # <workdir>/phoenix is PHOENIX_WORKING_DIR, <workdir>/phoenix.log the log; by default a
        # temporary dir that start() creates and cleanup() removes.
        self.workdir: Path | None = Path(workdir) if workdir else None
        self.database: str | None = None  # postgres only, until dropped
        self.store: str | None = None  # the SQLite file or the PostgreSQL database, for reports
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = self.grpc_port = 0
        self.startup_s: float | None = None
        self.shutdown_s: float | None = None
        self.startup_disk_bytes: int | None = None

    # -- what callers use

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def otlp_endpoint(self) -> str:
        """OTLP/HTTP protobuf (``application/x-protobuf``, gzip allowed)."""
        return f"{self.base_url}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def working_dir(self) -> Path:
        return self._workdir() / "phoenix"

    @property
    def log_path(self) -> Path:
        return self._workdir() / "phoenix.log"

    def _workdir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("server not started")
        return self.workdir

    @property
    def sqlite_files(self) -> list[Path]:
        db = self.working_dir / "phoenix.db"
        return [db, db.with_name("phoenix.db-wal"), db.with_name("phoenix.db-shm")]

    def disk_bytes(self) -> int:
        """Bytes the store occupies now, in total (subtract ``startup_disk_bytes`` for growth).

        SQLite: allocated blocks of ``phoenix.db``, ``-wal`` and ``-shm`` (as
        ``procstats.disk_usage`` counts). PostgreSQL: ``pg_database_size`` of the run's
        database (heap, indexes, TOAST, free-space maps; the cluster-wide WAL is not in it).
        ``startup_disk_bytes`` is the same figure right after start-up, i.e. Phoenix's empty
        schema after its migrations.
        """
        if self.backend == "sqlite":
            return _allocated_bytes(self.sqlite_files)
        return int(self._pg_scalar("SELECT pg_database_size(%s)", self.database))

    def db_counts(self) -> tuple[int, int]:
        """(spans, traces) rows in Phoenix's database, read directly: a check on the API's counts."""
        sql = ("SELECT count(*) FROM spans", "SELECT count(*) FROM traces")
        if self.backend == "sqlite":
            uri = f"file:{self.sqlite_files[0]}?mode=ro"
            with sqlite3.connect(uri, uri=True, timeout=30) as conn:
                return tuple(int(conn.execute(q).fetchone()[0]) for q in sql)  # type: ignore[return-value]
        return tuple(int(self._pg_scalar(q, dbname=self.database)) for q in sql)  # type: ignore[return-value]

    def postgres_backend_memory_kb(self) -> dict[str, int]:
        """Memory of the PostgreSQL backends connected to this run's database, now.

        ``rss_kb`` sums VmRSS, which counts each backend's touched shared buffers in full
        (over-counts the sum); ``pss_kb`` sums proportional set sizes (shared pages split
        among the processes sharing them), the fairer total. Needs /proc access to the
        postgres processes (root). The postmaster and background workers are not included.
        """
        if self.backend != "postgres":
            return {"backends": 0, "rss_kb": 0, "pss_kb": 0}
        pids = [int(p) for p in self._pg_column("SELECT pid FROM pg_stat_activity WHERE datname = %s", self.database)]
        return {
            "backends": len(pids),
            "rss_kb": sum(status_kb(p, "VmRSS") or 0 for p in pids),
            "pss_kb": sum(status_kb(p, "Pss", "smaps_rollup") or 0 for p in pids),
        }

    def postgres_backend_rss_kb(self) -> int:
        return self.postgres_backend_memory_kb()["rss_kb"]

    def result(self) -> dict:
        """What a benchmark result should record about the server."""
        return {
            "name": "phoenix",
            "backend": self.backend,
            "version": self.version or self.pinned_version,
            "pid": self.proc.pid if self.proc else None,
            "startup_s": round(self.startup_s, 2) if self.startup_s is not None else None,
            "shutdown_s": round(self.shutdown_s, 2) if self.shutdown_s is not None else None,
            "exit_status": self.proc.returncode if self.proc else None,
            "store": self.store,
            "startup_disk_bytes": self.startup_disk_bytes,
            "max_spans_queue": self.max_spans_queue,
        }

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    # -- lifecycle

    def __enter__(self) -> PhoenixServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.cleanup()

    def start(self) -> None:
        exe = ensure_phoenix(self.pinned_version)
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"phoenix-bench-{self.backend}-"))
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.grpc_port = _free_port({self.port})
        env = {
            **os.environ,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_WORKING_DIR": str(self.working_dir),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        }
        env.pop("PHOENIX_SQL_DATABASE_URL", None)  # never inherit a store from the caller's shell
        env.pop("PHOENIX_COLLECTOR_ENDPOINT", None)
        if self.max_spans_queue:
            env["PHOENIX_MAX_SPANS_QUEUE_SIZE"] = str(self.max_spans_queue)
        try:
            if self.backend == "postgres":
                env["PHOENIX_SQL_DATABASE_URL"] = self._create_database()
                self.store = f"postgresql database {self.database}"
            else:
                self.store = str(self.sqlite_files[0])
            log = open(self.log_path, "wb")
            t0 = time.perf_counter()
            try:
                self.proc = subprocess.Popen(
                    [str(exe), "serve"],
                    cwd=self.workdir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()  # the child holds its own descriptor
            self._wait_ready()
            self.startup_s = time.perf_counter() - t0
            self.version = httpx.get(f"{self.base_url}/arize_phoenix_version", timeout=10).text.strip()
            self.startup_disk_bytes = self.disk_bytes()
        except BaseException:  # incl. Ctrl-C: never leave a server or a database behind
            self.stop()
            self.cleanup()
            raise

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"phoenix exited with status {self.proc.returncode} during start-up\n"
                    f"--- {self.log_path} (tail) ---\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(
            f"phoenix not ready (/readyz) within {self.startup_timeout:.0f} s\n"
            f"--- {self.log_path} (tail) ---\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; records ``shutdown_s`` (SIGTERM to exit)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        self.shutdown_s = stop_process(proc, self.stop_timeout, "phoenix")

    def cleanup(self) -> None:
        """Drop the PostgreSQL database and remove the temporary dir (unless ``keep``)."""
        if self.database and not self.keep:
            try:
                self._pg_execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            except Exception as exc:  # report, don't mask the original error
                console.print(f"[yellow]could not drop database {self.database}: {exc}[/]")
            self.database = None
        if self.keep:
            console.print(
                f"[dim]kept {self.workdir}" + (f" and database {self.database}" if self.database else "") + "[/]"
            )
        elif self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # -- PostgreSQL

    def _create_database(self) -> str:
        name = f"phoenix_bench_{secrets.token_hex(4)}"
        self._pg_execute(f'CREATE DATABASE "{name}"')
        self.database = name
        return self._pg_url(name)

    def _pg_url(self, dbname: str) -> str:
        head, _, _ = self.pg_admin_url.rpartition("/")
        return f"{head}/{dbname}"

    def _pg_connect(self, dbname: str | None = None):  # -> psycopg.Connection, imported lazily
        import psycopg  # the project's dependency; only needed for the postgres backend

        return psycopg.connect(
            self._pg_url(dbname) if dbname else self.pg_admin_url, autocommit=True, connect_timeout=10
        )

    def _pg_execute(self, sql: str) -> None:
        with self._pg_connect() as conn:
            conn.execute(sql)

    def _pg_column(self, sql: str, *params: object) -> list:
        with self._pg_connect() as conn:
            return [row[0] for row in conn.execute(sql, params).fetchall()]

    def _pg_scalar(self, sql: str, *params: object, dbname: str | None = None) -> object:
        with self._pg_connect(dbname) as conn:
            return conn.execute(sql, params).fetchone()[0]


# ---------------------------------------------------------------- reading


_TRACE_ROW = """
        id spanId name spanKind statusCode startTime endTime latencyMs cumulativeTokenCountTotal
        input { value: truncatedValue }
        output { value: truncatedValue }
        trace { id traceId userId numSpans costSummary { total { cost } } }
"""

TRACES_QUERY = f"""
query BenchTraces($id: ID!, $first: Int!, $timeRange: TimeRange, $traceFilterCondition: String) {{
  project: node(id: $id) {{
    ... on Project {{
      rootSpans: spans(
        first: $first
        sort: {{col: startTime, dir: desc}}
        filterCondition: "parent_span is None"
        traceFilterCondition: $traceFilterCondition
        timeRange: $timeRange
      ) {{
        edges {{ rootSpan: node {{ {_TRACE_ROW} }} }}
        pageInfo {{ endCursor hasNextPage }}
      }}
    }}
  }}
}}"""

TRACE_QUERY = """
query BenchTrace($id: ID!, $traceId: ID!) {
  project: node(id: $id) {
    ... on Project {
      trace(traceId: $traceId) {
        id traceId numSpans latencyMs
        costSummary { prompt { tokens cost } completion { tokens cost } total { tokens cost } }
        spans(first: 1000) {
          edges {
            span: node {
              id spanId parentId name spanKind statusCode statusMessage startTime endTime latencyMs
              tokenCountPrompt tokenCountCompletion tokenCountTotal
              costSummary { total { cost } }
              input { value mimeType }
              output { value mimeType }
              attributes
            }
          }
        }
      }
    }
  }
}"""

PROJECT_ID_QUERY = "query BenchProject($name: String!) { project: getProjectByName(name: $name) { id } }"

_COST_FIELDS = "prompt { tokens cost } completion { tokens cost } total { tokens cost }"


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError(f"timezone-aware datetime required, got {t!r}")
    return t.astimezone(UTC).isoformat()


def utc_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at UTC midnights: one (from, to) pair per calendar day it touches."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    out = []
    t = start
    while t < end:
        midnight = datetime(t.year, t.month, t.day, tzinfo=UTC) + timedelta(days=1)
        out.append((t, min(midnight, end)))
        t = midnight
    return out


def cost_by_day_query(days: list[tuple[datetime, datetime]]) -> tuple[str, dict]:
    """One GraphQL document with an aliased ``topModelsByCost`` per day, and its variables."""
    params = ["$id: ID!"]
    fields = []
    variables: dict = {}
    for i, (a, b) in enumerate(days):
        params.append(f"$d{i}: TimeRange!")
        variables[f"d{i}"] = {"start": _iso(a), "end": _iso(b)}
        fields.append(
            f"d{i}: topModelsByCost(timeRange: $d{i}) {{ id name "
            f"costSummary(projectId: $id, timeRange: $d{i}) {{ {_COST_FIELDS} }} }}"
        )
    body = "\n      ".join(fields)
    query = (
        f"query BenchCostByModelDay({', '.join(params)}) {{\n"
        f"  project: node(id: $id) {{\n    ... on Project {{\n      {body}\n    }}\n  }}\n}}"
    )
    return query, variables


def gql_string(value: str) -> str:
    """A string literal for Phoenix's Python-like filter conditions."""
    return repr(value)


class PhoenixReader:
    """Read-latency queries through Phoenix's GraphQL API; see the module docstring.

    Each method sends one ``POST /graphql`` (plus, on a reader's first call, the project id
    lookup) and returns how many items came back.
    """

    name = "phoenix"

    def __init__(self, base_url: str, project: str = PROJECT, headers: dict[str, str] | None = None) -> None:
        self.url = base_url.rstrip("/") + "/graphql"
        self.project = project
        self.headers = headers or {}
        self._project_id: str | None = None

    def _post(self, client: httpx.Client, query: str, variables: dict) -> dict:
        r = client.post(self.url, json={"query": query, "variables": variables}, headers=self.headers)
        return graphql_data(r)

    def project_id(self, client: httpx.Client) -> str:
        if self._project_id is None:
            project = self._post(client, PROJECT_ID_QUERY, {"name": self.project})["project"]
            if project is None:
                raise LookupError(f"Phoenix has no project {self.project!r}")
            self._project_id = project["id"]
        return self._project_id

    def _traces(self, client: httpx.Client, start: datetime, end: datetime, limit: int, condition: str | None) -> int:
        variables = {
            "id": self.project_id(client),
            "first": limit,
            "timeRange": {"start": _iso(start), "end": _iso(end)},
            "traceFilterCondition": condition,
        }
        return len(self._post(client, TRACES_QUERY, variables)["project"]["rootSpans"]["edges"])

    def latest_traces(self, client: httpx.Client, start: datetime, end: datetime, limit: int = 50) -> int:
        return self._traces(client, start, end, limit, None)

    def traces_by_user(
        self, client: httpx.Client, user_id: str, start: datetime, end: datetime, limit: int = 50
    ) -> int:
        return self._traces(client, start, end, limit, f"attributes['user.id'] == {gql_string(user_id)}")

    def traces_by_tag(self, client: httpx.Client, tag: str, start: datetime, end: datetime, limit: int = 50) -> int:
        condition = f"{gql_string(json.dumps(tag))} in attributes['langfuse.trace.tags']"
        return self._traces(client, start, end, limit, condition)

    def trace(self, client: httpx.Client, trace_id: str) -> int:
        data = self._post(client, TRACE_QUERY, {"id": self.project_id(client), "traceId": trace_id})
        trace = data["project"]["trace"]
        return 0 if trace is None else len(trace["spans"]["edges"])

    def cost_by_model_day(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        days = utc_days(start, end)
        if not days:
            return 0
        query, variables = cost_by_day_query(days)
        project = self._post(client, query, {"id": self.project_id(client), **variables})["project"]
        return sum(len(project[f"d{i}"]) for i in range(len(days)))

    def metrics_cost_by_model_day(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        raise EndpointMissing("Phoenix has no metrics query API (no Langfuse-style /v2/metrics)")

    def metrics_p95_latency_by_trace_name(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        raise EndpointMissing("Phoenix has no metrics query API (no Langfuse-style /v2/metrics)")


# ---------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench/phoenix.py",
        description="Install or run Arize Phoenix for the benchmark.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--version", default=PHOENIX_VERSION, help="arize-phoenix version")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="create the cached virtualenv with arize-phoenix (once)")
    s = sub.add_parser("serve", help="run a fresh Phoenix until Ctrl-C, then stop it and delete its data")
    s.add_argument("--backend", choices=BACKENDS, default="sqlite")
    s.add_argument("--max-spans-queue", type=int, default=None, help="PHOENIX_MAX_SPANS_QUEUE_SIZE (Phoenix: 20000)")
    s.add_argument("--keep", action="store_true", help="keep the working dir / database")
    a = p.parse_args(argv)

    if a.cmd == "install":
        print(ensure_phoenix(a.version))
        return 0

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # Ctrl-C or a plain `kill` stops Phoenix and deletes its data, even when started in the
    # background (where a non-interactive shell has SIGINT ignored).
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    server = PhoenixServer(a.backend, version=a.version, max_spans_queue=a.max_spans_queue, keep=a.keep)
    with server:
        console.print(
            f"Phoenix {server.version} on {server.backend}, pid {server.pid}, up in {server.startup_s:.1f} s\n"
            f"  UI / GraphQL  {server.base_url}  ({server.graphql_url})\n"
            f"  OTLP/HTTP     {server.otlp_endpoint}\n"
            f"  OTLP/gRPC     {server.otlp_grpc_endpoint}\n"
            f"  store         {server.store}\n"
            f"  log           {server.log_path}\n"
            f"try: .venv/bin/python bench/ingest.py --endpoint {server.otlp_endpoint} --no-auth "
            f"--readback phoenix --spans 2000 --no-save\n"
            "Ctrl-C stops it."
        )
        try:
            while server.proc and server.proc.poll() is None:
                time.sleep(0.5)
            console.print(f"[red]phoenix exited with status {server.proc.returncode if server.proc else '?'}[/]")
        except KeyboardInterrupt:
            console.print(f"stopping; store holds {server.disk_bytes():,} bytes")
    console.print(f"stopped in {server.shutdown_s or float('nan'):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
