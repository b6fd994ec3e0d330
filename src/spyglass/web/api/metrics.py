"""Langfuse's metrics: the v1 daily metrics, and the metrics query API (v1 and v2, `query=<json>`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from spyglass.domain.queries import DailyMetricsQuery
from spyglass.web.api.converters import page_meta
from spyglass.web.api.params import LimitParam, ListParam, PageParam, csv_values, page_of, timestamp_param
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()


@router.get("/api/public/metrics/daily")
def daily_metrics(
    services: ServicesDep,
    scope: ProjectScopeDep,
    page: PageParam = 1,
    limit: LimitParam = 50,
    traceName: str | None = None,
    userId: str | None = None,
    tags: ListParam = None,
    environment: ListParam = None,
    fromTimestamp: str | None = None,
    toTimestamp: str | None = None,
) -> Response:
    query = DailyMetricsQuery(
        trace_name=traceName,
        user_id=userId,
        tags=csv_values(tags),
        environments=csv_values(environment),
        from_ts=timestamp_param("fromTimestamp", fromTimestamp),
        to_ts=timestamp_param("toTimestamp", toTimestamp),
    )
    days, total = services.metrics.daily_metrics(scope, query, page_of(page, limit))
    return json_response({"data": [_day_to_api(day) for day in days], "meta": page_meta(page, limit, total)})


@router.get("/api/public/metrics")
def metrics_query_v1(services: ServicesDep, scope: ProjectScopeDep, query: str | None = None) -> Response:
    return json_response({"data": services.metrics.query(scope, query, "v1")})


@router.get("/api/public/v2/metrics")
def metrics_query_v2(services: ServicesDep, scope: ProjectScopeDep, query: str | None = None) -> Response:
    return json_response({"data": services.metrics.query(scope, query, "v2")})


def _day_to_api(day: dict[str, Any]) -> dict[str, Any]:
    return {
        "date": day["date"],
        "countTraces": day["count_traces"],
        "countObservations": day["count_observations"],
        "totalCost": day["total_cost"],
        "usage": [
            {
                "model": usage["model"],
                "inputUsage": usage["input_usage"],
                "outputUsage": usage["output_usage"],
                "totalUsage": usage["total_usage"],
                "countObservations": usage["count_observations"],
                "countTraces": usage["count_traces"],
                "totalCost": usage["total_cost"],
            }
            for usage in day["usage"]
        ],
    }
