"""Read API over the shared dataset: observations v1 (filters, single read), v2 cursor walks with
field groups, scores v1 (trace scores) vs v2 (all targets)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from tests.integration.api.builders import OBSERVATION_KEYS, SCORE_KEYS, api_ts, uid
from tests.integration.api.dataset import BASE, START_RANGE, Data, at, ids

OBSERVATION_FILTERS = {
    "traceId": (lambda d: {"traceId": d.t1}, ["E1", "G1", "R1"]),
    "type": (lambda d: {**START_RANGE, "type": "GENERATION"}, ["G2", "G1"]),
    "name": (lambda d: {"name": d.LLM}, ["G2", "G1"]),
    "userId": (lambda d: {"userId": d.U1}, ["G2", "R2", "E1", "G1", "R1"]),
    "level": (lambda d: {**START_RANGE, "level": "ERROR"}, ["G2"]),
    "parent": (lambda d: {"parentObservationId": d.R1}, ["E1", "G1"]),
    "environment": (lambda d: {**START_RANGE, "environment": "staging"}, ["G2", "R2"]),
    "version": (lambda d: {**START_RANGE, "version": "gv1"}, ["G1"]),
    "window": (lambda d: {"fromStartTime": at(0.5), "toStartTime": at(1.2)}, ["R2", "E1", "G1"]),
    "filter-type": (lambda d: {**START_RANGE, "filter": json.dumps(
        [{"type": "string", "column": "type", "operator": "=", "value": "TOOL"}])}, ["T3"]),
}


@pytest.mark.parametrize("case", sorted(OBSERVATION_FILTERS))
def test_observation_list_filters(client: httpx.Client, d: Data, case: str) -> None:
    params, expected = OBSERVATION_FILTERS[case]
    response = client.get("/api/public/observations", params=params(d))
    assert ids(response) == d.names(*expected)
    assert response.json()["meta"] == {"page": 1, "limit": 50, "totalItems": len(expected), "totalPages": 1}


def test_get_observation(client: httpx.Client, d: Data) -> None:
    gen = client.get(f"/api/public/observations/{d.G1}").json()
    assert set(gen) == OBSERVATION_KEYS
    # gpt-4o matches the shipped default prices; a price the model lacks is null here, 0 inside a trace.
    assert (gen["inputPrice"], gen["outputPrice"], gen["totalPrice"]) == (pytest.approx(2.5e-6), pytest.approx(1e-5),
                                                                          None)
    from_trace = next(o for o in client.get(f"/api/public/traces/{d.t1}").json()["observations"] if o["id"] == d.G1)
    assert {**gen, "totalPrice": 0} == from_trace
    response = client.get(f"/api/public/observations/{uid()}")
    assert response.status_code == 404 and response.json()["error"] == "LangfuseNotFoundError"


V2_CORE = {"id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type"}
V2_BASIC = {"name", "level", "statusMessage", "version", "environment"}


@pytest.mark.parametrize("limit", [1, 2, 4, 1000])
def test_v2_observations_cursor_walk(client: httpx.Client, d: Data, limit: int) -> None:
    expected = d.names("T3", "G2", "R2", "E1", "G1", "R1")
    seen: list[dict] = []
    params = {**START_RANGE, "fields": "core,basic,io,usage", "limit": limit}
    pages = 0
    while True:
        response = client.get("/api/public/v2/observations", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["data"]) == min(limit, len(expected) - len(seen))
        seen.extend(body["data"])
        if "cursor" not in body["meta"]:
            break
        assert pages < 20
        params["cursor"] = body["meta"]["cursor"]
    assert [o["id"] for o in seen] == expected
    assert pages == -(-len(expected) // limit)
    for obs in seen:
        assert V2_CORE | V2_BASIC | {"input", "output", "usageDetails", "costDetails"} <= set(obs)
        assert not {"providedModelName", "metadata", "latency", "promptName", "tags"} & set(obs)
    by_id = {o["id"]: o for o in seen}
    gen = by_id[d.G1]
    assert gen["input"] == "prompt text"
    assert isinstance(gen["output"], str) and json.loads(gen["output"]) == {"content": "hi"}
    assert isinstance(by_id[d.R1]["input"], str) and json.loads(by_id[d.R1]["input"]) == {"a": 1}
    assert by_id[d.E1]["input"] is None
    assert gen["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    assert (gen["name"], gen["type"], gen["parentObservationId"], gen["traceId"]) == (d.LLM, "GENERATION", d.R1, d.t1)
    assert (by_id[d.G2]["level"], by_id[d.G2]["statusMessage"]) == ("ERROR", "boom")


def test_v2_observations_default_fields(client: httpx.Client, d: Data) -> None:
    body = client.get("/api/public/v2/observations", params={"traceId": d.t3}).json()
    assert [o["id"] for o in body["data"]] == [d.T3]
    assert body["meta"] == {}
    obs = body["data"][0]
    assert V2_CORE | V2_BASIC <= set(obs)
    assert "input" not in obs and "usageDetails" not in obs
    assert (obs["type"], obs["name"]) == ("TOOL", "search")


SCORE_FILTERS = {
    "v1-name": ("/api/public/scores", lambda d: {"name": d.QUALITY}, ["Q3", "Q2", "Q1"]),
    "v1-excludes-session-scores": ("/api/public/scores", lambda d: {"name": d.RATING}, []),
    "v2-includes-session-scores": ("/api/public/v2/scores", lambda d: {"name": d.RATING}, ["SS"]),
    "v2-session": ("/api/public/v2/scores", lambda d: {"sessionId": d.S1}, ["SS"]),
    "v1-user-categorical": ("/api/public/scores", lambda d: {"userId": d.U1, "dataType": "CATEGORICAL"}, ["L1"]),
    "v1-user": ("/api/public/scores", lambda d: {"userId": d.U1}, ["Q2", "L1", "Q1"]),
    "v1-boolean": ("/api/public/scores", lambda d: {"name": d.PASSED, "dataType": "BOOLEAN"}, ["P3"]),
    "v1-value-gte": ("/api/public/scores", lambda d: {"name": d.QUALITY, "value": 0.5, "operator": ">="},
                     ["Q3", "Q1"]),
    "v1-value-lt": ("/api/public/scores", lambda d: {"name": d.QUALITY, "value": 0.5, "operator": "<"}, ["Q2"]),
    "v1-value-eq": ("/api/public/scores", lambda d: {"name": d.QUALITY, "value": 0.3}, ["Q2"]),
    "v1-value-ne": ("/api/public/scores", lambda d: {"name": d.QUALITY, "value": 0.3, "operator": "!="},
                    ["Q3", "Q1"]),
    "v2-trace": ("/api/public/v2/scores", lambda d: {"traceId": d.t1}, ["L1", "Q1"]),
    "v2-observation": ("/api/public/v2/scores", lambda d: {"observationId": d.G1}, ["L1"]),
    "v2-ids": ("/api/public/v2/scores", lambda d: {"scoreIds": f"{d.Q1},{d.SS}"}, ["SS", "Q1"]),
    "v2-window": ("/api/public/v2/scores", lambda d: {"fromTimestamp": at(0.2), "toTimestamp": at(2.1)},
                  ["Q2", "SS", "L1"]),
}


@pytest.mark.parametrize("case", sorted(SCORE_FILTERS))
def test_score_list_filters(client: httpx.Client, d: Data, case: str) -> None:
    route, params, expected = SCORE_FILTERS[case]
    response = client.get(route, params=params(d))
    assert ids(response) == d.names(*expected)
    assert response.json()["meta"]["totalItems"] == len(expected)


def test_score_shapes(client: httpx.Client, d: Data) -> None:
    q1 = next(s for s in client.get("/api/public/scores", params={"name": d.QUALITY}).json()["data"]
              if s["id"] == d.Q1)
    assert set(q1) == SCORE_KEYS | {"trace"}
    assert q1["trace"] == {"userId": d.U1, "tags": sorted([d.X, d.Y]), "environment": "production",
                           "sessionId": d.S1}
    assert (q1["value"], q1["stringValue"], q1["dataType"], q1["timestamp"]) == (
        0.9, None, "NUMERIC", api_ts(BASE + timedelta(seconds=0.1)))
    assert client.get(f"/api/public/scores/{d.Q1}").json() == q1
    ss = client.get(f"/api/public/v2/scores/{d.SS}").json()
    assert (ss["sessionId"], ss["traceId"], ss["observationId"], ss["value"], ss["trace"]) == (
        d.S1, None, None, 4.0, None)
    p3 = client.get(f"/api/public/v2/scores/{d.P3}").json()
    assert (p3["value"], p3["stringValue"], p3["dataType"]) == (1, "True", "BOOLEAN")
    assert client.get(f"/api/public/v2/scores/{uid()}").status_code == 404
