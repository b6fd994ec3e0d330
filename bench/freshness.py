#!/usr/bin/env python3
"""Freshness: time from an acknowledged request until its trace is readable, idle or under load.

    .venv/bin/python bench/freshness.py                 # starts a fresh server, 200 rounds per path
    .venv/bin/python bench/freshness.py --rounds 50
    .venv/bin/python bench/freshness.py --load-rate 5000 --duration 30   # under a background load

Each round sends one small trace (root span + generation, plus a score for the batch path)
and then polls `GET /api/public/traces/{id}` every millisecond until the trace answers with
all of its observations (and score). Rounds are sequential, so the server is otherwise idle.

With --load-rate N, a separate process sends N spans/s of bench/scale.py's patched OTLP
bodies (paced, open loop, at most 4 requests in flight) while OTLP probes start every
--interval seconds, one at a time, for --duration seconds; polls are 10 ms apart so the
probing adds little load of its own. Reported: probe p50/p99/max, timeouts and the
background rate actually achieved while probing. The readable check is any function
(client, trace_id) -> observations count, so other products' readers plug in.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
import scale  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from run import PUBLIC_KEY, SECRET_KEY, Server  # noqa: E402
from scale import OTLP_PATH  # noqa: E402

console = Console()


def batch_body(trace_id: str) -> dict:
    now = datetime.now(tz=UTC).isoformat()
    return {
        "batch": [
            {
                "id": uuid.uuid4().hex,
                "type": "trace-create",
                "timestamp": now,
                "body": {"id": trace_id, "name": "fresh"},
            },
            {
                "id": uuid.uuid4().hex,
                "type": "generation-create",
                "timestamp": now,
                "body": {"id": uuid.uuid4().hex[:16], "traceId": trace_id, "model": "gpt-4o", "input": "hi"},
            },
            {
                "id": uuid.uuid4().hex,
                "type": "score-create",
                "timestamp": now,
                "body": {"id": uuid.uuid4().hex, "traceId": trace_id, "name": "ok", "value": 1},
            },
        ]
    }


def otlp_body(trace_id: str) -> bytes:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add()
    spans.scope.name = "langfuse-sdk"
    now = time.time_ns()
    root_id = uuid.uuid4().bytes[:8]
    for name, span_id, parent in (("root", root_id, b""), ("llm", uuid.uuid4().bytes[:8], root_id)):
        span = spans.spans.add(
            trace_id=bytes.fromhex(trace_id),
            span_id=span_id,
            parent_span_id=parent,
            name=name,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1_000_000,
        )
        kind = span.attributes.add(key="langfuse.observation.type")
        kind.value.string_value = "generation" if parent else "span"
    return request.SerializeToString()


def spyglass_trace(client: httpx.Client, trace_id: str) -> dict | None:
    """The trace as `GET /api/public/traces/{id}` returns it; None while it is unknown (404)."""
    got = client.get(f"/api/public/traces/{trace_id}")
    if got.status_code == 404:
        return None
    got.raise_for_status()
    return got.json()


def spyglass_observations(client: httpx.Client, trace_id: str) -> int:
    """Observations readable for the trace (0 while unknown). Any reader with this signature plugs in."""
    trace = spyglass_trace(client, trace_id)
    return len(trace["observations"]) if trace else 0


ObservationCount = Callable[[httpx.Client, str], int]


def send_probe(client: httpx.Client, mode: str, trace_id: str, otlp_path: str = OTLP_PATH) -> float:
    """Send one small trace; returns when it was acknowledged (perf_counter)."""
    if mode == "batch":
        response = client.post("/api/public/ingestion", json=batch_body(trace_id))
    else:
        response = client.post(
            otlp_path,
            content=otlp_body(trace_id),
            headers={"Content-Type": "application/x-protobuf"},
        )
    acked = time.perf_counter()
    response.raise_for_status()
    return acked


def one_round(
    client: httpx.Client,
    mode: str,
    observations: ObservationCount = spyglass_observations,
    poll_s: float = 0.001,
    timeout_s: float = 10.0,
    otlp_path: str = OTLP_PATH,
) -> float | None:
    """Seconds from the ack until the trace is readable with everything it was sent with; None on timeout."""
    trace_id = uuid.uuid4().hex
    acked = send_probe(client, mode, trace_id, otlp_path)
    deadline = acked + timeout_s
    while time.perf_counter() < deadline:
        if mode == "batch":  # one observation and its score (the score check is Langfuse-API specific)
            body = spyglass_trace(client, trace_id)
            if body and len(body["observations"]) == 1 and len(body["scores"]) == 1:
                return time.perf_counter() - acked
        elif observations(client, trace_id) >= 2:
            return time.perf_counter() - acked
        time.sleep(poll_s)
    return None


def summary(samples_s: list[float]) -> dict:
    ms = sorted(x * 1000 for x in samples_s)
    if not ms:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(ms),
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max_ms": ms[-1],
    }


def idle(client: httpx.Client, rounds: int, poll_s: float = 0.001) -> None:
    table = Table(title=f"freshness on an idle server ({rounds} rounds each)")
    for column in ("path", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for mode in ("batch", "otlp"):
        samples = [one_round(client, mode, poll_s=poll_s) for _ in range(rounds)]
        if None in samples:
            raise SystemExit(f"{mode}: a trace was not readable within 10 s")
        s = summary(samples)  # type: ignore[arg-type]
        table.add_row(mode, f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}", f"{s['max_ms']:.1f}")
    console.print(table)


def loaded(
    client: httpx.Client,
    base_url: str,
    public_key: str | None,
    secret_key: str | None,
    args: argparse.Namespace,
    observations: ObservationCount = spyglass_observations,
    otlp_path: str = OTLP_PATH,
) -> dict:
    """OTLP probes every ``args.interval`` s, sequential, while a separate process sends
    ``args.load_rate`` spans/s of scale.py's patched bodies (stamped "now") to ``otlp_path``.

    Any OTLP/HTTP server works: pass its path, no keys if it needs none, and an
    ``observations`` function reading a trace through its own API. A probe the server
    refuses (non-2xx) counts as refused, not as a sample.
    """
    ctx = mp.get_context("spawn")  # a process of its own: the load must not share our GIL and timing
    stop, ready, out = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(
        target=scale.background_load,
        name="freshness-load",
        daemon=True,
        args=(base_url, public_key, secret_key, args.load_rate, stop, ready, out),
        kwargs={"otlp_path": otlp_path},
    )
    proc.start()
    try:
        with console.status(f"building the background load ({args.load_rate:,.0f} spans/s) …"):
            if not ready.wait(180) or not proc.is_alive():
                raise SystemExit("background load did not start")
            time.sleep(args.settle)  # let the load reach its pace before probing
        samples: list[float] = []
        timeouts = refused = 0
        poll_s = (args.poll_ms if args.poll_ms is not None else 10) / 1000
        t_start, next_at = time.time(), time.perf_counter()
        with console.status("probing …") as status:
            while time.time() - t_start < args.duration:
                try:
                    got = one_round(client, "otlp", observations, poll_s, args.probe_timeout, otlp_path)
                except httpx.HTTPError:
                    refused += 1
                    got = None
                else:
                    if got is None:
                        timeouts += 1
                    else:
                        samples.append(got)
                status.update(f"probing … {len(samples)} probes, last {1000 * (got or 0):.0f} ms")
                next_at += args.interval
                now = time.perf_counter()
                if next_at > now:
                    time.sleep(next_at - now)
                else:
                    next_at = now  # a slow probe: start the next one right away, don't burst
        t_end = time.time()
    finally:
        stop.set()
    try:
        bg = out.get(timeout=180)
    except queue.Empty:
        bg = {"target_rate": args.load_rate, "acks": []}
    proc.join(30)
    if proc.is_alive():
        proc.terminate()

    acks = bg["acks"]
    in_window = sum(n for _s, a, n, ok in acks if ok and t_start <= a <= t_end)
    failed = sum(1 for *_x, ok in acks if not ok)
    lat = sorted((a - s) * 1000 for s, a, _n, ok in acks if ok)
    result = {
        "mode": "loaded",
        "path": "otlp",
        "duration_s": round(t_end - t_start, 2),
        "probe_interval_s": args.interval,
        "poll_ms": poll_s * 1000,
        "probes": summary(samples) | {"timeouts": timeouts, "refused": refused, "timeout_s": args.probe_timeout},
        "background": {
            "target_spans_per_s": bg["target_rate"],
            "achieved_spans_per_s": in_window / (t_end - t_start) if t_end > t_start else None,
            "requests": len(acks),
            "failed_requests": failed,
            "acked_spans": sum(n for *_x, n, ok in acks if ok),
            "request_p50_ms": statistics.median(lat) if lat else None,
            "request_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
        },
    }
    p, b = result["probes"], result["background"]
    table = Table(
        title=f"freshness under load ({result['duration_s']:.0f} s, a probe every "
        f"{args.interval * 1000:.0f} ms, polled every {poll_s * 1000:.0f} ms)"
    )
    for column in (
        "path",
        "background spans/s (target / achieved)",
        "probes",
        "p50 ms",
        "p99 ms",
        "max ms",
        "timeouts",
    ):
        table.add_column(column, justify="right")

    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:,.1f}"

    table.add_row(
        "otlp",
        f"{b['target_spans_per_s']:,.0f} / {b['achieved_spans_per_s'] or 0:,.0f}",
        str(p["n"]),
        f(p["p50_ms"]),
        f(p["p99_ms"]),
        f(p["max_ms"]),
        str(timeouts),
    )
    console.print(table)
    console.print(
        f"[dim]background: {b['requests']} requests ({b['failed_requests']} failed), "
        f"request latency p50 {f(b['request_p50_ms'])} ms, p99 {f(b['request_p99_ms'])} ms[/]"
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="idle mode: requests per ingestion path (default 200)")
    parser.add_argument(
        "--server-cmd",
        default="{python} -m spyglass serve --port {port}",
        help="how to start the server ({python} and {port} are filled in)",
    )
    parser.add_argument("--base-url", default=None, help="use this running server instead of starting one")
    parser.add_argument("--public-key", default=PUBLIC_KEY)
    parser.add_argument("--secret-key", default=SECRET_KEY)
    g = parser.add_argument_group("loaded mode")
    g.add_argument(
        "--load-rate",
        type=float,
        default=None,
        help="background OTLP load in spans/s (scale.py's bodies); probes run during it",
    )
    g.add_argument("--duration", type=float, default=30, help="seconds of probing under load (default 30)")
    g.add_argument("--interval", type=float, default=0.1, help="seconds between probe starts (default 0.1)")
    g.add_argument(
        "--poll-ms",
        type=float,
        default=None,
        help="pause between read polls (default: 1 idle, 10 under load, not to add a load of its own)",
    )
    g.add_argument("--probe-timeout", type=float, default=30, help="give up on a probe after this (default 30 s)")
    g.add_argument("--settle", type=float, default=2, help="seconds of load before the first probe (default 2)")
    g.add_argument("--json", type=Path, default=None, help="loaded mode: also write the result here")
    args = parser.parse_args()
    if args.load_rate is not None and args.load_rate <= 0:
        parser.error("--load-rate must be positive")

    def measure(base_url: str, public_key: str, secret_key: str) -> None:
        with httpx.Client(base_url=base_url, auth=(public_key, secret_key), timeout=30) as client:
            if args.load_rate is None:
                idle(client, args.rounds, (args.poll_ms if args.poll_ms is not None else 1) / 1000)
            else:
                result = loaded(client, base_url, public_key, secret_key, args)
                if args.json:
                    args.json.write_text(json.dumps(result, indent=2) + "\n")

    if args.base_url:
        measure(args.base_url, args.public_key, args.secret_key)
        return 0
    with tempfile.TemporaryDirectory(prefix="spyglass-fresh-") as workdir:
        server = Server(args.server_cmd, Path(workdir), startup_timeout=60)
        try:
            measure(server.base, PUBLIC_KEY, SECRET_KEY)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
