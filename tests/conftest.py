"""Shared fixtures: a live `spyglass serve` per test module, real services when required."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.support.server import SpyglassServer

REQUIRE_SERVICES = os.environ.get("SPYGLASS_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpyglassServer]:
    """A real server process on a free port with a fresh data dir and its own project keys."""
    instance = SpyglassServer(data_dir=tmp_path_factory.mktemp("spyglass") / "data").start()
    yield instance
    instance.stop()
