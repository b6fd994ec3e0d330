"""Read-back: how long until everything acknowledged can actually be queried.

Acknowledging is not storing (Phoenix acks ~50x faster than it stores), so the headline
number is "queryable spans/s", not "accepted spans/s". Pluggable so that any OTLP/HTTP
endpoint can be benchmarked with ``--readback none``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from workload import RunIdentity, iso


@dataclass
class ReadbackResult:
    status: str  # ok | timeout | error | skipped
    seen_spans: int = 0
    seen_traces: int = 0
    queryable_at: float | None = None  # time.perf_counter() when both counts were reached
    polls: int = 0
    error: str | None = None
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (s after last ack, spans, traces)


class SpyglassReadback:
    """Counts this run's rows through the Langfuse public read API.

    Observations: ``GET /api/public/observations`` restricted to the run's private one-hour
    start-time window (observations v1 cannot filter by tag). Traces: ``GET
    /api/public/traces`` by the run's unique tag. Both read ``meta.totalItems`` of a
    ``limit=1`` page, so each poll is one cheap count per table.
    """

    def __init__(self, base_url: str, headers: dict[str, str], ident: RunIdentity) -> None:
        self.base = base_url.rstrip("/")
        self.headers = headers
        self.ident = ident

    async def counts(self, client: httpx.AsyncClient) -> tuple[int, int]:
        window = {
            "fromStartTime": iso(self.ident.window_start_ns),
            "toStartTime": iso(self.ident.window_end_ns),
        }
        obs = await client.get(f"{self.base}/api/public/observations", params={"limit": 1, **window})
        obs.raise_for_status()
        traces = await client.get(
            f"{self.base}/api/public/traces",
            params={
                "limit": 1,
                "fields": "core",  # only the count matters: skip IO and observation rollups
                "tags": self.ident.run_tag,
                "fromTimestamp": window["fromStartTime"],
                "toTimestamp": window["toStartTime"],
            },
        )
        traces.raise_for_status()
        return int(obs.json()["meta"]["totalItems"]), int(traces.json()["meta"]["totalItems"])

    async def wait(
        self,
        want_spans: int,
        want_traces: int,
        last_ack_at: float,
        timeout_s: float,
        interval_s: float,
        on_poll: Callable[[int, int], None],
    ) -> ReadbackResult:
        res = ReadbackResult(status="timeout")
        consecutive_errors = 0
        async with httpx.AsyncClient(headers=self.headers, timeout=30.0) as client:
            while True:
                res.polls += 1
                try:
                    spans, traces = await self.counts(client)
                    consecutive_errors = 0
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    # A server busy ingesting may time out a read; a missing endpoint won't heal.
                    consecutive_errors += 1
                    res.error = f"{type(exc).__name__}: {exc}"[:300]
                    if consecutive_errors >= 5:
                        res.status = "error"
                        return res
                else:
                    now = time.perf_counter()
                    res.seen_spans, res.seen_traces = spans, traces
                    if len(res.timeline) < 500:
                        res.timeline.append((round(now - last_ack_at, 3), spans, traces))
                    on_poll(spans, traces)
                    if spans >= want_spans and traces >= want_traces:
                        res.status, res.queryable_at, res.error = "ok", now, None
                        return res
                waited = time.perf_counter() - last_ack_at
                if waited > timeout_s:
                    return res
                # Poll fast at first, then back off: ~10% resolution on the measured delay
                # without hammering a server that needs minutes.
                await asyncio.sleep(min(interval_s, max(0.05, 0.1 * waited)))


READBACKS = {"spyglass": SpyglassReadback, "none": None}
