"""Shared fixtures: a live `spyglass serve` per test module, real services when required.

`SPYGLASS_TEST_STACK=scaleout` runs every server on PostgreSQL + Redis + S3 (moto over
HTTP) + chDB instead of the embedded default, so a whole suite can be re-run on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.support.server import SpyglassServer

REQUIRE_SERVICES = os.environ.get("SPYGLASS_REQUIRE_SERVICES") == "1"
SCALE_OUT = os.environ.get("SPYGLASS_TEST_STACK") == "scaleout"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One moto S3 server (its own process, over HTTP) for the whole session; a bucket per user."""
    from tests.support.s3 import MotoS3Server

    server = MotoS3Server(tmp_path_factory.mktemp("moto"))
    try:
        server.start()
    except RuntimeError as error:
        # moto is a dev dependency: its absence is a broken environment, not a reason to skip.
        pytest.fail(f"could not start the moto S3 server: {error}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings that put a module's servers on the scale-out engines (empty when embedded)."""
    if not SCALE_OUT:
        yield {}
        return
    from tests.support.stack import ScaleOutStack

    stack = ScaleOutStack.create(request.getfixturevalue("s3_server"))
    yield stack.env()
    stack.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, stack_env: dict[str, str]) -> Iterator[SpyglassServer]:
    """A real server process on a free port with a fresh data dir and its own project keys."""
    instance = SpyglassServer(data_dir=tmp_path_factory.mktemp("spyglass") / "data", extra_env=stack_env).start()
    yield instance
    instance.stop()
