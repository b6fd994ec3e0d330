"""Daily metrics (`GET /metrics/daily`): traces, observations, usage and cost per UTC day.

Two statements, both aggregated in ClickHouse and scoped by project first:

1. the days that have matching traces, with their trace counts (`traces FINAL`, pruned by
   the ordering key `(project_id, toDate(timestamp))` when a time window is given);
2. for the requested page of days only: the matching traces of those days joined with
   their observations, grouped by (day, model), then folded into one row per day.

A day's observations are those of the traces counted on that day (each trace's whole
usage lands on the trace's day), so every number in a row describes the same traces and
`totalItems` counts exactly the days that `data` can list. (Langfuse puts an observation on
its own start day instead: a generation just after midnight can land on a day that has no
traces and that its `totalItems` does not count.) Observations are looked for
from one hour before to two days after their trace, Langfuse's own bounds for joining
traces to observations (TRACE_TO_OBSERVATIONS_INTERVAL / OBSERVATIONS_TO_TRACE_INTERVAL):
it lets the observation scan use its ordering key too.

Speed notes (measured on chDB at 10M observations):
* distinct traces per model are counted in a bitmap of dense per-trace row numbers
  instead of hashing every observation's trace id a second time (the numbers are unique
  within one server's query; a Distributed table would need `uniqExact(t.id)` instead);
* with a trace filter, observations are first narrowed to the matching trace ids: a
  PREWHERE before FINAL on a sorting-key column `(project_id, day, trace_id, id)`;
* usage maps are summed per group with `sumMap`; input/output are reduced from the
  summed map (sum of keys containing "input"/"output", as Langfuse), not per row;
  cost is `cost_details['total']`, the same total as a trace's `totalCost`;
* partitions (months) are a function of the ordering key's day, so FINAL never needs to
  merge across them (`do_not_merge_across_partitions_select_final`): fully merged months
  cost no more than a plain read.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from spyglass.domain.queries import DailyMetricsQuery, Page
from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.codec import DAY_US, TIME_MAX_US, TIME_MIN_US
from spyglass.storage.olap.gate import VisibilityGate
from spyglass.storage.olap.where import Where

_EPOCH: Final = date(1970, 1, 1)
# Langfuse's join bounds: an observation starts at most 1 h before and 2 days after its trace.
_LOOKBACK_US: Final = 3_600 * 1_000_000
_LOOKAHEAD_US: Final = 2 * DAY_US

# The per-model entries of a day, in this order inside each `usage` tuple.
USAGE_FIELDS: Final = (
    "model",
    "input_usage",
    "output_usage",
    "total_usage",
    "total_cost",
    "count_observations",
    "count_traces",
)

_DAYS_SQL: Final = """
SELECT toDate32(timestamp) AS date, count() AS count_traces
FROM traces FINAL
WHERE {where}
GROUP BY date
ORDER BY date DESC
SETTINGS do_not_merge_across_partitions_select_final = 1
"""

_USAGE_SQL: Final = """
SELECT
    date,
    sum(observations) AS count_observations,
    toFloat64(sum(cost)) AS total_cost,
    arraySort(u -> (isNull(u.1), u.1), groupArray(tuple(
        model, input_usage, output_usage, total_usage, toFloat64(cost), observations, traces
    ))) AS usage
FROM (
    SELECT
        t.date AS date,
        o.provided_model_name AS model,
        count() AS observations,
        groupBitmap(t.n) AS traces,
        sumMap(o.usage_details) AS usage_sums,
        arraySum(mapValues(mapFilter((k, v) -> positionCaseInsensitive(k, 'input') > 0, usage_sums)))
            AS input_usage,
        arraySum(mapValues(mapFilter((k, v) -> positionCaseInsensitive(k, 'output') > 0, usage_sums)))
            AS output_usage,
        usage_sums['total'] AS total_usage,
        sum(o.cost_details['total']) AS cost
    FROM (
        SELECT trace_id, start_time, provided_model_name, usage_details, cost_details
        FROM observations AS o FINAL
        {prewhere}
        WHERE {observation_where}
    ) AS o
    INNER JOIN (
        SELECT id, toDate32(timestamp) AS date, toUInt32(rowNumberInAllBlocks()) AS n,
            timestamp - INTERVAL 1 HOUR AS first_start, timestamp + INTERVAL 2 DAY AS last_start
        FROM traces FINAL
        WHERE {trace_where}
    ) AS t ON o.trace_id = t.id
    WHERE o.start_time >= t.first_start AND o.start_time < t.last_start
    GROUP BY date, model
)
GROUP BY date
ORDER BY date DESC
SETTINGS do_not_merge_across_partitions_select_final = 1
"""


class MetricsQueries:
    def __init__(self, client: OlapClient, gate: VisibilityGate | None = None) -> None:
        self.client = client
        self.gate = gate or VisibilityGate()

    def daily_metrics(self, project_id: str, query: DailyMetricsQuery, page: Page) -> tuple[list[dict[str, Any]], int]:
        """One page of days (newest first) and the number of days with matching traces.

        Each row: `date` ("YYYY-MM-DD"), `count_traces`, `count_observations`,
        `total_cost` and `usage`, a list of dicts keyed by `USAGE_FIELDS` (one per
        model, `None` for observations without a model; ordered by model, `None` last).
        """
        where = _trace_where(project_id, query)
        with self.gate.reading():  # both statements see the same writes
            days = self.client.rows(_DAYS_SQL.format(where=where.sql), where.params)
            shown = days[page.offset : page.offset + page.limit]
            usage = self._usage_by_day(project_id, query, shown) if shown else {}
        return [_day_row(day, usage.get(day["date"])) for day in shown], len(days)

    def _usage_by_day(
        self, project_id: str, query: DailyMetricsQuery, days: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        # The page's days are consecutive among the days with traces: their span holds no other.
        start = max(_day_start(days[-1]["date"]), TIME_MIN_US if query.from_ts is None else query.from_ts)
        end = min(_day_start(days[0]["date"]) + DAY_US, TIME_MAX_US if query.to_ts is None else query.to_ts)
        traces = _trace_where(project_id, query)
        traces.time_range("timestamp", start, end)
        observations = traces.nested()
        observations.equals("o.project_id", project_id)
        observations.time_range(
            "o.start_time", max(start - _LOOKBACK_US, TIME_MIN_US), min(end + _LOOKAHEAD_US, TIME_MAX_US)
        )
        observations.any_of("o.environment", query.environments)
        prewhere = ""
        if query.trace_name or query.user_id or query.tags or query.environments:
            # A filtered trace set is usually small: skip other traces' granules (trace_id is in
            # the sorting key) and drop their rows before FINAL reads and merges the other columns.
            # Exact, since an observation's trace_id never changes between its versions.
            prewhere = f"PREWHERE o.trace_id IN (SELECT id FROM traces FINAL WHERE {traces.sql})"
        sql = _USAGE_SQL.format(prewhere=prewhere, trace_where=traces.sql, observation_where=observations.sql)
        return {row["date"]: row for row in self.client.rows(sql, traces.params)}


def _trace_where(project_id: str, query: DailyMetricsQuery) -> Where:
    where = Where()
    where.equals("project_id", project_id)
    where.equals("name", query.trace_name)
    where.equals("user_id", query.user_id)
    where.any_of("environment", query.environments)
    where.all_of("tags", query.tags)
    where.time_range("timestamp", query.from_ts, query.to_ts)
    return where


def _day_start(text: str) -> int:
    return (date.fromisoformat(text) - _EPOCH).days * DAY_US


def _day_row(day: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    if usage is None:  # traces without observations
        return {**day, "count_observations": 0, "total_cost": 0.0, "usage": []}
    models = [dict(zip(USAGE_FIELDS, entry, strict=True)) for entry in usage["usage"]]
    for model in models:
        model["total_cost"] = float(model["total_cost"])
    return {
        **day,
        "count_observations": usage["count_observations"],
        "total_cost": float(usage["total_cost"]),
        "usage": models,
    }
