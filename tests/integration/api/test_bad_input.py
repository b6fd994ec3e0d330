"""Malformed and oversized input is refused with the right status, and never hurts the server."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.integration.api.builders import (
    INGESTION,
    OTEL_TRACES,
    ingest_ok,
    observation,
    trace_create,
    uid,
    wait_trace,
)
from tests.support.server import SpyglassServer

LIMIT = 20_000
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpyglassServer]:
    """A server with small body limits (20 kB for /ingestion and OTLP)."""
    instance = SpyglassServer(
        data_dir=tmp_path_factory.mktemp("limited") / "data",
        extra_env={"SPYGLASS_MAX_INGESTION_BODY_BYTES": str(LIMIT), "SPYGLASS_MAX_OTEL_BODY_BYTES": str(LIMIT)},
    ).start()
    yield instance
    instance.stop()


def otlp_json(trace_id: str, span: dict | None = None) -> dict:
    span = {"traceId": trace_id, "spanId": uid()[:16], "name": "s", "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000001000000000"} if span is None else span
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"},
                                                                               "spans": [span]}]}]}


def _assert_invalid_json(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "InvalidRequestError"
    assert body["message"].startswith("Invalid JSON body")


@pytest.mark.parametrize("payload", [b'{"batch": [', b"not json at all", b"", b'{"batch": [}]}'])
def test_malformed_json_on_ingestion(client: httpx.Client, payload: bytes) -> None:
    _assert_invalid_json(client.post(INGESTION, content=payload, headers=JSON))


def test_malformed_json_on_scores_and_trace_delete(client: httpx.Client) -> None:
    _assert_invalid_json(client.post("/api/public/scores", content=b"{'name':", headers=JSON))
    _assert_invalid_json(client.request("DELETE", "/api/public/traces", content=b"{traceIds", headers=JSON))
    _assert_invalid_json(client.post("/api/public/traces", content=b"[1,", headers=JSON))


@pytest.mark.parametrize("payload", [{}, {"batch": {}}, {"batch": "x"}, {"batch": None}, {"batch": 3}, [1, 2],
                                     "batch"])
def test_batch_must_be_an_array(client: httpx.Client, payload: object) -> None:
    response = client.post(INGESTION, json=payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"] == "Invalid request data"
    assert isinstance(body["errors"], list) and body["errors"]


def test_delete_traces_body_must_list_ids(client: httpx.Client) -> None:
    for payload in ({}, {"traceIds": "abc"}, {"traceIds": [1]}, {"traceIds": []}, []):
        response = client.request("DELETE", "/api/public/traces", json=payload)
        assert response.status_code == 400, (payload, response.text)
        assert response.json()["error"] == "InvalidRequestError"


def test_oversized_ingestion_body_is_413(limited: SpyglassServer) -> None:
    trace_id = uid()
    big = [trace_create(trace_id, input="x" * (LIMIT + 10))]
    with limited.client() as c:
        response = c.post(INGESTION, json={"batch": big})
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "PayloadTooLargeError"
        # Chunked (no Content-Length): the streaming cap applies.
        chunks = iter([b'{"batch": [{"id": "x", "type": "trace-create", "body": {"input": "', b"x" * LIMIT, b'"}}]}'])
        response = c.post(INGESTION, content=chunks, headers=JSON)
        assert response.status_code == 413, response.text
        # Just under the limit is fine.
        small_id = uid()
        ingest_ok(c, [trace_create(small_id, input="y" * (LIMIT // 2))])
        assert wait_trace(c, small_id)["input"] == "y" * (LIMIT // 2)
        assert c.get(f"/api/public/traces/{trace_id}").status_code == 404


def test_oversized_otel_body_is_413(limited: SpyglassServer) -> None:
    body = json.dumps(otlp_json(uid(), {"traceId": uid(), "spanId": uid()[:16], "name": "x" * (LIMIT + 1)}))
    with limited.client() as c:
        response = c.post(OTEL_TRACES, content=body.encode(), headers=JSON)
        assert response.status_code == 413, response.text
        response = c.post(OTEL_TRACES, content=b"\x00" * (LIMIT + 1), headers=PROTOBUF)
        assert response.status_code == 413, response.text


def test_gzip_bomb_is_413(limited: SpyglassServer) -> None:
    payload = json.dumps({"batch": [trace_create(uid(), input="z" * (LIMIT * 50))]}).encode()
    bomb = gzip.compress(payload)
    assert len(bomb) < LIMIT // 4
    otel_bomb = gzip.compress(json.dumps(otlp_json(uid(), {"traceId": uid(), "spanId": uid()[:16],
                                                            "name": "n" * (LIMIT * 50)})).encode())
    assert len(otel_bomb) < LIMIT // 4
    with limited.client() as c:
        response = c.post(INGESTION, content=bomb, headers={**JSON, "Content-Encoding": "gzip"})
        assert response.status_code == 413, response.text
        response = c.post(OTEL_TRACES, content=otel_bomb, headers={**JSON, "Content-Encoding": "gzip"})
        assert response.status_code == 413, response.text
        # A gzip body that inflates to under the limit is accepted.
        trace_id = uid()
        ok = gzip.compress(json.dumps({"batch": [trace_create(trace_id, name="gz")]}).encode())
        response = c.post(INGESTION, content=ok, headers={**JSON, "Content-Encoding": "gzip"})
        assert response.status_code == 207 and response.json()["errors"] == [], response.text
        assert wait_trace(c, trace_id)["name"] == "gz"


def _otel_error(response: httpx.Response, text: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert text in (body.get("error"), body.get("message")) or text in str(body.get("error")), body


def test_otel_garbage_protobuf(client: httpx.Client) -> None:
    response = client.post(OTEL_TRACES, content=b"\xff\xfe\xfd garbage \x00\x01", headers=PROTOBUF)
    _otel_error(response, "Failed to parse OTel Protobuf Trace")


@pytest.mark.parametrize("payload", [b"{not json", b'{"resourceSpans": [', b"\xff\xfe"])
def test_otel_bad_json(client: httpx.Client, payload: bytes) -> None:
    _otel_error(client.post(OTEL_TRACES, content=payload, headers=JSON), "Failed to parse OTel JSON Trace")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_otel_wrong_content_type(client: httpx.Client, content_type: str) -> None:
    body = json.dumps(otlp_json(uid())).encode()
    _otel_error(client.post(OTEL_TRACES, content=body, headers={"Content-Type": content_type}), "Invalid content type")


def test_otel_content_type_with_charset_is_accepted(client: httpx.Client) -> None:
    trace_id = uid()
    body = json.dumps(otlp_json(trace_id)).encode()
    response = client.post(OTEL_TRACES, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.text
    assert response.json() == {}
    wait_trace(client, trace_id)


@pytest.mark.parametrize("span", [
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "name": "no span id"},
    {"spanId": "b7ad6b7169203331", "name": "no trace id"},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": 12345, "name": "numeric span id"},
])
def test_otel_span_without_ids_rejects_the_export(client: httpx.Client, span: dict) -> None:
    good_trace = uid()
    good = {"traceId": good_trace, "spanId": uid()[:16], "name": "good"}
    payload = otlp_json(good_trace, good)
    payload["resourceSpans"][0]["scopeSpans"][0]["spans"].append(span)
    response = client.post(OTEL_TRACES, content=json.dumps(payload).encode(), headers=JSON)
    _otel_error(response, "Invalid OTLP trace export")
    assert response.json()["error"].startswith("Invalid OTLP trace export")
    # The whole export is refused, the good span included.
    response = client.post(OTEL_TRACES, content=json.dumps(otlp_json(uid())).encode(), headers=JSON)
    assert response.status_code == 200
    assert client.get(f"/api/public/traces/{good_trace}").status_code == 404


def test_otel_spans_not_an_array(client: httpx.Client) -> None:
    payload = {"resourceSpans": [{"scopeSpans": [{"spans": {"traceId": uid()}}]}]}
    response = client.post(OTEL_TRACES, content=json.dumps(payload).encode(), headers=JSON)
    _otel_error(response, "Invalid OTLP trace export")


def _gzip_protobuf(trace_id: str) -> bytes:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes.fromhex(trace_id), bytes.fromhex(uid()[:16]), "gz"
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_001_000_000_000
    return gzip.compress(request.SerializeToString())


def test_otel_corrupt_gzip(client: httpx.Client) -> None:
    trace_id = uid()
    data = _gzip_protobuf(trace_id)
    for payload in (data[:-8] + b"\x00" * 8, b"not gzip at all"):
        response = client.post(OTEL_TRACES, content=payload, headers={**PROTOBUF, "Content-Encoding": "gzip"})
        _otel_error(response, "Failed to decompress request body")


@pytest.mark.parametrize("cut", ["no-trailer", "half-the-stream", "header-only"])
def test_otel_truncated_gzip_is_a_decompression_error(client: httpx.Client, cut: str) -> None:
    """A gzip stream that ends early is corrupt (Node's gunzip: "unexpected end of file"); it must not be
    accepted as whatever prefix happened to inflate."""
    trace_id = uid()
    data = _gzip_protobuf(trace_id)
    payload = {"no-trailer": data[:-8], "half-the-stream": data[: len(data) // 2], "header-only": data[:12]}[cut]
    response = client.post(OTEL_TRACES, content=payload, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    _otel_error(response, "Failed to decompress request body")
    ingest_payload = gzip.compress(json.dumps({"batch": [trace_create(uid())]}).encode())[:-8]
    response = client.post(INGESTION, content=ingest_payload, headers={**JSON, "Content-Encoding": "gzip"})
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "Failed to decompress request body"


@pytest.mark.parametrize("version", ["5", "99", "abc", "4.5", "-1"])
def test_otel_ingestion_version_above_4(client: httpx.Client, version: str) -> None:
    body = json.dumps(otlp_json(uid())).encode()
    response = client.post(OTEL_TRACES, content=body, headers={**JSON, "x-langfuse-ingestion-version": version})
    assert response.status_code == 400, response.text


def test_otel_ingestion_version_4_is_accepted(client: httpx.Client) -> None:
    trace_id = uid()
    body = json.dumps(otlp_json(trace_id)).encode()
    response = client.post(OTEL_TRACES, content=body, headers={**JSON, "x-langfuse-ingestion-version": "4"})
    assert response.status_code == 200, response.text
    wait_trace(client, trace_id)


def test_otel_empty_export_is_ok(client: httpx.Client) -> None:
    for payload in ({}, {"resourceSpans": []}):
        response = client.post(OTEL_TRACES, content=json.dumps(payload).encode(), headers=JSON)
        assert (response.status_code, response.json()) == (200, {})


LIST_ROUTES = ["/api/public/traces", "/api/public/observations", "/api/public/sessions", "/api/public/scores",
               "/api/public/v2/scores"]


@pytest.mark.parametrize("route", LIST_ROUTES)
@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"page": 0}, {"page": -1}, {"limit": "ten"},
                                    {"page": "first"}])
def test_bad_pagination_params(client: httpx.Client, route: str, params: dict) -> None:
    response = client.get(route, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "Invalid request data"


def test_pagination_bounds_are_inclusive(client: httpx.Client) -> None:
    for route in LIST_ROUTES:
        for params in ({"limit": 1}, {"limit": 100}, {"page": 1}):
            response = client.get(route, params=params)
            assert response.status_code == 200, (route, params, response.text)


@pytest.mark.parametrize(("route", "param"), [
    ("/api/public/traces", "fromTimestamp"), ("/api/public/traces", "toTimestamp"),
    ("/api/public/observations", "fromStartTime"), ("/api/public/sessions", "fromTimestamp"),
    ("/api/public/scores", "fromTimestamp"), ("/api/public/v2/scores", "toTimestamp"),
    ("/api/public/v2/observations", "fromStartTime"),
])
def test_bad_timestamp_params(client: httpx.Client, route: str, param: str) -> None:
    for value in ("yesterday", "2024-13-45T00:00:00Z", "12:00"):
        response = client.get(route, params={param: value})
        assert response.status_code == 400, (value, response.text)
        assert response.json()["error"] == "InvalidRequestError"


BAD_FILTERS = [
    "not json",
    '{"type": "string"}',
    '[{"type": "string", "column": "name", "operator": "=", "value": 5}]',
    '[{"type": "string", "column": "doesNotExist", "operator": "=", "value": "x"}]',
    '[{"type": "nonsense", "column": "name", "operator": "=", "value": "x"}]',
    '[{"type": "string", "column": "name", "operator": "sounds like", "value": "x"}]',
    '[{"type": "datetime", "column": "timestamp", "operator": ">", "value": "not a date"}]',
    '[{"type": "arrayOptions", "column": "tags", "operator": "any of", "value": []}]',
    '[{"type": "stringObject", "column": "metadata", "operator": "=", "value": "x"}]',
    '[{"type": "string", "column": "name; DROP TABLE traces", "operator": "=", "value": "x"}]',
]


@pytest.mark.parametrize("route", ["/api/public/traces", "/api/public/observations", "/api/public/v2/scores"])
@pytest.mark.parametrize("text", BAD_FILTERS)
def test_bad_filter(client: httpx.Client, route: str, text: str) -> None:
    response = client.get(route, params={"filter": text})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "InvalidRequestError"


def test_bad_order_by_fields_and_cursor(client: httpx.Client) -> None:
    for route, params in [("/api/public/traces", {"orderBy": "nope.asc"}),
                          ("/api/public/traces", {"orderBy": "timestamp.sideways"}),
                          ("/api/public/traces", {"fields": "core,everything"}),
                          ("/api/public/v2/observations", {"fields": "core,bogus"}),
                          ("/api/public/v2/observations", {"cursor": "!!!not-a-cursor"}),
                          ("/api/public/v2/observations", {"parseIoAsJson": "true"}),
                          ("/api/public/observations", {"type": "BANANA"}),
                          ("/api/public/scores", {"operator": "~"}),
                          ("/api/public/scores", {"dataType": "PERCENT"})]:
        response = client.get(route, params=params)
        assert response.status_code == 400, (route, params, response.text)


def test_wrong_method_and_unknown_route(client: httpx.Client) -> None:
    for method, path in (("GET", INGESTION), ("PUT", INGESTION), ("GET", OTEL_TRACES)):
        response = client.request(method, path)
        assert response.status_code == 405, (method, path, response.text)
        assert response.json() == {"message": "Method not allowed", "error": "MethodNotAllowedError"}
    response = client.get("/api/public/no-such-route")
    assert response.status_code == 404


def test_server_survives_bad_input_and_keeps_valid_data(client: httpx.Client) -> None:
    trace_id, span_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id, name="before", input={"k": [1, 2]}),
                       observation("span-create", span_id, trace_id, name="span")])
    before = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    junk = [
        (INGESTION, b"{", JSON), (INGESTION, b'{"batch": 1}', JSON), (INGESTION, b"\x00\x01\x02", JSON),
        (OTEL_TRACES, b"\x08\x96\x01garbage", PROTOBUF), (OTEL_TRACES, b"{]", JSON),
        (OTEL_TRACES, b"abc", {**PROTOBUF, "Content-Encoding": "gzip"}), ("/api/public/scores", b"[", JSON),
    ]
    for _ in range(5):
        for path, payload, headers in junk:
            assert client.post(path, content=payload, headers=headers).status_code == 400
        assert client.get("/api/public/traces", params={"filter": "[{"}).status_code == 400
        assert client.get("/api/public/traces", params={"limit": 1000}).status_code == 400
    assert client.get("/api/public/health").json()["status"] == "OK"
    after = wait_trace(client, trace_id)
    assert after == before
    later = uid()
    ingest_ok(client, [trace_create(later, name="after")])
    assert wait_trace(client, later)["name"] == "after"
