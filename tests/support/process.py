"""Child processes of the tests (servers, Redis, moto): wait until they answer, stop them cleanly."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable


def wait_until_answering(process: subprocess.Popen[bytes], answers: Callable[[], bool], timeout: float,
                         what: str, log_tail: Callable[[], str]) -> None:
    """Poll `answers()` until true; raise with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log_tail()}")
        if answers():
            return
        time.sleep(0.05)
    stop_process(process, signal.SIGKILL)
    raise RuntimeError(f"{what} did not answer within {timeout}s:\n{log_tail()}")


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
    """Send `sig` (a stopped process is continued first), wait, kill past `timeout`; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
