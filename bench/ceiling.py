#!/usr/bin/env python3
"""The single-core Python ceiling: how many spans/s one core turns from OTLP bytes into rows.

Three stages on the benchmark's own workload (bench/workload.py, 512 spans per request),
no server, no IO, one thread, best of `--repeat`:

* **parse**: `ExportTraceServiceRequest.ParseFromString` (protobuf, upb);
* **parse + flatten + JSON** — the issue's reference figure: every span's attributes
  flattened into a plain row dict (ids, times, name, attributes) and the rows encoded as
  JSON with orjson, the least any Python OTLP → ClickHouse pipeline has to do;
* **Spyglass's worker path**: parse, map to Langfuse patches (`request_to_patches`), build
  records (`new_record`), encode OLAP rows (`encode_row`) and JSON — what the worker spends
  per span in Python before chDB takes over.

    .venv/bin/python bench/ceiling.py [--spans 50000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import orjson  # noqa: E402
from encode import otlp_requests  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from workload import RunIdentity, generate, traces_for  # noqa: E402

from spyglass.domain.merge import new_record  # noqa: E402
from spyglass.ingestion.otel import request_to_patches  # noqa: E402
from spyglass.ingestion.otel_attributes import attributes_to_dict  # noqa: E402
from spyglass.storage.olap.codec import encode_row  # noqa: E402

RECEIVED_US = 1_735_689_600_000_000


def parse(bodies: list[bytes]) -> None:
    for body in bodies:
        ExportTraceServiceRequest.FromString(body)


def flatten_to_json(bodies: list[bytes]) -> None:
    for body in bodies:
        rows = []
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            resource = attributes_to_dict(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    rows.append({
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(), "name": span.name,
                        "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                        "attributes": attributes_to_dict(span.attributes), "resource": resource,
                    })  # fmt: skip
        orjson.dumps(rows)


def worker_path(bodies: list[bytes]) -> None:
    for body in bodies:
        traces, observations = request_to_patches(ExportTraceServiceRequest.FromString(body), "p", RECEIVED_US)
        rows = [encode_row("observation", new_record("observation", p, RECEIVED_US), RECEIVED_US) for p in observations]
        rows += [encode_row("trace", new_record("trace", p, RECEIVED_US), RECEIVED_US) for p in traces]
        orjson.dumps(rows)


STAGES: dict[str, Callable[[list[bytes]], None]] = {
    "parse": parse,
    "parse + flatten + JSON": flatten_to_json,
    "spyglass worker path": worker_path,
}


def measure(spans: int, repeat: int) -> dict[str, float]:
    """Spans per second of one core, per stage."""
    ident = RunIdentity(seed=42, salt="0ce11ed0")
    requests = otlp_requests(generate(traces_for(spans), ident), ident, 512, False, "pk-lf-bench")
    bodies = [r.body for r in requests]
    total = sum(r.spans for r in requests)
    out = {}
    for name, stage in STAGES.items():
        best = float("inf")
        for _ in range(repeat):
            t0 = time.thread_time()  # CPU of this thread: the figure is per core, whatever else runs
            stage(bodies)
            best = min(best, time.thread_time() - t0)
        out[name] = round(total / best)
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--spans", type=int, default=50_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    a = p.parse_args()
    result = measure(a.spans, a.repeat)
    if a.json:
        print(orjson.dumps(result).decode())
        return
    table = Table(title=f"single-core ceiling, {a.spans:,} spans, best of {a.repeat}")
    table.add_column("stage")
    table.add_column("spans/s per core", justify="right")
    table.add_column("µs/span", justify="right")
    for name, rate in result.items():
        table.add_row(name, f"{rate:,}", f"{1e6 / rate:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
