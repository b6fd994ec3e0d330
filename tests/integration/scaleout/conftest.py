"""A fleet on shared engines: ingest-only API processes and the one process that owns chDB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.support.server import Keys, SpyglassServer, new_keys
from tests.support.stack import ScaleOutStack

# Short, so a killed worker's jobs are reclaimed within the test's patience.
VISIBILITY_TIMEOUT = "3"


@pytest.fixture
def stack(s3_server) -> Iterator[ScaleOutStack]:  # noqa: ANN001
    instance = ScaleOutStack.create(s3_server)
    yield instance
    instance.close()


@dataclass
class Fleet:
    stack: ScaleOutStack
    root: Path
    keys: Keys = field(default_factory=new_keys)
    servers: list[SpyglassServer] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        return {**self.stack.env(), "SPYGLASS_QUEUE_VISIBILITY_TIMEOUT_SECONDS": VISIBILITY_TIMEOUT, **overrides}

    def owner(self, **overrides: str) -> SpyglassServer:
        """`spyglass serve`: owns chDB, runs the worker and serves reads."""
        return self._start([], overrides)

    def api(self, **overrides: str) -> SpyglassServer:
        """`spyglass serve --no-worker`: accepts ingestion only."""
        return self._start(["--no-worker"], overrides)

    def _start(self, args: list[str], overrides: dict[str, str]) -> SpyglassServer:
        data_dir = self.root / f"node-{len(self.servers)}" / "data"
        server = SpyglassServer(data_dir=data_dir, keys=self.keys, extra_env=self.env(**overrides), serve_args=args)
        self.servers.append(server)
        return server.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def fleet(stack: ScaleOutStack, tmp_path: Path) -> Iterator[Fleet]:
    instance = Fleet(stack, tmp_path)
    yield instance
    instance.stop()
