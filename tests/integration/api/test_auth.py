"""Authentication, the Bearer "scores" access level and project isolation."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from tests.integration.api.builders import (
    INGESTION,
    OTEL_TRACES,
    barrier,
    basic_auth,
    event,
    ingest,
    ingest_ok,
    observation,
    score_create,
    trace_create,
    uid,
    wait_trace,
)
from tests.support.server import Keys, SpyglassServer, wait_until

CONFIRM = ". Confirm that you've configured the correct host."


@pytest.fixture(scope="module")
def anon(server: SpyglassServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def other_keys(server: SpyglassServer) -> Keys:
    return server.create_project(f"other-{uid()[:8]}")


def _bearer(server: SpyglassServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.keys.public_key}"}


def test_no_header_is_401(anon: httpx.Client) -> None:
    response = anon.get("/api/public/traces")
    assert response.status_code == 401
    assert response.json() == {"message": "No authorization header" + CONFIRM}


def test_no_header_on_ingestion_has_typed_error(anon: httpx.Client) -> None:
    response = anon.post(INGESTION, json={"batch": []})
    assert response.status_code == 401
    assert response.json() == {"error": "UnauthorizedError", "message": "No authorization header" + CONFIRM}


@pytest.mark.parametrize("route", ["/api/public/traces", "/api/public/observations", "/api/public/v2/scores",
                                   "/api/public/sessions", "/api/public/projects"])
def test_wrong_secret_is_401_everywhere(server: SpyglassServer, anon: httpx.Client, route: str) -> None:
    response = anon.get(route, headers={"Authorization": basic_auth(server.keys.public_key, "sk-lf-wrong")})
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"message"}
    assert body["message"].endswith(CONFIRM)


def test_unknown_and_mismatched_keys_are_401(server: SpyglassServer, other_keys: Keys, anon: httpx.Client) -> None:
    for public, secret in [(f"pk-lf-{uid()}", f"sk-lf-{uid()}"), (f"pk-lf-{uid()}", server.keys.secret_key),
                           (server.keys.public_key, other_keys.secret_key),
                           (other_keys.public_key, server.keys.secret_key)]:
        response = anon.get("/api/public/traces", headers={"Authorization": basic_auth(public, secret)})
        assert response.status_code == 401, (public, secret, response.text)
        response = anon.post(INGESTION, json={"batch": [trace_create(uid())]},
                             headers={"Authorization": basic_auth(public, secret)})
        assert response.status_code == 401
        assert response.json()["error"] == "UnauthorizedError"


@pytest.mark.parametrize("header", [
    "Basic", "Basic ====", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic " + base64.b64encode(b":only-secret").decode(), "Basic " + base64.b64encode(b"only-public:").decode(),
    "Token abc", "Bearer", "Bearer a b", "bearer", "Digest username=x",
])
def test_malformed_header_is_401(anon: httpx.Client, header: str) -> None:
    response = anon.get("/api/public/traces", headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert response.json()["message"].endswith(CONFIRM)
    response = anon.post(INGESTION, json={"batch": []}, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "UnauthorizedError"


def test_basic_auth_scheme_is_case_insensitive(server: SpyglassServer, anon: httpx.Client) -> None:
    header = basic_auth(*server.keys.auth).replace("Basic", "basic")
    assert anon.get("/api/public/traces", headers={"Authorization": header}).status_code == 200


def test_bearer_public_key_can_post_scores(server: SpyglassServer, client: httpx.Client, anon: httpx.Client) -> None:
    trace_id, score_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id, name="bearer-scores")])
    response = anon.post("/api/public/scores", headers=_bearer(server),
                         json={"id": score_id, "traceId": trace_id, "name": "bearer", "value": 0.5})
    assert (response.status_code, response.json()) == (200, {"id": score_id})
    trace = wait_trace(client, trace_id, lambda t: len(t["scores"]) == 1)
    assert trace["scores"][0]["id"] == score_id
    assert (trace["scores"][0]["name"], trace["scores"][0]["value"]) == ("bearer", 0.5)


def test_bearer_ingestion_only_accepts_scores(server: SpyglassServer, client: httpx.Client,
                                             anon: httpx.Client) -> None:
    trace_id, score_id, span_id = uid(), uid(), uid()
    allowed = [score_create(score_id, "via-bearer", 1.0, traceId=trace_id), event("sdk-log", {"log": "hi"})]
    denied = [trace_create(trace_id, name="denied"), observation("span-create", span_id, trace_id),
              observation("generation-create", uid(), trace_id), event("observation-create", {"id": uid(),
                                                                                              "type": "SPAN"})]
    response = anon.post(INGESTION, json={"batch": [denied[0], *allowed, *denied[1:]]}, headers=_bearer(server))
    assert response.status_code == 207
    body = response.json()
    assert body["successes"] == [{"id": e["id"], "status": 201} for e in allowed]
    assert body["errors"] == [{"id": e["id"], "status": 401, "message": "Authentication error",
                               "error": "Access Scope Denied"} for e in denied]
    barrier(client)
    assert client.get(f"/api/public/v2/scores/{score_id}").json()["name"] == "via-bearer"
    assert client.get(f"/api/public/traces/{trace_id}").status_code == 404
    assert client.get(f"/api/public/observations/{span_id}").status_code == 404


@pytest.mark.parametrize(("method", "route"), [
    ("GET", "/api/public/traces"), ("GET", "/api/public/observations"), ("GET", "/api/public/v2/scores"),
    ("GET", "/api/public/sessions"), ("GET", "/api/public/projects"), ("POST", "/api/public/traces"),
    ("DELETE", "/api/public/scores/x"),
])
def test_bearer_is_403_elsewhere(server: SpyglassServer, anon: httpx.Client, method: str, route: str) -> None:
    response = anon.request(method, route, headers=_bearer(server), json={} if method == "POST" else None)
    assert response.status_code == 403, response.text
    assert response.json()["message"] == "Access denied - insufficient permissions for this endpoint"


def test_bearer_cannot_export_otlp(server: SpyglassServer, anon: httpx.Client) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": uid(), "spanId": uid()[:16], "name": "x"}]}]}]}
    response = anon.post(OTEL_TRACES, content=json.dumps(body).encode(),
                         headers={**_bearer(server), "Content-Type": "application/json"})
    assert response.status_code == 403


def test_unknown_bearer_key_is_401(anon: httpx.Client) -> None:
    response = anon.post("/api/public/scores", headers={"Authorization": f"Bearer pk-lf-{uid()}"},
                         json={"traceId": uid(), "name": "x", "value": 1})
    assert response.status_code == 401


def test_projects_are_isolated(server: SpyglassServer, client: httpx.Client, other_keys: Keys) -> None:
    trace_id, span_id, score_id, session_score_id = uid(), uid(), uid(), uid()
    session_id, user_id = f"sess-{uid()}", f"user-{uid()}"
    ingest_ok(client, [
        trace_create(trace_id, name="mine", sessionId=session_id, userId=user_id),
        observation("span-create", span_id, trace_id, name="mine-span"),
        score_create(score_id, "mine-score", 1.0, traceId=trace_id),
        score_create(session_score_id, "mine-session-score", 2.0, sessionId=session_id),
    ])
    wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1 and len(t["scores"]) == 1)
    barrier(client)
    with server.client(other_keys) as other:
        for path in (f"/api/public/traces/{trace_id}", f"/api/public/observations/{span_id}",
                     f"/api/public/v2/scores/{score_id}", f"/api/public/v2/scores/{session_score_id}",
                     f"/api/public/scores/{score_id}", f"/api/public/sessions/{session_id}"):
            response = other.get(path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"] == "LangfuseNotFoundError"
        assert other.get("/api/public/traces", params={"userId": user_id}).json()["meta"]["totalItems"] == 0
        assert other.get("/api/public/observations", params={"traceId": trace_id}).json()["data"] == []
        assert other.get("/api/public/v2/scores", params={"traceId": trace_id}).json()["data"] == []
        assert other.get("/api/public/v2/scores", params={"sessionId": session_id}).json()["data"] == []
        listed = other.get("/api/public/traces", params={"limit": 100}).json()["data"]
        assert trace_id not in {t["id"] for t in listed}
        sessions = other.get("/api/public/sessions", params={"limit": 100}).json()["data"]
        assert session_id not in {s["id"] for s in sessions}
        assert other.get("/api/public/projects").json()["data"][0]["id"] == other_keys.project_id
        # Deleting another project's data is a 404 and changes nothing.
        response = other.delete(f"/api/public/traces/{trace_id}")
        assert response.status_code == 404
        assert other.delete(f"/api/public/scores/{score_id}").status_code == 404
        # Bulk delete is scoped by the caller's project: accepted, but it cannot reach our trace.
        assert other.request("DELETE", "/api/public/traces", json={"traceIds": [trace_id]}).status_code == 200
    barrier(client)
    trace = wait_trace(client, trace_id)
    assert [o["id"] for o in trace["observations"]] == [span_id]
    assert [s["id"] for s in trace["scores"]] == [score_id]
    assert client.get(f"/api/public/v2/scores/{session_score_id}").status_code == 200
    assert client.get("/api/public/projects").json()["data"][0]["id"] == server.keys.project_id


def test_same_ids_in_two_projects_are_separate_entities(server: SpyglassServer, client: httpx.Client,
                                                        other_keys: Keys) -> None:
    trace_id, span_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id, name="in-first", tags=["first"]),
                       observation("span-create", span_id, trace_id, name="first-span")])
    with server.client(other_keys) as other:
        ingest_ok(other, [trace_create(trace_id, name="in-second", tags=["second"]),
                          observation("span-create", span_id, trace_id, name="second-span")])
        theirs = wait_trace(other, trace_id, lambda t: len(t["observations"]) == 1)
    mine = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    assert (mine["name"], mine["tags"], mine["projectId"]) == ("in-first", ["first"], server.keys.project_id)
    assert (theirs["name"], theirs["tags"], theirs["projectId"]) == ("in-second", ["second"], other_keys.project_id)
    assert mine["observations"][0]["name"] == "first-span"
    assert theirs["observations"][0]["name"] == "second-span"


def test_other_project_sees_its_own_data(server: SpyglassServer, other_keys: Keys) -> None:
    trace_id = uid()
    with server.client(other_keys) as other:
        body = ingest(other, [trace_create(trace_id, name="theirs")])
        assert body["errors"] == []
        assert wait_trace(other, trace_id)["projectId"] == other_keys.project_id
    with server.client() as mine:
        assert mine.get(f"/api/public/traces/{trace_id}").status_code == 404


def test_health_and_ready_need_no_auth(anon: httpx.Client) -> None:
    for path in ("/api/public/health", "/api/public/ready"):
        response = anon.get(path)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "OK" and isinstance(body["version"], str) and body["version"]
    response = anon.head("/api/public/health")
    assert response.status_code == 200
    assert response.content == b""


def test_health_can_require_recent_events(tmp_path) -> None:
    quiet = SpyglassServer(data_dir=tmp_path / "data").start()
    try:
        with httpx.Client(base_url=quiet.base_url) as anon, quiet.client() as client:
            stale = anon.get("/api/public/health", params={"failIfNoRecentEvents": "true"})
            assert stale.status_code == 503 and "No recent events" in stale.json()["status"]
            assert anon.get("/api/public/health", params={"failIfDatabaseUnavailable": "true"}).status_code == 200
            trace_id = uid()
            # An old timestamp still counts: what matters is when it was ingested.
            ingest_ok(client, [trace_create(trace_id, timestamp="2020-01-01T00:00:00Z")])
            wait_until(lambda: anon.get("/api/public/health",
                                        params={"failIfNoRecentEvents": "true"}).status_code == 200)
    finally:
        quiet.stop()
