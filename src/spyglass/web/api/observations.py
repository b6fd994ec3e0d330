"""Observation reads: v1 (page/limit) and v2 (cursor, field groups)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput
from spyglass.domain.filters import parse_filter
from spyglass.domain.queries import ObservationQuery
from spyglass.domain.records import OBSERVATION_TYPES
from spyglass.web.api.converters import V2_FIELD_GROUPS, observation_to_api, observation_to_v2, page_meta
from spyglass.web.api.cursors import decode_cursor, encode_cursor
from spyglass.web.api.params import LimitParam, ListParam, PageParam, csv_values, page_of, timestamp_param
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()


def _type(value: str | None) -> str | None:
    if value is None:
        return None
    if value.upper() not in OBSERVATION_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(OBSERVATION_TYPES)}")
    return value.upper()


def _query(name, userId, sessionId, type, traceId, level, parentObservationId, environment, fromStartTime,
           toStartTime, version, filter, isRootObservation=None) -> ObservationQuery:  # noqa: ANN001
    return ObservationQuery(
        name=name, user_id=userId, session_id=sessionId, type=_type(type), trace_id=traceId, level=level,
        parent_observation_id=parentObservationId, environments=csv_values(environment),
        from_start=timestamp_param("fromStartTime", fromStartTime),
        to_start=timestamp_param("toStartTime", toStartTime), version=version, conditions=parse_filter(filter),
        is_root=isRootObservation,
    )


@router.get("/api/public/observations")
def list_observations(
    services: ServicesDep,
    scope: ProjectScopeDep,
    page: PageParam = 1,
    limit: LimitParam = 50,
    name: str | None = None,
    userId: str | None = None,
    type: str | None = None,
    traceId: str | None = None,
    level: str | None = None,
    parentObservationId: str | None = None,
    environment: ListParam = None,
    fromStartTime: str | None = None,
    toStartTime: str | None = None,
    version: str | None = None,
    filter: str | None = None,
) -> Response:
    query = _query(name, userId, None, type, traceId, level, parentObservationId, environment, fromStartTime,
                   toStartTime, version, filter)
    rows, total = services.tracing.list_observations(scope, query, page_of(page, limit))
    return json_response({"data": [observation_to_api(o) for o in rows], "meta": page_meta(page, limit, total)})


@router.get("/api/public/observations/{observation_id}")
def get_observation(observation_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return json_response(observation_to_api(services.tracing.get_observation(scope, observation_id)))


_CURSOR_KEYS = ("lastStartTimeTo", "lastTraceId", "lastId")


def _after(cursor: str | None) -> tuple[int, str, str] | None:
    position = decode_cursor(cursor, _CURSOR_KEYS)
    if position is None:
        return None
    start, trace_id, obs_id = position
    if not isinstance(start, int) or not isinstance(trace_id, str) or not isinstance(obs_id, str):
        raise InvalidInput("Invalid cursor")
    return start, trace_id, obs_id


@router.get("/api/public/v2/observations")
def list_observations_v2(
    services: ServicesDep,
    scope: ProjectScopeDep,
    fields: str | None = None,
    expandMetadata: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
    parseIoAsJson: bool | None = None,
    name: str | None = None,
    userId: str | None = None,
    sessionId: str | None = None,
    type: str | None = None,
    traceId: str | None = None,
    level: str | None = None,
    version: str | None = None,
    parentObservationId: str | None = None,
    isRootObservation: bool | None = None,
    environment: ListParam = None,
    fromStartTime: str | None = None,
    toStartTime: str | None = None,
    filter: str | None = None,
) -> Response:
    if parseIoAsJson:
        raise InvalidInput("parseIoAsJson=true is not supported: input/output are returned as raw strings")
    groups = {"core", "basic"} if not fields else {f.strip() for f in fields.split(",") if f.strip()} | {"core"}
    unknown = groups - set(V2_FIELD_GROUPS)
    if unknown:
        raise InvalidInput(f"Unknown field group(s): {', '.join(sorted(unknown))}")
    query = _query(name, userId, sessionId, type, traceId, level, parentObservationId, environment, fromStartTime,
                   toStartTime, version, filter, isRootObservation)
    rows = services.tracing.list_observations_after(scope, query, limit + 1, _after(cursor))
    more, rows = len(rows) > limit, rows[:limit]
    traces = {}
    if groups & {"basic", "trace_context"}:
        traces = services.tracing.trace_context(scope, [o["trace_id"] for o in rows])
    expand = set(csv_values([expandMetadata] if expandMetadata else None))
    data = [observation_to_v2(o, groups, traces.get(o["trace_id"]), expand) for o in rows]
    meta = {}
    if more and rows:
        last = rows[-1]
        meta["cursor"] = encode_cursor(dict(zip(_CURSOR_KEYS, (last["start_time"], last["trace_id"], last["id"]),
                                                strict=True)))
    return json_response({"data": data, "meta": meta})
