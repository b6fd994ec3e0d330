"""OTLP/JSON trace exports → the protobuf `ExportTraceServiceRequest`, plus structural checks.

OTLP/JSON differs from the proto3 JSON mapping (ids are hex, not base64), so
`google.protobuf.json_format` cannot read it; this module walks the parsed document and fills
the message directly, which is also several times faster. Unknown fields are ignored,
int64 values may be numbers or decimal strings, enums may be numbers or names.

Structural problems the reference rejects as a whole export (§3.1: span ids missing, or
`scopeSpans` / `spans` / `attributes` / `events` present but not arrays) are collected in a
`StructureReport` rather than raised, so one message can describe all of them.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter
from typing import Any, Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_STATUS_CODES: Final = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_SPAN_KINDS: Final = {
    "SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
}
_MAX_SAMPLED_SCOPES: Final = 5


class StructureReport:
    """What makes an export unprocessable: per-reason counts and a sample of scope names."""

    def __init__(self) -> None:
        self.total_spans = 0
        self.invalid_spans = 0
        self.malformed_collections = 0
        self.reasons: Counter[str] = Counter()
        self.scope_names: list[str] = []

    @property
    def is_valid(self) -> bool:
        return not self.invalid_spans and not self.malformed_collections

    def malformed(self, field: str, scope_name: str = "") -> None:
        """A field that must be an array is something else."""
        self.malformed_collections += 1
        self.reasons[f"{field}:not_an_array"] += 1
        self.note_scope(scope_name)

    def note_scope(self, name: str) -> None:
        if name and name not in self.scope_names and len(self.scope_names) < _MAX_SAMPLED_SCOPES:
            self.scope_names.append(name)

    def message(self) -> str:
        problems = []
        if self.invalid_spans:
            problems.append(f"{self.invalid_spans} of {self.total_spans} span(s) cannot be processed")
        if self.malformed_collections:
            problems.append(
                f"{self.malformed_collections} resource- or scope-level field(s) are present but not arrays"
            )
        hints = []
        if any(reason.endswith((":absent", ":not_an_id")) for reason in self.reasons):
            hints.append(
                "traceId and spanId are required on every span, and each must be a hex string or bytes."
            )
        if any(reason.endswith(":not_an_array") for reason in self.reasons):
            hints.append(
                "scopeSpans, spans, attributes and events must all be arrays — OTLP attributes are a list "
                "of {key, value} entries, not a JSON object."
            )
        return (
            f"Invalid OTLP trace export: {'; '.join(problems)} ({', '.join(self.reasons)}). "
            f"{' '.join(hints)} "
            "The entire export was rejected and no spans were ingested. "
            f"Instrumentation scopes: {', '.join(self.scope_names) or 'unknown'}. "
            "This endpoint accepts OpenTelemetry traces only — if you are exporting OpenTelemetry logs, "
            "point your log exporter elsewhere."
        )


def _is_malformed_list(value: Any) -> bool:
    return value is not None and not isinstance(value, list)


def _id_bytes(value: Any) -> bytes | str:
    """An OTLP/JSON id → bytes, or the rejection reason (`absent`, `not_an_id`)."""
    if value is None or value == "":
        return "absent"
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
        # Some hand-rolled exporters send base64 (the proto3 JSON mapping); accept it.
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return "not_an_id"
        return decoded or "not_an_id"
    if isinstance(value, dict) and value.get("type") == "Buffer":
        value = value.get("data")
    if isinstance(value, list):
        try:
            return bytes(value) or "absent"
        except (TypeError, ValueError):
            return "not_an_id"
    return "not_an_id"


def _nanos(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value >= 0 else 0
    number = int(value)
    return number if 0 <= number < 1 << 64 else 0


def _enum(value: Any, names: dict[str, int]) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        return names.get(value, 0)
    return int(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _fill_value(target: Any, document: Any) -> None:
    """One OTLP/JSON `AnyValue` object into the `AnyValue` message `target`."""
    if not isinstance(document, dict):
        return
    if "stringValue" in document:
        target.string_value = _text(document["stringValue"])
    elif "intValue" in document:
        target.int_value = int(document["intValue"])
    elif "boolValue" in document:
        target.bool_value = document["boolValue"] is True or document["boolValue"] == "true"
    elif "doubleValue" in document:
        target.double_value = float(document["doubleValue"])
    elif "arrayValue" in document:
        array = target.array_value
        array.SetInParent()
        for item in (document["arrayValue"] or {}).get("values") or ():
            _fill_value(array.values.add(), item)
    elif "kvlistValue" in document:
        kvlist = target.kvlist_value
        kvlist.SetInParent()
        _fill_key_values(kvlist.values, (document["kvlistValue"] or {}).get("values"))
    elif "bytesValue" in document:
        target.bytes_value = base64.b64decode(document["bytesValue"] or "")


def _fill_key_values(target: Any, documents: Any) -> None:
    if not documents:
        return
    for document in documents:
        if not isinstance(document, dict):
            continue
        key_value = target.add()
        key = document.get("key")
        key_value.key = key if type(key) is str else _text(key)
        value = document.get("value")
        if type(value) is dict:
            text = value.get("stringValue")
            if type(text) is str:  # the common case, inlined: this loop runs for every attribute
                key_value.value.string_value = text
            else:
                _fill_value(key_value.value, value)


def _fill_span(span: Any, document: dict[str, Any], report: StructureReport, scope_name: str) -> None:
    reasons = []
    for field, attribute in (("traceId", "trace_id"), ("spanId", "span_id")):
        converted = _id_bytes(document.get(field))
        if isinstance(converted, str):
            reasons.append(f"{field}:{converted}")
        else:
            setattr(span, attribute, converted)
    parent = document.get("parentSpanId")
    if parent:
        converted = _id_bytes(parent)
        if isinstance(converted, str):
            reasons.append(f"parentSpanId:{converted}")
        else:
            span.parent_span_id = converted
    attributes = document.get("attributes")
    events = document.get("events")
    if _is_malformed_list(attributes):
        reasons.append("attributes:not_an_array")
    if _is_malformed_list(events):
        reasons.append("events:not_an_array")
    elif events and any(isinstance(e, dict) and _is_malformed_list(e.get("attributes")) for e in events):
        reasons.append("event.attributes:not_an_array")
    if reasons:
        report.invalid_spans += 1
        report.reasons.update(reasons)
        report.note_scope(scope_name)
        return
    span.name = _text(document.get("name"))
    span.kind = _enum(document.get("kind"), _SPAN_KINDS)
    span.start_time_unix_nano = _nanos(document.get("startTimeUnixNano"))
    span.end_time_unix_nano = _nanos(document.get("endTimeUnixNano"))
    _fill_key_values(span.attributes, attributes)
    for event_document in events or ():
        if not isinstance(event_document, dict):
            continue
        event = span.events.add()
        event.name = _text(event_document.get("name"))
        event.time_unix_nano = _nanos(event_document.get("timeUnixNano"))
        _fill_key_values(event.attributes, event_document.get("attributes"))
    status = document.get("status")
    if isinstance(status, dict):
        span.status.code = _enum(status.get("code"), _STATUS_CODES)
        span.status.message = _text(status.get("message"))


def _fill_scope_spans(target: Any, document: dict[str, Any], report: StructureReport) -> None:
    scope_document = document.get("scope")
    scope_name = ""
    if isinstance(scope_document, dict):
        scope_name = _text(scope_document.get("name"))
        target.scope.name = scope_name
        target.scope.version = _text(scope_document.get("version"))
        scope_attributes = scope_document.get("attributes")
        if _is_malformed_list(scope_attributes):
            report.malformed("scope.attributes", scope_name)
        else:
            _fill_key_values(target.scope.attributes, scope_attributes)
    spans = document.get("spans")
    if _is_malformed_list(spans):
        report.malformed("spans", scope_name)
        return
    for span_document in spans or ():
        report.total_spans += 1
        if not isinstance(span_document, dict):
            report.invalid_spans += 1
            report.reasons.update(("traceId:absent", "spanId:absent"))
            continue
        _fill_span(target.spans.add(), span_document, report, scope_name)


def request_from_json(document: Any, report: StructureReport) -> ExportTraceServiceRequest:
    """A parsed OTLP/JSON document → request; structural problems are added to `report`.

    Raises TypeError/ValueError on values of the wrong type (e.g. a non-numeric intValue).
    """
    request = ExportTraceServiceRequest()
    resource_spans = document.get("resourceSpans") if isinstance(document, dict) else None
    if not resource_spans:
        return request
    if not isinstance(resource_spans, list):
        report.malformed("resourceSpans")
        return request
    for resource_document in resource_spans:
        if not isinstance(resource_document, dict):
            continue
        target = request.resource_spans.add()
        resource = resource_document.get("resource")
        if isinstance(resource, dict):
            attributes = resource.get("attributes")
            if _is_malformed_list(attributes):
                report.malformed("resource.attributes")
            else:
                _fill_key_values(target.resource.attributes, attributes)
        scope_spans = resource_document.get("scopeSpans")
        if _is_malformed_list(scope_spans):
            report.malformed("scopeSpans")
            continue
        for scope_document in scope_spans or ():
            if isinstance(scope_document, dict):
                _fill_scope_spans(target.scope_spans.add(), scope_document, report)
    return request


def check_protobuf_structure(request: ExportTraceServiceRequest, report: StructureReport) -> None:
    """Protobuf repeated fields are always lists, so only missing ids can be wrong."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                report.total_spans += 1
                if span.trace_id and span.span_id:
                    continue
                report.invalid_spans += 1
                if not span.trace_id:
                    report.reasons["traceId:absent"] += 1
                if not span.span_id:
                    report.reasons["spanId:absent"] += 1
                report.note_scope(scope_spans.scope.name)
