"""Two ingest-only API processes and one owner process on PostgreSQL + Redis + S3 + chDB."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langfuse import Langfuse, propagate_attributes
from langfuse._client.resource_manager import LangfuseResourceManager
from opentelemetry.sdk.trace import TracerProvider
from tests.support.server import SpyglassServer, wait_until

pytestmark = pytest.mark.services


def _send_with_sdk(server: SpyglassServer, session_id: str, count: int) -> list[str]:
    """Traces of a root span and a generation, through the real SDK pointed at `server`."""
    LangfuseResourceManager.reset()
    provider = TracerProvider()
    client = Langfuse(public_key=server.keys.public_key, secret_key=server.keys.secret_key,
                      base_url=server.base_url, tracer_provider=provider, flush_at=5, flush_interval=0.2)
    trace_ids = []
    try:
        for n in range(count):
            with client.start_as_current_observation(name=f"request-{n}") as span, \
                    propagate_attributes(session_id=session_id, user_id=f"user-{server.port}"):
                with client.start_as_current_observation(name="llm", as_type="generation", model="gpt-4o-mini",
                                                         usage_details={"input": 10, "output": 5}):
                    pass
                trace_ids.append(span.trace_id)
            client.create_score(name="quality", value=1.0, trace_id=trace_ids[-1])
        client.flush()
    finally:
        client.shutdown()
        provider.shutdown()
        LangfuseResourceManager.reset()
    return trace_ids


def test_traces_sent_through_both_api_processes_become_readable(fleet) -> None:  # noqa: ANN001
    owner = fleet.owner()
    first, second = fleet.api(), fleet.api()
    session_id = f"fleet-{uuid.uuid4().hex[:8]}"
    sent = _send_with_sdk(first, session_id, 6) + _send_with_sdk(second, session_id, 6)
    assert len(set(sent)) == 12

    with owner.client() as client:
        def all_listed() -> list[str] | None:
            rows = client.get("/api/public/traces", params={"sessionId": session_id, "limit": 50}).json()["data"]
            return sorted(row["id"] for row in rows) if len(rows) == 12 else None

        assert wait_until(all_listed, 60, 0.2) == sorted(sent)
        for trace_id in sent:
            detail = wait_until(lambda trace_id=trace_id: (
                body if len((body := client.get(f"/api/public/traces/{trace_id}").json())["observations"]) == 2
                and len(body["scores"]) == 1 else None), 30, 0.2)
            assert {o["name"] for o in detail["observations"]} == {"llm", detail["name"]}
            assert detail["scores"][0]["name"] == "quality"
        users = {row["userId"] for row in client.get("/api/public/traces", params={"sessionId": session_id,
                                                                                    "limit": 50}).json()["data"]}
        assert users == {f"user-{first.port}", f"user-{second.port}"}


def test_an_ingest_only_process_refuses_reads_with_a_clear_503(fleet) -> None:  # noqa: ANN001
    fleet.owner()
    api = fleet.api()
    with api.client() as client:
        response = client.get("/api/public/traces")
        assert response.status_code == 503
        assert "only accepts ingestion" in response.json()["message"]
        assert response.json()["error"] == "ServiceUnavailableError"
        # What it does serve: auth, health with the shared queue's figures, and ingestion.
        assert client.get("/api/public/projects").status_code == 200
        health = httpx.get(f"{api.base_url}/api/public/health").json()
        assert health["status"] == "OK" and set(health["queue"]) == {"depth", "inFlight", "oldestAgeSeconds",
                                                                     "deadLetters"}
        assert httpx.get(f"{api.base_url}/api/public/ready").status_code == 200
