"""Score writes (`POST /scores`) and reads (v1 trace scores, v2 all targets), deletes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput
from spyglass.domain.filters import parse_filter
from spyglass.domain.queries import ScoreQuery
from spyglass.domain.records import SCORE_DATA_TYPES
from spyglass.web.api.converters import page_meta, score_to_api
from spyglass.web.api.params import LimitParam, ListParam, PageParam, csv_values, page_of, timestamp_param
from spyglass.web.body import read_json
from spyglass.web.deps import ProjectScopeDep, ScoreWriterScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()
_OPERATORS = {"<", ">", "<=", ">=", "!=", "="}


@router.post("/api/public/scores")
async def create_score(request: Request, services: ServicesDep, scope: ScoreWriterScopeDep) -> Response:
    body = await read_json(request, services.limits.ingestion_body_bytes)
    if isinstance(body, list):
        # SDK 5.x sends its scores as a list: 202 when all were accepted, else 207 with the rejects.
        accepted, errors = await run_in_threadpool(services.tracing.create_scores, scope, body)
        if not errors:
            return json_response({"message": "Accepted"}, 202)
        return json_response({"accepted": accepted, "rejected": len(errors),
                              "errors": [{"message": e} for e in errors]}, 207)
    if not isinstance(body, dict):
        raise InvalidInput("Request body must be a JSON object or a list of them")
    score_id = await run_in_threadpool(services.tracing.create_score, scope, body)
    return json_response({"id": score_id})


def _score_query(trace_scores_only: bool, **params) -> ScoreQuery:  # noqa: ANN003
    operator = params.get("operator") or "="
    if operator not in _OPERATORS:
        raise InvalidInput(f"operator must be one of {', '.join(sorted(_OPERATORS))}")
    data_types = csv_values([params["dataType"]] if params.get("dataType") else None)
    if any(t not in SCORE_DATA_TYPES for t in data_types):
        raise InvalidInput(f"dataType must be one of {', '.join(SCORE_DATA_TYPES)}")
    return ScoreQuery(
        trace_scores_only=trace_scores_only, user_id=params.get("userId"), name=params.get("name"),
        config_id=params.get("configId"), queue_id=params.get("queueId"),
        trace_tags=csv_values(params.get("traceTags")), data_types=data_types,
        from_ts=timestamp_param("fromTimestamp", params.get("fromTimestamp")),
        to_ts=timestamp_param("toTimestamp", params.get("toTimestamp")),
        environments=csv_values(params.get("environment")), source=params.get("source"),
        value=params.get("value"), operator=operator,
        score_ids=csv_values([params["scoreIds"]] if params.get("scoreIds") else None),
        session_id=params.get("sessionId"), trace_id=params.get("traceId"),
        observation_ids=csv_values([params["observationId"]] if params.get("observationId") else None),
        dataset_run_id=params.get("datasetRunId"), conditions=parse_filter(params.get("filter")),
    )


def _filters(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in ("services", "scope", "page", "limit")}


def _scores_page(services: ServicesDep, scope: ProjectScopeDep, query: ScoreQuery, page: int, limit: int) -> Response:
    rows, total = services.tracing.list_scores(scope, query, page_of(page, limit))
    traces = services.tracing.trace_context(scope, [s["trace_id"] for s in rows if s["trace_id"]])
    data = [score_to_api(s, traces.get(s["trace_id"] or ""), with_trace=True) for s in rows]
    return json_response({"data": data, "meta": page_meta(page, limit, total)})


@router.get("/api/public/scores")
def list_scores_v1(
    services: ServicesDep, scope: ProjectScopeDep, page: PageParam = 1, limit: LimitParam = 50,
    userId: str | None = None, name: str | None = None, configId: str | None = None, queueId: str | None = None,
    traceTags: ListParam = None, dataType: str | None = None, fromTimestamp: str | None = None,
    toTimestamp: str | None = None, environment: ListParam = None, source: str | None = None,
    value: float | None = None, operator: str | None = None, scoreIds: str | None = None, filter: str | None = None,
) -> Response:
    query = _score_query(True, **_filters(locals()))
    return _scores_page(services, scope, query, page, limit)


@router.get("/api/public/v2/scores")
def list_scores_v2(
    services: ServicesDep, scope: ProjectScopeDep, page: PageParam = 1, limit: LimitParam = 50,
    userId: str | None = None, name: str | None = None, configId: str | None = None, queueId: str | None = None,
    traceTags: ListParam = None, dataType: str | None = None, fromTimestamp: str | None = None,
    toTimestamp: str | None = None, environment: ListParam = None, source: str | None = None,
    value: float | None = None, operator: str | None = None, scoreIds: str | None = None, filter: str | None = None,
    sessionId: str | None = None, traceId: str | None = None, datasetRunId: str | None = None,
    observationId: str | None = None,
) -> Response:
    query = _score_query(False, **_filters(locals()))
    return _scores_page(services, scope, query, page, limit)


def _get_score(score_id: str, services: ServicesDep, scope: ProjectScopeDep, trace_scores_only: bool) -> Response:
    score = services.tracing.get_score(scope, score_id)
    if trace_scores_only and not score["trace_id"]:
        raise InvalidInput("This score is not attached to a trace; read it through /api/public/v2/scores/{id}")
    traces = services.tracing.trace_context(scope, [score["trace_id"]] if score["trace_id"] else [])
    return json_response(score_to_api(score, traces.get(score["trace_id"] or ""), with_trace=True))


@router.get("/api/public/scores/{score_id}")
def get_score_v1(score_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return _get_score(score_id, services, scope, trace_scores_only=True)


@router.get("/api/public/v2/scores/{score_id}")
def get_score_v2(score_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return _get_score(score_id, services, scope, trace_scores_only=False)


@router.delete("/api/public/scores/{score_id}")
def delete_score(score_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    services.tracing.delete_score(scope, score_id)
    return json_response({"message": "Score deletion queued successfully"}, 202)
