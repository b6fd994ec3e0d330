"""Checks of the Phoenix harness that need no Phoenix: `.venv/bin/python -m pytest bench/test_phoenix.py`.

The GraphQL answers are canned (httpx.MockTransport); what is checked is what we send and
how we count what comes back. Running against a real Phoenix: `bench/phoenix.py serve`.
"""

from __future__ import annotations

import ast
import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import phoenix  # noqa: E402
from phoenix import PhoenixReader, cost_by_day_query, ensure_phoenix, utc_days  # noqa: E402
from readback import READBACKS, PhoenixReadback, SpyglassReadback  # noqa: E402
from reads import EndpointMissing, ReadParams, measure_reads  # noqa: E402
from workload import RunIdentity, iso  # noqa: E402

T0 = datetime(2024, 3, 1, 22, 30, tzinfo=UTC)


def test_utc_days_cuts_at_midnight() -> None:
    assert utc_days(T0, T0 + timedelta(minutes=10)) == [(T0, T0 + timedelta(minutes=10))]
    days = utc_days(T0, T0 + timedelta(days=1))
    assert days == [
        (T0, datetime(2024, 3, 2, tzinfo=UTC)),
        (datetime(2024, 3, 2, tzinfo=UTC), T0 + timedelta(days=1)),
    ]
    assert utc_days(T0, T0) == []
    # Other time zones are converted, not reinterpreted.
    cet = timezone(timedelta(hours=1))
    assert utc_days(datetime(2024, 3, 2, 0, 30, tzinfo=cet), datetime(2024, 3, 2, 1, 30, tzinfo=cet)) == [
        (T0 + timedelta(hours=1), datetime(2024, 3, 2, tzinfo=UTC)),
        (datetime(2024, 3, 2, tzinfo=UTC), T0 + timedelta(hours=2)),
    ]


def test_cost_query_has_one_aliased_field_per_day() -> None:
    query, variables = cost_by_day_query(utc_days(T0, T0 + timedelta(days=2)))
    assert sorted(variables) == ["d0", "d1", "d2"]
    assert variables["d1"] == {"start": "2024-03-02T00:00:00+00:00", "end": "2024-03-03T00:00:00+00:00"}
    for i in range(3):
        assert f"$d{i}: TimeRange!" in query
        assert f"d{i}: topModelsByCost(timeRange: $d{i})" in query
        assert f"costSummary(projectId: $id, timeRange: $d{i})" in query
    assert query.count("{") == query.count("}")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        cost_by_day_query([(datetime(2024, 1, 1), datetime(2024, 1, 2))])


@pytest.mark.parametrize("value", ["user-042", "o'brien", 'say "hi"', "back\\slash"])
def test_filter_literals_survive_quoting(value: str) -> None:
    # Phoenix parses filter conditions as Python expressions.
    assert ast.literal_eval(phoenix.gql_string(value)) == value
    assert json.loads(ast.literal_eval(phoenix.gql_string(json.dumps(value)))) == value


class FakePhoenix:
    """Answers GraphQL like Phoenix would, and records what was asked."""

    def __init__(self, answers: dict[str, dict]) -> None:
        self.answers = answers
        self.requests: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/graphql"
        body = json.loads(request.content)
        self.requests.append(body)
        name = body["query"].split("(")[0].split()[-1]
        return httpx.Response(200, json=self.answers[name])


def edges(n: int) -> dict:
    return {"edges": [{"rootSpan": {"id": str(i)}} for i in range(n)], "pageInfo": {}}


def test_reader_sends_the_documented_filters() -> None:
    fake = FakePhoenix(
        {
            "BenchProject": {"data": {"project": {"id": "UHJvamVjdDox"}}},
            "BenchTraces": {"data": {"project": {"rootSpans": edges(3)}}},
            "BenchTrace": {"data": {"project": {"trace": {"spans": {"edges": [{}] * 5}}}}},
            "BenchCostByModelDay": {"data": {"project": {"d0": [{}, {}], "d1": [{}]}}},
        }
    )
    reader = PhoenixReader("http://phoenix.test/")
    end = T0 + timedelta(hours=2)
    with httpx.Client(transport=httpx.MockTransport(fake), base_url="http://phoenix.test") as client:
        assert reader.latest_traces(client, T0, end, limit=7) == 3
        assert reader.traces_by_user(client, "user-042", T0, end) == 3
        assert reader.traces_by_tag(client, "prod", T0, end) == 3
        assert reader.trace(client, "ab" * 16) == 5
        assert reader.cost_by_model_day(client, T0, end) == 3
    project_lookup, latest, by_user, by_tag, trace, cost = fake.requests
    assert project_lookup["variables"] == {"name": "default"}  # once per reader
    assert latest["variables"]["first"] == 7 and latest["variables"]["traceFilterCondition"] is None
    assert latest["variables"]["timeRange"] == {"start": T0.isoformat(), "end": end.isoformat()}
    assert '"parent_span is None"' in latest["query"] and "sort: {col: startTime, dir: desc}" in latest["query"]
    assert by_user["variables"]["traceFilterCondition"] == "attributes['user.id'] == 'user-042'"
    assert by_tag["variables"]["traceFilterCondition"] == "'\"prod\"' in attributes['langfuse.trace.tags']"
    assert trace["variables"] == {"id": "UHJvamVjdDox", "traceId": "ab" * 16}
    assert sorted(cost["variables"]) == ["d0", "d1", "id"]


def test_reader_has_no_metrics_query_api() -> None:
    """Langfuse's /v2/metrics queries have no Phoenix counterpart: status "missing", no request sent."""
    fake = FakePhoenix({})
    params = ReadParams(user_id="u", tag="t", trace_ids=["ab" * 16], now=T0 + timedelta(days=1))
    reader = PhoenixReader("http://phoenix.test/")
    with httpx.Client(transport=httpx.MockTransport(fake), base_url="http://phoenix.test") as client:
        with pytest.raises(EndpointMissing):
            reader.metrics_cost_by_model_day(client, T0, T0 + timedelta(days=1))
        with pytest.raises(EndpointMissing):
            reader.metrics_p95_latency_by_trace_name(client, T0, T0 + timedelta(days=1))
        assert fake.requests == []
        out = measure_reads(reader, client, params, repeats=1, warmup=0)  # the other queries fail here: no answers
    for name in ("metrics_cost_by_model_day_30d", "metrics_p95_latency_by_trace_name_30d"):
        assert out[name]["status"] == "missing" and out[name]["samples"] == 0


def test_reader_reports_graphql_errors() -> None:
    fake = FakePhoenix({"BenchProject": {"data": None, "errors": [{"message": "boom"}]}})
    with httpx.Client(transport=httpx.MockTransport(fake)) as client:
        with pytest.raises(ValueError, match="boom"):
            PhoenixReader("http://phoenix.test").latest_traces(client, T0, T0 + timedelta(hours=1))


def test_readback_counts_the_run_window_of_the_default_project() -> None:
    ident = RunIdentity(seed=1, salt="abcd")
    fake = FakePhoenix({"BenchCounts": {"data": {"project": {"recordCount": 10, "traceCount": 2}}}})
    rb = READBACKS["phoenix"]("http://127.0.0.1:6006", {}, ident)

    async def poll() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
            return await rb.counts(client)

    assert asyncio.run(poll()) == (10, 2)
    (sent,) = fake.requests
    assert sent["variables"]["name"] == "default"
    assert sent["variables"]["timeRange"] == {"start": iso(ident.window_start_ns), "end": iso(ident.window_end_ns)}


def test_readback_before_anything_is_stored() -> None:
    fake = FakePhoenix({"BenchCounts": {"data": {"project": None}}})
    rb = PhoenixReadback("http://127.0.0.1:6006", {}, RunIdentity(seed=1, salt="abcd"))

    async def poll() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
            return await rb.counts(client)

    assert asyncio.run(poll()) == (0, 0)


def test_both_readbacks_share_the_wait_loop() -> None:
    assert PhoenixReadback.wait is SpyglassReadback.wait


def test_ensure_phoenix_is_a_no_op_once_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    venv = tmp_path / "spyglass-bench" / "phoenix-1.2.3"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "phoenix").write_text("#!/bin/sh\n")
    (venv / ".spyglass-bench-installed").write_text("arize-phoenix[pg]==1.2.3\n")

    def no_install(*a: object, **k: object) -> None:
        raise AssertionError("must not run pip")

    monkeypatch.setattr(phoenix.subprocess, "Popen", no_install)
    assert ensure_phoenix("1.2.3") == venv / "bin" / "phoenix"
