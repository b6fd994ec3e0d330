"""Read latencies through a product's own read API: the queries a user (or an SDK) runs.

A ``Reader`` does the HTTP request(s) for one kind of question and returns how many items
it got, so the caller can tell a fast answer from an empty one. ``measure_reads`` runs
every query in sequential rounds (one request in flight at a time), drops the warm-up
rounds and reports p50/p95/mean latency and item counts per query.

    with httpx.Client(base_url="http://127.0.0.1:3000", timeout=60) as client:
        reads = measure_reads(SpyglassReader("pk-lf-bench", "sk-lf-bench"), client,
                              ReadParams(user_id="user-0042", tag="topic-billing", trace_ids=[...]))

The client carries the base URL; a reader adds its own authentication.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from sender import percentile

QUERIES = (
    "latest_50_traces_24h",
    "traces_by_user_24h",
    "traces_by_tag_24h",
    "trace_100_observations",
    "cost_by_model_day_30d",
    "metrics_cost_by_model_day_30d",
    "metrics_p95_latency_by_trace_name_30d",
)


class EndpointMissing(Exception):
    """The product has no such endpoint (yet): reported as status "missing", not as a crash."""


class Reader(Protocol):
    name: str

    def latest_traces(self, client: httpx.Client, start: datetime, end: datetime, limit: int = 50) -> int: ...

    def traces_by_user(
        self, client: httpx.Client, user_id: str, start: datetime, end: datetime, limit: int = 50
    ) -> int: ...

    def traces_by_tag(self, client: httpx.Client, tag: str, start: datetime, end: datetime, limit: int = 50) -> int: ...

    def trace(self, client: httpx.Client, trace_id: str) -> int:
        """Number of observations returned for the trace."""
        ...

    def cost_by_model_day(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        """Rows of tokens + cost per model per day."""
        ...

    def metrics_cost_by_model_day(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        """Rows of a metrics query: total cost summed per model per day (raise EndpointMissing without one)."""
        ...

    def metrics_p95_latency_by_trace_name(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        """Rows of a metrics query: p95 observation latency per trace name, no time dimension."""
        ...


def iso_ms(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SpyglassReader:
    """The Langfuse public read API, as the Langfuse SDKs call it (Basic auth pk:sk)."""

    name = "spyglass"

    def __init__(self, public_key: str, secret_key: str) -> None:
        self.auth = (public_key, secret_key)

    def _get(self, client: httpx.Client, path: str, params: Mapping[str, object] | None = None) -> dict:
        r = client.get(path, params=params, auth=self.auth)
        r.raise_for_status()
        return r.json()

    def _traces(self, client: httpx.Client, start: datetime, end: datetime, limit: int, **extra: str) -> int:
        # Default field groups: what the SDK's api.trace.list() gets.
        params = {"limit": limit, "fromTimestamp": iso_ms(start), "toTimestamp": iso_ms(end), **extra}
        return len(self._get(client, "/api/public/traces", params)["data"])

    def latest_traces(self, client: httpx.Client, start: datetime, end: datetime, limit: int = 50) -> int:
        return self._traces(client, start, end, limit)

    def traces_by_user(
        self, client: httpx.Client, user_id: str, start: datetime, end: datetime, limit: int = 50
    ) -> int:
        return self._traces(client, start, end, limit, userId=user_id)

    def traces_by_tag(self, client: httpx.Client, tag: str, start: datetime, end: datetime, limit: int = 50) -> int:
        return self._traces(client, start, end, limit, tags=tag)

    def trace(self, client: httpx.Client, trace_id: str) -> int:
        return len(self._get(client, f"/api/public/traces/{trace_id}")["observations"])

    def cost_by_model_day(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        # Langfuse's daily metrics: {"data": [{"date", "countTraces", "countObservations", "totalCost",
        # "usage": [{"model", "inputUsage", "outputUsage", "totalUsage", "totalCost", ...}]}], "meta": {...}}
        r = client.get(
            "/api/public/metrics/daily",
            params={"fromTimestamp": iso_ms(start), "toTimestamp": iso_ms(end)},
            auth=self.auth,
        )
        if r.status_code == 404:
            raise EndpointMissing(f"GET /api/public/metrics/daily → 404 {r.text[:120]}")
        r.raise_for_status()
        return sum(len(day.get("usage") or ()) for day in r.json()["data"])

    def _metrics_v2(self, client: httpx.Client, query: dict) -> int:
        # GET /api/public/v2/metrics?query=<JSON> → {"data": [{<dimension>: …, "<agg>_<measure>": …, ...}]}
        r = client.get("/api/public/v2/metrics", params={"query": json.dumps(query)}, auth=self.auth)
        if r.status_code == 404:
            raise EndpointMissing(f"GET /api/public/v2/metrics → 404 {r.text[:120]}")
        r.raise_for_status()
        return len(r.json()["data"])

    def metrics_cost_by_model_day(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        return self._metrics_v2(client, metrics_cost_by_model_day_query(start, end))

    def metrics_p95_latency_by_trace_name(self, client: httpx.Client, start: datetime, end: datetime) -> int:
        return self._metrics_v2(client, metrics_p95_latency_by_trace_name_query(start, end))


def metrics_cost_by_model_day_query(start: datetime, end: datetime) -> dict:
    """The v2 metrics query of a "cost by model" dashboard chart: sum of totalCost per model per day."""
    return {
        "view": "observations",
        "dimensions": [{"field": "providedModelName"}],
        "metrics": [{"measure": "totalCost", "aggregation": "sum"}],
        "filters": [],
        "timeDimension": {"granularity": "day"},
        "fromTimestamp": iso_ms(start),
        "toTimestamp": iso_ms(end),
        "orderBy": None,
        "config": {"row_limit": 1000},
    }


def metrics_p95_latency_by_trace_name_query(start: datetime, end: datetime) -> dict:
    """p95 observation latency (ms) per trace name over the whole range: one row per trace name."""
    return {
        "view": "observations",
        "dimensions": [{"field": "traceName"}],
        "metrics": [{"measure": "latency", "aggregation": "p95"}],
        "filters": [],
        "timeDimension": None,
        "fromTimestamp": iso_ms(start),
        "toTimestamp": iso_ms(end),
        "orderBy": None,
        "config": {"row_limit": 1000},
    }


@dataclass(frozen=True)
class ReadParams:
    """Real parameters, picked from what was loaded."""

    user_id: str  # a user with traces in the last 24 h
    tag: str  # a tag on traces of the last 24 h
    trace_ids: Sequence[str]  # ~100-observation traces; the rounds cycle through them
    now: datetime | None = None  # end of the 24 h / 30 d windows (default: when measuring starts)
    expected: dict = field(default_factory=dict)  # informational: what the loader expects each query to find


def _queries(reader: Reader, p: ReadParams, now: datetime) -> dict[str, Callable[[httpx.Client, int], int]]:
    day, month = now - timedelta(hours=24), now - timedelta(days=30)
    ids = list(p.trace_ids)
    return {
        "latest_50_traces_24h": lambda c, _r: reader.latest_traces(c, day, now, 50),
        "traces_by_user_24h": lambda c, _r: reader.traces_by_user(c, p.user_id, day, now, 50),
        "traces_by_tag_24h": lambda c, _r: reader.traces_by_tag(c, p.tag, day, now, 50),
        "trace_100_observations": lambda c, r: reader.trace(c, ids[r % len(ids)]),
        "cost_by_model_day_30d": lambda c, _r: reader.cost_by_model_day(c, month, now),
        "metrics_cost_by_model_day_30d": lambda c, _r: reader.metrics_cost_by_model_day(c, month, now),
        "metrics_p95_latency_by_trace_name_30d": lambda c, _r: reader.metrics_p95_latency_by_trace_name(c, month, now),
    }


def measure_reads(
    reader: Reader,
    base_client: httpx.Client,
    params: ReadParams | Mapping,
    repeats: int = 30,
    warmup: int = 3,
    on_round: Callable[[int, int], None] | None = None,
) -> dict:
    """Per query name: status, p50/p95/mean ms over ``repeats`` timed rounds, and item counts.

    Every round runs each query once, one request at a time; the first ``warmup`` rounds are
    not timed. status: ok | empty (some answer had no items) | missing (the endpoint does
    not exist) | error (first failure's message in "error"; the query is then dropped).
    """
    p = params if isinstance(params, ReadParams) else ReadParams(**params)
    if not p.trace_ids:
        raise ValueError("ReadParams.trace_ids is empty")
    now = p.now or datetime.now(UTC)
    queries = _queries(reader, p, now)
    samples: dict[str, list[float]] = {q: [] for q in queries}
    items: dict[str, list[int]] = {q: [] for q in queries}
    failed: dict[str, tuple[str, str]] = {}  # query -> (status, message)
    rounds = warmup + repeats
    for r in range(rounds):
        for name, run in queries.items():
            if name in failed:
                continue
            t0 = time.perf_counter()
            try:
                n = run(base_client, r)
            except EndpointMissing as exc:
                failed[name] = ("missing", str(exc))
                continue
            except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
                failed[name] = ("error", f"{type(exc).__name__}: {exc}"[:300])
                continue
            dt_ms = (time.perf_counter() - t0) * 1000
            items[name].append(n)
            if r >= warmup:
                samples[name].append(dt_ms)
        if on_round:
            on_round(r + 1, rounds)

    out: dict = {}
    for name in queries:
        lat, got = samples[name], items[name]
        status, error = failed.get(name, ("ok", None))
        if status == "ok" and (not got or min(got) == 0):
            status = "empty"
        out[name] = {
            "status": status,
            "error": error,
            "samples": len(lat),
            "p50_ms": percentile(lat, 50),
            "p95_ms": percentile(lat, 95),
            "mean_ms": sum(lat) / len(lat) if lat else None,
            "max_ms": max(lat, default=None),
            "items_min": min(got, default=None),
            "items_max": max(got, default=None),
        }
    return out
