"""The benchmarks' child processes (servers, engines, profilers): stopping one by its PID, reading its log."""

from __future__ import annotations

import signal
import subprocess
import time
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
