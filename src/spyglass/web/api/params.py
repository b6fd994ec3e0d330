"""Query-string parsing shared by the list endpoints (pagination, timestamps, CSV lists)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query

from spyglass.domain.errors import InvalidInput
from spyglass.domain.queries import Page
from spyglass.domain.values import datetime_from_micros, parse_timestamp

PageParam = Annotated[int, Query(ge=1)]
LimitParam = Annotated[int, Query(ge=1, le=100)]
ListParam = Annotated[list[str] | None, Query()]


def page_of(page: int, limit: int) -> Page:
    return Page(page=page, limit=limit)


def timestamp_param(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    micros = parse_timestamp(value)
    if micros is None:
        raise InvalidInput(f"{name} must be an ISO 8601 date-time, got {value!r}")
    return micros


def datetime_param(name: str, value: str | None) -> datetime | None:
    return datetime_from_micros(timestamp_param(name, value))


def csv_values(values: list[str] | None) -> list[str]:
    """Repeated parameters and comma-separated values, both accepted."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]
