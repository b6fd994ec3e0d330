"""The processes and engines of one benchmark configuration: start them, stop them by PID, check nothing is left.

* embedded: one `spyglass serve` (chDB, the local queue and blobs in its data dir).
* scaleout: a scratch PostgreSQL database, a Redis key prefix and a moto S3 bucket (tests/support/stack.py)
  shared by one owner `spyglass serve` and `spyglass serve --no-worker` API processes.

Imports tests.support: the importer puts the repository root on sys.path (bench/scaleout.py does).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from encode import Request
from processes import log_tail, stop_process
from procstats import redis_server_pids
from rich.console import Console
from run import REPO, SERVER_CMD, free_port, provisioning_env
from tests.support.redis import shared_redis_url
from tests.support.s3 import MotoS3Server
from tests.support.stack import POSTGRES_ADMIN_URL, ScaleOutStack

console = Console()


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
        self.env = {**inherited, **provisioning_env(self.data_dir), **env}
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
        seconds = stop_process(self.proc, timeout, self.name)
        self.shutdown_s = round(seconds, 2) if seconds is not None else None

    def log_tail(self, lines: int = 25) -> str:
        return log_tail(self.log_path, lines) or "(no log)"

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

    def pids(self) -> dict[str, int]:
        """The measured processes by name: the Spyglass processes, the owner first, then moto's server."""
        pids = {n.name: n.pid for n in self.nodes}
        if self.moto is not None and self.moto.process is not None:
            pids["moto"] = self.moto.process.pid
        return pids

    def redis_pids(self) -> list[int]:
        """The redis-server processes of the shared server the queue lives on (none when embedded)."""
        return redis_server_pids(urlsplit(shared_redis_url()).port or 6379) if self.stack else []

    def send_plan(self, requests: list[Request], senders: int) -> list[tuple[Node, list[Request], int]]:
        """The workload dealt round-robin over the ingest processes, the senders split as evenly as possible."""
        nodes = self.ingest_nodes
        n = len(nodes)
        return [(node, requests[i::n], senders // n + (i < senders % n)) for i, node in enumerate(nodes)]

    def stack_info(self) -> dict | None:
        """The shared engines, as the result records them (None when embedded)."""
        if self.stack is None:
            return None
        return {
            "database": self.stack.name,
            "redis_prefix": self.stack.name,
            "bucket": self.stack.bucket,
            "redis_url": self.stack.redis_url,
            "s3": "moto server mode (HTTP)",
        }

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
