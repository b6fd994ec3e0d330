#!/usr/bin/env python3
"""One command: start a fresh `spyglass serve`, benchmark it, stop it, update the README.

    .venv/bin/python bench/run.py                      # otlp + batch, 50k spans each
    .venv/bin/python bench/run.py --spans 5000 --modes otlp
    .venv/bin/python bench/run.py -- --concurrency 8   # anything after -- goes to ingest.py

Each mode gets its own server process and empty data directory, so peak RSS and bytes per
span belong to that mode alone.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
import ingest  # noqa: E402
import report  # noqa: E402
from processes import log_tail, stop_process  # noqa: E402
from rich.console import Console  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PUBLIC_KEY, SECRET_KEY = "pk-lf-bench", "sk-lf-bench"
SERVER_CMD = str(REPO / ".venv/bin/spyglass") + " serve --port {port}"  # {port}: a free one, filled in
MODES = {"otlp": ["--mode", "otlp"], "otlp-gzip": ["--mode", "otlp", "--gzip"], "batch": ["--mode", "batch"]}
console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def provisioning_env(data_dir: Path) -> dict[str, str]:
    """The environment that gives a fresh `spyglass serve` the bench project and keys, and its data dir."""
    return {
        "LANGFUSE_INIT_ORG_ID": "bench-org",
        "LANGFUSE_INIT_PROJECT_ID": "bench-project",
        "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY,
        "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
        "SPYGLASS_DATA_DIR": str(data_dir),
    }


class Server:
    """A spyglass server on a free port with a throw-away data dir and provisioned keys."""

    def __init__(self, cmd: str, workdir: Path, startup_timeout: float) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / "data"
        self.log_path = workdir / "server.log"
        env = {**os.environ, **provisioning_env(self.data_dir)}
        argv = shlex.split(cmd.format(port=self.port, python=sys.executable))
        self._log = open(self.log_path, "wb")
        t0 = time.perf_counter()
        # Own session: a Ctrl-C in the terminal reaches us, and we stop the server cleanly.
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_healthy(startup_timeout)
        except BaseException:  # incl. Ctrl-C: never leave an orphaned server behind
            self.stop()
            raise
        self.startup_s = time.perf_counter() - t0
        self.shutdown_s: float | None = None

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"server exited with status {self.proc.returncode} during start-up")
            try:
                if httpx.get(f"{self.base}/api/public/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.fail(f"no 200 from /api/public/health within {timeout:.0f} s")

    def check_keys(self) -> None:
        r = httpx.get(f"{self.base}/api/public/projects", auth=(PUBLIC_KEY, SECRET_KEY), timeout=10)
        if r.status_code != 200:
            console.print(
                f"[yellow]warning: GET /api/public/projects with the bench keys → {r.status_code}; "
                "LANGFUSE_INIT_* provisioning may not work yet[/]"
            )

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return log_tail(self.log_path, lines)

    def fail(self, msg: str) -> None:
        tail = self.log_tail()
        raise SystemExit(f"{msg}\n--- server log (tail) ---\n{tail}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.shutdown_s = stop_process(self.proc, timeout, "server")
        self._log.close()


def bench_mode(mode: str, a: argparse.Namespace, passthrough: list[str], workdir: Path) -> tuple[int, dict]:
    server = Server(a.server_cmd, workdir, a.startup_timeout)
    try:
        console.print(
            f"[dim]server pid {server.proc.pid} on {server.base}, up in {server.startup_s:.1f} s, "
            f"data {server.data_dir}[/]"
        )
        server.check_keys()
        argv = [
            *MODES[mode], f"--spans={a.spans}", f"--base-url={server.base}",
            f"--public-key={PUBLIC_KEY}", f"--secret-key={SECRET_KEY}",
            f"--server-pid={server.proc.pid}", f"--data-dir={server.data_dir}",
            "--label=spyglass", "--no-save",
        ]  # fmt: skip
        rc, result = ingest.main(argv + passthrough)
    finally:
        server.stop()
        if server.proc.returncode not in (0, -signal.SIGTERM):
            console.print(f"[yellow]server exit status {server.proc.returncode}[/]\n{server.log_tail(15)}")
    # Start-up and SIGTERM-to-exit time belong to the result: a server that acks before
    # storing has to flush on shutdown, and that shows here.
    result["server"].update(
        startup_s=round(server.startup_s, 2),
        shutdown_s=round(server.shutdown_s, 2) if server.shutdown_s is not None else None,
        exit_status=server.proc.returncode,
    )
    console.print(f"[dim]server stopped in {server.shutdown_s or float('nan'):.2f} s[/]")
    return rc, result


def main() -> int:
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--spans", type=int, default=50_000)
    p.add_argument("--modes", default="otlp,batch", help=f"comma list of {', '.join(MODES)}")
    p.add_argument(
        "--server-cmd",
        default=SERVER_CMD,
        help="command line; {port} and {python} are substituted",
    )
    p.add_argument("--startup-timeout", type=float, default=120)
    p.add_argument("--keep-data", action="store_true", help="keep the temporary data dirs and server logs")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the README results table")
    a, passthrough = p.parse_known_args()
    passthrough = [x for x in passthrough if x != "--"]
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if unknown := [m for m in modes if m not in MODES]:
        p.error(f"unknown mode(s) {unknown}; choose from {list(MODES)}")

    status = 0
    for mode in modes:
        console.rule(f"[bold]{mode}[/] · {a.spans:,} spans")
        workdir = Path(tempfile.mkdtemp(prefix=f"spyglass-bench-{mode}-"))
        try:
            rc, result = bench_mode(mode, a, passthrough, workdir)
        finally:
            if a.keep_data:
                console.print(f"[dim]kept {workdir}[/]")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        status |= rc
        console.print(f"[dim]result {report.write_json(result)}[/]")

    if not a.no_readme:
        report.update_readme()
        console.print(f"[dim]updated {report.README}[/]")
    return status


if __name__ == "__main__":
    sys.exit(main())
