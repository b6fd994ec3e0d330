"""Run moto's S3 server as a subprocess for tests: a real HTTP endpoint that can be paused and resumed.

Only stdlib + httpx at import time: this module is also imported from client-side venvs without boto3.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
from tests.support.process import stop_process, wait_until_answering
from tests.support.server import SERVER_PYTHON, free_port


class MotoS3Server:
    """moto in its own process, so SIGSTOP makes it unreachable while it keeps its in-memory buckets."""

    def __init__(self, tmp_dir: Path, port: int | None = None) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.port = port or free_port()
        self.log_path = self.tmp_dir / f"moto-s3-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoS3Server:
        probe = subprocess.run([SERVER_PYTHON, "-c", "import moto.server"], capture_output=True, text=True)
        if probe.returncode != 0:
            raise RuntimeError(f"moto[server] is not importable by {SERVER_PYTHON}:\n{probe.stderr[-2000:]}")
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            [SERVER_PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until_answering(self.process, self._answers, timeout, "moto server",
                             lambda: self.log_path.read_text()[-4000:])
        return self

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def pause(self) -> None:
        """The port stays bound but nothing answers; connections hang like a stalled S3."""
        assert self.process is not None, "server not started"
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None, "server not started"
        self.process.send_signal(signal.SIGCONT)

    def create_bucket(self, name: str) -> None:
        # moto does not verify signatures, so an unsigned path-style CreateBucket is enough.
        response = httpx.put(f"{self.endpoint_url}/{name}", timeout=10)
        response.raise_for_status()

    def env(self, bucket: str) -> dict[str, str]:
        """The settings a Spyglass server process needs to use this server's `bucket`."""
        return {
            "SPYGLASS_S3_BUCKET": bucket,
            "SPYGLASS_S3_ENDPOINT_URL": self.endpoint_url,
            "SPYGLASS_S3_REGION": "us-east-1",
            "SPYGLASS_S3_ACCESS_KEY_ID": "test",
            "SPYGLASS_S3_SECRET_ACCESS_KEY": "test",
            "SPYGLASS_S3_FORCE_PATH_STYLE": "true",
        }

    def __enter__(self) -> MotoS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
