"""OTLP over gRPC from the OpenTelemetry SDK's own gRPC exporter: same auth, mapping and
durability as OTLP/HTTP (Spyglass addition; Langfuse has no gRPC receiver)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from tests.integration.api.builders import uid, wait_trace
from tests.support.server import Keys, SpyglassServer, free_port

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@contextmanager
def running(server: SpyglassServer) -> Iterator[SpyglassServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def grpc_port(server: SpyglassServer) -> int:
    return int(server.serve_args[1])


def authorization(keys: Keys) -> str:
    return "Basic " + base64.b64encode(f"{keys.public_key}:{keys.secret_key}".encode()).decode()


def exporter(server: SpyglassServer, keys: Keys | None = None, **options: object) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port(server)}", insecure=True, timeout=10,
                            headers={"authorization": authorization(keys or server.keys)}, **options)


def raw_export(server: SpyglassServer, body: bytes, metadata: list[tuple[str, str]]) -> bytes:
    return raw_export_to(grpc_port(server), body, metadata)


def raw_export_to(port: int, body: bytes, metadata: list[tuple[str, str]]) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return channel.unary_unary(EXPORT)(body, metadata=metadata, timeout=10)


def test_spans_from_the_sdks_grpc_exporter_are_stored_like_otlp_http(grpc_server: SpyglassServer) -> None:
    for compression in (None, grpc.Compression.Gzip):
        provider = TracerProvider(resource=Resource.create({"service.name": "grpc-app"}))
        recorded = exporter(grpc_server, compression=compression)
        provider.add_span_processor(SimpleSpanProcessor(recorded))
        tracer = provider.get_tracer("grpc-test")
        with tracer.start_as_current_span("agent-run") as root:
            root.set_attribute("langfuse.trace.name", "grpc trace")
            root.set_attribute("langfuse.user.id", "user-grpc")
            with tracer.start_as_current_span("chat gpt-4o") as child:
                child.set_attribute("gen_ai.operation.name", "chat")
                child.set_attribute("gen_ai.request.model", "gpt-4o")
                child.set_attribute("gen_ai.usage.input_tokens", 12)
                child.set_attribute("gen_ai.usage.output_tokens", 5)
                child.set_attribute("gen_ai.input.messages", json.dumps([{"role": "user", "parts": [
                    {"type": "text", "content": "hello over gRPC"}]}]))
            trace_id = format(root.get_span_context().trace_id, "032x")
        provider.shutdown()

        with grpc_server.client() as client:
            trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 2)
        assert (trace["name"], trace["userId"]) == ("grpc trace", "user-grpc")
        generation = next(o for o in trace["observations"] if o["type"] == "GENERATION")
        assert generation["model"] == "gpt-4o"
        assert generation["usageDetails"] == {"input": 12, "output": 5, "total": 17}
        assert generation["input"] == [{"role": "user", "parts": [{"type": "text", "content": "hello over gRPC"}]}]


def test_wrong_or_missing_credentials_are_unauthenticated(grpc_server: SpyglassServer) -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes.fromhex(uid()), bytes.fromhex(uid()[:16]), "x"
    body = request.SerializeToString()
    wrong = Keys(project_id=grpc_server.keys.project_id, public_key=grpc_server.keys.public_key,
                 secret_key="sk-lf-wrong")
    for metadata in ([], [("authorization", authorization(wrong))], [("authorization", "Bearer nope")]):
        with pytest.raises(grpc.RpcError) as refused:
            raw_export(grpc_server, body, metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, metadata
        assert "Invalid credentials" in refused.value.details() or "authorization" in refused.value.details()


def test_invalid_protobuf_is_invalid_argument_and_an_empty_export_is_ok(grpc_server: SpyglassServer) -> None:
    metadata = [("authorization", authorization(grpc_server.keys))]
    with pytest.raises(grpc.RpcError) as refused:
        raw_export(grpc_server, b"\xff\xff not protobuf", metadata)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details()
    answer = raw_export(grpc_server, ExportTraceServiceRequest().SerializeToString(), metadata)
    assert ExportTraceServiceResponse.FromString(answer) == ExportTraceServiceResponse()


def test_another_projects_key_writes_to_its_own_project(grpc_server: SpyglassServer) -> None:
    other = grpc_server.create_project(f"grpc-other-{uid()[:6]}")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter(grpc_server, other)))
    with provider.get_tracer("grpc-test").start_as_current_span("other project span") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    with grpc_server.client(other) as mine, grpc_server.client() as theirs:
        assert wait_trace(mine, trace_id)["name"] == "other project span"
        assert theirs.get(f"/api/public/traces/{trace_id}").status_code == 404


@pytest.mark.skipif(os.environ.get("SPYGLASS_TEST_STACK") == "scaleout",
                    reason="the scale-out test stack turns the receiver off explicitly (SPYGLASS_OTLP_GRPC=off)")
def test_the_receiver_is_off_on_the_embedded_default_unless_enabled(tmp_path) -> None:  # noqa: ANN001
    port = free_port()
    body = ExportTraceServiceRequest().SerializeToString()
    with running(SpyglassServer(data_dir=tmp_path / "off", extra_env={"SPYGLASS_OTLP_GRPC_PORT": str(port)})) as off:
        with pytest.raises(grpc.RpcError) as refused:
            raw_export_to(port, body, [("authorization", authorization(off.keys))])
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    env = {"SPYGLASS_OTLP_GRPC_PORT": str(port), "SPYGLASS_OTLP_GRPC": "on"}
    with running(SpyglassServer(data_dir=tmp_path / "on", extra_env=env)) as on:
        answer = raw_export_to(port, body, [("authorization", authorization(on.keys))])
        assert ExportTraceServiceResponse.FromString(answer) == ExportTraceServiceResponse()
