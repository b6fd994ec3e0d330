#!/usr/bin/env python3
"""Scale-out benchmark (issue #4): a fleet's ingest throughput against the embedded mode, its queue lag, and
where the CPU goes.

    .venv/bin/python bench/scaleout.py                        # embedded, then scale-out: 100k spans each
    .venv/bin/python bench/scaleout.py --quick                # 5k spans: checks the harness in about a minute
    .venv/bin/python bench/scaleout.py --repeat 3 --profile --max-load 1.0   # how bench/README.md's table was made

Configurations, each on fresh stores, every process stopped by PID afterwards:

* embedded: one `spyglass serve` as bench/run.py starts it (chDB, the local queue and blobs in its data
  dir); 4 concurrent senders of 512-span OTLP requests.
* scaleout: a scratch PostgreSQL database, a Redis key prefix and a moto S3 bucket (tests/support/stack.py)
  shared by one owner `spyglass serve` (chDB, the worker, the read API) and two `spyglass serve --no-worker`
  API processes (accept → raw batch to S3 → pointer job on the Redis stream → ack). The same workload is
  split across the API processes (2 senders each) and read back through the owner.

Measured from the first request until everything is readable: accepted spans/s (until the last ack),
queryable spans/s, request latency; the owner's queue (`GET /api/public/status` every 0.25 s: depth, in
flight, age of the oldest un-acked job); CPU seconds per process from /proc — each Spyglass process, moto,
redis-server, the PostgreSQL backends of the scratch database, this load generator, and the whole machine —
with the owner split into web, worker and chDB threads (Python threads named by `py-spy dump` when py-spy is
installed); peak RSS per process. `--repeat N` measures each configuration N times, taking turns, and
reports the run with the median queryable spans/s. `--profile` adds, per configuration, one more run with
`py-spy record --idle` on the owner and the first API process, and keeps where each of their Python threads
spends its wall-clock time.

Writes bench/results/scaleout/<UTC stamp>.json and the table between the scaleout markers of
bench/README.md. Exit status 0 when every span was acknowledged and became readable, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO)]  # sibling bench modules; tests.support for the shared engines

import httpx  # noqa: E402
from encode import Request, otlp_requests  # noqa: E402
from procstats import disk_usage, machine_info  # noqa: E402
from readback import ReadbackResult, SpyglassReadback  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table  # noqa: E402
from run import PUBLIC_KEY, SECRET_KEY, SERVER_CMD, free_port  # noqa: E402
from sender import SendStats, percentile, send_all  # noqa: E402
from tests.support.redis import shared_redis_url  # noqa: E402
from tests.support.s3 import MotoS3Server  # noqa: E402
from tests.support.stack import POSTGRES_ADMIN_URL, ScaleOutStack  # noqa: E402
from workload import RunIdentity, generate, iso, traces_for  # noqa: E402

CONFIGS = ("embedded", "scaleout")
OTLP_PATH = "/api/public/otel/v1/traces"
RESULTS_DIR = BENCH / "results" / "scaleout"
README = BENCH / "README.md"
SECTION = "## Scale-out (issue #4)"
START, END = "<!-- scaleout:start -->", "<!-- scaleout:end -->"
PYSPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
TICK = os.sysconf("SC_CLK_TCK")
console = Console()


# ---------------------------------------------------------------------------------------------- /proc


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (all its threads, live and exited), or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def task_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """Per live thread: (OS thread name without trailing digits, CPU seconds).

    From schedstat (nanoseconds on a CPU): the threads' utime + stime in /proc/<pid>/task/*/stat
    are rounded per thread and under a load of many threads sum to ~7% less than the process's.
    """
    out = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                comm = (task / "comm").read_text().strip().rstrip("0123456789") or "?"
                out[int(task.name)] = (comm, int((task / "schedstat").read_text().split()[0]) / 1e9)
            except (OSError, IndexError, ValueError):
                continue
    return out


def machine_busy_s() -> tuple[float, float]:
    """(CPU seconds all cores ran anything, seconds the hypervisor gave our vCPUs away) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


def status_mb(pid: int, field_name: str) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return None


def redis_server_pids(port: int) -> list[int]:
    """The redis-server processes serving `port` (the shared server the fleet's queue lives on)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "redis-server":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f":{port}" in cmdline or "--port" not in cmdline:  # `redis-server *:6379` or a config file
            pids.append(int(entry.name))
    return pids


def pyspy_thread_names(pid: int) -> dict[int, str]:
    """OS thread id → Python thread name, from `py-spy dump` (empty without py-spy)."""
    if not PYSPY:
        return {}
    try:
        out = subprocess.run(
            [PYSPY, "dump", "--pid", str(pid), "--json", "--nonblocking"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        return {t["os_thread_id"]: t["thread_name"] or "?" for t in json.loads(out) if t.get("os_thread_id")}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return {}


OWNER_GROUPS = ("web", "worker", "chDB", "other")


def thread_group(python_name: str | None, comm: str, named: bool) -> tuple[str, str]:
    """(group, label) of one owner thread; `named`: Python's thread names are known (py-spy dump).

    Python threads keep the process's OS name, so without py-spy they cannot be told from the
    native threads that never set one: they land in the "python" group.
    """
    if python_name is None:
        if comm in ("spyglass", "python", "python3"):  # kept the process name
            return ("other", f"native, unnamed ({comm})") if named else ("python", "Python threads (unnamed)")
        return "chDB", f"chDB {comm}"
    if python_name == "MainThread":
        return "web", "MainThread (event loop)"
    if python_name.startswith("AnyIO worker"):
        return "web", "AnyIO worker threads (request handlers)"
    if python_name.startswith("spyglass-worker"):
        return "worker", "spyglass-worker (take, merge)"
    if python_name.startswith("spyglass-writer"):
        return "worker", "spyglass-writer (OLAP write, incl. chDB in this thread)"
    if python_name.startswith("olap-insert"):
        return "worker", "olap-insert (tables inserted side by side, incl. chDB)"
    if python_name.startswith("olap-read"):
        return "web", "olap-read (reads side by side, incl. chDB)"
    return "other", f"python: {python_name}"


# ------------------------------------------------------------------------------------------ processes


class Node:
    """One `spyglass serve` (bench/run.py's SERVER_CMD, plus `args`) on a free port with its own data dir."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / name / "data"
        self.log_path = workdir / name / "server.log"
        self.argv = [*shlex.split(SERVER_CMD.format(port=self.port, python=sys.executable)), *args]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("SPYGLASS_", "LANGFUSE_"))}
        self.env = {
            **inherited,
            "LANGFUSE_INIT_ORG_ID": "bench-org",
            "LANGFUSE_INIT_PROJECT_ID": "bench-project",
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY,
            "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
            "SPYGLASS_DATA_DIR": str(self.data_dir),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = self.shutdown_s = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float) -> Node:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with open(self.log_path, "wb") as log:
            # Own session: a Ctrl-C reaches only us, and we stop the fleet in order.
            self.proc = subprocess.Popen(
                self.argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/api/public/health", timeout=2).status_code == 200:
                    self.startup_s = round(time.perf_counter() - t0, 2)
                    return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no 200 from /api/public/health within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            self.shutdown_s = round(time.perf_counter() - t0, 2)
        except subprocess.TimeoutExpired:
            console.print(f"[red]{self.name} (pid {self.pid}) ignored SIGTERM for {timeout:.0f} s: killing it[/]")
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def info(self) -> dict:
        return {
            "pid": self.proc.pid if self.proc else None,
            "port": self.port,
            "argv": self.argv[1:],
            "startup_s": self.startup_s,
            "shutdown_s": self.shutdown_s,
            "exit_status": self.proc.returncode if self.proc else None,
        }


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore Ctrl-C while cleaning up, so a second one cannot strand half the fleet."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def check_services() -> None:
    """Fail fast, with what to start, when the scale-out engines are missing."""
    import psycopg
    import redis

    try:
        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=5).close()
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(
            f"scaleout needs PostgreSQL at {POSTGRES_ADMIN_URL} (SPYGLASS_TEST_POSTGRES_DSN): {exc}"
        ) from None
    try:
        redis.Redis.from_url(shared_redis_url(), socket_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(f"scaleout needs Redis at {shared_redis_url()} (SPYGLASS_TEST_REDIS_URL): {exc}") from None
    probe = subprocess.run([sys.executable, "-c", "import moto.server"], capture_output=True)
    if probe.returncode != 0:
        raise SystemExit(f"scaleout needs moto[server] importable by {sys.executable}")


class Topology:
    """The processes and engines of one configuration. `close()` stops and removes all of them."""

    def __init__(self, config: str, workdir: Path, api_processes: int) -> None:
        self.config = config
        self.workdir = workdir
        self.api_processes = api_processes
        self.nodes: list[Node] = []
        self.moto: MotoS3Server | None = None
        self.stack: ScaleOutStack | None = None

    @property
    def owner(self) -> Node:
        return self.nodes[0]

    @property
    def ingest_nodes(self) -> list[Node]:
        return self.nodes[1:] or self.nodes[:1]

    def start(self, timeout: float) -> None:
        env: dict[str, str] = {}
        if self.config == "scaleout":
            self.moto = MotoS3Server(self.workdir / "moto").start()
            self.stack = ScaleOutStack.create(self.moto)
            # The stack's 2 s S3 timeout is for the fault tests; a benchmark runs on the product default.
            env = {k: v for k, v in self.stack.env().items() if k != "SPYGLASS_S3_TIMEOUT_SECONDS"}
            console.print(
                f"[dim]moto S3 pid {self.moto.process.pid} on {self.moto.endpoint_url}; PostgreSQL "
                f"database, Redis prefix and bucket {self.stack.name}[/]"
            )
        names = ["owner"] + [f"api-{i + 1}" for i in range(self.api_processes if self.stack else 0)]
        for name in names:  # the owner first (it migrates), then the API processes one after the other
            node = Node(name, self.workdir, env, ("--no-worker",) if name != "owner" else ())
            self.nodes.append(node)
            node.start(timeout)
            role = "spyglass serve --no-worker" if name != "owner" else "spyglass serve"
            console.print(f"[dim]{name}: {role}, pid {node.pid} on {node.base}, up in {node.startup_s} s[/]")

    def close(self) -> dict:
        """Stop every process by PID, drop the database and the Redis keys; report what is left."""
        with shielded():
            for node in reversed(self.nodes):
                try:
                    node.stop()
                except Exception as exc:  # noqa: BLE001 - go on with the rest
                    console.print(f"[red]stopping {node.name}: {exc}[/]")
            if self.stack is not None:
                try:
                    self.stack.close()
                except Exception as exc:  # noqa: BLE001
                    console.print(f"[red]dropping {self.stack.name}: {exc}[/]")
            if self.moto is not None:
                self.moto.stop()
            return self.leftovers()

    def leftovers(self) -> dict:
        alive = [n.name for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        out: dict = {"processes_alive": alive}
        if self.stack is not None:
            import psycopg
            import redis

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.stack.name,)).fetchone()
                out["database_left"] = row is not None
            client = redis.Redis.from_url(self.stack.redis_url)
            try:
                out["redis_keys_left"] = sum(1 for _ in client.scan_iter(match=f"{self.stack.name}:*", count=1000))
            finally:
                client.close()
            out["moto_alive"] = self.moto is not None and self.moto.process is not None
        return out


# -------------------------------------------------------------------------------------- measurements


class PgBackends:
    """CPU of the PostgreSQL backends serving the scratch database (they come and go with the pools)."""

    def __init__(self, dbname: str) -> None:
        import psycopg

        self.dbname = dbname
        self.conn = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
        self.lock = threading.Lock()
        self.at_start: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def poll(self) -> None:
        with self.lock:
            rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,)).fetchall()
        for (pid,) in rows:
            cpu = proc_cpu_s(pid)
            if cpu is not None:
                self.last[pid] = cpu

    def begin(self) -> None:
        self.poll()
        self.at_start = dict(self.last)

    def cpu_s(self) -> float:
        # A backend born during the run counts from zero; one that ended loses at most a poll interval.
        return sum(cpu - self.at_start.get(pid, 0.0) for pid, cpu in self.last.items())

    def close(self) -> None:
        self.conn.close()


class Sampler:
    """Every `interval` s, in a thread: the owner's queue, every process's RSS, the PostgreSQL backends."""

    def __init__(self, owner: Node, rss_pids: dict[str, int], pg: PgBackends | None, interval: float) -> None:
        self.url = f"{owner.base}/api/public/status"
        self.owner_pid = owner.pid
        self.owner_tasks: dict[int, tuple[str, float]] = {}
        self.rss_pids = rss_pids
        self.pg = pg
        self.interval = interval
        # (perf_counter, depth, in flight, oldest age, dead letters)
        self.samples: list[tuple[float, int, int, float | None, int]] = []
        self.errors: list[str] = []
        self.peak_rss_mb: dict[str, float] = {}
        self.role: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scaleout-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def latest(self) -> tuple[float, int, int, float | None, int] | None:
        return self.samples[-1] if self.samples else None

    def _run(self) -> None:
        with httpx.Client(auth=(PUBLIC_KEY, SECRET_KEY), timeout=10) as client:
            next_at = time.perf_counter()
            while not self._stop.is_set():
                self._sample(client)
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.perf_counter()))

    def _sample(self, client: httpx.Client) -> None:
        try:
            body = client.get(self.url).raise_for_status().json()
            q = body["queue"]
            self.role = body.get("role")
            self.samples.append(
                (time.perf_counter(), int(q["depth"]), int(q["inFlight"]), q["oldestAgeSeconds"], int(q["deadLetters"]))
            )
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
        # Threads may end before the run does (chDB's pools shrink): keep their last CPU reading.
        self.owner_tasks.update(task_cpu_s(self.owner_pid))
        for name, pid in self.rss_pids.items():
            rss = status_mb(pid, "VmRSS")
            if rss is not None:
                self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), rss)
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.poll()

    def summary(self, t0: float, t1: float) -> dict:
        window = [s for s in self.samples if t0 <= s[0] <= t1]
        # An empty queue reports no oldest job: its lag is 0.
        ages = [s[3] or 0.0 for s in window]
        return {
            "interval_s": self.interval,
            "samples": len(window),
            "role": self.role,
            "max_depth": max((s[1] for s in window), default=None),
            "max_in_flight": max((s[2] for s in window), default=None),
            "max_backlog": max((s[1] + s[2] for s in window), default=None),
            "max_dead_letters": max((s[4] for s in window), default=None),
            "oldest_age_s": {"p50": percentile(ages, 50), "p95": percentile(ages, 95), "max": max(ages, default=None)},
            "errors": self.errors,
            "timeline": [(round(s[0] - t0, 2), s[1], s[2], s[3]) for s in window][:4000],
        }


@dataclass
class Snapshot:
    at: float
    machine_s: tuple[float, float]
    procs: dict[str, float | None]
    owner_tasks: dict[int, tuple[str, float]]
    redis: dict[int, float | None]
    self_s: float

    @classmethod
    def take(cls, topo: Topology, redis_pids: list[int]) -> Snapshot:
        procs: dict[str, float | None] = {n.name: proc_cpu_s(n.pid) for n in topo.nodes}
        if topo.moto is not None and topo.moto.process is not None:
            procs["moto"] = proc_cpu_s(topo.moto.process.pid)
        return cls(
            time.perf_counter(),
            machine_busy_s(),
            procs,
            task_cpu_s(topo.owner.pid),
            {pid: proc_cpu_s(pid) for pid in redis_pids},
            proc_cpu_s(os.getpid()) or 0.0,
        )


def _delta(a: float | None, b: float | None) -> float:
    return max(0.0, (b or 0.0) - (a or 0.0)) if a is not None and b is not None else 0.0


def cpu_breakdown(
    s0: Snapshot,
    s1: Snapshot,
    sampled_tasks: dict[int, tuple[str, float]],
    names: dict[int, str],
    pg: PgBackends | None,
    pyspy_s: float,
) -> dict:
    """CPU seconds per component over the window, the owner split by thread group."""
    wall = s1.at - s0.at
    threads: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    for tid, (comm, cpu) in (sampled_tasks | s1.owner_tasks).items():
        group, label = thread_group(names.get(tid), comm, bool(names))
        spent = cpu - s0.owner_tasks.get(tid, (comm, 0.0))[1]
        threads[label] += spent
        groups[group] += spent
    owner_total = _delta(s0.procs["owner"], s1.procs["owner"])
    exited = owner_total - sum(groups.values())
    if exited > 0.005:
        threads["threads that ended between samples"] += exited
        groups["other"] += exited
    components: dict[str, float] = {name: _delta(s0.procs.get(name), cpu) for name, cpu in s1.procs.items()}
    if s0.redis:
        components["redis-server"] = sum(_delta(s0.redis.get(p), c) for p, c in s1.redis.items())
    if pg is not None:
        components["postgres"] = pg.cpu_s()
    components["loadgen"] = max(0.0, s1.self_s - s0.self_s)
    if pyspy_s:
        components["py-spy"] = pyspy_s
    busy = s1.machine_s[0] - s0.machine_s[0]
    return {
        "window_s": round(wall, 3),
        "machine_busy_s": round(busy, 2),
        "machine_busy_cores": round(busy / wall, 2) if wall else None,
        "machine_steal_s": round(s1.machine_s[1] - s0.machine_s[1], 2),
        "components_s": {k: round(v, 2) for k, v in components.items()},
        "unattributed_s": round(busy - sum(components.values()), 2),
        "owner_groups_s": {g: round(groups.get(g, 0.0), 2) for g in OWNER_GROUPS}
        | ({"python": round(groups["python"], 2)} if "python" in groups else {}),
        "owner_threads_s": {k: round(v, 2) for k, v in threads.most_common()},
        "owner_threads_named_by": "py-spy dump" if names else "OS thread names only (py-spy not installed)",
    }


# ------------------------------------------------------------------------------------------- profiles


class Profiler:
    """`py-spy record` on one process until stopped (SIGINT), as speedscope JSON."""

    def __init__(self, name: str, pid: int, out: Path, rate: int) -> None:
        self.name = name
        self.out = out
        with open(out.with_suffix(".log"), "wb") as log:
            self.proc = subprocess.Popen(
                [
                    PYSPY,
                    "record",
                    "--pid",
                    str(pid),
                    "--rate",
                    str(rate),
                    "--nonblocking",
                    "--idle",
                    "--format",
                    "speedscope",
                    "--output",
                    str(out),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def summarize_speedscope(path: Path, top: int = 10) -> dict:
    """Per Python thread (pool threads of one name together): where its wall-clock time goes.

    py-spy records with --idle, so a thread's samples are its wall time, waiting included.
    `inclusive`: share of the thread's samples inside one of Spyglass's own functions (any line
    of it). Left out: the frames nearly every sample passes through (the worker's loop), and a
    function whose samples are nearly all those of one already listed (a wrapper and what it
    wraps). `own`: share with a function, anyone's, at the top of the Python stack (C code
    below it included: waiting on a lock, a socket, chDB).
    """
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    keys = [(f["name"], "/".join(Path(f.get("file") or "?").parts[-2:])) for f in frames]
    ours = {i for i, f in enumerate(frames) if "/spyglass/" in (f.get("file") or "")}
    threads: dict[str, dict] = {}
    for prof in doc["profiles"]:
        quoted = re.search(r'"(.*)"', prof.get("name", ""))
        name = re.sub(r"[_-]\d+$", "", quoted.group(1)) if quoted and quoted.group(1) else prof.get("name", "?")
        t = threads.setdefault(
            name, {"threads": 0, "samples": 0, "own": Counter(), "inclusive": Counter(), "stacks": []}
        )
        t["threads"] += 1
        for stack in prof["samples"]:
            t["samples"] += 1
            if stack:
                t["own"][keys[stack[-1]]] += 1
                mine = frozenset(keys[i] for i in stack if i in ours)
                t["inclusive"].update(mine)
                t["stacks"].append(mine)
    out = {}
    for name, t in sorted(threads.items(), key=lambda kv: -kv[1]["samples"]):
        n = t["samples"] or 1
        inclusive: list[tuple[tuple[str, str], int]] = []
        for k, c in t["inclusive"].most_common():
            if len(inclusive) == top:
                break
            if c >= 0.95 * n or any(
                sum(1 for st in t["stacks"] if k in st and j in st) >= 0.95 * max(c, cj) for j, cj in inclusive
            ):
                continue
            inclusive.append((k, c))
        out[name] = {
            "threads": t["threads"],
            "samples": t["samples"],
            **{
                kind: [{"function": f"{k[0]} ({k[1]})", "share": round(c / n, 3)} for k, c in ranked]
                for kind, ranked in (("inclusive", inclusive), ("own", t["own"].most_common(top)))
            },
        }
    return out


# -------------------------------------------------------------------------------------------- running


def merge_stats(parts: list[SendStats]) -> SendStats:
    m = SendStats()
    for s in parts:
        for name in ("requests_sent", "requests_failed", "acked_spans", "acked_traces", "failed_spans"):
            setattr(m, name, getattr(m, name) + getattr(s, name))
        m.status_counts.update(s.status_counts)
        m.error_samples = (m.error_samples + s.error_samples)[:5]
        m.latencies_ms += s.latencies_ms
        m.aborted |= s.aborted
        if s.first_request_at is not None:
            m.first_request_at = min(m.first_request_at or s.first_request_at, s.first_request_at)
        if s.last_ack_at is not None:
            m.last_ack_at = max(m.last_ack_at or s.last_ack_at, s.last_ack_at)
    return m


def latency(values: list[float]) -> dict:
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values, default=None),
    }


async def drive(
    topo: Topology,
    plan: list[tuple[Node, list[Request], int]],
    ident: RunIdentity,
    a: argparse.Namespace,
    sampler: Sampler,
) -> tuple[list[SendStats], ReadbackResult, SendStats]:
    token = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    read_headers = {"Authorization": f"Basic {token}"}
    headers = {"Content-Type": "application/x-protobuf", **read_headers}
    total = sum(r.spans for _, reqs, _ in plan for r in reqs)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        send_task = progress.add_task("sending", total=total, info="")
        seen: dict[int, SendStats] = {}

        def queue_info() -> str:
            s = sampler.latest
            return "" if s is None else f" · queue {s[1]} waiting, {s[2]} in flight, oldest {s[3] or 0:.1f} s"

        def on_ack(st: SendStats) -> None:
            seen[id(st)] = st
            m = merge_stats(list(seen.values()))
            dt = (m.last_ack_at or 0) - (m.first_request_at or 0)
            rate = f"{m.acked_spans / dt:,.0f} spans/s" if dt > 0 else ""
            errs = f" [red]{m.failed_spans:,} failed[/]" if m.failed_spans else ""
            progress.update(send_task, completed=m.acked_spans + m.failed_spans, info=rate + errs + queue_info())

        parts = await asyncio.gather(
            *(
                send_all(reqs, node.base + OTLP_PATH, headers, senders, "otlp", a.max_send_seconds, on_ack)
                for node, reqs, senders in plan
            )
        )
        stats = merge_stats(list(parts))
        if not stats.acked_spans or stats.last_ack_at is None:
            return list(parts), ReadbackResult(status="error", error="nothing was acknowledged"), stats
        q_task = progress.add_task("queryable", total=stats.acked_spans, info="")

        def on_poll(spans: int, traces: int) -> None:
            progress.update(q_task, completed=min(spans, stats.acked_spans), info=f"{traces:,} traces" + queue_info())

        rb = await SpyglassReadback(topo.owner.base, read_headers, ident).wait(
            stats.acked_spans, stats.acked_traces, stats.last_ack_at, a.readback_timeout, a.poll_interval, on_poll
        )
        return list(parts), rb, stats


def send_plan(topo: Topology, requests: list[Request], senders: int) -> list[tuple[Node, list[Request], int]]:
    """The workload dealt round-robin over the ingest processes, the senders split as evenly as possible."""
    nodes = topo.ingest_nodes
    n = len(nodes)
    return [(node, requests[i::n], senders // n + (i < senders % n)) for i, node in enumerate(nodes)]


def wait_quiet(max_load: float, max_wait: float) -> list[float]:
    """Wait until the 1-minute load average is below `max_load` (0: don't); returns the load averages."""
    if max_load > 0 and os.getloadavg()[0] >= max_load:
        deadline = time.monotonic() + max_wait
        with console.status("") as status:
            while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
                status.update(
                    f"waiting for a quiet machine: load {os.getloadavg()[0]:.2f} ≥ {max_load} "
                    f"({deadline - time.monotonic():.0f} s left)"
                )
                time.sleep(5)
        if os.getloadavg()[0] >= max_load:
            console.print(f"[yellow]load still {os.getloadavg()[0]:.2f} after {max_wait:.0f} s: measuring anyway[/]")
    return [round(x, 2) for x in os.getloadavg()]


def run_config(
    config: str, requests: list[Request], ident: RunIdentity, a: argparse.Namespace, profile_dir: Path | None = None
) -> dict:
    """Start the configuration, send the workload, wait until it is readable, measure, tear down."""
    loadavg = wait_quiet(a.max_load, a.max_load_wait)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    workdir = Path(tempfile.mkdtemp(prefix=f"spyglass-scaleout-{config}-"))
    topo = Topology(config, workdir, a.api_processes)
    pg: PgBackends | None = None
    try:
        topo.start(a.startup_timeout)
        owner = topo.owner
        if topo.stack is not None:
            pg = PgBackends(topo.stack.name)
        redis_pids = redis_server_pids(urlsplit(shared_redis_url()).port or 6379) if topo.stack else []
        rss_pids = {n.name: n.pid for n in topo.nodes}
        if topo.moto is not None and topo.moto.process is not None:
            rss_pids["moto"] = topo.moto.process.pid
        plan = send_plan(topo, requests, a.senders)
        names = pyspy_thread_names(owner.pid)
        sampler = Sampler(owner, rss_pids, pg, a.sample_interval)
        children0 = os.times().children_user + os.times().children_system
        profilers = []
        if profile_dir is not None:
            targets = [topo.owner, *topo.nodes[1:2]]
            profilers = [
                Profiler(n.name, n.pid, profile_dir / f"{config}-{n.name}.speedscope.json", a.profile_rate)
                for n in targets
            ]
            time.sleep(0.5)  # let py-spy attach before the clock starts
        if pg is not None:
            pg.begin()
        s0 = Snapshot.take(topo, redis_pids)
        sampler.start()
        try:
            parts, rb, stats = asyncio.run(drive(topo, plan, ident, a, sampler))
            if pg is not None:
                pg.poll()
            s1 = Snapshot.take(topo, redis_pids)
        finally:
            sampler.stop()
            for p in profilers:
                p.stop()
        pyspy_s = (os.times().children_user + os.times().children_system - children0) if profilers else 0.0
        names.update(pyspy_thread_names(owner.pid))
        hwm = {n.name: status_mb(n.pid, "VmHWM") for n in topo.nodes}
        disk = disk_usage(owner.data_dir)
        cpu = cpu_breakdown(s0, s1, sampler.owner_tasks, names, pg, pyspy_s)
    finally:
        if pg is not None:
            pg.close()
        leftovers = topo.close()
        if a.keep_workdir:
            console.print(f"[dim]kept {workdir}[/]")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    first, last = stats.first_request_at, stats.last_ack_at
    send_wall = (last - first) if first and last else None
    q_total = (rb.queryable_at - first) if rb.queryable_at and first else None
    result = {
        "config": config,
        "started_at": started_at,
        "loadavg_at_start": loadavg,
        "processes": {n.name: n.info() for n in topo.nodes},
        "stack": (
            {
                "database": topo.stack.name,
                "redis_prefix": topo.stack.name,
                "bucket": topo.stack.bucket,
                "redis_url": topo.stack.redis_url,
                "s3": "moto server mode (HTTP)",
            }
            if topo.stack
            else None
        ),
        "cleanup": leftovers,
        "send": {
            "senders": a.senders,
            "requests_sent": stats.requests_sent,
            "requests_failed": stats.requests_failed,
            "acked_spans": stats.acked_spans,
            "acked_traces": stats.acked_traces,
            "failed_spans": stats.failed_spans,
            "status_counts": dict(stats.status_counts),
            "error_samples": stats.error_samples,
            "aborted": stats.aborted,
            "wall_s": round(send_wall, 3) if send_wall else None,
            "accepted_spans_per_s": stats.acked_spans / send_wall if send_wall else None,
            "latency_ms": latency(stats.latencies_ms),
            "per_process": [
                {
                    "node": node.name,
                    "senders": senders,
                    "requests": len(reqs),
                    "acked_spans": part.acked_spans,
                    "latency_ms": latency(part.latencies_ms),
                }
                for (node, reqs, senders), part in zip(plan, parts, strict=True)
            ],
        },
        "queryable": {
            "status": rb.status,
            "seen_spans": rb.seen_spans,
            "seen_traces": rb.seen_traces,
            "after_last_ack_s": (rb.queryable_at - last) if rb.queryable_at and last else None,
            "from_first_request_s": q_total,
            "queryable_spans_per_s": stats.acked_spans / q_total if q_total else None,
            "error": rb.error,
            "timeline": rb.timeline,
        },
        "queue": sampler.summary(s0.at, s1.at),
        "cpu": cpu,
        "cpu_us_per_span": us_per_span(cpu, stats.acked_spans),
        "rss_mb": {
            name: {
                "peak": round(sampler.peak_rss_mb.get(name, 0.0), 1),
                "vmhwm": round(hwm[name], 1) if hwm.get(name) else None,
            }
            for name in rss_pids
        },
        "owner_disk": {
            "allocated_bytes": disk["allocated_bytes"],
            "bytes_per_span": disk["allocated_bytes"] / stats.acked_spans if stats.acked_spans else None,
        },
    }
    return result


def us_per_span(cpu: dict, spans: int) -> dict:
    if not spans:
        return {}
    per = {k: round(v * 1e6 / spans, 1) for k, v in cpu["components_s"].items()}
    per.update({f"owner.{g}": round(v * 1e6 / spans, 1) for g, v in cpu["owner_groups_s"].items()})
    per["unattributed"] = round(cpu["unattributed_s"] * 1e6 / spans, 1)
    per["machine"] = round(cpu["machine_busy_s"] * 1e6 / spans, 1)
    return per


def median_run(runs: list[dict]) -> dict:
    """The run with the median queryable spans/s (the lower middle one of an even count), with every run's figures."""
    ranked = sorted(runs, key=lambda r: r["queryable"]["queryable_spans_per_s"] or 0.0)
    pick = dict(ranked[(len(ranked) - 1) // 2])
    pick["repeats"] = [
        {
            "started_at": r["started_at"],
            "loadavg_at_start": r["loadavg_at_start"],
            "accepted_spans_per_s": r["send"]["accepted_spans_per_s"],
            "queryable_spans_per_s": r["queryable"]["queryable_spans_per_s"],
            "latency_p99_ms": r["send"]["latency_ms"]["p99"],
            "max_backlog": r["queue"]["max_backlog"],
            "oldest_age_max_s": r["queue"]["oldest_age_s"]["max"],
            "machine_busy_cores": r["cpu"]["machine_busy_cores"],
            "owner_cpu_us_per_span": r["cpu_us_per_span"].get("owner"),
        }
        for r in runs
    ]
    return pick


def ok(result: dict, spans: int) -> bool:
    s = result["send"]
    return (
        s["failed_spans"] == 0
        and not s["aborted"]
        and s["acked_spans"] == spans
        and result["queryable"]["status"] == "ok"
    )


# ------------------------------------------------------------------------------------------ reporting


def _n(v: float | None, fmt: str = ",.0f") -> str:
    return "–" if v is None else format(v, fmt)


README_THREADS = ("spyglass-worker", "spyglass-writer", "AnyIO worker thread")
CONFIG_TITLES = {"embedded": "embedded: 1 × `serve`", "scaleout": "scale-out: owner + {api} × `serve --no-worker`"}


def _title(run: dict, config: str) -> str:
    return CONFIG_TITLES.get(config, config).format(api=run["args"]["api_processes"])


def table_rows(run: dict) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(column titles, rows of (label, one cell per configuration)) for the terminal and the README."""
    configs = [c for c in CONFIGS if c in run["configs"]] + [c for c in run["configs"] if c not in CONFIGS]
    results = [run["configs"][c] for c in configs]
    nproc = run["machine"].get("nproc") or 0
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn) -> None:  # noqa: ANN001
        rows.append((label, [fn(r) for r in results]))

    def cores(r: dict, seconds: float | None) -> str:
        w = r["cpu"]["window_s"]
        return f" ({seconds / w:.2f})" if seconds is not None and w else ""

    def cpu(key: str, seconds_of):  # noqa: ANN001, ANN202
        def cell(r: dict) -> str:
            v = r["cpu_us_per_span"].get(key)
            return "–" if v is None else f"{v:,.0f}{cores(r, seconds_of(r))}"

        return cell

    def comp(name: str):  # noqa: ANN202
        return cpu(name, lambda r: r["cpu"]["components_s"].get(name))

    def group(name: str):  # noqa: ANN202
        return cpu(f"owner.{name}", lambda r: r["cpu"]["owner_groups_s"].get(name))

    row(
        "spans sent · senders × spans per request",
        lambda r: (
            f"{r['send']['acked_spans'] + r['send']['failed_spans']:,} · {r['send']['senders']} × "
            f"{run['args']['batch_spans']}"
        ),
    )
    row("**accepted spans/s** (first request → last ack)", lambda r: f"**{_n(r['send']['accepted_spans_per_s'])}**")
    row(
        "**queryable spans/s** (first request → all readable)",
        lambda r: (
            f"**{_n(r['queryable']['queryable_spans_per_s'])}**"
            if r["queryable"]["status"] == "ok"
            else r["queryable"]["status"]
        ),
    )
    if run["args"].get("repeat", 1) > 1:
        row(
            f"each of the {run['args']['repeat']} runs: accepted / queryable spans/s",
            lambda r: " · ".join(
                f"{_n(x['accepted_spans_per_s'])} / {_n(x['queryable_spans_per_s'])}" for x in r["repeats"]
            ),
        )
    row("all readable after the last ack, s", lambda r: _n(r["queryable"]["after_last_ack_s"], ".1f"))
    row(
        "request latency p50 / p99 ms",
        lambda r: f"{_n(r['send']['latency_ms']['p50'])} / {_n(r['send']['latency_ms']['p99'])}",
    )
    row("failed requests", lambda r: f"{r['send']['requests_failed']}")
    row(
        "queue: max depth / in flight / both (jobs of ≤ 512 spans)",
        lambda r: " / ".join(_n(r["queue"][k]) for k in ("max_depth", "max_in_flight", "max_backlog")),
    )
    row(
        "queue: oldest un-acked job's age p50 / p95 / max, s",
        lambda r: " / ".join(_n(r["queue"]["oldest_age_s"][k], ".1f") for k in ("p50", "p95", "max")),
    )
    rows.append(("*CPU µs per span (cores busy over the run)*", ["" for _ in results]))
    row("owner `spyglass serve` (the one process when embedded)", comp("owner"))
    row("  · web: event loop + request threads", group("web"))
    row("  · worker: take + merge, OLAP writer", group("worker"))
    row("  · chDB engine threads", group("chDB"))
    row("  · other Python / ended threads", group("other"))
    for i in range(run["args"]["api_processes"]):
        row(f"`serve --no-worker` api-{i + 1}", comp(f"api-{i + 1}"))
    row("moto S3 server", comp("moto"))
    row("redis-server", comp("redis-server"))
    row("PostgreSQL backends (scratch DB)", comp("postgres"))
    row("load generator (this script)", comp("loadgen"))
    row("rest of the machine (unattributed)", cpu("unattributed", lambda r: r["cpu"]["unattributed_s"]))
    row(f"**whole machine** (of {nproc} cores)", cpu("machine", lambda r: r["cpu"]["machine_busy_s"]))
    rows.append(("*peak RSS MB (sampled)*", ["" for _ in results]))
    names = dict.fromkeys(n for r in results for n in r["rss_mb"])
    for name in names:
        row(name, lambda r, name=name: _n((r["rss_mb"].get(name) or {}).get("peak")))
    return [_title(run, c) for c in configs], rows


def markdown(run: dict) -> str:
    titles, rows = table_rows(run)
    lines = ["| Figure | " + " | ".join(titles) + " |", "|---|" + "--:|" * len(titles)]
    lines += [
        "| " + label.replace("  · ", "&nbsp;&nbsp;· ") + " | " + " | ".join(cells) + " |" for label, cells in rows
    ]
    m = run["machine"]
    loads = ", ".join(f"{c} {r['loadavg_at_start'][0]:.2f}" for c, r in run["configs"].items())
    lines.append("")
    lines.append(
        f"Run {run['started_at']} · commit {m.get('git_commit') or '–'} · {m.get('nproc')} cores "
        f"({m.get('cpu_model')}), {_n(m.get('mem_total_mb'))} MB RAM, Python {m.get('python')} · 1-min load average "
        f"at the start of each configuration: {loads}. Every process, engine and the load generator share the "
        f"cores; S3 is moto's server mode (a Python process). CPU from /proc over first request → all readable; "
        f"owner threads named by {next(iter(run['configs'].values()))['cpu']['owner_threads_named_by']}."
    )
    profiled = [
        (c, node, thread, t)
        for c, prof in run.get("profiles", {}).items()
        for node, summary in prof["nodes"].items()
        for thread, t in summary.items()
        if thread in README_THREADS
    ]
    if profiled:
        lines += [
            "",
            f"Where the busiest Python threads spend their wall-clock time (py-spy --idle at "
            f"{run['args']['profile_rate']} Hz, a separate profiled run per configuration; share of the "
            "thread's samples inside each function):",
            "",
        ]
    for config, node, thread, t in profiled:
        top = ", ".join(
            f"`{f['function'].split(' (')[0]}` {f['share']:.0%}" for f in t["inclusive"][:6] if f["share"] >= 0.01
        )
        pool = f" ({t['threads']} threads)" if t["threads"] > 1 else ""
        lines.append(f"* {config} {node}, `{thread}`{pool}: {top}")
    return "\n".join(lines)


def update_readme(run: dict, readme: Path = README) -> None:
    text = readme.read_text()
    block = f"{START}\n{markdown(run)}\n{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{block}\n"
    readme.write_text(text)


def render(run: dict) -> None:
    titles, rows = table_rows(run)
    t = Table(title=f"scale-out benchmark · {run['args']['spans']:,} spans")
    t.add_column("figure")
    for title in titles:
        t.add_column(title.replace("`", ""), justify="right")
    for label, cells in rows:
        t.add_row(label.replace("*", "").replace("`", ""), *(c.replace("*", "") for c in cells))
    console.print(t)
    for config, r in run["configs"].items():
        for msg in r["send"]["error_samples"]:
            console.print(f"[red]{config}: {msg}[/]")
        if r["queryable"].get("error"):
            console.print(f"[red]{config}: read-back {r['queryable']['error']}[/]")
        if r["queue"]["errors"]:
            console.print(f"[yellow]{config}: status sampler {r['queue']['errors'][0]}[/]")
    for config, prof in run.get("profiles", {}).items():
        for node, summary in prof["nodes"].items():
            for thread, t in list(summary.items())[:4]:
                pt = Table(
                    title=f"py-spy · {config} · {node} · {thread} × {t['threads']} · {t['samples']:,} samples "
                    "· share of its wall time inside",
                    show_header=False,
                )
                for f in t["inclusive"]:
                    pt.add_row(f"{f['share']:.1%}", f["function"])
                console.print(pt)


def write_json(run: dict, results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(run["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"{stamp}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(run, indent=2, default=str) + "\n")
    tmp.rename(path)
    return path


# ----------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/scaleout.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)} (default: both)")
    p.add_argument(
        "--spans",
        type=int,
        default=None,
        help="OTLP spans per configuration (default 100000; --quick: 5000), rounded up to whole traces of 5",
    )
    p.add_argument("--quick", action="store_true", help="a small smoke run of the harness")
    p.add_argument("--batch-spans", type=int, default=512, help="spans per OTLP request (default 512)")
    p.add_argument(
        "--senders",
        type=int,
        default=4,
        help="concurrent senders in all, split evenly over the API processes (default 4)",
    )
    p.add_argument("--api-processes", type=int, default=2, help="`serve --no-worker` processes (default 2)")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measured runs per configuration, the configurations "
        "taking turns; the table shows the run with the median queryable spans/s and every run's "
        "figures (default 1)",
    )
    p.add_argument("--seed", type=int, default=42, help="decides the content (default 42)")
    p.add_argument("--salt", default=None, help="hex; decides ids and time window (default: random)")
    p.add_argument("--sample-interval", type=float, default=0.25, help="queue/RSS sampling period, s (default 0.25)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="after each measured run, a second run with py-spy "
        "record on the owner and api-1; keeps their top functions (needs py-spy)",
    )
    p.add_argument("--profile-rate", type=int, default=50, help="py-spy samples per second (default 50)")
    p.add_argument(
        "--max-load",
        type=float,
        default=0.0,
        help="before each configuration, wait until the 1-minute load average is below this (default 0: don't wait)",
    )
    p.add_argument("--max-load-wait", type=float, default=900, help="longest wait for --max-load, s (default 900)")
    p.add_argument("--startup-timeout", type=float, default=120, help="per process, s (default 120)")
    p.add_argument("--readback-timeout", type=float, default=300, help="after the last ack, s (default 300)")
    p.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="longest pause between read-back polls (they start at 50 ms and back off), s (default 1)",
    )
    p.add_argument("--max-send-seconds", type=float, default=600, help="stop sending after this, s (default 600)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=f"default {RESULTS_DIR.relative_to(REPO)}")
    p.add_argument("--no-save", action="store_true", help="do not write the JSON result")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    p.add_argument("--keep-workdir", action="store_true", help="keep the data dirs and process logs")
    a = p.parse_args(argv)
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    if not a.configs or any(c not in CONFIGS for c in a.configs):
        p.error(f"--configs: choose from {', '.join(CONFIGS)}")
    a.spans = a.spans or (5_000 if a.quick else 100_000)
    if not 1 <= a.spans <= 1_000_000:
        p.error("--spans must be 1..1,000,000 (bodies are prebuilt in memory)")
    if not 1 <= a.repeat <= 10:
        p.error("--repeat must be 1..10")
    if not 1 <= a.api_processes <= 8 or a.senders < a.api_processes:
        p.error("--api-processes must be 1..8 and --senders at least one per API process")
    if a.profile and not PYSPY:
        p.error("--profile needs py-spy (.venv/bin/pip install py-spy)")
    a.salt = (a.salt or secrets.token_hex(4)).lower()
    try:
        int(a.salt, 16)
    except ValueError:
        p.error("--salt must be hex")
    return a


def main(argv: list[str] | None = None) -> tuple[int, dict]:
    a = parse_args(argv)
    if "scaleout" in a.configs:
        check_services()
    ident = RunIdentity(seed=a.seed, salt=a.salt)
    with console.status(f"building {traces_for(a.spans):,} traces …"):
        t0 = time.perf_counter()
        requests = otlp_requests(generate(traces_for(a.spans), ident), ident, a.batch_spans, False, PUBLIC_KEY)
        prebuild_s = time.perf_counter() - t0
    spans = sum(r.spans for r in requests)
    console.print(
        f"[dim]{spans:,} spans in {len(requests):,} requests "
        f"({sum(len(r.body) for r in requests) / 2**20:,.1f} MiB, built in {prebuild_s:.1f} s), "
        f"run tag {ident.run_tag}, window {iso(ident.window_start_ns)[:13]}h; py-spy: {PYSPY or 'no'}[/]"
    )
    run: dict = {
        "schema": 1,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()} | {"spans": spans},
        "workload": {
            "spans": spans,
            "traces": traces_for(a.spans),
            "requests": len(requests),
            "wire_bytes": sum(len(r.body) for r in requests),
            "run_tag": ident.run_tag,
            "seed": a.seed,
            "salt": a.salt,
        },
        "machine": machine_info(),
        "configs": {},
    }
    status = 0
    profile_dir = Path(tempfile.mkdtemp(prefix="spyglass-scaleout-profiles-")) if a.profile else None
    try:
        runs: dict[str, list[dict]] = {c: [] for c in a.configs}
        for i in range(a.repeat):  # the configurations take turns, so a drift of the machine hits both
            for config in a.configs:
                turn = f" · run {i + 1} of {a.repeat}" if a.repeat > 1 else ""
                console.rule(f"[bold]{config}[/] · {spans:,} spans{turn}")
                runs[config].append(run_config(config, requests, ident, a))
                status |= 0 if ok(runs[config][-1], spans) else 1
        run["configs"] = {config: median_run(runs[config]) for config in a.configs}
        for config in a.configs if profile_dir is not None else ():
            console.rule(f"[bold]{config}[/] · profiled run (py-spy, not in the table)")
            prof = run_config(config, requests, ident, a, profile_dir)
            nodes = {}
            for path in sorted(profile_dir.glob(f"{config}-*.speedscope.json")):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    nodes[path.name.split(".")[0].removeprefix(f"{config}-")] = summarize_speedscope(path)
            run.setdefault("profiles", {})[config] = {
                "accepted_spans_per_s": prof["send"]["accepted_spans_per_s"],
                "queryable_spans_per_s": prof["queryable"]["queryable_spans_per_s"],
                "cpu_us_per_span": prof["cpu_us_per_span"],
                "nodes": nodes,
            }
    finally:
        if profile_dir is not None:
            shutil.rmtree(profile_dir, ignore_errors=True)
    render(run)
    if not a.no_save:
        console.print(f"[dim]result {write_json(run, a.results_dir)}[/]")
    if not a.no_readme:
        update_readme(run)
        console.print(f"[dim]updated {README}[/]")
    return status, run


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # the finally blocks stop the fleet and drop the scratch stores


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main()[0])
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every process was stopped and the scratch stores removed[/]")
        sys.exit(130)
