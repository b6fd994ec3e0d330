"""Concurrent senders: push prebuilt requests and record what the server acknowledged."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson
from encode import Request


@dataclass
class SendStats:
    requests_sent: int = 0
    requests_failed: int = 0  # transport error or non-2xx: every span in it counts as lost
    acked_spans: int = 0  # observations the server said it accepted
    acked_traces: int = 0
    failed_spans: int = 0
    event_errors: int = 0  # batch mode: entries of the 207 body's "errors"
    non_207: int = 0  # batch mode: 2xx other than the documented 207
    status_counts: Counter = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    first_request_at: float | None = None  # time.perf_counter()
    last_ack_at: float | None = None
    aborted: bool = False  # --max-send-seconds reached before all requests went out
    # The load generator shares the cores with a local server: its CPU use is part of the story.
    client_cpu_s: float = 0.0

    def sample(self, msg: str) -> None:
        if len(self.error_samples) < 5:
            self.error_samples.append(msg[:300])


def merge_stats(parts: list[SendStats]) -> SendStats:
    """The stats of senders that ran side by side, as one (first request and last ack over all of them)."""
    m = SendStats()
    for s in parts:
        for name in ("requests_sent", "requests_failed", "acked_spans", "acked_traces", "failed_spans"):
            setattr(m, name, getattr(m, name) + getattr(s, name))
        m.status_counts.update(s.status_counts)
        m.error_samples = (m.error_samples + s.error_samples)[:5]
        m.latencies_ms += s.latencies_ms
        m.aborted |= s.aborted
        if s.first_request_at is not None:
            m.first_request_at = min(m.first_request_at or s.first_request_at, s.first_request_at)
        if s.last_ack_at is not None:
            m.last_ack_at = max(m.last_ack_at or s.last_ack_at, s.last_ack_at)
    return m


def auth_header(public_key: str | None, secret_key: str | None) -> dict[str, str]:
    """HTTP Basic auth with a project's key pair (none without one)."""
    if public_key is None or secret_key is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()}


def _account(stats: SendStats, req: Request, resp: httpx.Response, mode: str) -> None:
    stats.status_counts[str(resp.status_code)] += 1
    if not resp.is_success:
        stats.requests_failed += 1
        stats.failed_spans += req.spans
        stats.sample(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return
    if mode != "batch":
        stats.acked_spans += req.spans
        stats.acked_traces += req.traces
        return
    # Langfuse answers 207 with per-event successes/errors even when some events fail.
    if resp.status_code != 207:
        stats.non_207 += 1
    try:
        errors = orjson.loads(resp.content).get("errors") or []
    except (orjson.JSONDecodeError, AttributeError):
        errors = []
        stats.sample(f"HTTP {resp.status_code}: unparsable body {resp.text[:100]!r}")
    failed = {e.get("id") for e in errors if isinstance(e, dict)}
    obs_failed = len(failed & req.observation_event_ids)
    stats.event_errors += len(errors)
    stats.failed_spans += obs_failed
    stats.acked_spans += req.spans - obs_failed
    stats.acked_traces += req.traces - len(failed & req.trace_event_ids)
    if errors:
        stats.sample(f"event error: {errors[0]}")


async def send_all(
    requests: list[Request],
    url: str,
    headers: dict[str, str],
    concurrency: int,
    mode: str,
    max_seconds: float,
    on_ack: Callable[[SendStats], None],
    timeout_s: float = 120.0,
) -> SendStats:
    stats = SendStats()
    queue = iter(requests)  # shared iterator: each sender takes the next request
    start = time.perf_counter()
    cpu0 = time.process_time()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(headers=headers, timeout=timeout_s, limits=limits) as client:

        async def sender() -> None:
            for req in queue:
                if time.perf_counter() - start > max_seconds:
                    stats.aborted = True
                    return
                t0 = time.perf_counter()
                if stats.first_request_at is None:
                    stats.first_request_at = t0
                stats.requests_sent += 1
                try:
                    resp = await client.post(url, content=req.body)
                except httpx.HTTPError as exc:
                    stats.requests_failed += 1
                    stats.failed_spans += req.spans
                    stats.status_counts[type(exc).__name__] += 1
                    stats.sample(f"{type(exc).__name__}: {exc}")
                else:
                    _account(stats, req, resp, mode)
                now = time.perf_counter()
                stats.latencies_ms.append((now - t0) * 1000)
                stats.last_ack_at = now
                on_ack(stats)

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    stats.client_cpu_s = time.process_time() - cpu0
    return stats


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no data."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency_summary(values: list[float]) -> dict:
    """p50 / p90 / p99 / max of request latencies (None for no data)."""
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values, default=None),
    }
