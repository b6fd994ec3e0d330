"""Helpers shared by the HTTP API integration tests: event builders, ingestion and polling."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tests.support.server import wait_until

INGESTION = "/api/public/ingestion"
OTEL_TRACES = "/api/public/otel/v1/traces"

# Every key of a trace as the legacy API returns it (GET /traces, /sessions/{id}).
TRACE_KEYS = frozenset({
    "id", "externalId", "timestamp", "name", "input", "output", "sessionId", "release", "version", "userId",
    "metadata", "tags", "public", "bookmarked", "environment", "projectId", "createdAt", "updatedAt", "htmlPath",
})
TRACE_DETAIL_KEYS = TRACE_KEYS | {"latency", "totalCost", "observations", "scores"}
OBSERVATION_KEYS = frozenset({
    "id", "traceId", "projectId", "type", "name", "startTime", "endTime", "completionStartTime", "model",
    "modelParameters", "input", "output", "version", "metadata", "level", "statusMessage", "parentObservationId",
    "environment", "promptId", "promptName", "promptVersion", "usage", "unit", "promptTokens", "completionTokens",
    "totalTokens", "usageDetails", "costDetails", "usagePricingTierId", "usagePricingTierName", "modelId",
    "inputPrice", "outputPrice", "totalPrice", "calculatedInputCost", "calculatedOutputCost", "calculatedTotalCost",
    "latency", "timeToFirstToken", "createdAt", "updatedAt",
})
SCORE_KEYS = frozenset({
    "id", "projectId", "environment", "name", "value", "stringValue", "dataType", "source", "authorUserId",
    "comment", "metadata", "configId", "queueId", "executionTraceId", "timestamp", "createdAt", "updatedAt",
    "traceId", "observationId", "sessionId", "datasetRunId",
})


def uid() -> str:
    return uuid.uuid4().hex


def iso(moment: datetime | None = None, **delta: float) -> str:
    """ISO-8601 with offset; `moment` defaults to now, shifted by `timedelta(**delta)`."""
    return ((moment or datetime.now(tz=UTC)) + timedelta(**delta)).isoformat()


def api_ts(moment: datetime) -> str:
    """How the API renders a timestamp: millisecond precision, `Z` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def event(kind: str, body: dict[str, Any], *, timestamp: str | None = None, event_id: str | None = None,
          **envelope: Any) -> dict[str, Any]:
    return {"id": event_id or uid(), "type": kind, "timestamp": timestamp or iso(), "body": body, **envelope}


def trace_create(trace_id: str, timestamp: str | None = None, **fields: Any) -> dict[str, Any]:
    return event("trace-create", {"id": trace_id, **fields}, timestamp=timestamp)


def observation(kind: str, obs_id: str, trace_id: str | None, timestamp: str | None = None,
                **fields: Any) -> dict[str, Any]:
    """`kind` is the event type, e.g. "span-create", "generation-update", "tool-create"."""
    body: dict[str, Any] = {"id": obs_id, **fields}
    if trace_id is not None:
        body["traceId"] = trace_id
    return event(kind, body, timestamp=timestamp)


def score_create(score_id: str, name: str, value: Any, timestamp: str | None = None, **fields: Any) -> dict[str, Any]:
    return event("score-create", {"id": score_id, "name": name, "value": value, **fields}, timestamp=timestamp)


def ingest(client: httpx.Client, events: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """POST a batch; asserts 207 and returns the body."""
    response = client.post(INGESTION, json={"batch": events, **kwargs})
    assert response.status_code == 207, response.text
    return response.json()


def ingest_ok(client: httpx.Client, events: list[dict[str, Any]]) -> dict[str, Any]:
    """POST a batch that must be fully accepted: every event a 201 success, in order, no errors."""
    body = ingest(client, events)
    assert body == {"successes": [{"id": e["id"], "status": 201} for e in events], "errors": []}, body
    return body


def get_when(client: httpx.Client, path: str, predicate=None, timeout: float = 10.0, **params: Any) -> Any:  # noqa: ANN001
    """Poll GET `path` until it answers 200 (and `predicate(json)` holds); return the JSON."""

    def probe() -> Any:
        response = client.get(path, params=params or None)
        if response.status_code != 200:
            return None
        data = response.json()
        return data if predicate is None or predicate(data) else None

    return wait_until(probe, timeout)


def wait_trace(client: httpx.Client, trace_id: str, predicate=None, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ANN001
    return get_when(client, f"/api/public/traces/{trace_id}", predicate, timeout)


def wait_gone(client: httpx.Client, path: str, timeout: float = 10.0) -> None:
    wait_until(lambda: client.get(path).status_code == 404, timeout)


def barrier(client: httpx.Client, timeout: float = 10.0) -> None:
    """Ingest a sentinel trace and wait for it: everything acknowledged before is processed too
    (the worker applies the queue in order)."""
    trace_id = uid()
    ingest_ok(client, [trace_create(trace_id, name="barrier")])
    wait_trace(client, trace_id, timeout=timeout)


def list_all(client: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Walk every page of a page/limit list; returns (all rows, first page meta)."""
    rows: list[dict[str, Any]] = []
    first_meta: dict[str, Any] | None = None
    page = 1
    while True:
        response = client.get(path, params={**params, "page": page, "limit": 100})
        assert response.status_code == 200, response.text
        body = response.json()
        first_meta = first_meta or body["meta"]
        rows.extend(body["data"])
        if page >= body["meta"]["totalPages"]:
            return rows, first_meta
        page += 1


def basic_auth(public_key: str, secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def assert_error(response: httpx.Response, status: int, error: str, *message_parts: str) -> None:
    """The response is Langfuse's error shape with this status and `error`, and a message naming each part."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    for part in message_parts:
        assert part in body["message"], body
