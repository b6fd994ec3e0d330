"""Trace reads and deletes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput
from spyglass.domain.filters import parse_filter
from spyglass.domain.queries import TRACE_ORDER_FIELDS, TraceQuery
from spyglass.web.api.converters import page_meta, trace_detail, trace_list_item
from spyglass.web.api.params import LimitParam, ListParam, PageParam, csv_values, page_of, timestamp_param
from spyglass.web.body import read_json
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()

_FIELD_GROUPS = {"core", "io", "scores", "observations", "metrics"}


def _order_by(value: str | None) -> tuple[str, str]:
    if not value:
        return ("timestamp", "desc")
    column, _, direction = value.partition(".")
    if column not in TRACE_ORDER_FIELDS or direction not in ("asc", "desc"):
        raise InvalidInput(f"Invalid orderBy '{value}': use <column>.<asc|desc> with one of "
                           + ", ".join(TRACE_ORDER_FIELDS))
    return (column, direction)


@router.get("/api/public/traces")
def list_traces(
    services: ServicesDep,
    scope: ProjectScopeDep,
    page: PageParam = 1,
    limit: LimitParam = 50,
    userId: str | None = None,
    name: str | None = None,
    sessionId: str | None = None,
    fromTimestamp: str | None = None,
    toTimestamp: str | None = None,
    orderBy: str | None = None,
    tags: ListParam = None,
    version: str | None = None,
    release: str | None = None,
    environment: ListParam = None,
    fields: str | None = None,
    filter: str | None = None,
) -> Response:
    query = TraceQuery(
        user_id=userId, name=name, session_id=sessionId,
        from_ts=timestamp_param("fromTimestamp", fromTimestamp), to_ts=timestamp_param("toTimestamp", toTimestamp),
        tags=csv_values(tags), version=version, release=release, environments=csv_values(environment),
        conditions=parse_filter(filter), order_by=_order_by(orderBy),
    )
    groups = _field_groups(fields)
    result = services.tracing.list_traces(scope, query, page_of(page, limit))
    data = [_shape(trace_list_item(t, result.rollups[t["id"]]), groups) for t in result.traces]
    return json_response({"data": data, "meta": page_meta(page, limit, result.total)})


def _field_groups(fields: str | None) -> set[str]:
    if not fields:
        return set(_FIELD_GROUPS)
    groups = {f.strip() for f in fields.split(",") if f.strip()}
    unknown = groups - _FIELD_GROUPS
    if unknown:
        raise InvalidInput(f"Unknown field group(s): {', '.join(sorted(unknown))}")
    return groups | {"core"}


def _shape(item: dict, groups: set[str]) -> dict:
    """Langfuse's `fields` semantics: excluded groups become empty, not absent."""
    if "io" not in groups:
        item.update(input=None, output=None, metadata={})
    if "observations" not in groups:
        item["observations"] = []
    if "scores" not in groups:
        item["scores"] = []
    if "metrics" not in groups:
        item.update(totalCost=-1, latency=-1)
    return item


@router.get("/api/public/traces/{trace_id}")
def get_trace(trace_id: str, services: ServicesDep, scope: ProjectScopeDep, fields: str | None = None) -> Response:
    detail = services.tracing.get_trace(scope, trace_id)
    body = trace_detail(detail.trace, detail.observations, detail.scores)
    return json_response(_shape(body, _field_groups(fields)))


@router.delete("/api/public/traces/{trace_id}")
def delete_trace(trace_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    services.tracing.get_trace(scope, trace_id)
    services.tracing.delete_traces(scope, [trace_id])
    return json_response({"message": "Trace deleted successfully"})


@router.delete("/api/public/traces")
async def delete_traces(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    ids = body.get("traceIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInput("Body must be {\"traceIds\": [<string>, ...]}")
    await run_in_threadpool(services.tracing.delete_traces, scope, ids)
    return json_response({"message": "Traces deleted successfully"})
