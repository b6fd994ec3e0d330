"""Merging patches into records: Langfuse's upsert-by-id semantics, pure.

Rules (LANGFUSE_COMPAT §4.5, with two deliberate improvements noted inline):
* immutable keys keep the first value ever written (`environment`, the parent ids);
* `metadata` merges key by key, later keys win; `tags` is a sorted set union;
* `input`/`output` keep the last non-null value;
* every other key present in the patch overwrites, explicit `None` included;
* empty usage/cost maps say nothing and never erase provided ones;
* `FILL` holds fallback values that only fill fields no event has set yet (a trace's
  name and IO derived from its root span must not override a child's explicit ones,
  whatever order the spans arrive in).
"""

from __future__ import annotations

from typing import Final

from spyglass.domain.pricing import with_total
from spyglass.domain.records import DEFAULTS, EntityKind, Patch, Record

_IMMUTABLE: Final[dict[str, frozenset[str]]] = {
    "trace": frozenset({"id", "project_id", "environment", "created_at"}),
    "observation": frozenset({"id", "project_id", "trace_id", "start_time", "environment", "created_at"}),
    "score": frozenset({"id", "project_id", "timestamp", "trace_id", "environment", "created_at"}),
}
_KEEP_LAST_NON_NULL: Final = frozenset({"input", "output"})
_NON_EMPTY_MAPS: Final = frozenset({"provided_usage_details", "provided_cost_details"})
FILL: Final = "fill"
_CONTAINERS: Final = {
    kind: tuple(k for k, v in defaults.items() if isinstance(v, dict | list)) for kind, defaults in DEFAULTS.items()
}


def _fill(record: Record, fallbacks: dict[str, object] | None) -> None:
    for key, value in (fallbacks or {}).items():
        if key in record and value is not None and record[key] in (None, "", {}, []):
            record[key] = _copy_value(value)


def new_record(kind: EntityKind, patch: Patch, now_us: int) -> Record:
    """A record from its first patch. The record takes ownership of the patch's values."""
    record = DEFAULTS[kind].copy()
    for key in _CONTAINERS[kind]:
        record[key] = record[key].copy()  # never share a mutable default between records
    record["created_at"] = now_us
    record["updated_at"] = now_us
    for key, value in patch.items():
        if key in record and (value is not None or key not in _KEEP_LAST_NON_NULL):
            record[key] = value
    _fill(record, patch.get(FILL))
    if kind == "trace" and record["tags"]:
        record["tags"] = sorted(set(record["tags"]))
    return _finish(kind, record)


def merge(kind: EntityKind, record: Record, patch: Patch, now_us: int) -> Record:
    """Apply `patch` on top of `record` (not modified) and return the new record."""
    merged = dict(record)
    immutable = _IMMUTABLE[kind]
    for key, value in patch.items():
        if key in immutable or key not in merged:
            continue
        if key == "metadata":
            if value:
                merged["metadata"] = {**merged["metadata"], **value}
        elif key == "tags":
            merged["tags"] = sorted(set(merged["tags"]).union(value or ()))
        elif key in _KEEP_LAST_NON_NULL:
            if value is not None:
                merged[key] = value
        elif key in _NON_EMPTY_MAPS:
            if value:
                merged[key] = dict(value)
        elif key == "timestamp" and kind == "trace":
            # Spans arrive child-first, so a trace is often created from a child span;
            # the earliest start seen is the trace's start (upstream keeps the first write).
            if value is not None and (not merged["timestamp"] or value < merged["timestamp"]):
                merged["timestamp"] = value
        elif key == "public" and kind == "trace":
            # Upstream resets `public` on any event that omits it; keeping it once set is kinder.
            merged["public"] = bool(value) or merged["public"]
        else:
            merged[key] = _copy_value(value)
    _fill(merged, patch.get(FILL))
    merged["updated_at"] = now_us
    return _finish(kind, merged)


def _copy_value(value: object) -> object:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def _finish(kind: EntityKind, record: Record) -> Record:
    if kind == "observation":
        end = record["end_time"]
        if end is not None and end < record["start_time"]:
            record["end_time"] = record["start_time"]
        if not record["level"]:
            record["level"] = "DEFAULT"
        _derive_usage_and_cost(record)
    if not record.get("environment"):
        record["environment"] = "default"
    return record


def _derive_usage_and_cost(record: Record) -> None:
    """Usage and cost as provided by the client, with Langfuse's `total` completion rules.

    (Price-table inference for clients that send no cost belongs to the pricing step.)
    """
    usage = with_total(record["provided_usage_details"])
    if usage or not record["usage_details"]:
        record["usage_details"] = usage
    cost = dict(record["provided_cost_details"])
    if cost:
        if "total" not in cost:
            cost["total"] = sum(cost.values())
        record["cost_details"] = cost
        record["total_cost"] = cost["total"]
