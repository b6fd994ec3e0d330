"""Write paths: Langfuse batch ingestion, OTLP/HTTP, and the legacy single-event routes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput
from spyglass.ingestion.otel import OtlpDecodeError
from spyglass.web.body import gunzip, is_gzip, read_body, read_json, read_raw_body
from spyglass.web.deps import ProjectScopeDep, ScoreWriterScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()

_EMPTY_OTLP_RESPONSE = b""  # an empty ExportTraceServiceResponse serialises to zero bytes


@router.post("/api/public/ingestion")
async def ingestion(request: Request, services: ServicesDep, scope: ScoreWriterScopeDep) -> Response:
    payload = await read_json(request, services.limits.ingestion_body_bytes)
    batch = payload.get("batch") if isinstance(payload, dict) else None
    if not isinstance(batch, list):
        return json_response(
            {"message": "Invalid request data", "errors": ["batch: expected an array of events"]}, 400
        )
    result = await run_in_threadpool(services.ingestion.accept_batch, scope, batch)
    return json_response({"successes": result.successes, "errors": result.errors}, 207)


def _otlp_error(message: str, status: int = 400) -> Response:
    return json_response({"error": message, "message": message}, status)


@router.post("/api/public/otel/v1/traces")
async def otel_traces(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    content_type = request.headers.get("content-type", "").lower()
    if "application/x-protobuf" not in content_type and "application/json" not in content_type:
        return _otlp_error("Invalid content type")
    version = request.headers.get("x-langfuse-ingestion-version")
    if version is not None and (not (version.strip().isascii() and version.strip().isdigit()) or int(version) > 4):
        return _otlp_error(f"Unsupported x-langfuse-ingestion-version: {version}")
    raw = await read_raw_body(request, services.limits.otel_body_bytes)
    compressed = is_gzip(request)
    body = gunzip(raw, services.limits.otel_body_bytes) if compressed else raw
    try:
        await run_in_threadpool(services.ingestion.accept_otel, scope, body, content_type, raw if compressed else None)
    except OtlpDecodeError as exc:
        return _otlp_error(exc.message)
    if "application/x-protobuf" in content_type:
        return Response(_EMPTY_OTLP_RESPONSE, media_type="application/x-protobuf")
    return json_response({})


@router.post("/api/public/otel/v1/metrics")
async def otel_metrics(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    await read_body(request, services.limits.otel_body_bytes)
    return json_response({"message": "OK"})


async def _single_event(request: Request, services: ServicesDep, scope: Any, event_type: str,
                        rename: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    if not isinstance(body, dict):
        raise InvalidInput("Request body must be a JSON object")
    for src, dst in (rename or {}).items():
        if src in body:
            body[dst] = body.pop(src)
    body.update(extra or {})
    if event_type != "observation-update" and not body.get("id"):
        body["id"] = str(uuid.uuid4())
    event = {"id": uuid.uuid4().hex, "type": event_type, "timestamp": datetime.now(tz=UTC).isoformat(),
             "body": body}
    result = await run_in_threadpool(services.ingestion.accept_batch, scope, [event])
    if result.errors:
        error = result.errors[0]
        return json_response({"message": f"{error['message']}: {error.get('error', '')}"}, error["status"])
    return json_response({"id": body.get("id")})


@router.post("/api/public/traces")
async def create_trace(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return await _single_event(request, services, scope, "trace-create")


@router.post("/api/public/spans")
async def create_span(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return await _single_event(request, services, scope, "observation-create", extra={"type": "SPAN"})


@router.patch("/api/public/spans")
async def update_span(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return await _single_event(request, services, scope, "observation-update", {"spanId": "id"}, {"type": "SPAN"})


@router.post("/api/public/generations")
async def create_generation(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return await _single_event(request, services, scope, "observation-create", extra={"type": "GENERATION"})


@router.patch("/api/public/generations")
async def update_generation(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return await _single_event(request, services, scope, "observation-update", {"generationId": "id"},
                               {"type": "GENERATION"})


@router.post("/api/public/events")
async def create_event(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return await _single_event(request, services, scope, "observation-create", extra={"type": "EVENT"})
