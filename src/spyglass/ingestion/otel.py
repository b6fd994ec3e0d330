"""OTLP trace exports → trace and observation patches (pure mapping, reference §3).

`decode_export_request` turns a request body (protobuf or OTLP/JSON, already gunzipped) into
an `ExportTraceServiceRequest` and rejects structurally broken exports as a whole.
`request_to_patches` maps every span to one observation patch, and to a trace patch when the
span is a root or carries trace-level attributes; other traces get one "shallow" patch
(id, timestamp, environment) per request so every observation has a trace. Consecutive
identical updates of one trace (attributes propagated to every span) collapse into one.

This runs for every ingested span, so the per-span path avoids repeated scans: attributes
become one dict, prefix families are grouped in one pass (`otel_attributes.group_keys`), and
per-resource / per-scope values are computed once.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spyglass.domain.datasets import EXPERIMENT_LINK
from spyglass.domain.merge import FILL
from spyglass.domain.records import Patch
from spyglass.domain.values import encode_io, encode_metadata, json_text
from spyglass.ingestion import otel_fields as fields
from spyglass.ingestion.otel_attributes import as_text, attributes_to_dict, group_keys
from spyglass.ingestion.otel_io import extract_io, trace_io, unconsumed_attributes
from spyglass.ingestion.otel_json import StructureReport, check_protobuf_structure, request_from_json
from spyglass.ingestion.otel_types import observation_type
from spyglass.ingestion.otel_usage import (
    AI_SDK_SCOPE,
    MODEL_KEYS,
    cost_details,
    is_agent_wrapper,
    model_name,
    model_parameters,
    usage_details,
)

__all__ = ["OtlpDecodeError", "count_spans", "decode_export_request", "request_to_patches"]

PROTOBUF_ERROR: Final = "Failed to parse OTel Protobuf Trace"
JSON_ERROR: Final = "Failed to parse OTel JSON Trace"

_SDK_SCOPE_PREFIX: Final = "langfuse-sdk"
_AS_ROOT_KEY: Final = "langfuse.internal.as_root"


class OtlpDecodeError(Exception):
    """The export cannot be ingested; `message` is the text to answer the client with (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_export_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parse a gunzipped OTLP/HTTP trace export; raise `OtlpDecodeError` when it is unusable."""
    media_type = content_type.lower()
    report = StructureReport()
    if "application/x-protobuf" in media_type:
        try:
            request = ExportTraceServiceRequest.FromString(body)
        except (DecodeError, ValueError, TypeError) as error:
            raise OtlpDecodeError(PROTOBUF_ERROR) from error
        check_protobuf_structure(request, report)
    elif "application/json" in media_type:
        try:
            request = request_from_json(orjson.loads(body), report)
        except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError, OverflowError) as error:
            raise OtlpDecodeError(JSON_ERROR) from error
    else:
        raise OtlpDecodeError("Invalid content type")
    if not report.is_valid:
        raise OtlpDecodeError(report.message())
    return request


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


class _Resource:
    """Values every span of one resource shares, computed once."""

    __slots__ = ("attributes", "trace_metadata", "attributes_json", "service_version", "release")

    def __init__(self, resource: Any) -> None:
        attributes = attributes_to_dict(resource.attributes)
        self.attributes = attributes
        self.trace_metadata = encode_metadata(fields.metadata(attributes, group_keys(attributes))[0])
        self.attributes_json = json_text(attributes)
        self.service_version = attributes.get("service.version")
        self.release = attributes.get("langfuse.release")


class _Scope:
    __slots__ = ("name", "version", "is_sdk", "json")

    def __init__(self, scope: Any) -> None:
        self.name: str = scope.name
        self.version: str = scope.version
        self.is_sdk = self.name.startswith(_SDK_SCOPE_PREFIX)
        self.json = json_text({"name": self.name, "version": self.version,
                               "attributes": attributes_to_dict(scope.attributes)})


class _Span:
    """One span's decoded attributes and the values both of its patches use."""

    __slots__ = ("span", "resource", "scope", "attributes", "groups", "span_id", "trace_id", "parent_id",
                 "start", "end", "environment", "name", "io", "trace_metadata", "observation_metadata", "version",
                 "unconsumed")

    def __init__(self, span: Any, resource: _Resource, scope: _Scope, received_at_us: int) -> None:
        self.span = span
        self.resource = resource
        self.scope = scope
        attributes = attributes_to_dict(span.attributes)
        self.attributes = attributes
        self.groups = groups = group_keys(attributes)
        self.span_id: str = span.span_id.hex()
        self.trace_id: str = span.trace_id.hex()
        parent = span.parent_span_id
        self.parent_id = parent.hex() if parent else None
        start = span.start_time_unix_nano // 1000
        end = span.end_time_unix_nano // 1000
        self.start: int = start or end or received_at_us
        self.end: int = end or self.start
        self.environment = fields.environment(attributes, resource.attributes)
        self.name = fields.observation_name(span.name, attributes)
        self.io = extract_io(attributes, span.events, scope.name, groups)
        trace_metadata, observation_metadata = fields.metadata(attributes, groups)
        self.trace_metadata = trace_metadata
        self.observation_metadata = encode_metadata(observation_metadata)
        version = attributes.get("langfuse.version")
        if version is None:
            version = resource.service_version
        self.version = None if version is None else as_text(version)
        self.unconsumed: str | None = None

    @property
    def is_root(self) -> bool:
        as_root = self.attributes.get(_AS_ROOT_KEY)
        return self.parent_id is None or as_root is True or as_root == "true"

    def metadata_tail(self, metadata: dict[str, str], with_attributes: bool) -> dict[str, str]:
        """Append the instrumentation context every metadata map ends with (§3.3)."""
        if with_attributes and not self.scope.is_sdk:
            if self.unconsumed is None:
                self.unconsumed = json_text(unconsumed_attributes(self.attributes))
            metadata["attributes"] = self.unconsumed
        metadata["resourceAttributes"] = self.resource.attributes_json
        metadata["scope"] = self.scope.json
        return metadata


def _add_model_fields(patch: Patch, view: _Span) -> None:
    """Model, parameters, usage and cost (§3.8, §3.9), each only when the span provides it."""
    attributes, scope_name, groups = view.attributes, view.scope.name, view.groups
    # The AI SDK rules apply to every span of scope `ai` (a tool call gets a null parameter map and
    # zero usage upstream); other spans without any model key say nothing.
    if scope_name != AI_SDK_SCOPE and not (groups.usage or groups.params) and attributes.keys().isdisjoint(
            MODEL_KEYS):
        return
    parameters = model_parameters(attributes, scope_name, groups)
    if parameters:
        patch["model_parameters"] = json_text(parameters)
    if is_agent_wrapper(attributes):
        return
    model = model_name(attributes)
    if model is not None:
        patch["provided_model_name"] = model
    usage = usage_details(attributes, scope_name, groups)
    if usage:
        patch["provided_usage_details"] = usage
    cost = cost_details(attributes)
    if cost:
        patch["provided_cost_details"] = cost


def _observation_patch(view: _Span, project_id: str, metadata: dict[str, str]) -> Patch:
    span, attributes, scope = view.span, view.attributes, view.scope
    status = span.status
    kind = observation_type(attributes, view.resource.attributes, scope.name, scope.version, span.name)
    patch: Patch = {
        "id": view.span_id,
        "project_id": project_id,
        "trace_id": view.trace_id,
        "parent_observation_id": view.parent_id,
        "type": kind,
        "name": view.name,
        "start_time": view.start,
        "end_time": view.end,
        "environment": view.environment,
        "level": fields.observation_level(attributes, status.code, scope.name, span.name),
        "metadata": metadata,
    }
    status_message = attributes.get("langfuse.observation.status_message")
    if status_message is None and status.message:
        status_message = status.message
    if status_message is not None:
        patch["status_message"] = as_text(status_message)
    version = view.version
    if version is not None:
        patch["version"] = version
    completion_start = fields.completion_start_time(attributes, view.start)
    if completion_start is not None:
        patch["completion_start_time"] = completion_start
    given, produced = view.io
    if given is not None:
        patch["input"] = encode_io(given)
    if produced is not None:
        patch["output"] = encode_io(produced)
    _add_model_fields(patch, view)
    if kind == "GENERATION":
        prompt = fields.prompt_reference(attributes)
        if prompt is not None:
            patch["prompt_name"], patch["prompt_version"] = prompt
    link = fields.experiment_link(attributes, project_id, view.span_id, view.trace_id)
    if link is not None:
        patch[EXPERIMENT_LINK] = link  # taken off by the worker before the merge
    return patch


def _trace_patch(view: _Span, project_id: str, is_root: bool) -> Patch:
    """A root span defines the trace; a non-root span only updates what it explicitly carries."""
    attributes = view.attributes
    patch: Patch = {"id": view.trace_id, "project_id": project_id, "timestamp": view.start,
                    "environment": view.environment}
    trace_name = attributes.get("langfuse.trace.name")
    metadata = {**view.resource.trace_metadata, **encode_metadata(view.trace_metadata)}
    given, produced = attributes.get("langfuse.trace.input"), attributes.get("langfuse.trace.output")
    if trace_name is not None:
        patch["name"] = as_text(trace_name)
    if is_root:
        # The root's name and IO are only fallbacks: a child's explicit trace name or IO wins
        # even though children are exported (and arrive) before their root.
        root_input, root_output = trace_io(attributes, view.io)
        fill = {"name": view.name if trace_name is None else None,
                "input": encode_io(root_input) if given is None else None,
                "output": encode_io(root_output) if produced is None else None}
        patch[FILL] = {k: v for k, v in fill.items() if v is not None}
        # The root's own observation metadata is trace metadata too (SDK experiments rely on it).
        metadata.update(view.observation_metadata)
        patch["metadata"] = view.metadata_tail(metadata, with_attributes=True)
    else:
        patch["metadata"] = view.metadata_tail(metadata, with_attributes=False)
    version = view.version
    if version is not None:
        patch["version"] = version
    release = attributes.get("langfuse.release")
    if release is None:
        release = view.resource.release
    if release is not None:
        patch["release"] = as_text(release)
    for key, value in (
        ("user_id", fields.user_id(attributes)),
        ("session_id", fields.session_id(attributes)),
        ("public", fields.is_public(attributes)),
        ("tags", fields.tags(attributes)),
    ):
        if value is not None:
            patch[key] = value
    if given is not None:
        patch["input"] = encode_io(given)
    if produced is not None:
        patch["output"] = encode_io(produced)
    return patch


class _TracePatches:
    """Collects a request's trace patches: full ones in span order, then one shallow per other trace.

    With `propagate_attributes` every span of a trace carries the same trace-level attributes,
    so consecutive identical updates of one trace collapse into the first (keeping the earliest
    timestamp, as the merge would): applying the same patch twice in a row changes nothing else.
    """

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.patches: list[Patch] = []
        self.shallow: dict[str, Patch] = {}
        self.defined: set[str] = set()
        self.last_update: dict[str, tuple[tuple[Any, ...], Patch] | None] = {}

    def add_root(self, view: _Span) -> None:
        self.patches.append(_trace_patch(view, self.project_id, True))
        self.defined.add(view.trace_id)
        self.last_update[view.trace_id] = None

    def add_update(self, view: _Span) -> None:
        attributes = view.attributes
        signature = (view.resource, view.scope, view.environment, view.trace_metadata,
                     list(map(attributes.get, fields.TRACE_PATCH_INPUTS)))
        previous = self.last_update.get(view.trace_id)
        if previous is not None and previous[0] == signature:
            patch = previous[1]
            if view.start < patch["timestamp"]:
                patch["timestamp"] = view.start
            return
        patch = _trace_patch(view, self.project_id, False)
        self.patches.append(patch)
        self.defined.add(view.trace_id)
        self.last_update[view.trace_id] = (signature, patch)

    def add_shallow(self, view: _Span) -> None:
        known = self.shallow.get(view.trace_id)
        if known is None:
            self.shallow[view.trace_id] = {"id": view.trace_id, "project_id": self.project_id,
                                           "timestamp": view.start, "environment": view.environment}
        elif view.start < known["timestamp"]:
            # Spans arrive in any order; the earliest start is the safest trace timestamp.
            known["timestamp"] = view.start

    def result(self) -> list[Patch]:
        return self.patches + [patch for trace_id, patch in self.shallow.items() if trace_id not in self.defined]


def request_to_patches(
    request: ExportTraceServiceRequest, project_id: str, received_at_us: int
) -> tuple[list[Patch], list[Patch]]:
    """Map a decoded export to (trace patches, observation patches); pure, no IO."""
    traces = _TracePatches(project_id)
    observations: list[Patch] = []
    for resource_spans in request.resource_spans:
        resource = _Resource(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            scope = _Scope(scope_spans.scope)
            for span in scope_spans.spans:
                view = _Span(span, resource, scope, received_at_us)
                metadata = view.metadata_tail({**resource.trace_metadata, **view.observation_metadata},
                                              with_attributes=True)
                observations.append(_observation_patch(view, project_id, metadata))
                if view.is_root:
                    traces.add_root(view)
                elif fields.has_trace_updates(view.attributes, view.groups):
                    traces.add_update(view)
                else:
                    traces.add_shallow(view)
    return traces.result(), observations
