"""Session reads (sessions are derived from traces that carry a session id)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from spyglass.domain.queries import SessionQuery
from spyglass.web.api.converters import page_meta, session_to_api, trace_to_api
from spyglass.web.api.params import LimitParam, ListParam, PageParam, csv_values, page_of, timestamp_param
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()


@router.get("/api/public/sessions")
def list_sessions(
    services: ServicesDep,
    scope: ProjectScopeDep,
    page: PageParam = 1,
    limit: LimitParam = 50,
    fromTimestamp: str | None = None,
    toTimestamp: str | None = None,
    environment: ListParam = None,
) -> Response:
    query = SessionQuery(from_ts=timestamp_param("fromTimestamp", fromTimestamp),
                         to_ts=timestamp_param("toTimestamp", toTimestamp), environments=csv_values(environment))
    rows, total = services.tracing.list_sessions(scope, query, page_of(page, limit))
    return json_response({"data": [session_to_api(r, scope.project_id) for r in rows],
                          "meta": page_meta(page, limit, total)})


@router.get("/api/public/sessions/{session_id}")
def get_session(session_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    session, traces = services.tracing.get_session(scope, session_id)
    return json_response({**session_to_api(session, scope.project_id), "traces": [trace_to_api(t) for t in traces]})
