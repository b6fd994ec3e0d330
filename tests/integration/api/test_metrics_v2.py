"""GET /api/public/v2/metrics and /api/public/metrics (v1) over events ingested through the real API.

Every expected number is computed here from the events the test sends (`World`), never read back
from the server: costs per model and day, latency percentiles, token sums, score averages,
histograms, filters, time buckets, ordering and limits; plus isolation between projects, versions
and deletions, validation errors, and the real `langfuse` SDK parsing the answers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from langfuse import Langfuse
from langfuse._client.resource_manager import LangfuseResourceManager
from tests.integration.api.builders import (
    barrier,
    get_when,
    ingest_ok,
    iso,
    observation,
    score_create,
    trace_create,
    uid,
    wait_gone,
    wait_trace,
)
from tests.support.server import Keys, SpyglassServer

V1, V2 = "/api/public/metrics", "/api/public/v2/metrics"
START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday; the window is days 0..2
WINDOW = {"fromTimestamp": iso(START), "toTimestamp": iso(START, days=3)}


def at(day: int, hours: float, ms: float = 0) -> datetime:
    return START + timedelta(days=day, hours=hours, milliseconds=ms)


@dataclass
class Tr:
    key: str
    name: str
    user: str | None
    session: str | None
    tags: list[str]
    time: datetime
    env: str = "production"
    release: str | None = None


@dataclass
class Ob:
    key: str
    trace: str
    type: str
    name: str
    offset_ms: float
    duration_ms: float | None = 0  # None: sent without an end time
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)
    ttft_ms: float | None = None
    level: str = "DEFAULT"


@dataclass
class Sc:
    key: str
    name: str
    value: float | str
    data_type: str
    trace: str
    time: datetime
    obs: str | None = None


TRACES = [
    Tr("tA", "chat", "u1", "s1", ["a", "prod"], at(0, 10), release="r1"),
    Tr("tB", "chat", "u2", "s1", ["a"], at(0, 15.5)),
    Tr("tC", "summarize", "u1", "s2", [], at(1, 9), env="staging"),
    Tr("tD", "summarize", "u3", None, ["b"], at(2, 12)),
    Tr("tE", "chat", "u2", None, [], at(2, 20)),  # no observations
]
OBSERVATIONS = [
    Ob("spA", "tA", "SPAN", "agent", 0, 3000),
    Ob("gA1", "tA", "GENERATION", "llm", 100, 1200, "spy-alpha", {"input": 100, "output": 20},
       {"input": 0.001, "output": 0.002}, ttft_ms=300),
    Ob("gA2", "tA", "GENERATION", "llm", 1500, 800, "spy-alpha", {"input": 50, "input_cached": 10, "output": 5},
       {"total": 0.01}),
    Ob("evA", "tA", "EVENT", "log", 2000, None),
    Ob("gB1", "tB", "GENERATION", "llm", 0, 2500, "spy-beta", {"input": 7, "output": 3},
       {"input": 0.0007, "output": 0.0003}, ttft_ms=900),
    Ob("spB", "tB", "SPAN", "tool", 100, 400, level="WARNING"),
    Ob("gC1", "tC", "GENERATION", "summarize-llm", 0, 5000, "spy-alpha", {"input": 1000, "output": 200},
       {"total": 0.5}, ttft_ms=1000),
    Ob("gC2", "tC", "GENERATION", "summarize-llm", 6000, 700, "spy-beta", {"input": 30, "output": 10},
       {"input": 0.003, "output": 0.001}),
    Ob("gD1", "tD", "GENERATION", "llm", 0, 100, "spy-alpha", {"input": 5, "output": 5}, {"total": 0.001},
       ttft_ms=50),
    Ob("spD", "tD", "SPAN", "agent", 0, 150),
]
SCORES = [
    Sc("s1", "accuracy", 0.9, "NUMERIC", "tA", at(0, 11), obs="gA1"),
    Sc("s2", "accuracy", 0.5, "NUMERIC", "tB", at(0, 16)),
    Sc("s3", "accuracy", 0.7, "NUMERIC", "tC", at(1, 10), obs="gC1"),
    Sc("s4", "helpful", 1, "BOOLEAN", "tA", at(0, 12)),
    Sc("s5", "helpful", 0, "BOOLEAN", "tD", at(2, 13)),
    Sc("s6", "quality", "good", "CATEGORICAL", "tA", at(0, 12)),
    Sc("s7", "quality", "bad", "CATEGORICAL", "tC", at(1, 11)),
    Sc("s8", "quality", "good", "CATEGORICAL", "tD", at(2, 13), obs="gD1"),
]


@dataclass
class World:
    """What the test sent, with ids made unique per run, and the values derived from it."""

    ids: dict[str, str]
    other: Keys
    traces: dict[str, Tr] = field(default_factory=lambda: {t.key: t for t in TRACES})

    def start(self, o: Ob) -> datetime:
        return self.traces[o.trace].time + timedelta(milliseconds=o.offset_ms)

    def end(self, o: Ob) -> datetime:
        return self.start(o) + timedelta(milliseconds=o.duration_ms or 0)


def total_cost(o: Ob) -> float | None:
    """Ingestion completes a missing `total` only from input + output (LANGFUSE_COMPAT §10.5)."""
    if not o.cost:
        return None
    if "total" in o.cost:
        return o.cost["total"]
    return sum(o.cost.values()) if set(o.cost) <= {"input", "output"} else None


def tokens(o: Ob, needle: str) -> int:
    if needle == "total":
        return sum(o.usage.values())
    return sum(v for k, v in o.usage.items() if needle in k)


def quantile(values: Iterable[float], q: float) -> float:
    """Linear interpolation between closest ranks (what ClickHouse's `quantile` gives on small data)."""
    data = sorted(values)
    position = (len(data) - 1) * q
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


def group(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def approx_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: pytest.approx(v) if isinstance(v, float) else v for k, v in row.items()} for row in rows]


def _observation(w: World, o: Ob, usage: dict[str, int] | None = None, cost: dict[str, float] | None = None
                 ) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": o.name, "startTime": iso(w.start(o)), "environment": "production"}
    if o.duration_ms is not None:
        fields["endTime"] = iso(w.end(o))
    if o.model:
        fields.update(model=o.model, usageDetails=usage or o.usage, costDetails=cost or o.cost)
    if o.ttft_ms is not None:
        fields["completionStartTime"] = iso(w.start(o) + timedelta(milliseconds=o.ttft_ms))
    if o.level != "DEFAULT":
        fields["level"] = o.level
    kind = {"GENERATION": "generation-create", "SPAN": "span-create", "EVENT": "event-create"}[o.type]
    return observation(kind, w.ids[o.key], w.ids[o.trace], iso(w.start(o)), **fields)


@pytest.fixture(scope="module")
def world(server: SpyglassServer, client: httpx.Client) -> World:
    keys = [*(t.key for t in TRACES), *(o.key for o in OBSERVATIONS), *(s.key for s in SCORES),
            "tOld", "gOld", "tDel", "gDel", "tOther", "gOther", "sOther"]
    w = World({k: uid() for k in keys}, server.create_project(f"metrics-v2-other-{uid()[:8]}"))
    i = w.ids
    events = [trace_create(i[t.key], iso(t.time), name=t.name, userId=t.user, sessionId=t.session, tags=t.tags,
                           environment=t.env, release=t.release) for t in TRACES]
    # gD1 is first sent with other usage and cost; a later update brings what OBSERVATIONS says (below)
    events += [_observation(w, o, {"input": 1, "output": 1}, {"total": 5.0}) if o.key == "gD1"
               else _observation(w, o) for o in OBSERVATIONS]
    # before the window, and a trace deleted below: neither may ever count
    events += [trace_create(i["tOld"], iso(at(-1, 10)), name="chat", userId="u1"),
               observation("generation-create", i["gOld"], i["tOld"], iso(at(-1, 10)), startTime=iso(at(-1, 10)),
                           endTime=iso(at(-1, 10, 99)), model="spy-alpha", costDetails={"total": 9.0}),
               trace_create(i["tDel"], iso(at(1, 1)), name="chat", userId="u1"),
               observation("generation-create", i["gDel"], i["tDel"], iso(at(1, 1)), startTime=iso(at(1, 1)),
                           endTime=iso(at(1, 1, 5)), model="spy-alpha", costDetails={"total": 99.0})]
    ingest_ok(client, events)
    ingest_ok(client, [
        score_create(i[s.key], s.name, s.value, iso(s.time), dataType=s.data_type, traceId=i[s.trace],
                     **({"observationId": i[s.obs]} if s.obs else {}))
        for s in SCORES
    ])
    wait_trace(client, i["tE"])
    barrier(client)
    # The newer version of gD1 replaces the first one: it counts once, with its new usage and cost.
    gd1 = next(o for o in OBSERVATIONS if o.key == "gD1")
    ingest_ok(client, [observation("generation-update", i["gD1"], i["tD"], usageDetails=gd1.usage,
                                   costDetails=gd1.cost)])
    get_when(client, f"/api/public/observations/{i['gD1']}", lambda o: o["usageDetails"].get("input") == 5)
    assert client.delete(f"/api/public/traces/{i['tDel']}").status_code == 200
    wait_gone(client, f"/api/public/traces/{i['tDel']}")

    with server.client(w.other) as other:
        ingest_ok(other, [
            trace_create(i["tOther"], iso(at(1, 9)), name="chat", userId="u1", tags=["a"]),
            observation("generation-create", i["gOther"], i["tOther"], iso(at(1, 9)), name="llm",
                        startTime=iso(at(1, 9)), endTime=iso(at(1, 9, 7)), model="spy-alpha",
                        usageDetails={"input": 123456}, costDetails={"total": 42.0}),
            score_create(i["sOther"], "accuracy", 0.0, iso(at(1, 9)), traceId=i["tOther"]),
        ])
        wait_trace(other, i["tOther"], lambda t: len(t["scores"]) == 1)
    return w


@pytest.fixture(scope="module")
def other_client(server: SpyglassServer, world: World) -> Iterator[httpx.Client]:
    with server.client(world.other) as c:
        yield c


def metrics(client: httpx.Client, body: dict[str, Any], path: str = V2) -> list[dict[str, Any]]:
    response = client.get(path, params={"query": json.dumps({**WINDOW, **body})})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert set(payload) == {"data"}
    return payload["data"]


def count(measure: str = "count", aggregation: str = "count") -> dict[str, str]:
    return {"measure": measure, "aggregation": aggregation}


# -- observations -----------------------------------------------------------------------------------------------


def test_cost_by_model_per_day(client: httpx.Client, world: World) -> None:
    rows = metrics(client, {"view": "observations", "dimensions": [{"field": "providedModelName"}],
                            "metrics": [count("totalCost", "sum"), count()], "timeDimension": {"granularity": "day"}})
    groups = group(OBSERVATIONS, lambda o: (world.start(o).date().isoformat(), o.model))
    expected = []
    for (day, model), members in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] is None, g[0][1] or "")):
        costs = [c for o in members if (c := total_cost(o)) is not None]
        expected.append({"providedModelName": model, "time_dimension": day,
                         "sum_totalCost": sum(costs) if costs else None, "count_count": len(members)})
    assert rows == approx_rows(expected)
    assert [r["time_dimension"] for r in rows] == sorted(r["time_dimension"] for r in rows)


def test_observation_counts_by_type(client: httpx.Client, world: World) -> None:
    rows = metrics(client, {"view": "observations", "dimensions": [{"field": "type"}], "metrics": [count()],
                            "orderBy": [{"field": "type", "direction": "asc"}]})
    by_type = group(OBSERVATIONS, lambda o: o.type)
    assert rows == [{"type": kind, "count_count": len(by_type[kind])} for kind in sorted(by_type)]
    assert metrics(client, {"view": "observations", "metrics": [count()]}, V1) == [{"count_count": len(OBSERVATIONS)}]


def test_latency_percentiles_by_trace_name(client: httpx.Client, world: World) -> None:
    body = {"view": "observations", "dimensions": [{"field": "traceName"}],
            "metrics": [count("latency", "p95"), count("latency", "p50"), count("latency", "max"),
                        count("latency", "count"), count("timeToFirstToken", "avg")]}
    by_name = group(OBSERVATIONS, lambda o: world.traces[o.trace].name)
    expected = []
    for name, members in by_name.items():
        latencies = [o.duration_ms for o in members if o.duration_ms is not None]  # no end time: no latency
        firsts = [o.ttft_ms for o in members if o.ttft_ms is not None]
        expected.append({"traceName": name, "p95_latency": quantile(latencies, 0.95),
                         "p50_latency": quantile(latencies, 0.5), "max_latency": max(latencies),
                         "count_latency": len(latencies),
                         "avg_timeToFirstToken": sum(firsts) / len(firsts)})
    expected.sort(key=lambda r: -r["p95_latency"])  # the default order: first metric, descending
    assert metrics(client, body) == approx_rows(expected)
    assert metrics(client, body, V1) == approx_rows(expected)


def test_tokens_and_costs_per_model(client: httpx.Client, world: World) -> None:
    measures = ["inputTokens", "outputTokens", "totalTokens", "inputCost", "outputCost"]
    rows = metrics(client, {"view": "observations", "dimensions": [{"field": "providedModelName"}],
                            "metrics": [count(m, "sum") for m in measures],
                            "filters": [{"type": "string", "column": "type", "operator": "=", "value": "GENERATION"}],
                            "orderBy": [{"field": "providedModelName", "direction": "asc"}]})
    expected = []
    for model, members in sorted(group([o for o in OBSERVATIONS if o.type == "GENERATION"],
                                       lambda o: o.model).items()):
        expected.append({
            "providedModelName": model,
            "sum_inputTokens": sum(tokens(o, "input") for o in members),
            "sum_outputTokens": sum(tokens(o, "output") for o in members),
            "sum_totalTokens": sum(tokens(o, "total") for o in members),
            "sum_inputCost": sum(v for o in members for k, v in o.cost.items() if "input" in k),
            "sum_outputCost": sum(v for o in members for k, v in o.cost.items() if "output" in k),
        })
    assert rows == approx_rows(expected)


def test_histogram_bins(client: httpx.Client, world: World) -> None:
    latencies = [o.duration_ms for o in OBSERVATIONS if o.type == "GENERATION"]
    [row] = metrics(client, {"view": "observations", "metrics": [count("latency", "histogram")],
                             "filters": [{"type": "string", "column": "type", "operator": "=", "value": "GENERATION"}],
                             "config": {"bins": 3}})
    bins = row["histogram_latency"]
    assert 1 <= len(bins) <= 3
    assert all(len(b) == 3 and b[0] <= b[1] for b in bins)
    assert (bins[0][0], bins[-1][1]) == (min(latencies), max(latencies))
    assert sum(b[2] for b in bins) == pytest.approx(len(latencies))
    [row] = metrics(client, {"view": "observations", "metrics": [count("latency", "histogram")]})
    assert len(row["histogram_latency"]) <= 10  # the default bin count


def test_filters_combine(client: httpx.Client, world: World) -> None:
    filters = [
        {"type": "stringOptions", "column": "traceName", "operator": "any of", "value": ["chat"]},
        {"type": "arrayOptions", "column": "tags", "operator": "any of", "value": ["a"]},
        {"type": "stringOptions", "column": "type", "operator": "none of", "value": ["EVENT"]},
        {"type": "datetime", "column": "startTime", "operator": ">=", "value": iso(at(0, 10, 100))},
    ]
    rows = metrics(client, {"view": "observations", "metrics": [count(), count("totalCost", "sum")],
                            "filters": filters})
    chosen = [o for o in OBSERVATIONS if world.traces[o.trace].name == "chat" and "a" in world.traces[o.trace].tags
              and o.type != "EVENT" and world.start(o) >= at(0, 10, 100)]
    assert rows == approx_rows([{"count_count": len(chosen),
                                 "sum_totalCost": sum(total_cost(o) or 0 for o in chosen)}])
    users = metrics(client, {"view": "observations", "metrics": [count()],
                             "filters": [{"type": "string", "column": "userId", "operator": "=", "value": "u1"},
                                         {"type": "string", "column": "level", "operator": "=", "value": "DEFAULT"}]})
    assert users == [{"count_count": sum(1 for o in OBSERVATIONS if world.traces[o.trace].user == "u1")}]
    warning = metrics(client, {"view": "observations", "dimensions": [{"field": "name"}], "metrics": [count()],
                               "filters": [{"type": "string", "column": "level", "operator": "=",
                                            "value": "WARNING"}]}, V1)
    assert warning == [{"name": "tool", "count_count": 1}]


def test_order_by_and_row_limit(client: httpx.Client, world: World) -> None:
    body = {"view": "observations", "dimensions": [{"field": "name"}], "metrics": [count("totalTokens", "sum")],
            "orderBy": [{"field": "sum_totalTokens", "direction": "desc"}], "config": {"row_limit": 2}}
    totals = {name: sum(tokens(o, "total") for o in members) for name, members in
              group(OBSERVATIONS, lambda o: o.name).items()}
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    assert metrics(client, body) == [{"name": n, "sum_totalTokens": t} for n, t in ranked[:2]]
    body["orderBy"] = [{"field": "sum_totalTokens", "direction": "asc"}, {"field": "name", "direction": "desc"}]
    ascending = sorted(sorted(totals.items(), reverse=True), key=lambda kv: kv[1])
    assert metrics(client, body) == [{"name": n, "sum_totalTokens": t} for n, t in ascending[:2]]


def test_v2_defaults_to_100_rows_and_v1_to_all(client: httpx.Client, world: World) -> None:
    body = {"view": "observations", "dimensions": [{"field": "startTimeMonth"}], "metrics": [count()],
            "timeDimension": {"granularity": "minute"},
            "fromTimestamp": iso(at(0, 9)), "toTimestamp": iso(at(0, 12))}  # 180 filled minute buckets
    response = client.get(V2, params={"query": json.dumps({**WINDOW, **body})})
    assert len(response.json()["data"]) == 100
    v1 = client.get(V1, params={"query": json.dumps({**WINDOW, **body})}).json()["data"]
    assert len(v1) == 180
    assert sum(r["count_count"] for r in v1) == sum(1 for o in OBSERVATIONS if at(0, 9) <= world.start(o) <= at(0, 12))
    assert v1[0]["time_dimension"] == "2024-03-04T09:00:00Z" and v1[-1]["time_dimension"] == "2024-03-04T11:59:00Z"


def test_uniq_and_count_of_non_numeric_measures(client: httpx.Client, world: World) -> None:
    [row] = metrics(client, {"view": "observations", "metrics": [count("traceId", "uniq"), count("traceId", "count"),
                                                                   count("uniqueUserIds", "count")]})
    with_observations = {o.trace for o in OBSERVATIONS}
    assert row == {"uniq_traceId": len(with_observations), "count_traceId": len(OBSERVATIONS),
                   "count_uniqueUserIds": len({world.traces[t].user for t in with_observations})}


def test_cost_by_type(client: httpx.Client, world: World) -> None:
    rows = metrics(client, {"view": "observations", "metrics": [count("costByType", "sum")],
                            "orderBy": [{"field": "costType", "direction": "asc"}]})
    sums: dict[str, float] = defaultdict(float)
    for o in OBSERVATIONS:
        for key, value in {**o.cost, "total": total_cost(o) or 0}.items() if o.cost else ():
            sums[key] += value
    assert rows == approx_rows([{"costType": k, "sum_costByType": v} for k, v in sorted(sums.items())])
    cached = [{"type": "string", "column": "usageType", "operator": "=", "value": "input_cached"}]
    assert metrics(client, {"view": "observations", "metrics": [count(), count("usageByType", "sum")],
                            "filters": cached}) == [
        {"usageType": "input_cached", "count_count": 1, "sum_usageByType": 10}]
    inputs = [{"type": "string", "column": "usageType", "operator": "=", "value": "input"}]
    [row] = metrics(client, {"view": "observations", "metrics": [count()], "filters": inputs})
    assert row == {"count_count": sum(1 for o in OBSERVATIONS if "input" in o.usage)}


# -- traces (v1) ------------------------------------------------------------------------------------------------


def test_traces_view_rolls_up_observations_and_scores(client: httpx.Client, world: World) -> None:
    rows = metrics(client, {"view": "traces", "dimensions": [{"field": "name"}],
                            "metrics": [count(), count("latency", "p95"), count("totalCost", "sum"),
                                        count("observationsCount", "sum"), count("scoresCount", "sum"),
                                        count("totalTokens", "sum"), count("uniqueUserIds", "count")],
                            "orderBy": [{"field": "name", "direction": "asc"}]}, V1)
    expected = []
    for name, traces in sorted(group(TRACES, lambda t: t.name).items()):
        latencies, costs = [], []
        for t in traces:
            members = [o for o in OBSERVATIONS if o.trace == t.key]
            if members:
                latencies.append((max(world.end(o) for o in members)
                                  - min(world.start(o) for o in members)) / timedelta(milliseconds=1))
                costs += [c for o in members if (c := total_cost(o)) is not None]
        keys = {t.key for t in traces}
        expected.append({
            "name": name, "count_count": len(traces), "p95_latency": quantile(latencies, 0.95),
            "sum_totalCost": sum(costs), "sum_observationsCount": sum(1 for o in OBSERVATIONS if o.trace in keys),
            "sum_scoresCount": sum(1 for s in SCORES if s.trace in keys),
            "sum_totalTokens": sum(tokens(o, "total") for o in OBSERVATIONS if o.trace in keys),
            "count_uniqueUserIds": len({t.user for t in traces}),
        })
    assert rows == approx_rows(expected)


def test_traces_view_is_v1_only(client: httpx.Client, world: World) -> None:
    response = client.get(V2, params={"query": json.dumps({**WINDOW, "view": "traces", "metrics": [count()]})})
    assert response.status_code == 400
    assert "view 'traces' is not supported in v2" in response.json()["message"]


def test_time_buckets_and_gaps(client: httpx.Client, world: World) -> None:
    window = {"fromTimestamp": iso(at(0, 0)), "toTimestamp": iso(at(5, 0))}
    rows = metrics(client, {"view": "traces", "metrics": [count()], "timeDimension": {"granularity": "day"},
                            **window}, V1)
    per_day = {d: len(ts) for d, ts in group(TRACES, lambda t: t.time.date().isoformat()).items()}
    days = [(START + timedelta(days=n)).date().isoformat() for n in range(5)]
    assert rows == [{"time_dimension": d, "count_count": per_day.get(d, 0)} for d in days]
    hours = metrics(client, {"view": "traces", "metrics": [count()], "timeDimension": {"granularity": "hour"},
                             "fromTimestamp": iso(at(0, 9)), "toTimestamp": iso(at(0, 16))}, V1)
    assert [(r["time_dimension"], r["count_count"]) for r in hours] == [
        (f"2024-03-04T{h:02d}:00:00Z", sum(1 for t in TRACES if t.time.date() == START.date() and t.time.hour == h))
        for h in range(9, 16)
    ]
    weeks = metrics(client, {"view": "traces", "metrics": [count()], "timeDimension": {"granularity": "week"}}, V1)
    months = metrics(client, {"view": "traces", "metrics": [count()], "timeDimension": {"granularity": "auto"},
                              "fromTimestamp": "2024-01-15T00:00:00Z", "toTimestamp": "2025-02-10T00:00:00Z"}, V1)
    assert weeks == [{"time_dimension": "2024-03-04", "count_count": len(TRACES)}]
    assert months[0]["time_dimension"] == "2024-01-01" and len(months) == 13  # Jan 2024 .. Jan 2025
    assert {m["time_dimension"]: m["count_count"] for m in months}["2024-03-01"] == len(TRACES) + 1  # + tOld


# -- scores -----------------------------------------------------------------------------------------------------


def test_numeric_scores_average_by_name(client: httpx.Client, world: World) -> None:
    body = {"view": "scores-numeric", "dimensions": [{"field": "name"}],
            "metrics": [count("value", "avg"), count()], "orderBy": [{"field": "name", "direction": "asc"}]}
    numeric = [s for s in SCORES if s.data_type in ("NUMERIC", "BOOLEAN")]
    expected = [{"name": name, "avg_value": sum(float(s.value) for s in members) / len(members),
                 "count_count": len(members)} for name, members in sorted(group(numeric, lambda s: s.name).items())]
    assert metrics(client, body) == approx_rows(expected)
    assert metrics(client, body, V1) == approx_rows(expected)
    booleans = metrics(client, {**body, "view": "scores-boolean",
                                "dimensions": [{"field": "name"}, {"field": "booleanValue"}],
                                "orderBy": [{"field": "booleanValue", "direction": "desc"}]})
    assert booleans == [{"name": "helpful", "booleanValue": value, "avg_value": float(value), "count_count": 1}
                        for value in (True, False)]


def test_scores_with_trace_and_observation_fields(client: httpx.Client, world: World) -> None:
    rows = metrics(client, {"view": "scores-numeric", "metrics": [count("value", "sum")],
                            "dimensions": [{"field": "traceName"}, {"field": "observationModelName"}],
                            "filters": [{"type": "string", "column": "name", "operator": "=", "value": "accuracy"}],
                            "orderBy": [{"field": "traceName", "direction": "asc"}]}, V1)
    expected: dict[tuple[str, str | None], float] = defaultdict(float)
    obs = {o.key: o for o in OBSERVATIONS}
    for s in SCORES:
        if s.name == "accuracy":
            expected[(world.traces[s.trace].name, obs[s.obs].model if s.obs else None)] += float(s.value)
    ordered = sorted(expected.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or ""))
    assert rows == approx_rows([{"traceName": n, "observationModelName": m, "sum_value": v}
                                for (n, m), v in ordered])


def test_categorical_scores_count_by_value(client: httpx.Client, world: World) -> None:
    rows = metrics(client, {"view": "scores-categorical", "dimensions": [{"field": "stringValue"}],
                            "metrics": [count()]})
    counts = {v: len(m) for v, m in group([s for s in SCORES if s.data_type == "CATEGORICAL"],
                                          lambda s: s.value).items()}
    assert rows == [{"stringValue": v, "count_count": n}
                    for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    response = client.get(V2, params={"query": json.dumps({**WINDOW, "view": "scores-categorical",
                                                           "metrics": [count("value", "avg")]})})
    assert response.status_code == 400
    assert "unknown measure 'value' for view scores-categorical" in response.json()["message"]


# -- isolation, versions, deletions ---------------------------------------------------------------------------


def test_another_projects_data_never_appears(client: httpx.Client, other_client: httpx.Client, world: World) -> None:
    for path, view in ((V1, "traces"), (V2, "observations"), (V2, "scores-numeric")):
        [mine] = metrics(client, {"view": view, "metrics": [count()]}, path)
        [theirs] = metrics(other_client, {"view": view, "metrics": [count()]}, path)
        expected = {"traces": len(TRACES), "observations": len(OBSERVATIONS),
                    "scores-numeric": sum(1 for s in SCORES if s.data_type != "CATEGORICAL")}[view]
        assert (mine["count_count"], theirs["count_count"]) == (expected, 1)
    [theirs] = metrics(other_client, {"view": "observations", "metrics": [count("totalCost", "sum"),
                                                                          count("inputTokens", "sum")]})
    assert theirs == {"sum_totalCost": pytest.approx(42.0), "sum_inputTokens": 123456}


def test_deleted_old_and_superseded_rows_do_not_count(client: httpx.Client, world: World) -> None:
    [row] = metrics(client, {"view": "observations", "metrics": [count("totalCost", "max"), count()],
                             "filters": [{"type": "string", "column": "providedModelName", "operator": "=",
                                          "value": "spy-alpha"}]})
    alpha = [o for o in OBSERVATIONS if o.model == "spy-alpha"]
    assert row == {"max_totalCost": pytest.approx(max(total_cost(o) or 0 for o in alpha)), "count_count": len(alpha)}
    [gd1] = metrics(client, {"view": "observations", "metrics": [count("totalTokens", "sum")],
                             "filters": [{"type": "string", "column": "id", "operator": "=",
                                          "value": world.ids["gD1"]}]})
    assert gd1 == {"sum_totalTokens": 10}


# -- validation and the SDK -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [V1, V2])
@pytest.mark.parametrize(("params", "problem"), [
    ({}, "`query` parameter is required"),
    ({"query": "{not json"}, "not valid JSON"),
    ({"query": json.dumps({**WINDOW, "view": "sessions", "metrics": [count()]})}, "unknown view 'sessions'"),
    ({"query": json.dumps({**WINDOW, "view": "observations", "metrics": [count("name")]})},
     "unknown measure 'name'"),
    ({"query": json.dumps({**WINDOW, "view": "observations", "metrics": [count()],
                           "filters": [{"type": "string", "column": "colour", "operator": "=", "value": "x"}]})},
     "unknown column 'colour'"),
    ({"query": json.dumps({"view": "observations", "metrics": [count()], "fromTimestamp": WINDOW["toTimestamp"],
                           "toTimestamp": WINDOW["fromTimestamp"]})}, "fromTimestamp must be before toTimestamp"),
])
def test_bad_queries_are_400(client: httpx.Client, path: str, params: dict[str, str], problem: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "InvalidRequestError"
    assert problem in body["message"]


def test_sql_in_names_is_only_ever_a_name(client: httpx.Client, world: World) -> None:
    hostile = "name) FROM system.tables --"
    response = client.get(V2, params={"query": json.dumps({**WINDOW, "view": "observations", "metrics": [count()],
                                                           "dimensions": [{"field": hostile}]})})
    assert response.status_code == 400
    assert f"unknown dimension {hostile!r}" in response.json()["message"]
    value = "x' OR 1=1 --"
    rows = metrics(client, {"view": "observations", "metrics": [count()],
                            "filters": [{"type": "string", "column": "name", "operator": "=", "value": value}]})
    assert rows == [{"count_count": 0}]


def test_auth_is_required(server: SpyglassServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anon:
        for path in (V1, V2):
            assert anon.get(path, params={"query": "{}"}).status_code == 401


def test_the_langfuse_sdk_parses_both_versions(server: SpyglassServer, client: httpx.Client, world: World) -> None:
    query = json.dumps({**WINDOW, "view": "observations", "dimensions": [{"field": "providedModelName"}],
                        "metrics": [count("totalCost", "sum"), count("latency", "histogram")],
                        "timeDimension": {"granularity": "day"}})
    raw_v2 = client.get(V2, params={"query": query}).json()["data"]
    raw_v1 = client.get(V1, params={"query": query}).json()["data"]
    langfuse = Langfuse(public_key=server.keys.public_key, secret_key=server.keys.secret_key,
                        base_url=server.base_url, tracing_enabled=False)
    try:
        assert langfuse.api.metrics.metrics(query=query).data == raw_v2  # GET /api/public/v2/metrics
        assert langfuse.api.legacy.metrics_v1.metrics(query=query).data == raw_v1  # GET /api/public/metrics
    finally:
        langfuse.shutdown()
        LangfuseResourceManager._instances.pop(server.keys.public_key, None)  # the SDK's per-key singleton
    assert raw_v2 and raw_v1 == raw_v2
