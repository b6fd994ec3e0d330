"""Record ⇄ OLAP row: the only place that knows how records are laid out in ClickHouse.

Timestamps travel as epoch microseconds in records; they are written as
"seconds.micros" text (exact, no float rounding) and read back through
`toUnixTimestamp64Micro(...) AS <col>__us`, a distinct alias so WHERE clauses
still see the real DateTime64 column.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from spyglass.domain.records import DEFAULTS, EntityKind, Record

TABLES: Final[dict[str, str]] = {"trace": "traces", "observation": "observations", "score": "scores"}
TIME_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "trace": ("timestamp", "created_at", "updated_at"),
    "observation": ("start_time", "end_time", "completion_start_time", "created_at", "updated_at"),
    "score": ("timestamp", "created_at", "updated_at"),
}
# The parts of each table's sorting key a record can change; a change needs a tombstone
# for the old key, or ReplacingMergeTree would keep both rows.
KEY_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "trace": ("timestamp",),
    "observation": ("start_time",),
    "score": ("timestamp", "name"),
}
DAY_US = 86_400 * 1_000_000
# What the columns can hold. A value outside would fail the whole insert and park every
# event of the request in the dead-letter list, so it is dropped here instead.
TIME_MIN_US = -2_208_988_800_000_000  # 1900-01-01
TIME_MAX_US = 10_413_791_999_999_999  # 2299-12-31 23:59:59.999999
_UINT16_MAX = 65_535
_UINT64_LIMIT = 2**64
_DECIMAL64_12_LIMIT = 1_000_000  # Decimal64(12) keeps 6 integer digits
_USAGE_COLUMNS = ("provided_usage_details", "usage_details")
_COST_COLUMNS = ("provided_cost_details", "cost_details")


def _time_text(micros: int) -> str:
    # Exactly ten-digit epoch seconds (2001 to 2286) parse unambiguously; other lengths
    # could be read as a date, or not at all, so those take the explicit calendar form.
    if 1_000_000_000_000_000 <= micros < 10_000_000_000_000_000:
        return "%d.%06d" % divmod(micros, 1_000_000)  # noqa: UP031 - the fastest spelling, on the hot path
    micros = min(max(micros, TIME_MIN_US), TIME_MAX_US)
    moment = datetime(1970, 1, 1) + timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def encode_row(kind: EntityKind, record: Record, event_ts: int, is_deleted: int = 0) -> dict[str, Any]:
    row = dict(record)
    for column in TIME_COLUMNS[kind]:
        value = row.get(column)
        if value is not None:
            row[column] = _time_text(value)
    if kind == "observation":
        _fit_observation(row)
    row["event_ts"] = _time_text(event_ts)
    row["is_deleted"] = is_deleted
    return row


def select_list(kind: EntityKind) -> str:
    times = TIME_COLUMNS[kind]
    parts = []
    for column in DEFAULTS[kind]:
        parts.append(f"toUnixTimestamp64Micro({column}) AS {column}__us" if column in times else column)
    return ", ".join(parts)


def decode_row(kind: EntityKind, row: dict[str, Any]) -> Record:
    for column in TIME_COLUMNS[kind]:
        row[column] = row.pop(f"{column}__us")
    row.pop("event_ts", None)
    row.pop("is_deleted", None)
    return row


def sort_key_changed(kind: EntityKind, old: Record, new: Record) -> bool:
    for column in KEY_COLUMNS[kind]:
        before, after = old.get(column), new.get(column)
        if column in TIME_COLUMNS[kind]:
            if before // DAY_US != after // DAY_US:
                return True
        elif before != after:
            return True
    return False


def _fit_observation(row: dict[str, Any]) -> None:
    version = row.get("prompt_version")
    if version is not None and not 0 <= version <= _UINT16_MAX:
        row["prompt_version"] = None
    # min/max over the values: most maps are empty or small, and this runs for every span.
    for column in _USAGE_COLUMNS:
        usage = row[column]
        if usage and not (0 <= min(usage.values()) and max(usage.values()) < _UINT64_LIMIT):
            row[column] = {k: v for k, v in usage.items() if 0 <= v < _UINT64_LIMIT}
    for column in _COST_COLUMNS:
        cost = row[column]
        if cost and not (0 <= min(cost.values()) and max(cost.values()) < _DECIMAL64_12_LIMIT):
            row[column] = {k: v for k, v in cost.items() if 0 <= v < _DECIMAL64_12_LIMIT}
    total = row.get("total_cost")
    if total is not None and not 0 <= total < _DECIMAL64_12_LIMIT:
        row["total_cost"] = None
