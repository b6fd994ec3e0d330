"""Fixtures for the compatibility tests that drive the real `langfuse` Python SDK (4.x or 5.x).

Only pytest, httpx, langfuse, opentelemetry and tests.support are imported here, so the same
files run in a venv that has a different SDK major and no spyglass installed (the server
itself always runs from the project venv, see SPYGLASS_SERVER_PYTHON).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from langfuse import Langfuse
from langfuse._client.resource_manager import LangfuseResourceManager
from opentelemetry.sdk.trace import TracerProvider
from tests.support.server import Keys, SpyglassServer, wait_until

READ_TIMEOUT = 10.0


def _forget_all_clients() -> None:
    """The SDK keeps one resource manager per public key for the whole process; drop them all."""
    LangfuseResourceManager.reset()


@pytest.fixture
def make_langfuse(server: SpyglassServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Langfuse]]:
    """Factory for fresh SDK clients (default: the server's provisioned project).

    Each client gets its own TracerProvider, so no span processor outlives its test (the SDK
    would otherwise attach one more processor per client to the global provider), and is shut
    down and removed from the SDK's per-public-key singleton registry afterwards.
    """
    for name in list(os.environ):
        if name.startswith(("LANGFUSE_", "OTEL_")):
            monkeypatch.delenv(name)
    _forget_all_clients()
    created: list[tuple[Langfuse, TracerProvider, str]] = []

    def make(keys: Keys | None = None, **kwargs: Any) -> Langfuse:
        keys = keys or server.keys
        provider = TracerProvider()
        options: dict[str, Any] = {"flush_at": 5, "flush_interval": 0.2, "tracer_provider": provider}
        options.update(kwargs)
        client = Langfuse(public_key=keys.public_key, secret_key=keys.secret_key, base_url=server.base_url, **options)
        created.append((client, provider, keys.public_key))
        return client

    yield make
    for client, provider, public_key in created:
        client.shutdown()
        provider.shutdown()
        LangfuseResourceManager._instances.pop(public_key, None)
    _forget_all_clients()


@pytest.fixture
def langfuse(make_langfuse: Callable[..., Langfuse]) -> Langfuse:
    """A fresh SDK client for the server's provisioned project."""
    return make_langfuse()


@pytest.fixture
def http(server: SpyglassServer) -> Iterator[httpx.Client]:
    """Raw HTTP client (Basic auth of the provisioned project) for asserting exact JSON."""
    with server.client() as client:
        yield client


@pytest.fixture
def read_trace(http: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Poll GET /api/public/traces/{id} until it is readable with the expected observations/scores."""

    def read(trace_id: str, observations: int | None = None, scores: int | None = None,
             client: httpx.Client | None = None) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def ready() -> dict[str, Any] | None:
            response = (client or http).get(f"/api/public/traces/{trace_id}")
            if response.status_code != 200:
                return None
            body = response.json()
            last["body"] = body
            if observations is not None and len(body["observations"]) != observations:
                return None
            if scores is not None and len(body["scores"]) != scores:
                return None
            return body

        try:
            return wait_until(ready, READ_TIMEOUT)
        except AssertionError:
            body = last.get("body")
            if body is None:
                raise
            raise AssertionError(
                f"trace {trace_id}: expected {observations} observations / {scores} scores, got "
                f"{len(body['observations'])} / {len(body['scores'])}: {body}"
            ) from None

    return read
