#!/usr/bin/env python3
"""Ingestion benchmark: how fast does a server accept, and then *store*, LLM traces?

    .venv/bin/python bench/ingest.py --mode otlp --spans 50000
    .venv/bin/python bench/ingest.py --mode batch --spans 50000
    .venv/bin/python bench/ingest.py --endpoint http://127.0.0.1:6006/v1/traces --no-auth \
        --readback none --label phoenix

See bench/README.md. Exit status: 0 if everything sent was acknowledged (and, with
read-back, became queryable); 1 otherwise; 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))  # sibling modules, whichever cwd we run from

import httpx  # noqa: E402
import report  # noqa: E402
from encode import Request, batch_requests, otlp_requests  # noqa: E402
from procstats import RssSampler, disk_usage, machine_info  # noqa: E402
from progress import send_then_read_back  # noqa: E402
from readback import READBACKS, ReadbackResult  # noqa: E402
from rich.console import Console  # noqa: E402
from sender import SendStats, auth_header, latency_summary, send_all  # noqa: E402
from workload import SPANS_PER_TRACE, RunIdentity, generate, iso, traces_for  # noqa: E402

DEFAULT_BASE = "http://127.0.0.1:3000"
PATHS = {"otlp": "/api/public/otel/v1/traces", "batch": "/api/public/ingestion"}
MAX_SPANS = 1_000_000  # bodies are prebuilt in memory (~3 KB/span)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/ingest.py",
        description="Send a seeded LLM-trace workload to an ingestion endpoint and measure throughput, "
        "latency and time until everything is queryable.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("workload")
    g.add_argument(
        "--mode",
        choices=("otlp", "batch"),
        default="otlp",
        help="otlp: OTLP/HTTP protobuf; batch: Langfuse /api/public/ingestion JSON",
    )
    g.add_argument(
        "--spans",
        type=int,
        default=50_000,
        help=f"observations to send (rounded up to whole traces of {SPANS_PER_TRACE})",
    )
    g.add_argument("--seed", type=int, default=42, help="decides content (texts, models, sizes)")
    g.add_argument(
        "--salt",
        default=None,
        help="hex; decides ids and time window (default: random, so runs never collide)",
    )

    g = p.add_argument_group("sending")
    g.add_argument("--base-url", default=None, help=f"server origin (default {DEFAULT_BASE}, or --endpoint's)")
    g.add_argument(
        "--endpoint",
        default=None,
        help="full ingestion URL (default: base URL + " + " / ".join(f"{m}: {u}" for m, u in PATHS.items()) + ")",
    )
    g.add_argument("--batch-spans", type=int, default=512, help="spans per OTLP request")
    g.add_argument("--batch-events", type=int, default=100, help="events per batch-ingestion request")
    g.add_argument("--concurrency", type=int, default=4, help="concurrent senders")
    g.add_argument("--gzip", action="store_true", help="gzip OTLP bodies (Content-Encoding: gzip)")
    g.add_argument("--public-key", default="pk-lf-bench")
    g.add_argument("--secret-key", default="sk-lf-bench")
    g.add_argument("--no-auth", action="store_true", help="send no Authorization header")
    g.add_argument("--header", action="append", default=[], metavar="K=V", help="extra header (repeatable)")
    g.add_argument("--max-send-seconds", type=float, default=600, help="stop sending new requests after this")

    g = p.add_argument_group("measuring")
    g.add_argument(
        "--readback",
        choices=tuple(READBACKS),
        default="spyglass",
        help="how to count stored rows; 'none' for endpoints without the Langfuse read API",
    )
    g.add_argument("--readback-timeout", type=float, default=300, help="seconds after the last ack")
    g.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        help="longest pause between read-back polls (polls start at 50 ms and back off)",
    )
    g.add_argument("--server-pid", type=int, default=None, help="sample this process tree's RSS")
    g.add_argument("--data-dir", default=None, help="measure this directory's growth per span")

    g = p.add_argument_group("output")
    g.add_argument("--label", default=None, help="target name in reports (default: spyglass or the endpoint host)")
    g.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    g.add_argument("--no-save", action="store_true", help="do not write a JSON result")
    g.add_argument("--update-readme", action="store_true", help="rewrite the results table in bench/README.md")

    a = p.parse_args(argv)
    if not 1 <= a.spans <= MAX_SPANS:
        p.error(f"--spans must be 1..{MAX_SPANS:,}")
    if not 1 <= a.concurrency <= 64:
        p.error("--concurrency must be 1..64")
    if a.batch_spans < 1 or a.batch_events < 1:
        p.error("batch sizes must be positive")
    if a.gzip and a.mode != "otlp":
        p.error("--gzip applies to --mode otlp only (batch ingestion is plain JSON)")
    if a.salt is None:
        a.salt = secrets.token_hex(4)
    try:
        int(a.salt, 16)
    except ValueError:
        p.error("--salt must be hex")
    if a.endpoint:
        parts = urlsplit(a.endpoint)
        a.base_url = a.base_url or f"{parts.scheme}://{parts.netloc}"
    else:
        a.base_url = a.base_url or DEFAULT_BASE
        a.endpoint = a.base_url.rstrip("/") + PATHS[a.mode]
    if a.label is None:
        a.label = "spyglass" if a.readback == "spyglass" else urlsplit(a.endpoint).netloc
    return a


def build_headers(a: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """(ingest headers, read headers)."""
    common = {} if a.no_auth else auth_header(a.public_key, a.secret_key)
    for kv in a.header:
        k, sep, v = kv.partition("=")
        if not sep:
            raise SystemExit(f"--header {kv!r}: expected K=V")
        common[k.strip()] = v.strip()
    ingest = {"Content-Type": "application/x-protobuf" if a.mode == "otlp" else "application/json"}
    if a.gzip:
        ingest["Content-Encoding"] = "gzip"
    return {**ingest, **common}, common


def preflight(endpoint: str) -> None:
    """Fail fast (before building ~100 MB of requests) if nothing listens at the endpoint."""
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=5).close()
    except OSError as exc:
        raise SystemExit(f"cannot connect to {parts.hostname}:{port} ({exc}); is the server running?") from None


def server_version(base_url: str) -> str | None:
    try:
        r = httpx.get(f"{base_url.rstrip('/')}/api/public/health", timeout=5)
        return r.json().get("version") if r.is_success else None
    except (httpx.HTTPError, ValueError):
        return None


async def measure(
    a: argparse.Namespace, ident: RunIdentity, requests: list[Request], console: Console
) -> tuple[SendStats, ReadbackResult]:
    ingest_headers, read_headers = build_headers(a)
    rb_cls = READBACKS[a.readback]
    return await send_then_read_back(
        console,
        sum(r.spans for r in requests),
        lambda on_ack: send_all(
            requests, a.endpoint, ingest_headers, a.concurrency, a.mode, a.max_send_seconds, on_ack
        ),
        None if rb_cls is None else rb_cls(a.base_url, read_headers, ident),
        a.readback_timeout,
        a.poll_interval,
    )


def assemble(
    a: argparse.Namespace,
    ident: RunIdentity,
    started_at: str,
    requests: list[Request],
    n_traces: int,
    prebuild_s: float,
    stats: SendStats,
    rb: ReadbackResult,
    server: dict | None,
    disk: dict | None,
) -> dict:
    n_spans = sum(r.spans for r in requests)
    wire = sum(len(r.body) for r in requests)
    wall = (stats.last_ack_at - stats.first_request_at) if stats.last_ack_at and stats.first_request_at else None
    q_after = q_total = None
    if rb.queryable_at is not None:
        q_after = rb.queryable_at - stats.last_ack_at
        q_total = rb.queryable_at - stats.first_request_at
    lat = stats.latencies_ms
    return {
        "schema": 1,
        "label": a.label,
        "mode": a.mode,
        "started_at": started_at,
        "target": {
            "endpoint": a.endpoint,
            "base_url": a.base_url,
            "readback": a.readback,
            "server_version": server_version(a.base_url) if a.readback == "spyglass" else None,
        },
        "config": {
            "spans_requested": a.spans,
            "seed": a.seed,
            "salt": ident.salt,
            "batch": a.batch_spans if a.mode == "otlp" else a.batch_events,
            "concurrency": a.concurrency,
            "gzip": a.gzip,
            "max_send_seconds": a.max_send_seconds,
            "readback_timeout_s": a.readback_timeout,
            "poll_interval_s": a.poll_interval,
        },
        "workload": {
            "traces": n_traces,
            "spans": n_spans,
            "requests": len(requests),
            "events": n_spans + n_traces if a.mode == "batch" else None,
            "raw_bytes": sum(r.raw_bytes for r in requests),
            "wire_bytes": wire,
            "wire_bytes_per_span": wire / n_spans,
            "prebuild_s": round(prebuild_s, 3),
            "run_tag": ident.run_tag,
            "window": [iso(ident.window_start_ns), iso(ident.window_end_ns)],
        },
        "send": {
            "requests_sent": stats.requests_sent,
            "requests_failed": stats.requests_failed,
            "acked_spans": stats.acked_spans,
            "acked_traces": stats.acked_traces,
            "failed_spans": stats.failed_spans,
            "event_errors": stats.event_errors,
            "non_207": stats.non_207,
            "status_counts": dict(stats.status_counts),
            "error_samples": stats.error_samples,
            "aborted": stats.aborted,
            "wall_s": round(wall, 3) if wall else None,
            "client_cpu_s": round(stats.client_cpu_s, 3),
            "accepted_spans_per_s": stats.acked_spans / wall if wall else None,
            "latency_ms": latency_summary(lat) | {"mean": sum(lat) / len(lat) if lat else None},
        },
        "queryable": {
            "status": rb.status,
            "seen_spans": rb.seen_spans,
            "seen_traces": rb.seen_traces,
            "after_last_ack_s": q_after,
            "from_first_request_s": q_total,
            "queryable_spans_per_s": stats.acked_spans / q_total if q_total else None,
            "polls": rb.polls,
            "error": rb.error,
            "timeline": rb.timeline,
        },
        "server": server,
        "disk": disk,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> tuple[int, dict]:
    a = parse_args(argv)
    preflight(a.endpoint)
    console = Console()
    ident = RunIdentity(seed=a.seed, salt=a.salt.lower())
    n_traces = traces_for(a.spans)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    with console.status(f"building {n_traces:,} traces ({a.mode}) …"):
        t0 = time.perf_counter()
        traces = generate(n_traces, ident)
        if a.mode == "otlp":
            requests = otlp_requests(traces, ident, a.batch_spans, a.gzip, a.public_key)
        else:
            requests = batch_requests(traces, ident, a.batch_events)
        prebuild_s = time.perf_counter() - t0
    wire_mb = sum(len(r.body) for r in requests) / 2**20
    console.print(
        f"[dim]{a.label}: {sum(r.spans for r in requests):,} spans in {len(requests):,} requests "
        f"({wire_mb:,.1f} MiB on the wire, built in {prebuild_s:.1f} s) → {a.endpoint}  "
        f"run tag {ident.run_tag}, window {iso(ident.window_start_ns)[:13]}h[/]"
    )

    disk_before = disk_usage(a.data_dir) if a.data_dir else None
    if a.server_pid:
        with RssSampler(a.server_pid) as sampler:
            stats, rb = asyncio.run(measure(a, ident, requests, console))
        server = sampler.result()
    else:
        stats, rb = asyncio.run(measure(a, ident, requests, console))
        server = None
    disk = None
    if disk_before is not None:
        after = disk_usage(a.data_dir)
        growth = after["allocated_bytes"] - disk_before["allocated_bytes"]
        disk = {
            "data_dir": str(a.data_dir),
            "before": disk_before,
            "after": after,
            "growth_bytes": growth,
            "bytes_per_span": growth / stats.acked_spans if stats.acked_spans else None,
        }

    result = assemble(a, ident, started_at, requests, n_traces, prebuild_s, stats, rb, server, disk)
    report.render(result, console)
    if not a.no_save:
        path = report.write_json(result, a.results_dir)
        console.print(f"[dim]result: {path}[/]")
    if a.update_readme:
        report.update_readme(results_dir=a.results_dir)
        console.print(f"[dim]updated {report.README}[/]")

    ok = (
        stats.failed_spans == 0
        and not stats.aborted
        and stats.acked_spans == result["workload"]["spans"]
        and rb.status in ("ok", "skipped")
    )
    return (0 if ok else 1), result


if __name__ == "__main__":
    sys.exit(main()[0])
