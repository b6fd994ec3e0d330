"""OTLP/HTTP from a plain OpenTelemetry SDK (no Langfuse SDK), OTLP/JSON and gzip protobuf."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Sequence

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from tests.integration.api.builders import OTEL_TRACES, basic_auth, uid, wait_trace
from tests.support.server import SpyglassServer

INPUT_MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
OUTPUT_MESSAGES = [{"role": "assistant", "parts": [{"type": "text", "content": "Sunny, 21C"}],
                    "finish_reason": "stop"}]


class RecordingExporter(SpanExporter):
    """Delegates to the real OTLP exporter and remembers every export result."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _by_type(trace: dict) -> dict[str, dict]:
    return {o["type"]: o for o in trace["observations"]}


def _assert_chat_and_tool(trace: dict, root_span_id: str, tool_span_id: str, trace_id: str) -> None:
    observations = _by_type(trace)
    assert sorted(observations) == ["GENERATION", "TOOL"]
    gen, tool = observations["GENERATION"], observations["TOOL"]
    assert (gen["id"], gen["traceId"], gen["parentObservationId"]) == (root_span_id, trace_id, None)
    assert (tool["id"], tool["traceId"], tool["parentObservationId"]) == (tool_span_id, trace_id, root_span_id)
    assert gen["model"] == "gpt-4o-mini"
    assert gen["usageDetails"] == {"input": 12, "output": 7, "total": 19}
    assert (gen["promptTokens"], gen["completionTokens"], gen["totalTokens"]) == (12, 7, 19)
    assert gen["input"] == INPUT_MESSAGES
    assert gen["output"] == OUTPUT_MESSAGES
    assert tool["name"] == "get_weather"


def test_plain_otel_sdk_export(server: SpyglassServer, client: httpx.Client) -> None:
    exporter = RecordingExporter(OTLPSpanExporter(
        endpoint=f"{server.base_url}{OTEL_TRACES}",
        headers={"Authorization": basic_auth(*server.keys.auth)}, timeout=30,
    ))
    provider = TracerProvider(resource=Resource.create({"service.name": f"svc-{uid()[:8]}",
                                                        "service.version": "1.2.3"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("plain-otel-test", "0.1")
    try:
        with tracer.start_as_current_span("chat gpt-4o-mini") as root:
            root.set_attribute("gen_ai.operation.name", "chat")
            root.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            root.set_attribute("gen_ai.usage.input_tokens", 12)
            root.set_attribute("gen_ai.usage.output_tokens", 7)
            root.set_attribute("gen_ai.input.messages", json.dumps(INPUT_MESSAGES))
            root.set_attribute("gen_ai.output.messages", json.dumps(OUTPUT_MESSAGES))
            with tracer.start_as_current_span("execute_tool get_weather") as tool:
                tool.set_attribute("gen_ai.tool.name", "get_weather")
                tool_ctx = tool.get_span_context()
            root_ctx = root.get_span_context()
        assert provider.force_flush(30_000)
    finally:
        provider.shutdown()
    assert exporter.results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]
    trace_id = format(root_ctx.trace_id, "032x")
    root_span_id, tool_span_id = format(root_ctx.span_id, "016x"), format(tool_ctx.span_id, "016x")
    assert format(tool_ctx.trace_id, "032x") == trace_id
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 2)
    _assert_chat_and_tool(trace, root_span_id, tool_span_id, trace_id)
    assert trace["name"] == "chat gpt-4o-mini"
    assert trace["version"] == "1.2.3"
    gen = _by_type(trace)["GENERATION"]
    assert gen["name"] == "chat gpt-4o-mini"
    assert gen["startTime"] <= gen["endTime"]
    listed = client.get("/api/public/observations", params={"traceId": trace_id, "type": "TOOL"}).json()
    assert [o["id"] for o in listed["data"]] == [tool_span_id]


def _attr(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def _spans_json(trace_id: str, root_id: str, tool_id: str, start_ns: int) -> dict:
    root = {"traceId": trace_id, "spanId": root_id, "name": "chat gpt-4o-mini", "kind": 3,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + 2_000_000_000),
            "attributes": [_attr("gen_ai.operation.name", "chat"), _attr("gen_ai.request.model", "gpt-4o-mini"),
                           _attr("gen_ai.usage.input_tokens", 12), _attr("gen_ai.usage.output_tokens", 7),
                           _attr("gen_ai.input.messages", json.dumps(INPUT_MESSAGES)),
                           _attr("gen_ai.output.messages", json.dumps(OUTPUT_MESSAGES))],
            "events": [], "status": {"code": 1}}
    tool = {"traceId": trace_id, "spanId": tool_id, "parentSpanId": root_id, "name": "execute_tool get_weather",
            "startTimeUnixNano": str(start_ns + 500_000_000), "endTimeUnixNano": str(start_ns + 1_000_000_000),
            "attributes": [_attr("gen_ai.tool.name", "get_weather")]}
    return {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "json-client")]},
                               "scopeSpans": [{"scope": {"name": "hand-built", "version": "1"},
                                               "spans": [tool, root]}]}]}


def test_otlp_json(client: httpx.Client) -> None:
    trace_id, root_id, tool_id = uid(), uid()[:16], uid()[:16]
    start_ns = int(time.time()) * 1_000_000_000
    body = json.dumps(_spans_json(trace_id, root_id, tool_id, start_ns)).encode()
    response = client.post(OTEL_TRACES, content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (200, {})
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 2)
    _assert_chat_and_tool(trace, root_id, tool_id, trace_id)
    gen, tool = _by_type(trace)["GENERATION"], _by_type(trace)["TOOL"]
    assert gen["latency"] == pytest.approx(2.0)
    assert tool["latency"] == pytest.approx(0.5)
    assert trace["latency"] == pytest.approx(2.0)


def _protobuf_request(trace_id: str, root_id: str, tool_id: str, start_ns: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "gzip-client"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "hand-built-pb"
    root = scope_spans.spans.add(trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(root_id),
                                 name="chat gpt-4o-mini", start_time_unix_nano=start_ns,
                                 end_time_unix_nano=start_ns + 1_500_000_000)
    for key, value in (("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "gpt-4o-mini"),
                       ("gen_ai.input.messages", json.dumps(INPUT_MESSAGES)),
                       ("gen_ai.output.messages", json.dumps(OUTPUT_MESSAGES))):
        root.attributes.add(key=key).value.string_value = value
    root.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = 12
    root.attributes.add(key="gen_ai.usage.output_tokens").value.int_value = 7
    tool = scope_spans.spans.add(trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(tool_id),
                                 parent_span_id=bytes.fromhex(root_id), name="execute_tool get_weather",
                                 start_time_unix_nano=start_ns + 100_000_000,
                                 end_time_unix_nano=start_ns + 200_000_000)
    tool.attributes.add(key="gen_ai.tool.name").value.string_value = "get_weather"
    return request


def test_gzip_protobuf(client: httpx.Client) -> None:
    trace_id, root_id, tool_id = uid(), uid()[:16], uid()[:16]
    request = _protobuf_request(trace_id, root_id, tool_id, int(time.time()) * 1_000_000_000)
    response = client.post(OTEL_TRACES, content=gzip.compress(request.SerializeToString()),
                           headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-protobuf")
    ExportTraceServiceResponse.FromString(response.content)  # a valid (empty) protobuf answer
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 2)
    _assert_chat_and_tool(trace, root_id, tool_id, trace_id)
    assert _by_type(trace)["GENERATION"]["latency"] == pytest.approx(1.5)


def test_plain_protobuf_and_json_agree(client: httpx.Client) -> None:
    """The same spans sent as protobuf and as OTLP/JSON produce the same observations."""
    start_ns = int(time.time()) * 1_000_000_000
    pb_ids, json_ids = (uid(), uid()[:16], uid()[:16]), (uid(), uid()[:16], uid()[:16])
    response = client.post(OTEL_TRACES, content=_protobuf_request(*pb_ids, start_ns).SerializeToString(),
                           headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200
    body = _spans_json(*json_ids, start_ns)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["endTimeUnixNano"] = str(start_ns + 1_500_000_000)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(
        startTimeUnixNano=str(start_ns + 100_000_000), endTimeUnixNano=str(start_ns + 200_000_000))
    response = client.post(OTEL_TRACES, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    fields = ("type", "name", "model", "usageDetails", "input", "output", "startTime", "endTime", "latency")
    pb_trace = wait_trace(client, pb_ids[0], lambda t: len(t["observations"]) == 2)
    json_trace = wait_trace(client, json_ids[0], lambda t: len(t["observations"]) == 2)
    for kind in ("GENERATION", "TOOL"):
        pb, js = _by_type(pb_trace)[kind], _by_type(json_trace)[kind]
        assert {f: pb[f] for f in fields} == {f: js[f] for f in fields}
