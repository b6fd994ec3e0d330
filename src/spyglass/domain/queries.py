"""What a caller may ask of the trace store: list parameters as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field

from spyglass.domain.filters import Condition

# Fields a trace list can be ordered by (Langfuse's `orderBy=<field>.<asc|desc>`).
TRACE_ORDER_FIELDS = ("id", "timestamp", "name", "userId", "release", "version", "public", "bookmarked", "sessionId")


@dataclass(frozen=True, slots=True)
class Page:
    page: int = 1
    limit: int = 50

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True, slots=True)
class TraceQuery:
    user_id: str | None = None
    name: str | None = None
    session_id: str | None = None
    from_ts: int | None = None
    to_ts: int | None = None
    tags: list[str] = field(default_factory=list)
    version: str | None = None
    release: str | None = None
    environments: list[str] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    order_by: tuple[str, str] = ("timestamp", "desc")


@dataclass(frozen=True, slots=True)
class ObservationQuery:
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    type: str | None = None
    trace_id: str | None = None
    level: str | None = None
    parent_observation_id: str | None = None
    is_root: bool | None = None
    environments: list[str] = field(default_factory=list)
    from_start: int | None = None
    to_start: int | None = None
    version: str | None = None
    conditions: list[Condition] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ScoreQuery:
    trace_scores_only: bool = False
    user_id: str | None = None
    name: str | None = None
    config_id: str | None = None
    queue_id: str | None = None
    trace_tags: list[str] = field(default_factory=list)
    data_types: list[str] = field(default_factory=list)
    from_ts: int | None = None
    to_ts: int | None = None
    environments: list[str] = field(default_factory=list)
    source: str | None = None
    value: float | None = None
    operator: str = "="
    score_ids: list[str] = field(default_factory=list)
    session_id: str | None = None
    trace_id: str | None = None
    observation_ids: list[str] = field(default_factory=list)
    dataset_run_id: str | None = None
    conditions: list[Condition] = field(default_factory=list)
    # v3 list filters (each a set of accepted values)
    trace_ids: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    dataset_run_ids: list[str] = field(default_factory=list)
    author_user_ids: list[str] = field(default_factory=list)
    config_ids: list[str] = field(default_factory=list)
    queue_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    string_values: list[str] = field(default_factory=list)
    value_min: float | None = None
    value_max: float | None = None


@dataclass(frozen=True, slots=True)
class SessionQuery:
    from_ts: int | None = None
    to_ts: int | None = None
    environments: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DailyMetricsQuery:
    """`GET /metrics/daily`: filters on traces; a trace's observations follow it.

    `environments` also applies to the observations (as upstream); `tags` must all match.
    """

    trace_name: str | None = None
    user_id: str | None = None
    tags: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    from_ts: int | None = None
    to_ts: int | None = None
