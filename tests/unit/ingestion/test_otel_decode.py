"""decode_export_request / count_spans: protobuf and OTLP/JSON bodies, parse and structure errors."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.unit.ingestion.test_otel_factory import (
    CHILD_ID,
    PROJECT,
    RECEIVED_US,
    ROOT_ID,
    T0_NS,
    TRACE_ID,
    make_request,
    make_span,
    to_otlp_json,
)

from spyglass.ingestion.otel import (
    JSON_ERROR,
    PROTOBUF_ERROR,
    OtlpDecodeError,
    count_spans,
    decode_export_request,
    request_to_patches,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json; charset=utf-8"


def _json_body(spans: list[dict], **resource_spans: object) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "s"}, "spans": spans}],
                                          **resource_spans}]}).encode()


def _rejection(body: bytes, content_type: str = JSON) -> str:
    with pytest.raises(OtlpDecodeError) as caught:
        decode_export_request(body, content_type)
    return caught.value.message


def test_protobuf_round_trip_and_count() -> None:
    request = make_request([make_span(), make_span(span_id=CHILD_ID, parent_id=ROOT_ID)])
    decoded = decode_export_request(request.SerializeToString(), "Application/X-Protobuf")
    assert decoded == request
    assert count_spans(decoded) == 2


def test_empty_bodies_decode_to_empty_requests() -> None:
    assert count_spans(decode_export_request(b"", PROTOBUF)) == 0
    assert count_spans(decode_export_request(b"{}", JSON)) == 0
    assert count_spans(decode_export_request(b'{"resourceSpans": []}', JSON)) == 0
    assert request_to_patches(ExportTraceServiceRequest(), PROJECT, RECEIVED_US) == ([], [])


def test_garbage_protobuf_is_a_parse_error() -> None:
    assert _rejection(b"\xff\xff\xff\xff not protobuf", PROTOBUF) == PROTOBUF_ERROR


@pytest.mark.parametrize("body", [b"{not json", b'{"resourceSpans": [{"scopeSpans": [{"spans": [{'
                                  b'"traceId": "5b8aa5a2d2c872e8321cf37308d69df2", "spanId": "051581bf3cb55c13",'
                                  b'"startTimeUnixNano": "soon"}]}]}]}'])
def test_bad_json_is_a_parse_error(body: bytes) -> None:
    assert _rejection(body) == JSON_ERROR


def test_unsupported_content_type_is_rejected() -> None:
    assert _rejection(b"{}", "text/plain") == "Invalid content type"


def test_span_without_ids_rejects_the_whole_export() -> None:
    good = make_span()
    broken = make_span(span_id="", name="no-id")
    message = _rejection(make_request([good, broken]).SerializeToString(), PROTOBUF)
    assert message.startswith("Invalid OTLP trace export: 1 of 2 span(s) cannot be processed")
    assert "spanId:absent" in message and "langfuse-sdk" in message


def test_otlp_logs_posted_as_traces_are_rejected() -> None:
    # ResourceLogs shares field numbers with ResourceSpans: log records decode as id-less spans.
    logs = ExportLogsServiceRequest()
    scope_logs = logs.resource_logs.add().scope_logs.add()
    scope_logs.scope.name = "uvicorn.access"
    scope_logs.log_records.add(severity_text="INFO")
    assert _rejection(logs.SerializeToString(), PROTOBUF).startswith("Invalid OTLP trace export")


def test_log_shaped_json_spans_are_rejected() -> None:
    body = _json_body([{"timeUnixNano": str(T0_NS), "severityText": "INFO", "body": {"stringValue": "x"}}])
    message = _rejection(body)
    assert "traceId:absent" in message and "spanId:absent" in message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_json_body([{"traceId": TRACE_ID, "spanId": ROOT_ID, "attributes": {"a": 1}}]), "attributes:not_an_array"),
        (_json_body([{"traceId": TRACE_ID, "spanId": ROOT_ID, "events": {}}]), "events:not_an_array"),
        (_json_body({"traceId": TRACE_ID}), "spans:not_an_array"),
        (json.dumps({"resourceSpans": [{"scopeSpans": {}}]}).encode(), "scopeSpans:not_an_array"),
        (_json_body([{"traceId": TRACE_ID, "spanId": 42}]), "spanId:not_an_id"),
    ],
)
def test_non_array_collections_and_bad_ids_are_rejected(body: bytes, reason: str) -> None:
    assert reason in _rejection(body)


def test_json_accepts_numbers_enum_names_base64_ids_and_unknown_fields() -> None:
    body = _json_body(
        [{
            "traceId": TRACE_ID.upper(),
            "spanId": "BRWBvzy1XBM=",  # base64 of 051581bf3cb55c13
            "name": "op",
            "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": T0_NS,
            "endTimeUnixNano": str(T0_NS + 1000),
            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
            "attributes": [
                {"key": "n", "value": {"intValue": 7}},
                {"key": "d", "value": {"doubleValue": "NaN"}},
                {"key": "b", "value": {"boolValue": True}},
                {"key": "e", "value": {}},
            ],
            "droppedAttributesCount": 0,
            "somethingNew": {"x": 1},
        }],
        schemaUrl="https://opentelemetry.io/schemas/1.0",
    )
    span = decode_export_request(body, JSON).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE_ID and span.span_id.hex() == ROOT_ID
    assert (span.kind, span.status.code, span.status.message) == (2, 2, "boom")
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (T0_NS, T0_NS + 1000)
    assert [kv.key for kv in span.attributes] == ["n", "d", "b", "e"]
    assert span.attributes[0].value.int_value == 7


def test_json_and_protobuf_decode_to_the_same_request() -> None:
    request = make_request(
        [make_span(
            parent_id=CHILD_ID,
            attributes={"s": "x", "i": -3, "f": 0.5, "b": False, "arr": ["a", 1], "kv": {"k": "v"},
                        "raw": b"\x00\x01"},
            events=[("gen_ai.choice", {"message": "hi"})],
            status_code=2,
            status_message="bad",
        )],
        scope_attributes={"public_key": "pk"},
    )
    assert decode_export_request(to_otlp_json(request), JSON) == request
