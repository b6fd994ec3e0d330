"""Fixtures shared by the HTTP API tests: an authenticated client and the fixed read dataset."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.integration.api.dataset import Data, build_dataset
from tests.support.server import SpyglassServer


@pytest.fixture(scope="module")
def client(server: SpyglassServer) -> Iterator[httpx.Client]:
    """The default project's client, on the module's own server."""
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def d(server: SpyglassServer, client: httpx.Client) -> Data:
    return build_dataset(client, server.keys.project_id)
