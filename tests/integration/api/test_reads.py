"""Read API over one known dataset (tests/integration/api/dataset.py): trace lists, filters,
ordering, pagination and field groups; single trace reads; sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from tests.integration.api.builders import (
    OBSERVATION_KEYS,
    SCORE_KEYS,
    TRACE_DETAIL_KEYS,
    TRACE_KEYS,
    api_ts,
    barrier,
    ingest_ok,
    trace_create,
    uid,
)
from tests.integration.api.dataset import BASE, RANGE, Data, at, ids


def test_trace_list_default_order_and_shape(client: httpx.Client, d: Data) -> None:
    response = client.get("/api/public/traces", params=RANGE)
    assert ids(response) == d.names("t5", "t4", "t3", "t2", "t1")
    body = response.json()
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 5, "totalPages": 1}
    t1 = body["data"][4]
    assert set(t1) == TRACE_KEYS | {"observations", "scores", "totalCost", "latency"}
    assert sorted(t1["observations"]) == sorted(d.names("R1", "G1", "E1"))
    assert sorted(t1["scores"]) == sorted(d.names("Q1", "L1"))
    assert t1["totalCost"] == pytest.approx(0.003)
    assert t1["latency"] == pytest.approx(2.0)
    assert (t1["tags"], t1["metadata"], t1["input"], t1["output"]) == (
        sorted([d.X, d.Y]), {"team": f"{d.run}-core", "n": 1}, {"q": "hello"}, "world")
    t4 = body["data"][1]
    assert (t4["observations"], t4["scores"], t4["totalCost"], t4["latency"]) == ([], [], 0, 0)
    assert (t4["environment"], t4["sessionId"], t4["tags"]) == ("default", None, [])


TRACE_FILTERS = {
    "userId": (lambda d: {"userId": d.U1}, ["t2", "t1"]),
    "name": (lambda d: {"name": d.A}, ["t2", "t1"]),
    "sessionId": (lambda d: {"sessionId": d.S2}, ["t3"]),
    "tags-all-repeated": (lambda d: {"tags": [d.X, d.Y]}, ["t1"]),
    "tags-one": (lambda d: {"tags": d.X}, ["t2", "t1"]),
    "tags-all-csv": (lambda d: {"tags": f"{d.Y},{d.Z}"}, ["t3"]),
    "time-window": (lambda d: {"fromTimestamp": at(1), "toTimestamp": at(3)}, ["t3", "t2"]),
    "version": (lambda d: {**RANGE, "version": "v1"}, ["t3", "t1"]),
    "release": (lambda d: {**RANGE, "release": "r1"}, ["t2", "t1"]),
    "environment-repeated": (lambda d: {**RANGE, "environment": ["production", "dev"]}, ["t5", "t3", "t1"]),
    "environment-one": (lambda d: {**RANGE, "environment": "staging"}, ["t2"]),
    "environment-default": (lambda d: {**RANGE, "environment": "default"}, ["t4"]),
    "combined": (lambda d: {"userId": d.U2, "name": d.B, "tags": d.Z}, ["t3"]),
}


@pytest.mark.parametrize("case", sorted(TRACE_FILTERS))
def test_trace_list_filters(client: httpx.Client, d: Data, case: str) -> None:
    params, expected = TRACE_FILTERS[case]
    response = client.get("/api/public/traces", params=params(d))
    assert ids(response) == d.names(*expected)
    assert response.json()["meta"]["totalItems"] == len(expected)


def _f(*conditions: dict) -> dict[str, str]:
    return {**RANGE, "filter": json.dumps(list(conditions))}


FILTER_OBJECTS = {
    "tags-any-of": (lambda d: _f({"type": "arrayOptions", "column": "tags", "operator": "any of",
                                  "value": [d.X, d.Z]}), ["t5", "t3", "t2", "t1"]),
    "tags-none-of": (lambda d: _f({"type": "arrayOptions", "column": "tags", "operator": "none of",
                                   "value": [d.X]}), ["t5", "t4", "t3"]),
    "tags-all-of": (lambda d: _f({"type": "arrayOptions", "column": "tags", "operator": "all of",
                                  "value": [d.Y, d.Z]}), ["t3"]),
    "name-equals": (lambda d: _f({"type": "string", "column": "name", "operator": "=", "value": d.A}), ["t2", "t1"]),
    "name-starts-with": (lambda d: _f({"type": "string", "column": "name", "operator": "starts with",
                                       "value": f"{d.run}-b"}), ["t4", "t3"]),
    "timestamp-after": (lambda d: _f({"type": "datetime", "column": "timestamp", "operator": ">",
                                      "value": at(2)}), ["t5", "t4"]),
    "display-name-timestamp": (lambda d: _f({"type": "datetime", "column": "Timestamp", "operator": ">=",
                                             "value": at(2)}), ["t5", "t4", "t3"]),
    "metadata-equals": (lambda d: _f({"type": "stringObject", "column": "metadata", "key": "team", "operator": "=",
                                      "value": f"{d.run}-core"}), ["t1"]),
    "metadata-contains": (lambda d: _f({"type": "stringObject", "column": "metadata", "key": "team",
                                        "operator": "contains", "value": d.run}), ["t3", "t1"]),
    "user-any-of": (lambda d: _f({"type": "stringOptions", "column": "userId", "operator": "any of",
                                  "value": [d.U1, d.U3]}), ["t5", "t2", "t1"]),
    "two-conditions": (lambda d: _f({"type": "string", "column": "name", "operator": "=", "value": d.B},
                                    {"type": "arrayOptions", "column": "tags", "operator": "any of",
                                     "value": [d.Y]}), ["t3"]),
}


@pytest.mark.parametrize("case", sorted(FILTER_OBJECTS))
def test_trace_filter_objects(client: httpx.Client, d: Data, case: str) -> None:
    params, expected = FILTER_OBJECTS[case]
    assert ids(client.get("/api/public/traces", params=params(d))) == d.names(*expected)


def test_trace_order_by(client: httpx.Client, d: Data) -> None:
    assert ids(client.get("/api/public/traces", params={**RANGE, "orderBy": "timestamp.asc"})) == d.names(
        "t1", "t2", "t3", "t4", "t5")
    assert ids(client.get("/api/public/traces", params={**RANGE, "orderBy": "timestamp.desc"})) == d.names(
        "t5", "t4", "t3", "t2", "t1")
    rows = client.get("/api/public/traces", params={**RANGE, "orderBy": "name.asc"}).json()["data"]
    assert [r["name"] for r in rows] == [d.A, d.A, d.B, d.B, d.C]
    rows = client.get("/api/public/traces", params={**RANGE, "orderBy": "userId.desc"}).json()["data"]
    assert [r["userId"] for r in rows] == [d.U3, d.U2, d.U2, d.U1, d.U1]
    for bad in ("timestamp", "timestamp.up", "input.asc", "nope.desc", ".asc"):
        response = client.get("/api/public/traces", params={**RANGE, "orderBy": bad})
        assert response.status_code == 400, bad


def test_trace_pagination(client: httpx.Client, d: Data) -> None:
    expected = [["t5", "t4"], ["t3", "t2"], ["t1"], []]
    for page, names in enumerate(expected, start=1):
        response = client.get("/api/public/traces", params={**RANGE, "limit": 2, "page": page})
        assert ids(response) == d.names(*names)
        assert response.json()["meta"] == {"page": page, "limit": 2, "totalItems": 5, "totalPages": 3}


def test_trace_list_fields(client: httpx.Client, d: Data) -> None:
    core = client.get("/api/public/traces", params={"name": d.A, "orderBy": "timestamp.asc", "fields": "core"})
    t1 = core.json()["data"][0]
    assert t1["id"] == d.t1 and t1["name"] == d.A and t1["userId"] == d.U1
    assert (t1["input"], t1["output"], t1["metadata"]) == (None, None, {})
    assert (t1["observations"], t1["scores"], t1["totalCost"], t1["latency"]) == ([], [], -1, -1)
    io = client.get("/api/public/traces", params={"name": d.A, "orderBy": "timestamp.asc", "fields": "core,io"})
    t1 = io.json()["data"][0]
    assert (t1["input"], t1["output"], t1["metadata"]) == ({"q": "hello"}, "world", {"team": f"{d.run}-core", "n": 1})
    assert (t1["observations"], t1["scores"], t1["totalCost"]) == ([], [], -1)
    full = client.get("/api/public/traces", params={"name": d.A, "fields": "core,io,scores,observations,metrics"})
    assert full.json() == client.get("/api/public/traces", params={"name": d.A}).json()


def test_get_trace_shape(client: httpx.Client, d: Data) -> None:
    trace = client.get(f"/api/public/traces/{d.t1}").json()
    assert set(trace) == TRACE_DETAIL_KEYS
    assert trace["externalId"] is None
    assert trace["htmlPath"] == f"/project/{d.project_id}/traces/{d.t1}"
    assert (trace["id"], trace["projectId"], trace["timestamp"]) == (d.t1, d.project_id, api_ts(BASE))
    assert (trace["name"], trace["userId"], trace["sessionId"], trace["release"], trace["version"]) == (
        d.A, d.U1, d.S1, "r1", "v1")
    assert (trace["environment"], trace["public"], trace["bookmarked"]) == ("production", False, False)
    assert trace["latency"] == pytest.approx(2.0)
    assert trace["totalCost"] == pytest.approx(0.003)
    assert [o["id"] for o in trace["observations"]] == d.names("R1", "G1", "E1")
    for obs in trace["observations"]:
        assert set(obs) == OBSERVATION_KEYS
    root, gen, evt = trace["observations"]
    # Inside a trace, an observation without a matched model shows 0 prices (Langfuse); gpt-4o
    # matches the shipped default prices, which reads show (its provided cost still wins).
    assert (root["inputPrice"], root["outputPrice"], root["totalPrice"], root["modelId"]) == (0, 0, 0, None)
    assert gen["modelId"] is not None
    assert (gen["inputPrice"], gen["outputPrice"], gen["totalPrice"]) == (pytest.approx(2.5e-6),
                                                                          pytest.approx(1e-5), 0)
    assert (root["type"], root["parentObservationId"], root["input"], root["latency"]) == ("SPAN", None, {"a": 1}, 2.0)
    assert (root["calculatedTotalCost"], root["costDetails"], root["usageDetails"]) == (None, {}, {})
    assert (gen["type"], gen["parentObservationId"], gen["model"]) == ("GENERATION", d.R1, "gpt-4o")
    assert (gen["input"], gen["output"], gen["version"]) == ("prompt text", {"content": "hi"}, "gv1")
    assert gen["modelParameters"] == {"temperature": 0.7}
    assert gen["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    assert (gen["promptTokens"], gen["completionTokens"], gen["totalTokens"]) == (10, 5, 15)
    assert gen["usage"] == {"input": 10, "output": 5, "total": 15, "unit": "TOKENS"}
    assert (gen["calculatedInputCost"], gen["calculatedOutputCost"]) == (0.001, 0.002)
    assert gen["calculatedTotalCost"] == pytest.approx(0.003)
    assert (gen["startTime"], gen["endTime"], gen["completionStartTime"]) == (
        api_ts(BASE + timedelta(seconds=0.5)), api_ts(BASE + timedelta(seconds=1.5)),
        api_ts(BASE + timedelta(seconds=0.8)))
    assert gen["latency"] == pytest.approx(1.0)
    assert gen["timeToFirstToken"] == pytest.approx(0.3)
    assert (evt["type"], evt["level"], evt["endTime"], evt["latency"]) == ("EVENT", "WARNING", None, None)
    assert sorted(s["id"] for s in trace["scores"]) == sorted(d.names("Q1", "L1"))
    for score in trace["scores"]:
        assert set(score) == SCORE_KEYS
    label = next(s for s in trace["scores"] if s["id"] == d.L1)
    assert (label["observationId"], label["stringValue"], label["dataType"]) == (d.G1, "good", "CATEGORICAL")
    missing = uid()
    response = client.get(f"/api/public/traces/{missing}")
    assert response.status_code == 404
    assert response.json() == {"message": f"Trace {missing} not found within authorized project",
                               "error": "LangfuseNotFoundError"}


def test_get_trace_fields(client: httpx.Client, d: Data) -> None:
    trace = client.get(f"/api/public/traces/{d.t1}", params={"fields": "core,io"}).json()
    assert (trace["observations"], trace["scores"], trace["latency"], trace["totalCost"]) == ([], [], -1, -1)
    assert trace["input"] == {"q": "hello"}


def test_sessions(client: httpx.Client, d: Data) -> None:
    body = client.get("/api/public/sessions", params=RANGE).json()
    assert [s["id"] for s in body["data"]] == [d.S2, d.S1]
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 2, "totalPages": 1}
    s2 = body["data"][0]
    assert s2 == {"id": d.S2, "createdAt": api_ts(BASE + timedelta(seconds=2)), "projectId": d.project_id,
                  "environment": "production"}
    detail = client.get(f"/api/public/sessions/{d.S2}").json()
    assert {k: v for k, v in detail.items() if k != "traces"} == s2
    assert [t["id"] for t in detail["traces"]] == [d.t3]
    session = client.get(f"/api/public/sessions/{d.S1}").json()
    assert (session["id"], session["createdAt"], session["projectId"]) == (d.S1, api_ts(BASE), d.project_id)
    assert [t["id"] for t in session["traces"]] == d.names("t1", "t2")
    assert all(set(t) == TRACE_KEYS for t in session["traces"])
    response = client.get(f"/api/public/sessions/{uid()}")
    assert response.status_code == 404 and response.json()["error"] == "LangfuseNotFoundError"


def test_session_environment_is_its_first_traces(client: httpx.Client) -> None:
    """A session whose traces span environments reports the environment of its earliest trace, and the
    list and the single read agree (Langfuse keeps the environment the session was created with)."""
    run, sessions, events = uid()[:8], [], []
    for n in range(8):
        session_id = f"{run}-mixed-{n}"
        sessions.append(session_id)
        events += [trace_create(uid(), at(1000 + n), sessionId=session_id, environment="production"),
                   trace_create(uid(), at(1000.5 + n), sessionId=session_id, environment="staging")]
    ingest_ok(client, events)
    barrier(client)
    listed = client.get("/api/public/sessions", params={"fromTimestamp": at(1000), "toTimestamp": at(1100)}).json()
    assert sorted(s["id"] for s in listed["data"]) == sorted(sessions)
    listed_env = {s["id"]: s["environment"] for s in listed["data"]}
    detail_env = {i: client.get(f"/api/public/sessions/{i}").json()["environment"] for i in sessions}
    assert detail_env == dict.fromkeys(sessions, "production")
    assert listed_env == detail_env
