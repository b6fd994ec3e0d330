"""Fixtures shared by the HTTP API tests: an authenticated client and the fixed read dataset."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.integration.api.dataset import Data, build_dataset
from tests.support.server import SpyglassServer, free_port


@pytest.fixture(scope="module")
def client(server: SpyglassServer) -> Iterator[httpx.Client]:
    """The default project's client, on the module's own server."""
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def d(server: SpyglassServer, client: httpx.Client) -> Data:
    return build_dataset(client, server.keys.project_id)


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory: pytest.TempPathFactory, stack_env: dict[str, str]) -> Iterator[SpyglassServer]:
    """A server that also receives OTLP over gRPC, on a free port (`serve_args[1]`)."""
    instance = SpyglassServer(data_dir=tmp_path_factory.mktemp("grpc") / "data", extra_env=stack_env,
                              serve_args=["--otlp-grpc-port", str(free_port())])
    instance.start()
    yield instance
    instance.stop()
