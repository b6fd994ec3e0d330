"""Trace and score deletion, and the legacy single-event writers (§4.6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.integration.api.builders import (
    api_ts,
    barrier,
    ingest_ok,
    iso,
    observation,
    score_create,
    trace_create,
    uid,
    wait_gone,
    wait_trace,
)


def _trace_with_children(client: httpx.Client) -> tuple[str, list[str], str]:
    trace_id, obs_ids, score_id = uid(), [uid(), uid()], uid()
    ingest_ok(client, [trace_create(trace_id, name="doomed"),
                       observation("span-create", obs_ids[0], trace_id),
                       observation("generation-create", obs_ids[1], trace_id, parentObservationId=obs_ids[0]),
                       score_create(score_id, "doomed-score", 1.0, traceId=trace_id)])
    wait_trace(client, trace_id, lambda t: len(t["observations"]) == 2 and len(t["scores"]) == 1)
    return trace_id, obs_ids, score_id


def _assert_trace_gone(client: httpx.Client, trace_id: str, obs_ids: list[str], score_id: str) -> None:
    wait_gone(client, f"/api/public/traces/{trace_id}")
    for obs_id in obs_ids:
        assert client.get(f"/api/public/observations/{obs_id}").status_code == 404
    listed = client.get("/api/public/observations", params={"traceId": trace_id}).json()
    assert (listed["data"], listed["meta"]["totalItems"]) == ([], 0)
    v2 = client.get("/api/public/v2/observations", params={"traceId": trace_id}).json()
    assert v2["data"] == []
    assert client.get(f"/api/public/v2/scores/{score_id}").status_code == 404
    assert client.get("/api/public/v2/scores", params={"traceId": trace_id}).json()["data"] == []


def test_delete_trace(client: httpx.Client) -> None:
    trace_id, obs_ids, score_id = _trace_with_children(client)
    keeper, _, keeper_score = _trace_with_children(client)
    response = client.delete(f"/api/public/traces/{trace_id}")
    assert (response.status_code, response.json()) == (200, {"message": "Trace deleted successfully"})
    _assert_trace_gone(client, trace_id, obs_ids, score_id)
    listed = {t["id"] for t in client.get("/api/public/traces", params={"name": "doomed", "limit": 100}).json()["data"]}
    assert trace_id not in listed and keeper in listed
    assert len(wait_trace(client, keeper)["observations"]) == 2
    assert client.get(f"/api/public/v2/scores/{keeper_score}").status_code == 200
    again = client.delete(f"/api/public/traces/{trace_id}")
    assert again.status_code == 404 and again.json()["error"] == "LangfuseNotFoundError"


def test_delete_traces_in_bulk(client: httpx.Client) -> None:
    first, second, keeper = (_trace_with_children(client) for _ in range(3))
    response = client.request("DELETE", "/api/public/traces", json={"traceIds": [first[0], second[0]]})
    assert (response.status_code, response.json()) == (200, {"message": "Traces deleted successfully"})
    _assert_trace_gone(client, *first)
    _assert_trace_gone(client, *second)
    kept = wait_trace(client, keeper[0])
    assert sorted(o["id"] for o in kept["observations"]) == sorted(keeper[1])


def test_deleted_trace_can_be_written_again(client: httpx.Client) -> None:
    trace_id, obs_ids, score_id = _trace_with_children(client)
    assert client.delete(f"/api/public/traces/{trace_id}").status_code == 200
    _assert_trace_gone(client, trace_id, obs_ids, score_id)
    new_obs = uid()
    ingest_ok(client, [trace_create(trace_id, name="reborn"), observation("span-create", new_obs, trace_id)])
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    assert trace["name"] == "reborn"
    assert [o["id"] for o in trace["observations"]] == [new_obs]
    assert trace["scores"] == []


def test_delete_score(client: httpx.Client) -> None:
    trace_id, _, score_id = _trace_with_children(client)
    other_score = uid()
    ingest_ok(client, [score_create(other_score, "stays", 0.5, traceId=trace_id)])
    wait_trace(client, trace_id, lambda t: len(t["scores"]) == 2)
    response = client.delete(f"/api/public/scores/{score_id}")
    assert (response.status_code, response.json()) == (202, {"message": "Score deletion queued successfully"})
    wait_gone(client, f"/api/public/v2/scores/{score_id}")
    assert client.get(f"/api/public/scores/{score_id}").status_code == 404
    trace = wait_trace(client, trace_id)
    assert [s["id"] for s in trace["scores"]] == [other_score]
    assert len(trace["observations"]) == 2
    assert client.delete(f"/api/public/scores/{score_id}").status_code == 404


def test_delete_session_score(client: httpx.Client) -> None:
    score_id, session_id = uid(), f"sess-{uid()}"
    ingest_ok(client, [score_create(score_id, "session", 2.0, sessionId=session_id)])
    barrier(client)
    assert client.delete(f"/api/public/scores/{score_id}").status_code == 202
    wait_gone(client, f"/api/public/v2/scores/{score_id}")


def test_legacy_trace_endpoint(client: httpx.Client) -> None:
    response = client.post("/api/public/traces", json={"name": "legacy-trace", "userId": "legacy-user",
                                                       "tags": ["b", "a"], "metadata": {"k": "v"}})
    assert response.status_code == 200
    assert set(response.json()) == {"id"}
    generated = response.json()["id"]
    assert isinstance(generated, str) and generated
    trace = wait_trace(client, generated)
    assert (trace["name"], trace["userId"], trace["tags"], trace["metadata"]) == (
        "legacy-trace", "legacy-user", ["a", "b"], {"k": "v"})
    chosen = uid()
    response = client.post("/api/public/traces", json={"id": chosen, "name": "chosen"})
    assert (response.status_code, response.json()) == (200, {"id": chosen})
    assert wait_trace(client, chosen)["name"] == "chosen"


def test_legacy_observation_endpoints(client: httpx.Client) -> None:
    trace_id = uid()
    start = datetime.now(tz=UTC) - timedelta(minutes=1)
    assert client.post("/api/public/traces", json={"id": trace_id, "name": "legacy"}).json() == {"id": trace_id}

    response = client.post("/api/public/spans", json={"traceId": trace_id, "name": "legacy-span",
                                                      "startTime": iso(start), "input": {"x": 1}})
    assert response.status_code == 200
    span_id = response.json()["id"]
    response = client.patch("/api/public/spans", json={"spanId": span_id, "endTime": iso(start, seconds=2),
                                                       "output": {"ok": True}})
    assert (response.status_code, response.json()) == (200, {"id": span_id})

    gen_id = uid()
    response = client.post("/api/public/generations", json={
        "id": gen_id, "traceId": trace_id, "name": "legacy-gen", "parentObservationId": span_id,
        "startTime": iso(start, seconds=0.5), "model": "gpt-3.5-turbo",
        "prompt": [{"role": "user", "content": "hi"}], "completion": "hello",
        "usage": {"promptTokens": 3, "completionTokens": 2}})
    assert (response.status_code, response.json()) == (200, {"id": gen_id})
    response = client.patch("/api/public/generations", json={"generationId": gen_id, "metadata": {"m": 1},
                                                             "endTime": iso(start, seconds=1.5)})
    assert (response.status_code, response.json()) == (200, {"id": gen_id})

    response = client.post("/api/public/events", json={"traceId": trace_id, "name": "legacy-event",
                                                       "startTime": iso(start, seconds=1), "level": "WARNING"})
    assert response.status_code == 200
    event_id = response.json()["id"]

    def complete(t: dict) -> bool:
        by_id = {o["id"]: o for o in t["observations"]}
        return (len(by_id) == 3 and by_id[span_id]["endTime"] is not None
                and by_id[gen_id]["metadata"] == {"m": 1} and by_id[gen_id]["endTime"] is not None)

    obs = {o["id"]: o for o in wait_trace(client, trace_id, complete)["observations"]}
    span, gen, evt = obs[span_id], obs[gen_id], obs[event_id]
    assert (span["type"], span["name"], span["input"], span["output"]) == ("SPAN", "legacy-span", {"x": 1},
                                                                          {"ok": True})
    assert (span["startTime"], span["endTime"]) == (api_ts(start), api_ts(start + timedelta(seconds=2)))
    assert (gen["type"], gen["name"], gen["model"], gen["parentObservationId"]) == (
        "GENERATION", "legacy-gen", "gpt-3.5-turbo", span_id)
    assert (gen["input"], gen["output"]) == ([{"role": "user", "content": "hi"}], "hello")
    assert gen["usageDetails"] == {"input": 3, "output": 2, "total": 5}
    assert gen["endTime"] == api_ts(start + timedelta(seconds=1.5))
    assert (evt["type"], evt["name"], evt["level"]) == ("EVENT", "legacy-event", "WARNING")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/public/traces", {"name": 5}),
    ("POST", "/api/public/spans", {"traceId": "t", "startTime": "not-a-date"}),
    ("POST", "/api/public/generations", {"traceId": "t", "level": "LOUD"}),
    ("POST", "/api/public/events", {"traceId": "t", "name": ["x"]}),
    ("PATCH", "/api/public/spans", {"endTime": "2024-01-01T00:00:00Z"}),
    ("POST", "/api/public/traces", ["not", "an", "object"]),
])
def test_legacy_endpoints_reject_invalid_bodies(client: httpx.Client, method: str, path: str, body: object) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["message"], str) and response.json()["message"]
