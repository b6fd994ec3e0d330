"""Liveness, readiness and the SDK's auth check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()


@router.api_route("/api/public/health", methods=["GET", "HEAD"])
def health(services: ServicesDep, request: Request) -> Response:
    params = request.query_params
    if params.get("failIfDatabaseUnavailable") == "true" and not services.ready():
        return json_response({"status": "Database not available", "version": services.version}, 503)
    if params.get("failIfNoRecentEvents") == "true" and not services.tracing.has_recent_events():
        return json_response({"status": "No recent events in the last 3 minutes", "version": services.version}, 503)
    # Spyglass extension: the ingestion queue, so a load balancer's probe shows a backlog.
    try:
        queue = services.status()["queue"]
    except Exception:  # noqa: BLE001 - liveness must answer even when the queue's store is down
        queue = None
    return json_response({"status": "OK", "version": services.version, "queue": queue})


@router.get("/api/public/ready")
def ready(services: ServicesDep) -> Response:
    if not services.ready():
        return json_response({"status": "Not ready", "version": services.version}, 503)
    return json_response({"status": "OK", "version": services.version})


@router.get("/api/public/status")
def status(services: ServicesDep, scope: ProjectScopeDep) -> Response:
    """Spyglass extension: queue depth, oldest item age, dead letters (for operators)."""
    return json_response(services.status())


@router.get("/api/public/projects")
def projects(services: ServicesDep, scope: ProjectScopeDep) -> Response:
    info = services.projects.get_project(scope.project_id)
    return json_response({"data": [{
        "id": info.project.id,
        "name": info.project.name,
        "organization": {"id": info.organization_id, "name": info.organization_name},
        "metadata": info.project.metadata or {},
        "retentionDays": info.project.retention_days,
    }]})


@router.delete("/api/public/projects/{project_id}")
def delete_project(project_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    """Langfuse asks for an organization key here; Spyglass lets an ADMIN key delete its own project."""
    services.project_deletion.request(scope, project_id)
    return json_response({"success": True,
                          "message": "Project deletion has been initiated and is being processed asynchronously"}, 202)
