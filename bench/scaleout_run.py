"""One measured run of a scale-out benchmark configuration (bench/scaleout.py): start the fleet, send the
workload through its API processes, wait until the owner serves all of it, measure, tear everything down."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cpu import PgBackends, Snapshot, cpu_breakdown, us_per_span
from encode import Request
from fleet import Node, Topology
from fleet_sampler import Sampler
from ingest import PATHS
from procstats import disk_usage, status_kb
from progress import OnAck, send_then_read_back
from pyspy import Profiler, summarize_speedscope, thread_names
from readback import ReadbackResult, SpyglassReadback
from rich.console import Console
from run import PUBLIC_KEY, SECRET_KEY
from sender import SendStats, auth_header, latency_summary, merge_stats, send_all
from tests.support.stack import POSTGRES_ADMIN_URL
from workload import RunIdentity

console = Console()


async def drive(
    topo: Topology,
    plan: list[tuple[Node, list[Request], int]],
    ident: RunIdentity,
    a: argparse.Namespace,
    sampler: Sampler,
) -> tuple[list[SendStats], ReadbackResult, SendStats]:
    """Send each API process its share side by side, then wait until the owner serves everything acknowledged."""
    read_headers = auth_header(PUBLIC_KEY, SECRET_KEY)
    headers = {"Content-Type": "application/x-protobuf", **read_headers}
    parts: list[SendStats] = []

    def queue_info() -> str:
        s = sampler.latest
        return "" if s is None else f" · queue {s[1]} waiting, {s[2]} in flight, oldest {s[3] or 0:.1f} s"

    async def send(on_ack: OnAck) -> SendStats:
        seen: dict[int, SendStats] = {}

        def on_part_ack(st: SendStats) -> None:
            seen[id(st)] = st
            on_ack(merge_stats(list(seen.values())))

        parts[:] = await asyncio.gather(
            *(
                send_all(reqs, node.base + PATHS["otlp"], headers, senders, "otlp", a.max_send_seconds, on_part_ack)
                for node, reqs, senders in plan
            )
        )
        return merge_stats(parts)

    total = sum(r.spans for _, reqs, _ in plan for r in reqs)
    readback = SpyglassReadback(topo.owner.base, read_headers, ident)
    stats, rb = await send_then_read_back(
        console, total, send, readback, a.readback_timeout, a.poll_interval, queue_info
    )
    return parts, rb, stats


def wait_quiet(max_load: float, max_wait: float) -> list[float]:
    """Wait until the 1-minute load average is below `max_load` (0: don't); returns the load averages."""
    if max_load > 0 and os.getloadavg()[0] >= max_load:
        deadline = time.monotonic() + max_wait
        with console.status("") as status:
            while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
                status.update(
                    f"waiting for a quiet machine: load {os.getloadavg()[0]:.2f} ≥ {max_load} "
                    f"({deadline - time.monotonic():.0f} s left)"
                )
                time.sleep(5)
        if os.getloadavg()[0] >= max_load:
            console.print(f"[yellow]load still {os.getloadavg()[0]:.2f} after {max_wait:.0f} s: measuring anyway[/]")
    return [round(x, 2) for x in os.getloadavg()]


def run_config(
    config: str, requests: list[Request], ident: RunIdentity, a: argparse.Namespace, profile_dir: Path | None = None
) -> dict:
    """Start the configuration, send the workload, wait until it is readable, measure, tear down."""
    loadavg = wait_quiet(a.max_load, a.max_load_wait)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    workdir = Path(tempfile.mkdtemp(prefix=f"spyglass-scaleout-{config}-"))
    topo = Topology(config, workdir, a.api_processes)
    pg: PgBackends | None = None
    try:
        topo.start(a.startup_timeout)
        owner = topo.owner
        if topo.stack is not None:
            pg = PgBackends(POSTGRES_ADMIN_URL, topo.stack.name)
        redis_pids = topo.redis_pids()
        rss_pids = topo.pids()
        plan = topo.send_plan(requests, a.senders)
        names = thread_names(owner.pid)
        sampler = Sampler(owner, rss_pids, pg, a.sample_interval)
        children0 = os.times().children_user + os.times().children_system
        profilers = []
        if profile_dir is not None:
            targets = [topo.owner, *topo.nodes[1:2]]
            profilers = [
                Profiler(n.name, n.pid, profile_dir / f"{config}-{n.name}.speedscope.json", a.profile_rate)
                for n in targets
            ]
            time.sleep(0.5)  # let py-spy attach before the clock starts
        if pg is not None:
            pg.begin()
        s0 = Snapshot.take(rss_pids, redis_pids)
        sampler.start()
        try:
            parts, rb, stats = asyncio.run(drive(topo, plan, ident, a, sampler))
            if pg is not None:
                pg.poll()
            s1 = Snapshot.take(rss_pids, redis_pids)
        finally:
            sampler.stop()
            for p in profilers:
                p.stop()
        pyspy_s = (os.times().children_user + os.times().children_system - children0) if profilers else 0.0
        names.update(thread_names(owner.pid))
        hwm = {n.name: (status_kb(n.pid, "VmHWM") or 0) / 1024 for n in topo.nodes}
        disk = disk_usage(owner.data_dir)
        cpu = cpu_breakdown(s0, s1, sampler.owner_tasks, names, pg, pyspy_s)
    finally:
        if pg is not None:
            pg.close()
        leftovers = topo.close()
        if a.keep_workdir:
            console.print(f"[dim]kept {workdir}[/]")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    first, last = stats.first_request_at, stats.last_ack_at
    send_wall = (last - first) if first and last else None
    q_total = (rb.queryable_at - first) if rb.queryable_at and first else None
    result = {
        "config": config,
        "started_at": started_at,
        "loadavg_at_start": loadavg,
        "processes": {n.name: n.info() for n in topo.nodes},
        "stack": topo.stack_info(),
        "cleanup": leftovers,
        "send": {
            "senders": a.senders,
            "requests_sent": stats.requests_sent,
            "requests_failed": stats.requests_failed,
            "acked_spans": stats.acked_spans,
            "acked_traces": stats.acked_traces,
            "failed_spans": stats.failed_spans,
            "status_counts": dict(stats.status_counts),
            "error_samples": stats.error_samples,
            "aborted": stats.aborted,
            "wall_s": round(send_wall, 3) if send_wall else None,
            "accepted_spans_per_s": stats.acked_spans / send_wall if send_wall else None,
            "latency_ms": latency_summary(stats.latencies_ms),
            "per_process": [
                {
                    "node": node.name,
                    "senders": senders,
                    "requests": len(reqs),
                    "acked_spans": part.acked_spans,
                    "latency_ms": latency_summary(part.latencies_ms),
                }
                for (node, reqs, senders), part in zip(plan, parts, strict=True)
            ],
        },
        "queryable": {
            "status": rb.status,
            "seen_spans": rb.seen_spans,
            "seen_traces": rb.seen_traces,
            "after_last_ack_s": (rb.queryable_at - last) if rb.queryable_at and last else None,
            "from_first_request_s": q_total,
            "queryable_spans_per_s": stats.acked_spans / q_total if q_total else None,
            "error": rb.error,
            "timeline": rb.timeline,
        },
        "queue": sampler.summary(s0.at, s1.at),
        "cpu": cpu,
        "cpu_us_per_span": us_per_span(cpu, stats.acked_spans),
        "rss_mb": {
            name: {
                "peak": round(sampler.peak_rss_mb.get(name, 0.0), 1),
                "vmhwm": round(hwm[name], 1) if hwm.get(name) else None,
            }
            for name in rss_pids
        },
        "owner_disk": {
            "allocated_bytes": disk["allocated_bytes"],
            "bytes_per_span": disk["allocated_bytes"] / stats.acked_spans if stats.acked_spans else None,
        },
    }
    return result


def profiled_run(config: str, requests: list[Request], ident: RunIdentity, a: argparse.Namespace) -> dict:
    """One more run with `py-spy record` on the owner and api-1: where their Python threads spend their time."""
    profile_dir = Path(tempfile.mkdtemp(prefix="spyglass-scaleout-profiles-"))
    try:
        prof = run_config(config, requests, ident, a, profile_dir)
        nodes = {}
        for path in sorted(profile_dir.glob(f"{config}-*.speedscope.json")):
            with contextlib.suppress(OSError, ValueError, KeyError):
                nodes[path.name.split(".")[0].removeprefix(f"{config}-")] = summarize_speedscope(path)
    finally:
        shutil.rmtree(profile_dir, ignore_errors=True)
    return {
        "accepted_spans_per_s": prof["send"]["accepted_spans_per_s"],
        "queryable_spans_per_s": prof["queryable"]["queryable_spans_per_s"],
        "cpu_us_per_span": prof["cpu_us_per_span"],
        "nodes": nodes,
    }


def median_run(runs: list[dict]) -> dict:
    """The run with the median queryable spans/s (the lower middle one of an even count), with every run's figures."""
    ranked = sorted(runs, key=lambda r: r["queryable"]["queryable_spans_per_s"] or 0.0)
    pick = dict(ranked[(len(ranked) - 1) // 2])
    pick["repeats"] = [
        {
            "started_at": r["started_at"],
            "loadavg_at_start": r["loadavg_at_start"],
            "accepted_spans_per_s": r["send"]["accepted_spans_per_s"],
            "queryable_spans_per_s": r["queryable"]["queryable_spans_per_s"],
            "latency_p99_ms": r["send"]["latency_ms"]["p99"],
            "max_backlog": r["queue"]["max_backlog"],
            "oldest_age_max_s": r["queue"]["oldest_age_s"]["max"],
            "machine_busy_cores": r["cpu"]["machine_busy_cores"],
            "owner_cpu_us_per_span": r["cpu_us_per_span"].get("owner"),
        }
        for r in runs
    ]
    return pick


def ok(result: dict, spans: int) -> bool:
    s = result["send"]
    return (
        s["failed_spans"] == 0
        and not s["aborted"]
        and s["acked_spans"] == spans
        and result["queryable"]["status"] == "ok"
    )
