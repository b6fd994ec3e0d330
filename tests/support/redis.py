"""Redis for tests: the shared server (skip or fail when it is missing) and private `redis-server` processes.

Only the stdlib (and tests.support.server) at module level: client-side venvs without redis-py import it too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.process import stop_process, wait_until_answering
from tests.support.server import free_port


def shared_redis_url() -> str:
    return os.environ.get("SPYGLASS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _skip_or_fail(reason: str) -> None:
    import pytest

    if os.environ.get("SPYGLASS_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _ping(host: str, port: int, timeout: float = 2.0, tls: bool = False) -> str | None:
    """None when a Redis server answers at host:port, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if tls:  # a TLS handshake is redis-py's business; a listening port is enough here
                return None
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        return f"no connection: {exc}"
    # -NOAUTH still means a Redis server: the credentials in the URL are redis-py's business.
    if reply.startswith((b"+PONG", b"-NOAUTH")):
        return None
    return f"unexpected reply to PING: {reply!r}"


def require_redis(url: str) -> None:
    """Skip the test (fail it when SPYGLASS_REQUIRE_SERVICES=1) unless a Redis server answers at `url`."""
    parts = urlsplit(url)
    problem = _ping(parts.hostname or "127.0.0.1", parts.port or 6379, tls=parts.scheme == "rediss")
    if problem is not None:
        _skip_or_fail(f"Redis not reachable at {url}: {problem}")


def require_redis_server() -> str:
    """The `redis-server` binary (skip or fail without it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        _skip_or_fail("redis-server is not installed (apt-get install redis-server)")
    return binary  # type: ignore[return-value]


class RedisServer:
    """A private redis-server with AOF and `appendfsync always`: every answered write survives even a SIGKILL."""

    def __init__(self, data_dir: Path, port: int | None = None, binary: str = "redis-server") -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.binary = binary
        self.log_path = self.data_dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
             "--logfile", str(self.log_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # Answering PING also means the AOF was loaded: Redis replies -LOADING until then.
        wait_until_answering(self.process, lambda: _ping("127.0.0.1", self.port, timeout=0.5) is None, timeout,
                             "redis-server", self._log_tail)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.process is not None:
            stop_process(self.process, sig, timeout)
            self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> RedisServer:
        """Stop and start again on the same port and directory; the AOF brings the data back."""
        self.stop()
        return self.start()

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else "(no log)"


def delete_redis_prefix(url: str, prefix: str) -> None:
    """Remove every key under `prefix:` (tests share one Redis and never flush it)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
