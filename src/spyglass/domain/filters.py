"""Langfuse filter objects (the `filter` query parameter), parsed and validated.

Only the shape is checked here; which columns exist is the query layer's business
(an unknown column is still a 400 there, never SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from spyglass.domain.errors import InvalidInput

OPERATORS: Final[dict[str, frozenset[str]]] = {
    "datetime": frozenset({">", "<", ">=", "<="}),
    "string": frozenset({"=", "contains", "does not contain", "starts with", "ends with"}),
    "number": frozenset({"=", ">", "<", ">=", "<=", "!="}),
    "stringOptions": frozenset({"any of", "none of"}),
    "categoryOptions": frozenset({"any of", "none of"}),
    "arrayOptions": frozenset({"any of", "none of", "all of"}),
    "stringObject": frozenset({"=", "contains", "does not contain", "starts with", "ends with"}),
    "numberObject": frozenset({"=", ">", "<", ">=", "<=", "!="}),
    "booleanObject": frozenset({"=", "<>"}),
    "boolean": frozenset({"=", "<>"}),
    "null": frozenset({"is null", "is not null"}),
}


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    column: str
    operator: str
    value: Any = None
    key: str | None = None


def parse_filter(text: str | None) -> list[Condition]:
    if not text:
        return []
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidInput("Invalid filter: not valid JSON") from None
    return parse_conditions(raw)


def parse_conditions(raw: Any) -> list[Condition]:
    """Filter objects already decoded from JSON (e.g. the `filters` of a metrics query)."""
    if not isinstance(raw, list):
        raise InvalidInput("Invalid filter: expected a JSON array of filter objects")
    return [_condition(item, i) for i, item in enumerate(raw)]


def _condition(item: Any, index: int) -> Condition:
    where = f"Invalid filter [{index}]"
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: expected an object")
    kind, column, operator = item.get("type"), item.get("column"), item.get("operator")
    if kind not in OPERATORS:
        raise InvalidInput(f"{where}: unknown type {kind!r}")
    if not isinstance(column, str) or not column:
        raise InvalidInput(f"{where}: column is required")
    if operator not in OPERATORS[kind]:
        raise InvalidInput(f"{where}: operator {operator!r} is not valid for type {kind}")
    value = item.get("value")
    if kind == "datetime":
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: value must be an ISO 8601 date-time")
    elif kind in ("string", "stringObject"):
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: value must be a string")
    elif kind in ("number", "numberObject"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{where}: value must be a number")
    elif kind in ("stringOptions", "categoryOptions", "arrayOptions"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{where}: value must be a non-empty array of strings")
    elif kind in ("boolean", "booleanObject"):
        if not isinstance(value, bool):
            raise InvalidInput(f"{where}: value must be a boolean")
    key = item.get("key")
    if kind.endswith("Object") or kind == "categoryOptions":
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"{where}: key is required for type {kind}")
    return Condition(type=kind, column=column, operator=operator, value=value, key=key)
