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


class PollingReadback:
    """The read-back loop: poll ``counts()`` until both targets are reached or time runs out.

    Subclasses take ``(base_url, headers, ident)`` and implement ``counts()``, which returns
    (spans, traces) stored so far and raises ``httpx.HTTPError``, ``KeyError`` or
    ``ValueError`` when a poll fails.
    """

    headers: dict[str, str]

    async def counts(self, client: httpx.AsyncClient) -> tuple[int, int]:
        raise NotImplementedError

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


class SpyglassReadback(PollingReadback):
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


def graphql_data(response: httpx.Response) -> dict:
    """The ``data`` of a GraphQL answer; ``ValueError`` if the server reported errors."""
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise ValueError(f"GraphQL: {body['errors'][0].get('message', body['errors'])}")
    return body["data"]


class PhoenixReadback(PollingReadback):
    """Counts the spans and traces Arize Phoenix has stored and serves through its GraphQL API.

    One ``POST /graphql`` per poll: ``recordCount`` (spans) and ``traceCount`` of the project
    the workload lands in, "default" (its spans carry no ``openinference.project.name``),
    both restricted to the run's one-hour start-time window. Both are ``COUNT(*)`` over
    Phoenix's tables, which it fills in the background after acknowledging a request. A
    trace row appears with the trace's first stored span, so the trace count can run ahead
    of the roots; the span count, reached last, ends the wait. On SQLite, Phoenix caches the
    counts until its insert events invalidate them (within 0.1 s).
    """

    PROJECT = "default"
    QUERY = """
    query BenchCounts($name: String!, $timeRange: TimeRange!) {
      project: getProjectByName(name: $name) {
        recordCount(timeRange: $timeRange)
        traceCount(timeRange: $timeRange)
      }
    }"""

    def __init__(self, base_url: str, headers: dict[str, str], ident: RunIdentity) -> None:
        self.url = base_url.rstrip("/") + "/graphql"
        self.headers = headers
        self.variables = {
            "name": self.PROJECT,
            "timeRange": {"start": iso(ident.window_start_ns), "end": iso(ident.window_end_ns)},
        }

    async def counts(self, client: httpx.AsyncClient) -> tuple[int, int]:
        r = await client.post(self.url, json={"query": self.QUERY, "variables": self.variables})
        project = graphql_data(r)["project"]
        if project is None:  # nothing stored yet
            return 0, 0
        return int(project["recordCount"]), int(project["traceCount"])


READBACKS = {"spyglass": SpyglassReadback, "phoenix": PhoenixReadback, "none": None}
