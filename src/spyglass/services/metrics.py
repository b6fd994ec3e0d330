"""Use cases over aggregated observability data (Langfuse's metrics endpoints)."""

from __future__ import annotations

from typing import Any

from spyglass.domain.access import ProjectScope
from spyglass.domain.queries import DailyMetricsQuery, Page
from spyglass.storage.olap.metrics import MetricsQueries


class MetricsService:
    def __init__(self, queries: MetricsQueries) -> None:
        self.queries = queries

    def daily_metrics(
        self, scope: ProjectScope, query: DailyMetricsQuery, page: Page
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the UTC days that have matching traces, newest first, and how many such days exist.

        A day counts the traces whose timestamp falls on it, and their observations' usage
        and cost per model (the exact rules are in `storage.olap.metrics`).
        """
        return self.queries.daily_metrics(scope.project_id, query, page)
