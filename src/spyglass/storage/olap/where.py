"""Turns filter conditions into parametrised WHERE fragments over a whitelist of columns.

Client text only ever becomes a query *parameter*; column names and operators come
from the whitelists below, so no client string reaches the SQL itself.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Final

from spyglass.domain.errors import InvalidInput
from spyglass.domain.filters import Condition
from spyglass.domain.values import parse_timestamp


@dataclass(frozen=True, slots=True)
class Column:
    sql: str
    kind: str  # string | datetime | number | array | map | bool


TRACE_COLUMNS: Final[dict[str, Column]] = {
    "id": Column("id", "string"),
    "name": Column("name", "string"),
    "timestamp": Column("timestamp", "datetime"),
    "userId": Column("user_id", "string"),
    "user_id": Column("user_id", "string"),
    "sessionId": Column("session_id", "string"),
    "session_id": Column("session_id", "string"),
    "metadata": Column("metadata", "map"),
    "version": Column("version", "string"),
    "release": Column("release", "string"),
    "environment": Column("environment", "string"),
    "tags": Column("tags", "array"),
    "bookmarked": Column("bookmarked", "bool"),
    "public": Column("public", "bool"),
}
TRACE_DISPLAY_NAMES: Final = {"Timestamp": "timestamp", "Name": "name", "User ID": "userId", "Session ID": "sessionId",
                              "Tags": "tags", "Environment": "environment", "Release": "release", "Version": "version"}

OBSERVATION_COLUMNS: Final[dict[str, Column]] = {
    "id": Column("id", "string"),
    "traceId": Column("trace_id", "string"),
    "trace_id": Column("trace_id", "string"),
    "parentObservationId": Column("parent_observation_id", "string"),
    "name": Column("name", "string"),
    "type": Column("type", "string"),
    "startTime": Column("start_time", "datetime"),
    "start_time": Column("start_time", "datetime"),
    "endTime": Column("end_time", "datetime"),
    "end_time": Column("end_time", "datetime"),
    "level": Column("level", "string"),
    "statusMessage": Column("status_message", "string"),
    "model": Column("provided_model_name", "string"),
    "modelId": Column("internal_model_id", "string"),
    "version": Column("version", "string"),
    "promptName": Column("prompt_name", "string"),
    "promptVersion": Column("prompt_version", "number"),
    "metadata": Column("metadata", "map"),
    "environment": Column("environment", "string"),
}
OBSERVATION_DISPLAY_NAMES: Final = {"Start Time": "startTime", "End Time": "endTime", "Name": "name", "Type": "type",
                                    "Level": "level", "Model": "model", "Environment": "environment"}

SCORE_COLUMNS: Final[dict[str, Column]] = {
    "id": Column("id", "string"),
    "name": Column("name", "string"),
    "timestamp": Column("timestamp", "datetime"),
    "value": Column("value", "number"),
    "stringValue": Column("string_value", "string"),
    "dataType": Column("data_type", "string"),
    "source": Column("source", "string"),
    "traceId": Column("trace_id", "string"),
    "observationId": Column("observation_id", "string"),
    "sessionId": Column("session_id", "string"),
    "configId": Column("config_id", "string"),
    "environment": Column("environment", "string"),
    "metadata": Column("metadata", "map"),
}

_STRING_OPS: Final = {
    "=": "{c} = {v}",
    "contains": "position({c}, {v}) > 0",
    "does not contain": "position({c}, {v}) = 0",
    "starts with": "startsWith({c}, {v})",
    "ends with": "endsWith({c}, {v})",
}
_COMPARE: Final = {"=", ">", "<", ">=", "<=", "!="}


@dataclass
class Where:
    """Accumulates conditions and their parameters; `sql` joins them with AND."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    _names: itertools.count = field(default_factory=itertools.count)

    def param(self, value: Any, ch_type: str) -> str:
        name = f"f{next(self._names)}"
        self.params[name] = value
        return f"{{{name}:{ch_type}}}"

    def nested(self) -> Where:
        """A sub-condition (for an IN (SELECT ...)) that shares this one's parameters."""
        return Where(params=self.params, _names=self._names)

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def equals(self, column: str, value: Any, ch_type: str = "String") -> None:
        if value is not None:
            self.add(f"{column} = {self.param(value, ch_type)}")

    def any_of(self, column: str, values: list[str]) -> None:
        if values:
            self.add(f"{column} IN {self.param(values, 'Array(String)')}")

    def all_of(self, column: str, values: list[str] | None) -> None:
        """An array column holding every one of `values` (trace tags)."""
        if values:
            self.add(f"hasAll({column}, {self.param(values, 'Array(String)')})")

    def time_range(self, column: str, start: int | None, end: int | None) -> None:
        if start is not None:
            self.add(f"{column} >= fromUnixTimestamp64Micro({self.param(start, 'Int64')}, 'UTC')")
        if end is not None:
            self.add(f"{column} < fromUnixTimestamp64Micro({self.param(end, 'Int64')}, 'UTC')")

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "1"

    def conditions(
        self, conditions: list[Condition], columns: dict[str, Column], display: dict[str, str] | None = None
    ) -> None:
        for condition in conditions:
            name = (display or {}).get(condition.column, condition.column)
            column = columns.get(name)
            if column is None:
                raise InvalidInput(f"Invalid filter: unknown or unsupported column '{condition.column}'")
            self.add(self._compile(condition, column))

    def _compile(self, cond: Condition, column: Column) -> str:  # noqa: PLR0911 - one branch per filter type
        c, op = column.sql, cond.operator
        if cond.type == "datetime" and column.kind == "datetime":
            micros = parse_timestamp(cond.value)
            if micros is None:
                raise InvalidInput(f"Invalid filter: '{cond.value}' is not an ISO 8601 date-time")
            return f"{c} {op} fromUnixTimestamp64Micro({self.param(micros, 'Int64')}, 'UTC')"
        if cond.type == "string" and column.kind == "string":
            return _STRING_OPS[op].format(c=f"ifNull({c}, '')", v=self.param(cond.value, "String"))
        if cond.type == "number" and column.kind == "number":
            return f"{c} {op} {self.param(float(cond.value), 'Float64')}"
        if cond.type == "stringOptions" and column.kind == "string":
            negate = "NOT " if op == "none of" else ""
            return f"{negate}(ifNull({c}, '') IN {self.param(cond.value, 'Array(String)')})"
        if cond.type == "arrayOptions" and column.kind == "array":
            values = self.param(cond.value, "Array(String)")
            return {"any of": f"hasAny({c}, {values})", "none of": f"NOT hasAny({c}, {values})",
                    "all of": f"hasAll({c}, {values})"}[op]
        if cond.type == "stringObject" and column.kind == "map":
            return _STRING_OPS[op].format(c=f"{c}[{self.param(cond.key, 'String')}]",
                                          v=self.param(cond.value, "String"))
        if cond.type == "numberObject" and column.kind == "map":
            key, value = self.param(cond.key, "String"), self.param(float(cond.value), "Float64")
            return f"toFloat64OrNull({c}[{key}]) {op} {value}"
        if cond.type == "boolean" and column.kind == "bool":
            return f"{c} {'=' if op == '=' else '!='} {self.param(cond.value, 'Bool')}"
        if cond.type == "null":
            if column.kind in ("array", "map"):
                return f"{'empty' if op == 'is null' else 'notEmpty'}({c})"
            return f"{c} {'IS NULL' if op == 'is null' else 'IS NOT NULL'}"
        raise InvalidInput(f"Invalid filter: type {cond.type} cannot be used on column '{cond.column}'")
