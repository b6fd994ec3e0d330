"""Micro-benchmark of the pure OTLP → patch mapping (`spyglass.ingestion.otel`), no server, no IO.

Builds what a RAG agent instrumented with the Langfuse Python SDK exports: per trace an
`agent` root, a `retriever`, two `generation`s with 1–4 KB chat prompts and completions and a
`tool`, all under `propagate_attributes(user_id, session_id, tags, metadata)` so every span
carries the trace-level attributes. Spans are packed 512 per request, children first, like a
BatchSpanProcessor. Prints spans/s for protobuf decode, OTLP/JSON decode and mapping.

    .venv/bin/python bench/otel_map_bench.py [--spans 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from spyglass.ingestion.otel import count_spans, decode_export_request, request_to_patches

SPANS_PER_TRACE = 5
BATCH_SPANS = 512
T0 = 1_735_689_600_000_000_000
MS = 1_000_000


def _text(rng: random.Random, size: int) -> str:
    words = ("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(size))
    return " ".join(words)[:size]


def _add_span(scope_spans, rng, trace_id: bytes, span_id: bytes, parent: bytes | None, name: str,
              kind: str, start: int, end: int, given: object, produced: object, model: str | None,
              user: str, session: str) -> None:
    span = scope_spans.spans.add(trace_id=trace_id, span_id=span_id, name=name, kind=Span.SPAN_KIND_INTERNAL,
                                 start_time_unix_nano=start, end_time_unix_nano=end)
    if parent:
        span.parent_span_id = parent

    def text(key: str, value: object) -> None:
        span.attributes.add(key=key).value.string_value = value if isinstance(value, str) else json.dumps(value)

    text("langfuse.observation.type", kind)
    text("langfuse.environment", "bench")
    text("user.id", user)  # propagated: the same on every span of the trace
    text("session.id", session)
    tags = span.attributes.add(key="langfuse.trace.tags").value.array_value
    for tag in ("bench", "rag"):
        tags.values.add().string_value = tag
    text("langfuse.trace.metadata.flavour", "baseline")
    text("langfuse.observation.input", given)
    text("langfuse.observation.output", produced)
    span.attributes.add(key="langfuse.observation.metadata.step").value.int_value = rng.randrange(10)
    if parent is None:
        text("langfuse.trace.name", "rag-answer")
        span.attributes.add(key="langfuse.internal.is_app_root").value.bool_value = True
    if model:
        usage = {"input": rng.randint(200, 1000), "output": rng.randint(200, 1000)}
        text("gen_ai.system", "openai")
        text("gen_ai.request.model", model)
        span.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = usage["input"]
        span.attributes.add(key="gen_ai.usage.output_tokens").value.int_value = usage["output"]
        text("langfuse.observation.model.name", model)
        text("langfuse.observation.model.parameters", {"temperature": 0.3, "max_tokens": 1024})
        text("langfuse.observation.usage_details", usage)
        text("langfuse.observation.completion_start_time", json.dumps("2025-01-01T00:00:00.250000+00:00"))


def _trace(scope_spans, rng: random.Random, index: int) -> None:
    trace_id = rng.randbytes(16)
    root = rng.randbytes(8)
    start = T0 + index * 10 * MS
    question = _text(rng, rng.randint(80, 300))
    docs = [{"id": f"doc-{i}", "text": _text(rng, 300)} for i in range(4)]
    people = (f"user-{rng.randrange(500):03d}", f"sess-{index // 4}")
    _add_span(scope_spans, rng, trace_id, rng.randbytes(8), root, "retrieve", "retriever", start + MS,
              start + 50 * MS, question, docs, None, *people)
    for name in ("plan", "answer"):
        prompt = [{"role": "system", "content": _text(rng, 400)},
                  {"role": "user", "content": _text(rng, rng.randint(600, 3600))}]
        _add_span(scope_spans, rng, trace_id, rng.randbytes(8), root, name, "generation", start + 60 * MS,
                  start + 900 * MS, prompt, _text(rng, rng.randint(1024, 4096)), "gpt-4o", *people)
    _add_span(scope_spans, rng, trace_id, rng.randbytes(8), root, "search", "tool", start + 910 * MS,
              start + 950 * MS, {"q": question[:60]}, {"status": "ok", "result": _text(rng, 200)}, None, *people)
    _add_span(scope_spans, rng, trace_id, root, None, "rag-answer", "agent", start, start + 999 * MS,
              question, _text(rng, 300), None, *people)


def _new_request() -> tuple[ExportTraceServiceRequest, object]:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in (("service.name", "bench"), ("telemetry.sdk.language", "python"),
                       ("telemetry.sdk.name", "opentelemetry"), ("langfuse.environment", "bench"),
                       ("langfuse.release", "v1")):
        resource_spans.resource.attributes.add(key=key).value.string_value = value
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "langfuse-sdk"
    scope_spans.scope.version = "4.14.3"
    scope_spans.scope.attributes.add(key="public_key").value.string_value = "pk-lf-bench"
    return request, scope_spans


def build_bodies(total_spans: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    bodies: list[bytes] = []
    request, scope_spans = _new_request()
    for index in range(-(-total_spans // SPANS_PER_TRACE)):
        _trace(scope_spans, rng, index)
        if len(scope_spans.spans) >= BATCH_SPANS:
            bodies.append(request.SerializeToString())
            request, scope_spans = _new_request()
    if len(scope_spans.spans):
        bodies.append(request.SerializeToString())
    return bodies


def _to_otlp_json(body: bytes) -> bytes:
    from google.protobuf.json_format import MessageToDict

    document = MessageToDict(ExportTraceServiceRequest.FromString(body))
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:  # proto3 JSON uses base64; OTLP/JSON uses hex
                        span[key] = __import__("base64").b64decode(span[key]).hex()
    return json.dumps(document).encode()


def _best(label: str, spans: int, runs: list[float]) -> None:
    best = min(runs)
    print(f"{label:<28} {spans / best:>10,.0f} spans/s   ({best * 1e6 / spans:6.1f} µs/span, best of {len(runs)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    bodies = build_bodies(args.spans)
    json_bodies = [_to_otlp_json(body) for body in bodies]
    requests = [decode_export_request(body, "application/x-protobuf") for body in bodies]
    spans = sum(count_spans(request) for request in requests)
    print(f"{spans} spans in {len(bodies)} requests, {sum(map(len, bodies)) / spans:,.0f} protobuf bytes/span")

    timings: dict[str, list[float]] = {"decode protobuf": [], "decode OTLP/JSON": [], "map to patches": [],
                                       "decode protobuf + map": []}
    for _ in range(args.repeat):
        began = time.process_time()
        for body in bodies:
            decode_export_request(body, "application/x-protobuf")
        timings["decode protobuf"].append(time.process_time() - began)
        began = time.process_time()
        for body in json_bodies:
            decode_export_request(body, "application/json")
        timings["decode OTLP/JSON"].append(time.process_time() - began)
        began = time.process_time()
        for request in requests:
            request_to_patches(request, "project", T0 // 1000)
        timings["map to patches"].append(time.process_time() - began)
        began = time.process_time()
        for body in bodies:
            request_to_patches(decode_export_request(body, "application/x-protobuf"), "project", T0 // 1000)
        timings["decode protobuf + map"].append(time.process_time() - began)
    for label, runs in timings.items():
        _best(label, spans, runs)


if __name__ == "__main__":
    main()
