"""Langfuse's metrics query (`GET /metrics?query=<json>` and `/v2/metrics`), parsed and validated.

A query that passes `parse_metrics_query` names only whitelisted views and fields (the data of
`metrics_views`), aggregations and output aliases, and carries client values only as values
(timestamps, filter operands, limits): nothing a client writes becomes SQL text.

Time. `fromTimestamp`/`toTimestamp` need an explicit UTC offset; rows count when their time is in
[from, to] (both ends included, as Langfuse). `granularity: auto` takes the rule of Langfuse's
query builder (about 50 buckets at most): a range under 2 hours → minute, under 72 hours → hour,
under 60 days → day, under 365 days → week, else month.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson

from spyglass.domain.errors import InvalidInput
from spyglass.domain.filters import Condition, parse_conditions
from spyglass.domain.metrics_views import FILTER_TYPES, NUMERIC_TYPES, VERSIONS, VIEWS, View

AGGREGATIONS: Final = ("sum", "avg", "count", "max", "min", "p50", "p75", "p90", "p95", "p99", "histogram", "uniq")
GRANULARITIES: Final = ("auto", "minute", "hour", "day", "week", "month")
TIME_DIMENSION: Final = "time_dimension"

# Longest accepted [fromTimestamp, toTimestamp] range: bounds the rows one query scans.
MAX_RANGE_DAYS: Final = 400
# Most time buckets a query may ask for (a gap-filled series has one row per bucket): minute
# granularity reaches it after ~35 days, hour granularity never within MAX_RANGE_DAYS.
MAX_TIME_BUCKETS: Final = 50_000
DEFAULT_BINS: Final = 10
MAX_BINS: Final = 100
MAX_ROW_LIMIT: Final = 1000
V2_DEFAULT_ROW_LIMIT: Final = 100  # v1 has none (Langfuse's v1 applies no LIMIT unless asked)
MAX_DIMENSIONS: Final = 10
MAX_METRICS: Final = 20
MAX_FILTERS: Final = 50

_US_PER_SECOND: Final = 1_000_000
_US_PER_HOUR: Final = 3_600 * _US_PER_SECOND
_US_PER_DAY: Final = 24 * _US_PER_HOUR
_BUCKET_US: Final = {"minute": 60 * _US_PER_SECOND, "hour": _US_PER_HOUR, "day": _US_PER_DAY,
                     "week": 7 * _US_PER_DAY, "month": 28 * _US_PER_DAY}  # a month: at least 28 days


@dataclass(frozen=True, slots=True)
class Metric:
    measure: str
    aggregation: str

    @property
    def alias(self) -> str:
        """The key of the metric in each result row, as Langfuse names it."""
        return f"{self.aggregation}_{self.measure}"


@dataclass(frozen=True, slots=True)
class Order:
    field: str  # an output alias: a dimension, a metric alias or `time_dimension`
    descending: bool


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    version: str
    view: str
    dimensions: tuple[str, ...]
    metrics: tuple[Metric, ...]
    filters: tuple[Condition, ...]  # columns canonical (see `View.filter_column`)
    from_ts: int  # epoch microseconds, inclusive
    to_ts: int  # epoch microseconds, inclusive
    granularity: str | None  # resolved: never "auto"; None without a time dimension
    order_by: tuple[Order, ...]  # as asked; empty means the default order
    row_limit: int | None
    bins: int = DEFAULT_BINS
    expand: str | None = None  # the pair dimension (grouped or filtered by) whose map gives one row per entry


def view_of(version: str, name: Any) -> View:
    views = VIEWS[version]
    if name not in views:
        if version == "v2" and name == "traces":
            raise InvalidInput("Invalid query: view 'traces' is not supported in v2; "
                               "use the observations view or GET /api/public/metrics")
        raise InvalidInput(f"Invalid query: unknown view {name!r}; must be one of {', '.join(views)}")
    return views[name]


def parse_metrics_query(text: str | None, version: str, max_range_days: int = MAX_RANGE_DAYS) -> MetricsQuery:
    """The `query` parameter as a validated query; any problem is an `InvalidInput` naming it."""
    if version not in VERSIONS:
        raise ValueError(f"unknown metrics API version {version!r}")
    if text is None or not text.strip():
        raise InvalidInput("Invalid query: the `query` parameter is required (a JSON object)")
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidInput("Invalid query: the `query` parameter is not valid JSON") from None
    if not isinstance(raw, dict):
        raise InvalidInput("Invalid query: the `query` parameter must be a JSON object")
    view = view_of(version, raw.get("view"))
    dimensions = _dimensions(raw.get("dimensions"), view)
    metrics = _metrics(raw.get("metrics"), view)
    for metric in metrics:  # a pair measure is the value of its key dimension: group by it too
        required = view.measures[metric.measure].requires
        if required and required not in dimensions:
            dimensions = (*dimensions, required)
    filters = _filters(raw.get("filters"), view)
    named = [*dimensions, *(f.column for f in filters)]
    pairs = list(dict.fromkeys(name for name in named if name in view.dimensions and view.dimensions[name].pair))
    if len(pairs) > 1:  # each gives one row per entry of its map: together they would cross-multiply
        raise InvalidInput(f"Invalid query: {' and '.join(pairs)} cannot be combined (each gives one row per "
                           "entry of its map)")
    from_ts, to_ts = _time_range(raw, max_range_days)
    granularity = _granularity(raw.get("timeDimension"), from_ts, to_ts)
    order_by = _order_by(raw.get("orderBy"), dimensions, metrics, granularity is not None)
    config = raw.get("config") if raw.get("config") is not None else raw.get("chartConfig")
    row_limit, bins = _config(config, version)
    query = MetricsQuery(
        version=version, view=view.name, dimensions=dimensions, metrics=metrics,
        filters=filters, from_ts=from_ts, to_ts=to_ts, granularity=granularity, order_by=order_by,
        row_limit=row_limit, bins=bins, expand=pairs[0] if pairs else None,
    )
    if version == "v2":
        _check_high_cardinality(query, view, explicit_limit=isinstance(config, dict) and "row_limit" in config)
    return query


def _list(value: Any, key: str, limit: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"Invalid query: {key} must be an array")
    if len(value) > limit:
        raise InvalidInput(f"Invalid query: at most {limit} {key} are allowed")
    return value


def _unsupported(view: View, name: str, kind: str) -> InvalidInput:
    if name in view.unsupported:
        return InvalidInput(f"Invalid query: {kind} not supported yet: {name}")
    known = view.dimensions if kind == "dimension" else view.measures
    return InvalidInput(f"Invalid query: unknown {kind} {name!r} for view {view.name}; must be one of "
                        + ", ".join(known))


def _dimensions(value: Any, view: View) -> tuple[str, ...]:
    fields: list[str] = []
    for i, item in enumerate(_list(value, "dimensions", MAX_DIMENSIONS)):
        field = item.get("field") if isinstance(item, dict) else None
        if not isinstance(field, str) or not field:
            raise InvalidInput(f"Invalid query: dimensions[{i}] must be an object with a string `field`")
        if field not in view.dimensions:
            raise _unsupported(view, field, "dimension")
        if field in fields:
            raise InvalidInput(f"Invalid query: dimension {field} is given twice")
        fields.append(field)
    return tuple(fields)


def _metrics(value: Any, view: View) -> tuple[Metric, ...]:
    metrics: list[Metric] = []
    items = _list(value, "metrics", MAX_METRICS)
    if not items:
        raise InvalidInput("Invalid query: metrics must name at least one {measure, aggregation}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid query: metrics[{i}] must be an object with `measure` and `aggregation`")
        measure, aggregation = item.get("measure"), item.get("aggregation")
        if not isinstance(measure, str) or not measure:
            raise InvalidInput(f"Invalid query: metrics[{i}] needs a string `measure`")
        if measure not in view.measures:
            raise _unsupported(view, measure, "measure")
        if aggregation not in AGGREGATIONS:
            raise InvalidInput(
                f"Invalid query: unknown aggregation {aggregation!r} in metrics[{i}]; must be one of "
                + ", ".join(AGGREGATIONS)
            )
        kind = view.measures[measure].type
        if kind not in NUMERIC_TYPES and aggregation not in ("count", "uniq"):
            raise InvalidInput(f"Invalid query: aggregation {aggregation} is not valid for the non-numeric "
                               f"measure {measure} (type {kind}); use count or uniq")
        metric = Metric(measure, aggregation)
        if metric in metrics:
            raise InvalidInput(f"Invalid query: metric {metric.alias} is given twice")
        metrics.append(metric)
    return tuple(metrics)


def _filters(value: Any, view: View) -> tuple[Condition, ...]:
    conditions = parse_conditions(_list(value, "filters", MAX_FILTERS))
    result = []
    for i, condition in enumerate(conditions):
        found = view.filter_column(condition.column)
        if found is None:
            if condition.column in view.unsupported:
                raise InvalidInput(f"Invalid filter [{i}]: column not supported yet: {condition.column}")
            raise InvalidInput(f"Invalid filter [{i}]: unknown column {condition.column!r} for view {view.name}; "
                               f"must be one of {', '.join(view.filter_columns())}")
        column, kind = found
        if condition.type not in FILTER_TYPES[kind]:
            allowed = ", ".join(sorted(FILTER_TYPES[kind]))
            raise InvalidInput(f"Invalid filter [{i}]: type {condition.type} cannot be used on column "
                               f"'{condition.column}' ({kind}); use {allowed}")
        result.append(dataclasses.replace(condition, column=column))
    return tuple(result)


def _timestamp(raw: dict[str, Any], key: str) -> int:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"Invalid query: {key} is required (an ISO 8601 date-time with offset)")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"Invalid query: {key} {value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"Invalid query: {key} {value!r} needs a time and a UTC offset, e.g. "
                           "2025-01-01T00:00:00Z")
    return int(moment.timestamp()) * _US_PER_SECOND + moment.microsecond


def _time_range(raw: dict[str, Any], max_range_days: int) -> tuple[int, int]:
    from_ts, to_ts = _timestamp(raw, "fromTimestamp"), _timestamp(raw, "toTimestamp")
    if from_ts >= to_ts:
        raise InvalidInput("Invalid query: fromTimestamp must be before toTimestamp")
    if to_ts - from_ts > max_range_days * _US_PER_DAY:
        raise InvalidInput(f"Invalid query: the time range from fromTimestamp to toTimestamp is longer than "
                           f"the maximum of {max_range_days} days")
    return from_ts, to_ts


def auto_granularity(from_ts: int, to_ts: int) -> str:
    hours = (to_ts - from_ts) / _US_PER_HOUR
    if hours < 2:
        return "minute"
    if hours < 72:
        return "hour"
    if hours < 60 * 24:
        return "day"
    if hours < 365 * 24:
        return "week"
    return "month"


def _granularity(value: Any, from_ts: int, to_ts: int) -> str | None:
    if value is None:
        return None
    granularity = value.get("granularity") if isinstance(value, dict) else None
    if granularity not in GRANULARITIES:
        raise InvalidInput(f"Invalid query: timeDimension.granularity {granularity!r} must be one of "
                           + ", ".join(GRANULARITIES))
    if granularity == "auto":
        return auto_granularity(from_ts, to_ts)
    buckets = (to_ts - from_ts) // _BUCKET_US[granularity] + 1
    if buckets > MAX_TIME_BUCKETS:
        raise InvalidInput(f"Invalid query: granularity {granularity} over this time range gives {buckets} time "
                           f"buckets, more than {MAX_TIME_BUCKETS}; use a coarser granularity or a shorter range")
    return granularity


def _order_by(value: Any, dimensions: tuple[str, ...], metrics: tuple[Metric, ...], timed: bool) -> tuple[Order, ...]:
    metric_aliases = [m.alias for m in metrics if m.aggregation != "histogram"]
    fields = [*dimensions, *metric_aliases, *([TIME_DIMENSION] if timed else [])]
    orders: list[Order] = []
    for i, item in enumerate(_list(value, "orderBy", len(fields) or 1)):
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid query: orderBy[{i}] must be an object with `field` and `direction`")
        field, direction = item.get("field"), item.get("direction", "asc")
        if field not in fields:
            hint = "; histograms cannot be ordered by" if any(field == m.alias for m in metrics) else ""
            raise InvalidInput(f"Invalid query: unknown orderBy field {field!r}; must be one of "
                               f"{', '.join(fields)}{hint}")
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"Invalid query: orderBy[{i}].direction must be asc or desc, got {direction!r}")
        if any(order.field == field for order in orders):
            raise InvalidInput(f"Invalid query: orderBy field {field} is given twice")
        orders.append(Order(field, direction == "desc"))
    return tuple(orders)


def _bounded_int(config: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"Invalid query: config.{key} must be an integer from {low} to {high}, got {value!r}")
    return value


def _config(value: Any, version: str) -> tuple[int | None, int]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidInput("Invalid query: config must be an object")
    row_limit = _bounded_int(value, "row_limit", 1, MAX_ROW_LIMIT)
    bins = _bounded_int(value, "bins", 1, MAX_BINS)
    if row_limit is None and version == "v2":
        row_limit = V2_DEFAULT_ROW_LIMIT
    return row_limit, DEFAULT_BINS if bins is None else bins


def _check_high_cardinality(query: MetricsQuery, view: View, explicit_limit: bool) -> None:
    """v2 groups by an id-like dimension only for a top-N list, as Langfuse's v2 (unbounded otherwise)."""
    high = [d for d in query.dimensions if view.dimensions[d].high_cardinality]
    if not high:
        return
    names = ", ".join(high)
    if query.granularity is not None:
        raise InvalidInput(f"Invalid query: high cardinality dimension(s) {names} cannot be used with "
                           "timeDimension; filter on them instead")
    metric_aliases = {m.alias for m in query.metrics}
    descending = [o for o in query.order_by if o.descending]
    if not explicit_limit or not descending or any(o.field not in metric_aliases for o in descending):
        raise InvalidInput(f"Invalid query: high cardinality dimension(s) {names} require config.row_limit and "
                           "orderBy with direction desc on a metric of the query (a top-N list); "
                           "or filter on them instead")
