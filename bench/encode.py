"""Wire encoders: the same workload as OTLP/HTTP protobuf or as Langfuse batch ingestion.

All request bodies are built *before* the clock starts: the load generator shares the
machine's two cores with the server, and encoding ~100 MB of protobuf while measuring would
measure the client instead of the server.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from workload import RunIdentity, Span, Trace, iso

SDK_VERSION = "4.14.3"  # what the scope claims to be: the Python SDK the project tests against
ENVIRONMENT = "bench"


@dataclass(slots=True)
class Request:
    """One prebuilt HTTP request and what acknowledging it means."""

    body: bytes
    spans: int  # observations carried
    traces: int  # trace roots (OTLP) / trace-create events (batch) carried
    raw_bytes: int  # before compression
    # Batch mode only: envelope ids, so per-event errors in the 207 body can be attributed.
    observation_event_ids: frozenset[str] = field(default_factory=frozenset)
    trace_event_ids: frozenset[str] = field(default_factory=frozenset)


def _as_text(value: object) -> str:
    # The SDK sends strings raw and everything else JSON-encoded.
    return value if isinstance(value, str) else json.dumps(value)


# ---------------------------------------------------------------- OTLP protobuf


def _set_attrs(pb: PbSpan, trace: Trace, span: Span) -> None:
    def s(key: str, value: str) -> None:
        pb.attributes.add(key=key).value.string_value = value

    def n(key: str, value: int) -> None:
        pb.attributes.add(key=key).value.int_value = value

    s("langfuse.observation.type", span.type)
    s("langfuse.environment", ENVIRONMENT)
    # propagate_attributes() puts the trace-level attributes on every span of the trace.
    s("user.id", trace.user_id)
    s("session.id", trace.session_id)
    tags = pb.attributes.add(key="langfuse.trace.tags").value.array_value
    for tag in trace.tags:
        tags.values.add().string_value = tag
    s("langfuse.observation.input", _as_text(span.input))
    s("langfuse.observation.output", _as_text(span.output))
    if span.parent_id is None:
        s("langfuse.trace.name", trace.name)
        pb.attributes.add(key="langfuse.internal.is_app_root").value.bool_value = True
    if span.model:
        s("gen_ai.system", "openai" if span.model.startswith("gpt") else "anthropic")
        s("gen_ai.request.model", span.model)
        n("gen_ai.usage.input_tokens", span.input_tokens)
        n("gen_ai.usage.output_tokens", span.output_tokens)
        s("langfuse.observation.model.name", span.model)
        s("langfuse.observation.model.parameters", json.dumps(span.model_parameters))
        s(
            "langfuse.observation.usage_details",
            json.dumps({"input": span.input_tokens, "output": span.output_tokens}),
        )
        if span.completion_start_ns is not None:
            # The SDK JSON-encodes this one, quotes included.
            s("langfuse.observation.completion_start_time", json.dumps(iso(span.completion_start_ns)))


def _new_otlp_request(ident: RunIdentity, public_key: str) -> tuple[ExportTraceServiceRequest, object]:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for key, value in (
        ("service.name", "bench-llm-app"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.version", "1.45.2"),
        ("langfuse.environment", ENVIRONMENT),
        ("langfuse.release", f"bench-{ident.salt}"),
    ):
        rs.resource.attributes.add(key=key).value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "langfuse-sdk"
    ss.scope.version = SDK_VERSION
    ss.scope.attributes.add(key="public_key").value.string_value = public_key
    return req, ss


def otlp_requests(
    traces: Iterable[Trace], ident: RunIdentity, batch_spans: int, use_gzip: bool, public_key: str
) -> list[Request]:
    """Chunk spans into ExportTraceServiceRequests of ``batch_spans`` spans each.

    Spans go out in end order (children before their root), like a BatchSpanProcessor, so
    a batch boundary can split a trace: the server must cope with children arriving first.
    """
    out: list[Request] = []
    req, ss = _new_otlp_request(ident, public_key)
    n_spans = n_roots = 0

    def flush() -> None:
        nonlocal req, ss, n_spans, n_roots
        raw = req.SerializeToString()
        body = gzip.compress(raw, compresslevel=6) if use_gzip else raw
        out.append(Request(body=body, spans=n_spans, traces=n_roots, raw_bytes=len(raw)))
        req, ss = _new_otlp_request(ident, public_key)
        n_spans = n_roots = 0

    for trace in traces:
        tid = bytes.fromhex(trace.trace_id)
        for span in trace.spans:
            pb = ss.spans.add()
            pb.trace_id = tid
            pb.span_id = bytes.fromhex(span.span_id)
            if span.parent_id:
                pb.parent_span_id = bytes.fromhex(span.parent_id)
            else:
                n_roots += 1
            pb.name = span.name
            pb.kind = PbSpan.SPAN_KIND_INTERNAL
            pb.start_time_unix_nano = span.start_ns
            pb.end_time_unix_nano = span.end_ns
            _set_attrs(pb, trace, span)
            n_spans += 1
            if n_spans == batch_spans:
                flush()
    if n_spans:
        flush()
    return out


# ---------------------------------------------------------------- Langfuse batch ingestion


def _observation_body(trace: Trace, span: Span) -> dict:
    body: dict = {
        "id": span.span_id,
        "traceId": trace.trace_id,
        "name": span.name,
        "startTime": iso(span.start_ns),
        "endTime": iso(span.end_ns),
        "input": span.input,
        "output": span.output,
        "environment": ENVIRONMENT,
    }
    if span.parent_id:
        body["parentObservationId"] = span.parent_id
    if span.model:
        body["model"] = span.model
        body["modelParameters"] = span.model_parameters
        body["usageDetails"] = {"input": span.input_tokens, "output": span.output_tokens}
        if span.completion_start_ns is not None:
            body["completionStartTime"] = iso(span.completion_start_ns)
    return body


def batch_events(trace: Trace, ident: RunIdentity) -> list[tuple[bool, dict]]:
    """(is_observation, envelope) pairs for one trace: trace-create, then one create per span."""
    root = trace.root
    events = [
        (
            False,
            {
                "id": ident.event_id(trace.index, 99),
                "type": "trace-create",
                "timestamp": iso(root.start_ns),
                "body": {
                    "id": trace.trace_id,
                    "timestamp": iso(root.start_ns),
                    "name": trace.name,
                    "userId": trace.user_id,
                    "sessionId": trace.session_id,
                    "tags": trace.tags,
                    "input": root.input,
                    "output": root.output,
                    "environment": ENVIRONMENT,
                    "release": f"bench-{ident.salt}",
                },
            },
        )
    ]
    # Root first here: batch clients emit in creation order, unlike OTLP's end order.
    for j, span in enumerate([root, *trace.spans[:-1]]):
        events.append(
            (
                True,
                {
                    "id": ident.event_id(trace.index, j),
                    "type": f"{span.type}-create",  # agent-/retriever-/generation-/tool-create
                    "timestamp": iso(span.end_ns),
                    "body": _observation_body(trace, span),
                },
            )
        )
    return events


def batch_requests(traces: Iterable[Trace], ident: RunIdentity, batch_events_n: int) -> list[Request]:
    out: list[Request] = []
    pending: list[tuple[bool, dict]] = []

    def flush() -> None:
        obs = frozenset(e["id"] for is_obs, e in pending if is_obs)
        trc = frozenset(e["id"] for is_obs, e in pending if not is_obs)
        body = orjson.dumps(
            {
                "batch": [e for _, e in pending],
                "metadata": {"batch_size": len(pending), "sdk_name": "spyglass-bench", "sdk_version": "1"},
            }
        )
        out.append(
            Request(
                body=body,
                spans=len(obs),
                traces=len(trc),
                raw_bytes=len(body),
                observation_event_ids=obs,
                trace_event_ids=trc,
            )
        )
        pending.clear()

    for trace in traces:
        for ev in batch_events(trace, ident):
            pending.append(ev)
            if len(pending) == batch_events_n:
                flush()
    if pending:
        flush()
    return out
