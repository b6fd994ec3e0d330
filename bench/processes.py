"""The benchmarks' child processes (servers, engines, profilers): stopping one by its PID, reading its log."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

console = Console()


def stop_process(proc: subprocess.Popen, timeout: float, name: str, sig: int = signal.SIGTERM) -> float | None:
    """Send `sig` and wait up to `timeout` s, then kill; seconds from the signal to the exit, None if killed."""
    t0 = time.perf_counter()
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        console.print(f"[red]{name} ignored {signal.Signals(sig).name} for {timeout:.0f} s; killing pid {proc.pid}[/]")
        proc.kill()
        proc.wait()
        return None
    return time.perf_counter() - t0


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file ("" without one)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _terminate(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # the callers' finally blocks stop their servers and drop the scratch stores


def run_main(main: Callable[[], tuple[int, object]], what_was_stopped: str) -> None:
    """Run a bench's `main()` as the script, exiting with its status; SIGTERM and Ctrl-C clean up first."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main()[0])
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: {what_was_stopped}[/]")
        sys.exit(130)
