#!/usr/bin/env python3
"""Freshness on an idle server: time from an acknowledged request until its trace is readable.

    .venv/bin/python bench/freshness.py                 # starts a fresh server, 200 rounds per path
    .venv/bin/python bench/freshness.py --rounds 50

Each round sends one small trace (root span + generation, plus a score for the batch path)
and then polls `GET /api/public/traces/{id}` every millisecond until the trace answers with
all of its observations (and score). Rounds are sequential, so the server is otherwise idle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from run import PUBLIC_KEY, SECRET_KEY, Server  # noqa: E402

console = Console()


def batch_body(trace_id: str) -> dict:
    now = datetime.now(tz=UTC).isoformat()
    return {"batch": [
        {"id": uuid.uuid4().hex, "type": "trace-create", "timestamp": now, "body": {"id": trace_id, "name": "fresh"}},
        {"id": uuid.uuid4().hex, "type": "generation-create", "timestamp": now,
         "body": {"id": uuid.uuid4().hex[:16], "traceId": trace_id, "model": "gpt-4o", "input": "hi"}},
        {"id": uuid.uuid4().hex, "type": "score-create", "timestamp": now,
         "body": {"id": uuid.uuid4().hex, "traceId": trace_id, "name": "ok", "value": 1}},
    ]}


def otlp_body(trace_id: str) -> bytes:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    spans.scope.name = "langfuse-sdk"
    now = time.time_ns()
    root_id = uuid.uuid4().bytes[:8]
    for name, span_id, parent in (("root", root_id, b""), ("llm", uuid.uuid4().bytes[:8], root_id)):
        span = spans.spans.add(trace_id=bytes.fromhex(trace_id), span_id=span_id, parent_span_id=parent, name=name,
                               start_time_unix_nano=now, end_time_unix_nano=now + 1_000_000)
        kind = span.attributes.add(key="langfuse.observation.type")
        kind.value.string_value = "generation" if parent else "span"
    return request.SerializeToString()


def one_round(client: httpx.Client, mode: str) -> float:
    trace_id = uuid.uuid4().hex
    if mode == "batch":
        response = client.post("/api/public/ingestion", json=batch_body(trace_id))
        expected_scores = 1
    else:
        response = client.post("/api/public/otel/v1/traces", content=otlp_body(trace_id),
                               headers={"Content-Type": "application/x-protobuf"})
        expected_scores = 0
    acked = time.perf_counter()
    response.raise_for_status()
    deadline = acked + 10
    while time.perf_counter() < deadline:
        got = client.get(f"/api/public/traces/{trace_id}")
        if got.status_code == 200:
            body = got.json()
            if len(body["observations"]) == (1 if mode == "batch" else 2) and len(body["scores"]) == expected_scores:
                return time.perf_counter() - acked
        time.sleep(0.001)
    raise SystemExit(f"trace {trace_id} not readable within 10 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="requests per ingestion path (default 200)")
    parser.add_argument("--server-cmd", default="{python} -m spyglass serve --port {port}",
                        help="how to start the server ({python} and {port} are filled in)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spyglass-fresh-") as workdir:
        server = Server(args.server_cmd, Path(workdir), startup_timeout=60)
        try:
            table = Table(title=f"freshness on an idle server ({args.rounds} rounds each)")
            for column in ("path", "p50 ms", "p99 ms", "max ms"):
                table.add_column(column, justify="right")
            with httpx.Client(base_url=server.base, auth=(PUBLIC_KEY, SECRET_KEY), timeout=10) as client:
                for mode in ("batch", "otlp"):
                    samples = sorted(one_round(client, mode) * 1000 for _ in range(args.rounds))
                    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
                    table.add_row(mode, f"{statistics.median(samples):.1f}", f"{p99:.1f}", f"{samples[-1]:.1f}")
            console.print(table)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
