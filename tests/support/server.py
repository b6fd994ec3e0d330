"""Run a real `spyglass serve` process for tests: free port, fresh data dir, provisioned keys."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.support.process import stop_process, wait_until_answering

# The server runs from the project's own venv even when the client side (a test
# running under another SDK version) lives in a different venv.
SERVER_PYTHON = os.environ.get("SPYGLASS_SERVER_PYTHON", sys.executable)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Keys:
    project_id: str
    public_key: str
    secret_key: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.public_key, self.secret_key)


def new_keys() -> Keys:
    """A fresh project id and key pair, provisioned by a server through LANGFUSE_INIT_*."""
    return Keys(f"proj-{uuid.uuid4().hex[:8]}", f"pk-lf-{uuid.uuid4()}", f"sk-lf-{uuid.uuid4()}")


@dataclass
class SpyglassServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    keys: Keys = field(default_factory=new_keys)
    extra_env: dict[str, str] = field(default_factory=dict)
    serve_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "SPYGLASS_"))}
        env.update(
            SPYGLASS_DATA_DIR=str(self.data_dir),
            SPYGLASS_LOG_LEVEL="warning",
            LANGFUSE_INIT_ORG_ID="test-org",
            LANGFUSE_INIT_ORG_NAME="Test Org",
            LANGFUSE_INIT_PROJECT_ID=self.keys.project_id,
            LANGFUSE_INIT_PROJECT_NAME="Test Project",
            LANGFUSE_INIT_PROJECT_PUBLIC_KEY=self.keys.public_key,
            LANGFUSE_INIT_PROJECT_SECRET_KEY=self.keys.secret_key,
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> SpyglassServer:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            [SERVER_PYTHON, "-m", "spyglass", "serve", "--port", str(self.port), *self.serve_args],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        wait_until_answering(self.process, self._healthy, timeout, "spyglass serve",
                             lambda: self.log_path.read_text()[-4000:] if self.log_path else "")
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/api/public/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int | None:
        if self.process is None:
            return None
        code = stop_process(self.process, sig, timeout)
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def client(self, keys: Keys | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(keys or self.keys).auth, timeout=30)

    def create_project(self, name: str) -> Keys:
        """A second project with its own key pair, through the real CLI."""
        return self._keys_from_cli("projects", "create", "--name", name)

    def add_key(self, role: str = "member", project_id: str | None = None) -> Keys:
        """Another key pair (admin or member role) for a project (default: the provisioned one), through the CLI."""
        return self._keys_from_cli("projects", "add-key", "--project", project_id or self.keys.project_id,
                                   "--role", role)

    def _keys_from_cli(self, *command: str) -> Keys:
        public_key, secret_key = f"pk-lf-{uuid.uuid4()}", f"sk-lf-{uuid.uuid4()}"
        env = {k: v for k, v in self.env().items() if not k.startswith("LANGFUSE_INIT_")}
        out = subprocess.run(
            [SERVER_PYTHON, "-m", "spyglass", *command, "--public-key", public_key, "--secret-key", secret_key,
             "--json"],
            env=env, capture_output=True, text=True, check=True,
        )
        return Keys(json.loads(out.stdout)["projectId"], public_key, secret_key)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):  # noqa: ANN001, ANN201
    """Poll until `predicate()` returns a truthy value; return it (or fail with the last value)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
