"""Runs a validated metrics query (`domain.metrics_query`) as one aggregate statement.

Shape, for the observations view (the others differ only in table, alias and joins):

    SELECT <dimension> AS `name`, ..., <bucket>(o.start_time) AS time_dimension,
           <aggregation>(<measure>) AS `p95_latency`, ...
    FROM (SELECT * FROM observations FINAL WHERE project_id = ... AND <window>) AS o
    LEFT JOIN <what the fields need, one row per base row>
    WHERE <filters>
    GROUP BY <dimensions>, time_dimension
    ORDER BY ... [WITH FILL ...] LIMIT ...

Every row of the base table counts once (joins are pre-aggregated per key, see `metrics_fields`),
so measures aggregate per-row values directly: one level, no per-id inner query. Identifiers come
only from the whitelists (`domain.metrics_views.VIEWS`, `metrics_fields.VIEW_SQL`); the project, the
window, filter operands and the row limit are bound parameters; the histogram's bin count, an int
already range-checked by the domain, is the one number written into the SQL (an aggregate
function's parameter cannot be bound).

Time buckets (Langfuse's functions): minute/hour start as a UTC date-time, day/week (Monday)/month
as a date; rendered "YYYY-MM-DDTHH:MM:SSZ" and "YYYY-MM-DD", as Langfuse's ClickHouse answers.
Without an explicit orderBy a time series is ordered by bucket and gap-filled (`WITH FILL`) from the
bucket of fromTimestamp up to, not including, the bucket of toTimestamp, as Langfuse: filled rows
carry zeros and empty dimensions. Rows that tie on the requested order follow the dimensions, so a
limited answer is deterministic.
"""

from __future__ import annotations

from typing import Any, Final

from spyglass.domain.metrics_query import TIME_DIMENSION, Metric, MetricsQuery, Order
from spyglass.domain.metrics_views import VIEWS
from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.gate import VisibilityGate
from spyglass.storage.olap.metrics_fields import PAIRS, VIEW_SQL, Sql, ViewSql
from spyglass.storage.olap.where import Column, Where

_HOUR_US: Final = 3_600 * 1_000_000
_DAY_US: Final = 24 * _HOUR_US
_BUCKETS: Final = {"minute": "toStartOfMinute", "hour": "toStartOfHour", "day": "toDate", "week": "toMonday",
                   "month": "toStartOfMonth"}
_STEPS: Final = {"minute": "MINUTE", "hour": "HOUR", "day": "DAY", "week": "WEEK", "month": "MONTH"}
_QUANTILES: Final = {"p50": "0.5", "p75": "0.75", "p90": "0.9", "p95": "0.95", "p99": "0.99"}
_KINDS: Final = {"string": "string", "string[]": "array", "number": "number", "boolean": "bool",
                 "datetime": "datetime", "map": "map"}


class MetricsQueryRunner:
    def __init__(self, client: OlapClient, gate: VisibilityGate | None = None) -> None:
        self.client = client
        self.gate = gate or VisibilityGate()

    def run(self, project_id: str, query: MetricsQuery) -> list[dict[str, Any]]:
        """One dict per group: dimension fields, `time_dimension` if asked, then `<aggregation>_<measure>`."""
        sql, params = build_sql(project_id, query)
        with self.gate.reading():
            rows = self.client.rows(sql, params)
        if query.granularity is not None:
            for row in rows:
                row[TIME_DIMENSION] = _iso_bucket(row[TIME_DIMENSION])
        return rows


def build_sql(project_id: str, query: MetricsQuery) -> tuple[str, dict[str, Any]]:
    view = VIEWS[query.version][query.view]
    spec = VIEW_SQL[(query.version, query.view)]
    where = Where()
    window = _Window(where, project_id, query)
    columns = spec.columns()
    used = [spec.dimensions[d] for d in query.dimensions]
    used += [spec.measures[m.measure] for m in query.metrics]
    used += [columns[c.column] for c in query.filters]
    joins = [spec.joins[name].format_map(window) for name in spec.joins if any(name in s.joins for s in used)]

    select = [f"{spec.dimensions[d].expr} AS `{d}`" for d in query.dimensions]
    group = [f"`{d}`" for d in query.dimensions]
    if query.granularity is not None:
        select.append(f"{_BUCKETS[query.granularity]}({spec.time}) AS {TIME_DIMENSION}")
        group.append(TIME_DIMENSION)
    for metric in query.metrics:
        measure = view.measures[metric.measure]
        select.append(f"{_aggregate(metric, spec.measures[metric.measure], measure.distinct, query.bins)} "
                      f"AS `{metric.alias}`")

    filterable: dict[str, Column] = {}
    for condition in query.filters:
        found = view.filter_column(condition.column)
        if found is not None:  # always: the domain let only the view's columns through
            filterable[condition.column] = Column(columns[condition.column].expr, _KINDS[found[1]])
    where.conditions(list(query.filters), filterable)
    order = _order(query, window)
    sql = "\n".join([
        "SELECT " + ",\n    ".join(select),
        f"FROM ({_base(spec, query, window)}) AS {spec.alias}",
        *joins,
        f"WHERE {where.sql}",
        *(["GROUP BY " + ", ".join(group)] if group else []),
        *(["ORDER BY " + ", ".join(order)] if order else []),
        *([f"LIMIT {where.param(query.row_limit, 'UInt32')}"] if query.row_limit is not None else []),
        "SETTINGS join_use_nulls = 1, do_not_merge_across_partitions_select_final = 1",
    ])
    return sql, where.params


class _Window(dict[str, str]):
    """SQL of the project and time bounds for the base read and the joins, each bound once when first used."""

    def __init__(self, where: Where, project_id: str, query: MetricsQuery) -> None:
        super().__init__()
        start, end = query.from_ts, query.to_ts
        self._where = where
        self._values: dict[str, tuple[Any, str]] = {
            "p": (project_id, "String"), "start": (start, "Int64"), "end": (end, "Int64"),
            # Langfuse's join bounds: an observation starts at most 1 hour before and 2 days after its trace.
            "obs_start": (start - _HOUR_US, "Int64"), "obs_end": (end + 2 * _DAY_US, "Int64"),
            "trace_start": (start - 2 * _DAY_US, "Int64"), "trace_end": (end + _HOUR_US, "Int64"),
        }

    def __missing__(self, key: str) -> str:
        value, ch_type = self._values[key]
        placeholder = self._where.param(value, ch_type)
        self[key] = placeholder if ch_type == "String" else f"fromUnixTimestamp64Micro({placeholder}, 'UTC')"
        return self[key]


def _base(spec: ViewSql, query: MetricsQuery, window: _Window) -> str:
    time = spec.time.removeprefix(f"{spec.alias}.")  # inside the base read the table has no alias yet
    conditions = [f"project_id = {window['p']}", f"{time} >= {window['start']}", f"{time} <= {window['end']}",
                  "is_deleted = 0", *([spec.segment] if spec.segment else [])]
    expand = ""
    columns = "*"
    if query.expand is not None:  # one row per map entry: the key is the dimension, the value the ...ByType measure
        pair = PAIRS[query.expand]
        expand = f" ARRAY JOIN mapKeys({pair}) AS pair_key, mapValues({pair}) AS pair_value"
        columns = "*, pair_key, pair_value"
    return f"SELECT {columns} FROM {spec.table} FINAL{expand} WHERE {' AND '.join(conditions)}"


def _aggregate(metric: Metric, sql: Sql, distinct: bool, bins: int) -> str:
    value, aggregation = sql.expr, metric.aggregation
    if distinct or aggregation == "uniq":  # a distinct measure counts distinct values under count too
        return f"uniq({value})"
    if aggregation in _QUANTILES:
        return f"quantile({_QUANTILES[aggregation]})({value})"
    if aggregation == "histogram":
        return f"histogram({int(bins)})(toFloat64({value}))"
    return f"{aggregation}({value})"


def _order(query: MetricsQuery, window: _Window) -> list[str]:
    orders = list(query.order_by)
    fill = ""
    if not orders:  # Langfuse's default: the time series, else the first metric (histograms do not sort)
        first_metric = next((m.alias for m in query.metrics if m.aggregation != "histogram"), None)
        if query.granularity is not None:
            orders.append(Order(TIME_DIMENSION, descending=False))
            bucket = _BUCKETS[query.granularity]
            fill = (f" WITH FILL FROM {bucket}({window['start']}) TO {bucket}({window['end']})"
                    f" STEP INTERVAL 1 {_STEPS[query.granularity]}")
        elif first_metric is not None:
            orders.append(Order(first_metric, descending=True))
    named = {o.field for o in orders}
    ties = [Order(d, descending=False) for d in query.dimensions if d not in named]
    if query.granularity is not None and TIME_DIMENSION not in named:
        ties.append(Order(TIME_DIMENSION, descending=False))
    clauses = [f"`{o.field}` {'DESC' if o.descending else 'ASC'}" for o in [*orders, *ties]]
    if clauses and fill:
        clauses[0] += fill
    return clauses


def _iso_bucket(value: Any) -> Any:
    """ClickHouse's "YYYY-MM-DD hh:mm:ss" (UTC) as ISO 8601; dates stay "YYYY-MM-DD"."""
    if isinstance(value, str) and " " in value:
        return value.replace(" ", "T") + "Z"
    return value
