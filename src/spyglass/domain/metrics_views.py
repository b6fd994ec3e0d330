"""The views of the metrics query, their dimensions and measures: the whitelist, as data.

Names as Langfuse's data model (`web/src/features/query/dataModel.ts`), per API version. Each field
has a semantic type; the SQL of every name lives in `storage.olap.metrics_fields`.
Dimensions: `string`, `string[]`, `number`, `boolean`. Measures: `integer`, `decimal`, `number`
(numeric: every aggregation) or `string` (only `count` and `uniq`). `distinct` measures
(uniqueUserIds, uniqueSessionIds) count distinct values under both. `unsupported` names are
Langfuse fields whose data Spyglass does not store yet (tool definitions and calls, experiments,
evaluator ids): asking for them is a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

VERSIONS: Final = ("v1", "v2")
NUMERIC_TYPES: Final = frozenset({"integer", "decimal", "number"})

# Filter types that make sense on each kind of column (the storage `Where` compiles exactly these).
FILTER_TYPES: Final[Mapping[str, frozenset[str]]] = MappingProxyType({
    "string": frozenset({"string", "stringOptions", "null"}),
    "string[]": frozenset({"arrayOptions", "null"}),
    "number": frozenset({"number", "null"}),
    "boolean": frozenset({"boolean", "null"}),
    "datetime": frozenset({"datetime"}),
    "map": frozenset({"stringObject", "numberObject", "null"}),
})


@dataclass(frozen=True, slots=True)
class Dimension:
    type: str
    high_cardinality: bool = False  # v2 groups by it only in a top-N query (see `metrics_query`)
    pair: bool = False  # one row per key of a map (costType, usageType): at most one per query


@dataclass(frozen=True, slots=True)
class Measure:
    type: str
    distinct: bool = False
    requires: str | None = None  # a pair dimension the measure is the value of (costByType → costType)


@dataclass(frozen=True, slots=True)
class View:
    name: str
    dimensions: Mapping[str, Dimension]
    measures: Mapping[str, Measure]
    time_column: str  # the canonical filter column of the view's time (rows are bucketed by it)
    time_aliases: tuple[str, ...] = ()
    unsupported: frozenset[str] = frozenset()  # Langfuse fields we hold no data for yet

    def filter_column(self, name: str) -> tuple[str, str] | None:
        """(canonical column, kind) of a filter column, or None when the view has no such column."""
        if name in self.dimensions:
            return name, self.dimensions[name].type
        if name == self.time_column or name in self.time_aliases:
            return self.time_column, "datetime"
        if name == "metadata":
            return name, "map"
        return None

    def filter_columns(self) -> list[str]:
        return [*self.dimensions, self.time_column, "metadata"]


def _dims(kind: str, *names: str, high: bool = False) -> dict[str, Dimension]:
    return {name: Dimension(kind, high_cardinality=high) for name in names}


def _measures(kind: str, *names: str) -> dict[str, Measure]:
    return {name: Measure(kind) for name in names}


def _view(name: str, dimensions: dict[str, Dimension], measures: dict[str, Measure], time_column: str,
          time_aliases: tuple[str, ...] = (), unsupported: tuple[str, ...] = ()) -> View:
    return View(name, MappingProxyType(dimensions), MappingProxyType(measures), time_column, time_aliases,
                frozenset(unsupported))


_TRACES = _view(
    "traces",
    {**_dims("string", "id", "name", "userId", "sessionId", "release", "version", "environment", "timestampMonth"),
     "tags": Dimension("string[]")},
    {**_measures("integer", "count", "observationsCount", "scoresCount", "latency", "totalTokens"),
     "uniqueUserIds": Measure("string", distinct=True), "uniqueSessionIds": Measure("string", distinct=True),
     "totalCost": Measure("decimal")},
    "timestamp",
)

_OBSERVATION_MEASURES: Final = {
    **_measures("integer", "count", "latency", "streamingLatency", "inputTokens", "outputTokens", "totalTokens",
                "timeToFirstToken", "countScores"),
    **_measures("decimal", "outputTokensPerSecond", "tokensPerSecond", "inputCost", "outputCost", "totalCost"),
}
_OBSERVATIONS_V1 = _view(
    "observations",
    {**_dims("string", "id", "traceId", "traceName", "environment", "parentObservationId", "type", "name", "level",
             "version", "providedModelName", "promptName", "userId", "sessionId", "traceRelease", "traceVersion",
             "startTimeMonth"),
     "tags": Dimension("string[]"), "promptVersion": Dimension("number")},
    _OBSERVATION_MEASURES,
    "startTime", ("start_time",),
    ("toolNames", "calledToolNames", "toolDefinitions", "toolCalls"),
)
_OBSERVATIONS_V2 = _view(
    "observations",
    {**_dims("string", "id", "traceId", "parentObservationId", "userId", "sessionId", high=True),
     **_dims("string", "environment", "type", "name", "level", "version", "release", "traceName", "traceRelease",
             "traceVersion", "providedModelName", "promptName", "startTimeMonth"),
     "isRootObservation": Dimension("boolean"), "tags": Dimension("string[]"), "promptVersion": Dimension("number"),
     "costType": Dimension("string", pair=True), "usageType": Dimension("string", pair=True)},
    {**_OBSERVATION_MEASURES, "traceId": Measure("string"),
     "uniqueUserIds": Measure("string", distinct=True), "uniqueSessionIds": Measure("string", distinct=True),
     "costByType": Measure("decimal", requires="costType"), "usageByType": Measure("integer", requires="usageType")},
    "startTime", ("start_time",),
    ("toolNames", "calledToolNames", "experimentName", "experimentDatasetId", "experimentId", "toolDefinitions",
     "toolCalls"),
)


def _scores_view(name: str, version: str) -> View:
    high = version == "v2"
    dimensions = {
        **_dims("string", "id", "traceId", "observationId", "userId", "sessionId", high=high),
        **_dims("string", "name", "environment", "source", "dataType", "configId", "timestampMonth", "timestampDay",
                "traceName", "traceRelease", "traceVersion", "observationName", "observationModelName",
                "observationPromptName"),
        "tags": Dimension("string[]"), "observationPromptVersion": Dimension("number"),
    }
    measures = {"count": Measure("integer")}
    if version == "v2":
        dimensions["datasetRunId"] = Dimension("string")
    if name == "scores-categorical":
        dimensions["stringValue"] = Dimension("string")
    else:
        dimensions["value"] = Dimension("number")
        measures["value"] = Measure("number")
    if name == "scores-boolean":
        dimensions["booleanValue"] = Dimension("boolean")
    return _view(name, dimensions, measures, "timestamp", (), ("evaluatorId",))


_SCORE_VIEWS: Final = ("scores-numeric", "scores-categorical", "scores-boolean")
VIEWS: Final[Mapping[str, Mapping[str, View]]] = MappingProxyType({
    "v1": MappingProxyType({"traces": _TRACES, "observations": _OBSERVATIONS_V1,
                            **{name: _scores_view(name, "v1") for name in _SCORE_VIEWS}}),
    "v2": MappingProxyType({"observations": _OBSERVATIONS_V2,
                            **{name: _scores_view(name, "v2") for name in _SCORE_VIEWS}}),
})
