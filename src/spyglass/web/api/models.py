"""Model price definitions: list, create, get and delete (`/api/public/models`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput
from spyglass.web.api.converters import page_meta
from spyglass.web.api.model_converters import model_to_api
from spyglass.web.api.params import LimitParam, PageParam
from spyglass.web.body import read_json
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()


@router.get("/api/public/models")
def list_models(services: ServicesDep, scope: ProjectScopeDep, page: PageParam = 1, limit: LimitParam = 50) -> Response:
    models, total = services.models.list_models(scope, page, limit)
    return json_response({"data": [model_to_api(m) for m in models], "meta": page_meta(page, limit, total)})


@router.post("/api/public/models")
async def create_model(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    if not isinstance(body, dict):
        raise InvalidInput("Request body must be a JSON object")
    model = await run_in_threadpool(services.models.create_model, scope, body)
    return json_response(model_to_api(model))


@router.get("/api/public/models/{model_id}")
def get_model(model_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return json_response(model_to_api(services.models.get_model(scope, model_id)))


@router.delete("/api/public/models/{model_id}")
def delete_model(model_id: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    services.models.delete_model(scope, model_id)
    return Response(status_code=204)
