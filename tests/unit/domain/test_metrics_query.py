"""Validation of the metrics query JSON: every refusal is a 400 that names what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from spyglass.domain.errors import InvalidInput
from spyglass.domain.metrics_query import (
    MAX_RANGE_DAYS,
    MAX_TIME_BUCKETS,
    V2_DEFAULT_ROW_LIMIT,
    Metric,
    Order,
    auto_granularity,
    parse_metrics_query,
)
from spyglass.domain.metrics_views import VIEWS

COUNT = {"measure": "count", "aggregation": "count"}
HOUR = 3_600 * 1_000_000


def query(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"view": "observations", "metrics": [COUNT],
                            "fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-01-31T00:00:00Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}


def parse(version: str = "v1", **fields: Any):
    return parse_metrics_query(json.dumps(query(**fields)), version)


def refused(version: str = "v1", **fields: Any) -> str:
    with pytest.raises(InvalidInput) as error:
        parse(version, **fields)
    return error.value.message


def test_a_full_query_becomes_typed_values() -> None:
    parsed = parse(
        "v2",
        dimensions=[{"field": "providedModelName"}],
        metrics=[COUNT, {"measure": "totalCost", "aggregation": "sum"}],
        filters=[{"type": "string", "column": "type", "operator": "=", "value": "GENERATION"},
                 {"type": "datetime", "column": "start_time", "operator": ">=", "value": "2025-01-02T00:00:00Z"}],
        timeDimension={"granularity": "day"},
        orderBy=[{"field": "sum_totalCost", "direction": "desc"}],
        config={"bins": 5, "row_limit": 7},
    )
    assert parsed.view == "observations" and parsed.version == "v2"
    assert parsed.dimensions == ("providedModelName",)
    assert parsed.metrics == (Metric("count", "count"), Metric("totalCost", "sum"))
    assert [m.alias for m in parsed.metrics] == ["count_count", "sum_totalCost"]
    columns = [(f.column, f.value) for f in parsed.filters]
    assert columns == [("type", "GENERATION"), ("startTime", "2025-01-02T00:00:00Z")]
    assert parsed.from_ts == 1_735_689_600_000_000 and parsed.to_ts == parsed.from_ts + 30 * 24 * HOUR
    assert parsed.granularity == "day"
    assert parsed.order_by == (Order("sum_totalCost", descending=True),)
    assert (parsed.row_limit, parsed.bins) == (7, 5)


def test_defaults_and_row_limit_per_version() -> None:
    v1, v2 = parse("v1"), parse("v2")
    assert (v1.dimensions, v1.filters, v1.granularity, v1.order_by, v1.bins) == ((), (), None, (), 10)
    assert v1.row_limit is None
    assert v2.row_limit == V2_DEFAULT_ROW_LIMIT
    nulls = parse("v1", dimensions=None, filters=None, timeDimension=None, orderBy=None, config=None)
    assert nulls.dimensions == () and nulls.row_limit is None


@pytest.mark.parametrize("text", [None, "", "   "])
def test_the_query_parameter_is_required(text: str | None) -> None:
    with pytest.raises(InvalidInput, match="`query` parameter is required"):
        parse_metrics_query(text, "v1")


@pytest.mark.parametrize(("text", "problem"), [("{view:", "not valid JSON"), ("[1]", "must be a JSON object")])
def test_the_query_must_be_a_json_object(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_metrics_query(text, "v1")


def test_unknown_view() -> None:
    assert "unknown view 'sessions'" in refused(view="sessions")
    assert "unknown view None" in refused(view=...)


def test_the_traces_view_is_v1_only() -> None:
    assert parse("v1", view="traces").view == "traces"
    assert "view 'traces' is not supported in v2" in refused("v2", view="traces")


def test_unknown_dimension_and_measure_are_named() -> None:
    assert "unknown dimension 'colour' for view observations" in refused(dimensions=[{"field": "colour"}])
    assert "unknown measure 'value' for view observations" in refused(
        metrics=[{"measure": "value", "aggregation": "sum"}])
    # a field of another view is unknown here
    assert "unknown dimension 'stringValue'" in refused(view="scores-numeric", dimensions=[{"field": "stringValue"}])
    assert "unknown dimension 'isRootObservation'" in refused("v1", dimensions=[{"field": "isRootObservation"}])


def test_fields_without_data_yet_say_so() -> None:
    assert "dimension not supported yet: toolNames" in refused(dimensions=[{"field": "toolNames"}])
    assert "measure not supported yet: toolCalls" in refused(metrics=[{"measure": "toolCalls", "aggregation": "sum"}])
    assert "dimension not supported yet: experimentId" in refused("v2", dimensions=[{"field": "experimentId"}])
    assert "not supported yet: evaluatorId" in refused(view="scores-numeric", dimensions=[{"field": "evaluatorId"}])


def test_unknown_aggregation() -> None:
    message = refused(metrics=[{"measure": "latency", "aggregation": "median"}])
    assert "unknown aggregation 'median'" in message and "p95" in message


@pytest.mark.parametrize("aggregation", ["sum", "avg", "max", "p50", "histogram"])
def test_non_numeric_measures_only_count_or_uniq(aggregation: str) -> None:
    message = refused("v2", metrics=[{"measure": "traceId", "aggregation": aggregation}])
    assert f"aggregation {aggregation} is not valid for the non-numeric measure traceId" in message
    assert "use count or uniq" in message
    assert parse("v2", metrics=[{"measure": "traceId", "aggregation": "uniq"}]).metrics[0].alias == "uniq_traceId"
    assert "uniqueUserIds" in refused(view="traces", metrics=[{"measure": "uniqueUserIds", "aggregation": aggregation}])


def test_metrics_are_required_and_shaped() -> None:
    assert "metrics must name at least one" in refused(metrics=[])
    assert "metrics must name at least one" in refused(metrics=...)
    assert "metrics must be an array" in refused(metrics={"measure": "count"})
    assert "metrics[0] needs a string `measure`" in refused(metrics=[{"aggregation": "count"}])
    assert "metric count_count is given twice" in refused(metrics=[COUNT, COUNT])
    assert "dimensions[0] must be an object" in refused(dimensions=["name"])
    assert "dimension name is given twice" in refused(dimensions=[{"field": "name"}, {"field": "name"}])


@pytest.mark.parametrize("granularity", ["second", "year", "", None, 3])
def test_bad_granularity(granularity: Any) -> None:
    message = refused(timeDimension={"granularity": granularity})
    assert "timeDimension.granularity" in message and "minute, hour, day, week, month" in message


def test_auto_granularity_follows_the_range() -> None:
    assert auto_granularity(0, HOUR) == "minute"
    assert auto_granularity(0, 2 * HOUR) == "hour"
    assert auto_granularity(0, 71 * HOUR) == "hour"
    assert auto_granularity(0, 72 * HOUR) == "day"
    assert auto_granularity(0, 59 * 24 * HOUR) == "day"
    assert auto_granularity(0, 60 * 24 * HOUR) == "week"
    assert auto_granularity(0, 365 * 24 * HOUR) == "month"
    assert parse(timeDimension={"granularity": "auto"}).granularity == "day"  # 30 days


def test_too_many_time_buckets() -> None:
    message = refused(timeDimension={"granularity": "minute"}, toTimestamp="2025-02-10T00:00:00Z")  # 40 days
    assert f"granularity minute over this time range gives 57601 time buckets, more than {MAX_TIME_BUCKETS}" in message
    assert parse(timeDimension={"granularity": "minute"}).granularity == "minute"  # 30 days: 43201 buckets
    assert parse(timeDimension={"granularity": "hour"}, toTimestamp="2026-02-04T00:00:00Z").granularity == "hour"


def test_timestamps_are_required_with_an_offset() -> None:
    assert "fromTimestamp is required" in refused(fromTimestamp=...)
    assert "toTimestamp is required" in refused(toTimestamp=None)
    assert "fromTimestamp 'yesterday' is not an ISO 8601 date-time" in refused(fromTimestamp="yesterday")
    assert "needs a time and a UTC offset" in refused(fromTimestamp="2025-01-01T00:00:00")
    assert "needs a time and a UTC offset" in refused(toTimestamp="2025-01-31")
    offset = parse(fromTimestamp="2025-01-01T02:00:00+02:00")
    assert offset.from_ts == 1_735_689_600_000_000


@pytest.mark.parametrize("to", ["2025-01-01T00:00:00Z", "2024-12-31T23:59:59Z"])
def test_from_must_be_before_to(to: str) -> None:
    assert "fromTimestamp must be before toTimestamp" in refused(toTimestamp=to)


def test_range_too_long() -> None:
    message = refused(toTimestamp="2026-02-05T00:00:01Z")
    assert f"longer than the maximum of {MAX_RANGE_DAYS} days" in message
    assert parse(toTimestamp="2026-02-05T00:00:00Z").to_ts  # exactly 400 days
    with pytest.raises(InvalidInput, match="maximum of 7 days"):
        parse_metrics_query(json.dumps(query()), "v1", max_range_days=7)


def test_order_by_output_aliases_only() -> None:
    parsed = parse(dimensions=[{"field": "name"}], timeDimension={"granularity": "day"},
                   metrics=[COUNT, {"measure": "latency", "aggregation": "p95"}],
                   orderBy=[{"field": "p95_latency", "direction": "desc"}, {"field": "name", "direction": "asc"},
                            {"field": "time_dimension", "direction": "asc"}])
    assert [o.field for o in parsed.order_by] == ["p95_latency", "name", "time_dimension"]
    message = refused(orderBy=[{"field": "latency", "direction": "desc"}])
    assert "unknown orderBy field 'latency'" in message and "count_count" in message
    assert "unknown orderBy field 'name'" in refused(orderBy=[{"field": "name", "direction": "asc"}])
    assert "unknown orderBy field 'time_dimension'" in refused(orderBy=[{"field": "time_dimension"}])
    assert "direction must be asc or desc" in refused(orderBy=[{"field": "count_count", "direction": "down"}])
    histogram = refused(metrics=[{"measure": "latency", "aggregation": "histogram"}],
                        orderBy=[{"field": "histogram_latency", "direction": "asc"}])
    assert "histograms cannot be ordered by" in histogram


@pytest.mark.parametrize(("config", "problem"), [
    ({"row_limit": 0}, "config.row_limit must be an integer from 1 to 1000, got 0"),
    ({"row_limit": 1001}, "config.row_limit must be an integer from 1 to 1000, got 1001"),
    ({"row_limit": "10"}, "config.row_limit must be an integer from 1 to 1000, got '10'"),
    ({"row_limit": True}, "config.row_limit must be an integer"),
    ({"bins": 0}, "config.bins must be an integer from 1 to 100, got 0"),
    ({"bins": 101}, "config.bins must be an integer from 1 to 100, got 101"),
    ({"bins": 2.5}, "config.bins must be an integer from 1 to 100, got 2.5"),
    ([1], "config must be an object"),
])
def test_config_bounds(config: Any, problem: str) -> None:
    assert problem in refused(config=config)


def test_config_edges_are_accepted() -> None:
    assert (parse(config={"row_limit": 1, "bins": 1}).row_limit, parse(config={"bins": 1}).bins) == (1, 1)
    assert parse(config={"row_limit": 1000.0, "bins": 100}).row_limit == 1000


def test_filters_are_checked_against_the_view() -> None:
    message = refused(filters=[{"type": "string", "column": "colour", "operator": "=", "value": "red"}])
    assert "unknown column 'colour' for view observations" in message and "providedModelName" in message
    typed = refused(filters=[{"type": "string", "column": "tags", "operator": "=", "value": "x"}])
    assert "type string cannot be used on column 'tags'" in typed and "arrayOptions" in typed
    assert "column not supported yet: toolNames" in refused(
        filters=[{"type": "arrayOptions", "column": "toolNames", "operator": "any of", "value": ["x"]}])
    # the filter object's own shape is checked by the shared filter parser
    assert "operator 'like' is not valid for type string" in refused(
        filters=[{"type": "string", "column": "name", "operator": "like", "value": "x"}])
    metadata = parse(filters=[{"type": "stringObject", "column": "metadata", "key": "k", "operator": "=",
                               "value": "v"}])
    assert metadata.filters[0].column == "metadata"
    timestamp = parse(view="traces", filters=[{"type": "datetime", "column": "timestamp", "operator": "<",
                                               "value": "2025-01-02T00:00:00Z"}])
    assert timestamp.filters[0].column == "timestamp"


def test_v2_groups_by_high_cardinality_fields_only_for_a_top_n() -> None:
    top_n = parse("v2", dimensions=[{"field": "traceId"}], config={"row_limit": 10},
                  orderBy=[{"field": "count_count", "direction": "desc"}])
    assert top_n.dimensions == ("traceId",)
    assert "high cardinality dimension(s) traceId require config.row_limit" in refused(
        "v2", dimensions=[{"field": "traceId"}], orderBy=[{"field": "count_count", "direction": "desc"}])
    assert "require config.row_limit and orderBy with direction desc" in refused(
        "v2", dimensions=[{"field": "userId"}], config={"row_limit": 10})
    assert "cannot be used with timeDimension" in refused(
        "v2", dimensions=[{"field": "sessionId"}], timeDimension={"granularity": "day"}, config={"row_limit": 10},
        orderBy=[{"field": "count_count", "direction": "desc"}])
    # v1 and filters have no such rule
    assert parse("v1", dimensions=[{"field": "traceId"}]).dimensions == ("traceId",)
    assert parse("v2", filters=[{"type": "string", "column": "traceId", "operator": "=", "value": "t"}]).filters


def test_pair_measures_bring_their_dimension() -> None:
    parsed = parse("v2", metrics=[{"measure": "costByType", "aggregation": "sum"}])
    assert (parsed.dimensions, parsed.expand) == (("costType",), "costType")
    assert "usageType and costType cannot be combined" in refused(
        "v2", dimensions=[{"field": "usageType"}], metrics=[{"measure": "costByType", "aggregation": "sum"}])
    filtered = parse("v2", filters=[{"type": "string", "column": "usageType", "operator": "=", "value": "input"}])
    assert (filtered.dimensions, filtered.expand) == ((), "usageType")
    assert "costType and usageType cannot be combined" in refused(
        "v2", dimensions=[{"field": "costType"}],
        filters=[{"type": "string", "column": "usageType", "operator": "=", "value": "input"}])
    assert parse("v2").expand is None


def test_score_views_per_data_type() -> None:
    numeric, boolean, categorical = (VIEWS["v1"][name] for name in
                                     ("scores-numeric", "scores-boolean", "scores-categorical"))
    assert "value" in numeric.measures and "value" in numeric.dimensions and "stringValue" not in numeric.dimensions
    assert "booleanValue" in boolean.dimensions and "booleanValue" not in numeric.dimensions
    assert set(categorical.measures) == {"count"} and "stringValue" in categorical.dimensions
    assert "datasetRunId" in VIEWS["v2"]["scores-numeric"].dimensions
    assert "datasetRunId" not in numeric.dimensions


def test_too_many_fields() -> None:
    dims = [{"field": name} for name in list(VIEWS["v1"]["observations"].dimensions)[:11]]
    assert "at most 10 dimensions are allowed" in refused(dimensions=dims)
