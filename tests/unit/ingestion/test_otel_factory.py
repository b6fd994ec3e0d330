"""Builders for OTLP trace exports used by the `test_otel_*` modules (real protobuf classes).

`make_span(**overrides)` / `make_request(spans, ...)` build `ExportTraceServiceRequest`s;
`to_otlp_json` renders one the way the JS exporter sends it (lowerCamelCase, hex ids,
int64 as strings). Python values become `AnyValue`s: str, bool, int, float, list → array,
dict → kvlist, bytes → bytes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from spyglass.domain.records import Patch
from spyglass.ingestion.otel import decode_export_request, request_to_patches

TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"
ROOT_ID = "051581bf3cb55c13"
CHILD_ID = "1111111111111111"
T0_NS = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z
T0_US = T0_NS // 1000
RECEIVED_US = 1_800_000_000_000_000
PROJECT = "project-1"

SDK_RESOURCE = {
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "service.name": "unknown_service",
}


def set_value(target: AnyValue, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            set_value(target.array_value.values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            set_value(target.kvlist_value.values.add(key=key).value, item)
    elif value is not None:
        raise TypeError(type(value))


def add_attributes(target: Any, attributes: dict[str, Any]) -> None:
    for key, value in attributes.items():
        set_value(target.add(key=key).value, value)


def make_span(
    *,
    trace_id: str = TRACE_ID,
    span_id: str = ROOT_ID,
    parent_id: str | None = None,
    name: str = "span",
    start_ns: int | None = T0_NS,
    end_ns: int | None = T0_NS + 1_500_000_000,
    attributes: dict[str, Any] | None = None,
    events: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
    status_code: int = 0,
    status_message: str = "",
) -> Span:
    span = Span(name=name, kind=Span.SPAN_KIND_INTERNAL)
    if trace_id:
        span.trace_id = bytes.fromhex(trace_id)
    if span_id:
        span.span_id = bytes.fromhex(span_id)
    if parent_id:
        span.parent_span_id = bytes.fromhex(parent_id)
    if start_ns:
        span.start_time_unix_nano = start_ns
    if end_ns:
        span.end_time_unix_nano = end_ns
    add_attributes(span.attributes, attributes or {})
    for event_name, event_attributes in events:
        event = span.events.add(name=event_name, time_unix_nano=T0_NS)
        add_attributes(event.attributes, event_attributes)
    if status_code or status_message:
        span.status.code = status_code
        span.status.message = status_message
    return span


def make_request(
    spans: list[Span],
    *,
    resource: dict[str, Any] | None = None,
    scope_name: str = "langfuse-sdk",
    scope_version: str = "4.14.3",
    scope_attributes: dict[str, Any] | None = None,
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    add_attributes(resource_spans.resource.attributes, SDK_RESOURCE if resource is None else resource)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope_name
    scope_spans.scope.version = scope_version
    add_attributes(scope_spans.scope.attributes, scope_attributes or {})
    scope_spans.spans.extend(spans)
    return request


def to_otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as exporters send it: proto3 JSON but with hex ids instead of base64."""
    document = MessageToDict(request)
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def map_spans(spans: list[Span], **request_options: Any) -> tuple[list[Patch], list[Patch]]:
    return request_to_patches(make_request(spans, **request_options), PROJECT, RECEIVED_US)


def map_one(span: Span, **request_options: Any) -> Patch:
    """The single observation patch of a one-span export."""
    _traces, observations = map_spans([span], **request_options)
    assert len(observations) == 1
    return observations[0]


def map_json(body: bytes) -> tuple[list[Patch], list[Patch]]:
    return request_to_patches(decode_export_request(body, "application/json"), PROJECT, RECEIVED_US)


def test_json_rendering_uses_hex_ids_and_string_int64() -> None:
    document = json.loads(to_otlp_json(make_request([make_span(parent_id=CHILD_ID)])))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert (span["traceId"], span["spanId"], span["parentSpanId"]) == (TRACE_ID, ROOT_ID, CHILD_ID)
    assert span["startTimeUnixNano"] == str(T0_NS)
