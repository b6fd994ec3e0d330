"""The SQL of every view, dimension and measure of the metrics query (`domain.metrics_views`).

Each view reads one table deduplicated (`FINAL`, tombstones excluded) under the alias its
expressions use, and LEFT JOINs what a field needs, each join at most one row per base row
(pre-aggregated per key), so every base row is counted once whatever is asked:

* `traces` view (`t`): `ob`, its observations rolled up per trace (those starting from 1 hour
  before the window to 2 days after it: Langfuse's trace/observation join bounds, as the daily
  metrics); `sc`, the number of its scores (all of them, whenever they were made);
* `observations` view (`o`): `t`, its trace (looked for in the same join bounds: a trace from
  2 days before the window to 1 hour after it); `sc`, the number of its scores;
* score views (`s`): `t`, the score's trace, and `o`, the score's observation.

Join columns are NULL when nothing matched (`join_use_nulls`), so a trace without observations
has a NULL latency and cost (left out of avg/percentiles) and 0 observations. Expressions are
fixed text: client values only ever arrive as query parameters (see `metrics_query`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class Sql:
    expr: str
    joins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ViewSql:
    table: str
    alias: str
    time: str  # the column rows are windowed and bucketed by
    dimensions: Mapping[str, Sql]
    measures: Mapping[str, Sql]
    joins: Mapping[str, str]  # name → LEFT JOIN template, formatted with the window's parameters
    segment: str = ""  # a fixed condition of the view (which score data types it holds)

    def columns(self) -> dict[str, Sql]:
        """Every filterable column by its canonical name (dimensions, the time column, metadata)."""
        return {**self.dimensions, "timestamp": Sql(self.time), "startTime": Sql(self.time),
                "metadata": Sql(f"{self.alias}.metadata")}


def _keys_sum(column: str, needle: str) -> str:
    """Sum of a usage/cost map's entries whose key contains `needle` (Langfuse's input/output rule)."""
    return f"arraySum(mapValues(mapFilter((k, v) -> positionCaseInsensitive(k, '{needle}') > 0, {column})))"


def _millis(start: str, end: str) -> str:
    return f"dateDiff('microsecond', {start}, {end}) / 1000"


def _seconds(start: str, end: str) -> str:
    return f"nullIf(dateDiff('microsecond', {start}, {end}) / 1e6, 0)"


_TRACE_COLUMNS: Final = "id, name, user_id, session_id, tags, release, version"
# Window placeholders: {p} project, {start}/{end} the window, {obs_start}/{obs_end} and
# {trace_start}/{trace_end} the join bounds around it.
_TRACE_OBSERVATIONS: Final = """LEFT JOIN (
    SELECT trace_id, count() AS observations, min(start_time) AS first_start,
        max(greatest(start_time, ifNull(end_time, start_time))) AS last_end,
        sum(usage_details['total']) AS total_tokens,
        if(countIf(mapContains(cost_details, 'total')) > 0,
            sumIf(toFloat64(cost_details['total']), mapContains(cost_details, 'total')), NULL) AS total_cost
    FROM observations FINAL
    WHERE project_id = {p} AND start_time >= {obs_start} AND start_time <= {obs_end} AND is_deleted = 0
        AND trace_id IN (SELECT id FROM traces WHERE project_id = {p} AND timestamp >= {start} AND timestamp <= {end})
    GROUP BY trace_id
) AS ob ON ob.trace_id = t.id"""
_TRACE_SCORES: Final = """LEFT JOIN (
    SELECT trace_id, count() AS n FROM scores FINAL
    WHERE project_id = {p} AND is_deleted = 0
        AND trace_id IN (SELECT id FROM traces WHERE project_id = {p} AND timestamp >= {start} AND timestamp <= {end})
    GROUP BY trace_id
) AS sc ON sc.trace_id = t.id"""
_OBSERVATION_TRACE: Final = f"""LEFT JOIN (
    SELECT {_TRACE_COLUMNS} FROM traces FINAL
    WHERE project_id = {{p}} AND timestamp >= {{trace_start}} AND timestamp <= {{trace_end}} AND is_deleted = 0
) AS t ON t.id = o.trace_id"""
_OBSERVATION_SCORES: Final = """LEFT JOIN (
    SELECT observation_id, count() AS n FROM scores FINAL
    WHERE project_id = {p} AND is_deleted = 0 AND observation_id IN (
        SELECT id FROM observations WHERE project_id = {p} AND start_time >= {start} AND start_time <= {end})
    GROUP BY observation_id
) AS sc ON sc.observation_id = o.id"""
_SCORED: Final = "SELECT assumeNotNull({column}) FROM scores WHERE project_id = {{p}} AND timestamp >= {{start}} " \
                 "AND timestamp <= {{end}} AND {column} IS NOT NULL"
_SCORE_TRACE: Final = f"""LEFT JOIN (
    SELECT {_TRACE_COLUMNS} FROM traces FINAL
    WHERE project_id = {{p}} AND is_deleted = 0 AND id IN ({_SCORED.format(column="trace_id")})
) AS t ON t.id = s.trace_id"""
_SCORE_OBSERVATION: Final = f"""LEFT JOIN (
    SELECT id, name, provided_model_name, prompt_name, prompt_version FROM observations FINAL
    WHERE project_id = {{p}} AND is_deleted = 0 AND id IN ({_SCORED.format(column="observation_id")})
) AS o ON o.id = s.observation_id"""

_T: Final = ("trace",)


def _frozen(view: ViewSql) -> ViewSql:
    return ViewSql(view.table, view.alias, view.time, MappingProxyType(dict(view.dimensions)),
                   MappingProxyType(dict(view.measures)), MappingProxyType(dict(view.joins)), view.segment)


TRACES: Final = _frozen(ViewSql(
    table="traces", alias="t", time="t.timestamp",
    dimensions={
        "id": Sql("t.id"), "name": Sql("t.name"), "tags": Sql("t.tags"), "userId": Sql("t.user_id"),
        "sessionId": Sql("t.session_id"), "release": Sql("t.release"), "version": Sql("t.version"),
        "environment": Sql("t.environment"), "timestampMonth": Sql("formatDateTime(t.timestamp, '%Y-%m')"),
    },
    measures={
        "count": Sql("1"),
        "observationsCount": Sql("ifNull(ob.observations, 0)", ("observations",)),
        "scoresCount": Sql("ifNull(sc.n, 0)", ("scores",)),
        "uniqueUserIds": Sql("t.user_id"),
        "uniqueSessionIds": Sql("t.session_id"),
        "latency": Sql(_millis("ob.first_start", "ob.last_end"), ("observations",)),
        "totalTokens": Sql("ifNull(ob.total_tokens, 0)", ("observations",)),
        "totalCost": Sql("ob.total_cost", ("observations",)),
    },
    joins={"observations": _TRACE_OBSERVATIONS, "scores": _TRACE_SCORES},
))

_OUTPUT_TOKENS: Final = _keys_sum("o.usage_details", "output")
_OBSERVATION_MEASURES: Final = {
    "count": Sql("1"),
    "latency": Sql(_millis("o.start_time", "o.end_time")),
    "streamingLatency": Sql(_millis("o.completion_start_time", "o.end_time")),
    "timeToFirstToken": Sql(_millis("o.start_time", "o.completion_start_time")),
    "inputTokens": Sql(_keys_sum("o.usage_details", "input")),
    "outputTokens": Sql(_OUTPUT_TOKENS),
    "totalTokens": Sql("o.usage_details['total']"),
    "outputTokensPerSecond": Sql(f"{_OUTPUT_TOKENS} / {_seconds('o.completion_start_time', 'o.end_time')}"),
    "tokensPerSecond": Sql(f"o.usage_details['total'] / {_seconds('o.start_time', 'o.end_time')}"),
    "inputCost": Sql(f"toFloat64({_keys_sum('o.cost_details', 'input')})"),
    "outputCost": Sql(f"toFloat64({_keys_sum('o.cost_details', 'output')})"),
    "totalCost": Sql("if(mapContains(o.cost_details, 'total'), toFloat64(o.cost_details['total']), NULL)"),
    "countScores": Sql("ifNull(sc.n, 0)", ("scores",)),
    "traceId": Sql("o.trace_id"),
    "uniqueUserIds": Sql("t.user_id", _T),
    "uniqueSessionIds": Sql("t.session_id", _T),
    # `pair_key`/`pair_value`: one row per entry of the map a pair dimension expands (see metrics_query).
    "costByType": Sql("toFloat64(o.pair_value)"),
    "usageByType": Sql("o.pair_value"),
}
OBSERVATIONS: Final = _frozen(ViewSql(
    table="observations", alias="o", time="o.start_time",
    dimensions={
        "id": Sql("o.id"), "traceId": Sql("o.trace_id"), "traceName": Sql("t.name", _T),
        "environment": Sql("o.environment"), "parentObservationId": Sql("o.parent_observation_id"),
        "isRootObservation": Sql("toBool(isNull(o.parent_observation_id))"), "type": Sql("o.type"),
        "name": Sql("o.name"), "level": Sql("o.level"), "version": Sql("o.version"), "tags": Sql("t.tags", _T),
        "providedModelName": Sql("o.provided_model_name"), "promptName": Sql("o.prompt_name"),
        "promptVersion": Sql("o.prompt_version"), "userId": Sql("t.user_id", _T),
        "sessionId": Sql("t.session_id", _T), "release": Sql("t.release", _T), "traceRelease": Sql("t.release", _T),
        "traceVersion": Sql("t.version", _T), "startTimeMonth": Sql("formatDateTime(o.start_time, '%Y-%m')"),
        "costType": Sql("o.pair_key"), "usageType": Sql("o.pair_key"),
    },
    measures=_OBSERVATION_MEASURES,
    joins={"trace": _OBSERVATION_TRACE, "scores": _OBSERVATION_SCORES},
))
# The maps a pair dimension expands, by dimension.
PAIRS: Final = MappingProxyType({"costType": "cost_details", "usageType": "usage_details"})

_O: Final = ("observation",)


def _scores(version: str, data_types: tuple[str, ...], value: str) -> ViewSql:
    dimensions = {
        "id": Sql("s.id"), "name": Sql("s.name"), "environment": Sql("s.environment"), "source": Sql("s.source"),
        "dataType": Sql("s.data_type"), "traceId": Sql("s.trace_id"), "observationId": Sql("s.observation_id"),
        "configId": Sql("s.config_id"), "timestampMonth": Sql("formatDateTime(s.timestamp, '%Y-%m')"),
        "timestampDay": Sql("formatDateTime(s.timestamp, '%Y-%m-%d')"),
        "traceName": Sql("t.name", _T), "tags": Sql("t.tags", _T), "userId": Sql("t.user_id", _T),
        # v1 takes a score's session from its trace (Langfuse joins traces), v2 from the score itself
        "sessionId": Sql("t.session_id", _T) if version == "v1" else Sql("s.session_id"),
        "traceRelease": Sql("t.release", _T), "traceVersion": Sql("t.version", _T),
        "observationName": Sql("o.name", _O), "observationModelName": Sql("o.provided_model_name", _O),
        "observationPromptName": Sql("o.prompt_name", _O), "observationPromptVersion": Sql("o.prompt_version", _O),
        "datasetRunId": Sql("s.dataset_run_id"),
    }
    if value == "string":
        dimensions["stringValue"] = Sql("s.string_value")
    else:
        dimensions["value"] = Sql("s.value")
        dimensions["booleanValue"] = Sql("toBool(s.value = 1)")
    quoted = ", ".join(f"'{kind}'" for kind in data_types)
    return _frozen(ViewSql(
        table="scores", alias="s", time="s.timestamp", dimensions=dimensions,
        measures={"count": Sql("1"), "value": Sql("s.value")},
        joins={"trace": _SCORE_TRACE, "observation": _SCORE_OBSERVATION},
        segment=f"data_type IN ({quoted})",
    ))


VIEW_SQL: Final[Mapping[tuple[str, str], ViewSql]] = MappingProxyType({
    **{(version, "observations"): OBSERVATIONS for version in ("v1", "v2")},
    ("v1", "traces"): TRACES,
    **{(version, "scores-numeric"): _scores(version, ("NUMERIC", "BOOLEAN"), "number") for version in ("v1", "v2")},
    **{(version, "scores-boolean"): _scores(version, ("BOOLEAN",), "number") for version in ("v1", "v2")},
    **{(version, "scores-categorical"): _scores(version, ("CATEGORICAL",), "string") for version in ("v1", "v2")},
})
