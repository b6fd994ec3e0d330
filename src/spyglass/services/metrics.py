"""Use cases over aggregated observability data (Langfuse's metrics endpoints)."""

from __future__ import annotations

from typing import Any

from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Unavailable
from spyglass.domain.metrics_query import MAX_RANGE_DAYS, parse_metrics_query
from spyglass.domain.queries import DailyMetricsQuery, Page
from spyglass.storage.olap.metrics import MetricsQueries
from spyglass.storage.olap.metrics_query import MetricsQueryRunner


class MetricsService:
    def __init__(
        self, queries: MetricsQueries, runner: MetricsQueryRunner | None = None, max_range_days: int = MAX_RANGE_DAYS
    ) -> None:
        self.queries = queries
        self.runner = runner
        self.max_range_days = max_range_days

    def daily_metrics(
        self, scope: ProjectScope, query: DailyMetricsQuery, page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the UTC days that have matching traces, newest first, and how many such days exist.

        A day counts the traces whose timestamp falls on it, and their observations' usage
        and cost per model (the exact rules are in `storage.olap.metrics`).
        """
        return self.queries.daily_metrics(scope.project_id, query, page)

    def query(self, scope: ProjectScope, raw_json: str | None, version: str) -> list[dict[str, Any]]:
        """`GET /metrics?query=<json>` (version "v1") or `/v2/metrics` ("v2"): the rows of the query.

        Validation (what may be asked, per view and version) is in `domain.metrics_query`, the
        SQL and its semantics in `storage.olap.metrics_query` and `metrics_fields`.
        """
        query = parse_metrics_query(raw_json, version, self.max_range_days)
        if self.runner is None:
            raise Unavailable("The metrics query API is not available in this process")
        return self.runner.run(scope.project_id, query)
