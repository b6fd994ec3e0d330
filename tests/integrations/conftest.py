"""Fixtures for the integrations suite: real client libraries (openai, LangChain, LlamaIndex) against a live
`spyglass serve` (the root conftest's module-scoped `server`, on either stack) and the fake OpenAI provider.

The only fake is the LLM provider (`tests.support.fake_openai`): no model provider is reachable here.
Client code that changes process-wide state (the `langfuse.openai` drop-in patches the openai package, the
copy-paste snippets configure themselves from the environment) runs in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langfuse import Langfuse
from langfuse._client.resource_manager import LangfuseResourceManager
from opentelemetry.sdk.trace import TracerProvider
from tests.integration.api.builders import barrier
from tests.support.fake_openai import FakeOpenAI
from tests.support.server import Keys, SpyglassServer, wait_until

REPO = Path(__file__).resolve().parents[2]
SNIPPETS = REPO / "docs" / "integrations"
READ_TIMEOUT = 20.0
CLIENT_TIMEOUT = 180.0
# Settings of the developer's shell that would point a client elsewhere.
FOREIGN_ENV = ("LANGFUSE_", "OTEL_", "OPENAI_", "LANGSMITH_", "LANGCHAIN_")

ReadTrace = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def http(server: SpyglassServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture
def langfuse(server: SpyglassServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Langfuse]:
    """A fresh SDK client for the server's project, the only one registered (so `get_client()`, which the
    LangChain handler uses, returns it), on its own TracerProvider; shut down afterwards."""
    for name in list(os.environ):
        if name.startswith(FOREIGN_ENV):
            monkeypatch.delenv(name)
    LangfuseResourceManager.reset()
    provider = TracerProvider()
    client = Langfuse(public_key=server.keys.public_key, secret_key=server.keys.secret_key,
                      base_url=server.base_url, tracer_provider=provider, flush_at=50, flush_interval=0.2)
    yield client
    client.shutdown()
    provider.shutdown()
    LangfuseResourceManager.reset()


@pytest.fixture
def fresh_project(server: SpyglassServer) -> Iterator[tuple[Keys, httpx.Client]]:
    """A project of its own (keys from the real CLI) and its API client: its traces are only the test's."""
    keys = server.create_project(f"integrations-{uuid.uuid4().hex[:8]}")
    with server.client(keys) as client:
        yield keys, client


@pytest.fixture
def read_trace(http: httpx.Client) -> ReadTrace:
    """`GET /api/public/traces/{id}` once it has `observations` observations, after a barrier (so whatever
    was sent before is applied): a count that differs fails with the names that did arrive."""

    def read(trace_id: str, observations: int, client: httpx.Client | None = None) -> dict[str, Any]:
        client = client or http
        barrier(client, timeout=READ_TIMEOUT)
        last: dict[str, Any] = {}

        def complete() -> dict[str, Any] | None:
            response = client.get(f"/api/public/traces/{trace_id}")
            if response.status_code != 200:
                return None
            last["trace"] = response.json()
            return last["trace"] if len(last["trace"]["observations"]) == observations else None

        try:
            return wait_until(complete, READ_TIMEOUT)
        except AssertionError:
            names = [o["name"] for o in last["trace"]["observations"]] if last else "no trace"
            raise AssertionError(f"trace {trace_id}: expected {observations} observations, got {names}") from None

    return read


def find_trace(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """The one trace matching the list filters (e.g. name=, sessionId=), polled until it is listed."""

    def listed() -> list[dict[str, Any]] | None:
        response = client.get("/api/public/traces", params=params)
        assert response.status_code == 200, response.text
        return response.json()["data"] or None

    traces = wait_until(listed, READ_TIMEOUT)
    assert len(traces) == 1, traces
    return traces[0]


def client_env(server: SpyglassServer, fake: FakeOpenAI, keys: Keys | None = None) -> dict[str, str]:
    """The environment a user's app would run with: Langfuse keys and host, OpenAI key and base URL."""
    keys = keys or server.keys
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env.update(
        LANGFUSE_PUBLIC_KEY=keys.public_key,
        LANGFUSE_SECRET_KEY=keys.secret_key,
        LANGFUSE_BASE_URL=server.base_url,
        LANGFUSE_HOST=server.base_url,
        OPENAI_API_KEY="sk-test-not-a-real-key",
        OPENAI_BASE_URL=fake.base_url,
    )
    return env


def run_client(args: list[str], env: dict[str, str]) -> str:
    """Run a Python client program to completion in its own process; its stdout (fails with its stderr)."""
    done = subprocess.run([sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-6000:]}"
    return done.stdout


def run_snippet(file_name: str, env: dict[str, str]) -> str:
    """Run a README snippet from docs/integrations unchanged, as a user would. `-P` keeps its folder off
    sys.path, where `openai.py` and `langchain.py` would shadow the packages of the same name."""
    return run_client(["-P", str(SNIPPETS / file_name)], env)


def by_name(observations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    named = {o["name"]: o for o in observations}
    assert len(named) == len(observations), [o["name"] for o in observations]
    return named


def ordered(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Observations in start order (to the millisecond; ties by id)."""
    return sorted(observations, key=lambda o: (o["startTime"], o["id"]))


def children(trace: dict[str, Any], parent: dict[str, Any] | None) -> list[dict[str, Any]]:
    parent_id = parent["id"] if parent else None
    return ordered([o for o in trace["observations"] if o["parentObservationId"] == parent_id])


def shape(trace: dict[str, Any], parent: dict[str, Any] | None = None) -> list[Any]:
    """The observation tree as nested (type, name[, children]) tuples. Siblings are sorted, not in start
    order: the API's millisecond timestamps cannot order spans that start within the same millisecond."""
    nodes: list[Any] = []
    for child in children(trace, parent):
        below = shape(trace, child)
        nodes.append((child["type"], child["name"], below) if below else (child["type"], child["name"]))
    return sorted(nodes, key=repr)
