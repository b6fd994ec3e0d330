"""Prompt management routes: v2 (what the SDKs call), legacy v1, and protected labels.

Prompt names are folder-like (`folder/name`) and arrive URL-encoded in one path segment
(`folder%2Fname`). The routes match any tail and read the name from the raw path, so an
encoded slash stays part of the name while `/versions/{n}` stays a path separator.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput, NotFound
from spyglass.domain.prompts import PromptFilter, Selector
from spyglass.services.prompts import legacy_create_body
from spyglass.web.api.converters import page_meta
from spyglass.web.api.params import PageParam, datetime_param, page_of
from spyglass.web.api.paths import name_from_path, raw_tail
from spyglass.web.api.prompt_converters import prompt_to_api, resolved_to_api, summary_to_api
from spyglass.web.body import read_json
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()

_V2 = "/api/public/v2/prompts"
_VERSION_PATH = re.compile(r"^(?P<name>.+)/versions/(?P<version>[^/]+)$")
PromptLimitParam = Annotated[int, Query(ge=1, le=100)]


@router.get(_V2)
def list_prompts(
    services: ServicesDep,
    scope: ProjectScopeDep,
    name: str | None = None,
    label: str | None = None,
    tag: str | None = None,
    version: str | None = None,
    fromUpdatedAt: str | None = None,  # noqa: N803 - wire names
    toUpdatedAt: str | None = None,  # noqa: N803
    page: PageParam = 1,
    limit: PromptLimitParam = 10,
) -> Response:
    where = PromptFilter(
        name=name, label=label, tag=tag, version=_version(version),
        from_updated_at=datetime_param("fromUpdatedAt", fromUpdatedAt),
        to_updated_at=datetime_param("toUpdatedAt", toUpdatedAt),
    )
    summaries, total = services.prompts.list_prompts(scope, where, page_of(page, limit))
    meta = page_meta(page, limit, total)
    return json_response({"data": [summary_to_api(s) for s in summaries], "meta": meta, "pagination": meta})


@router.post(_V2)
async def create_prompt(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    created = await run_in_threadpool(services.prompts.create, scope, body)
    return json_response(prompt_to_api(created, with_graph=False), 201)


@router.get(_V2 + "/{tail:path}")
def get_prompt(
    request: Request,
    services: ServicesDep,
    scope: ProjectScopeDep,
    version: str | None = None,
    label: str | None = None,
    resolve: str = "true",
) -> Response:
    name = name_from_path(request, _V2)
    if resolve not in ("true", "false"):
        raise InvalidInput(f"resolve must be true or false, got {resolve!r}")
    found = services.prompts.get(scope, name, _selector(version, label), resolved=resolve == "true")
    return json_response(resolved_to_api(found))


@router.patch(_V2 + "/{tail:path}")
async def update_labels(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    match = _VERSION_PATH.match(raw_tail(request, _V2))
    if match is None:
        raise NotFound("Route not found")
    number = _version(unquote(match["version"]))
    assert number is not None
    body = await read_json(request, services.limits.json_body_bytes)
    updated = await run_in_threadpool(services.prompts.add_labels, scope, unquote(match["name"]), number, body)
    return json_response(prompt_to_api(updated, with_graph=False))


@router.delete(_V2 + "/{tail:path}")
def delete_prompt(
    request: Request, services: ServicesDep, scope: ProjectScopeDep, version: str | None = None,
    label: str | None = None,
) -> Response:
    selector = None if version is None and label is None else _selector(version, label)
    services.prompts.delete(scope, name_from_path(request, _V2), selector)
    return Response(status_code=204)


# -- legacy v1 (not in the OpenAPI spec, still called) -----------------------------------


@router.get("/api/public/prompts")
def get_prompt_v1(services: ServicesDep, scope: ProjectScopeDep, name: str | None = None,
                  version: str | None = None) -> Response:
    if not name:
        raise InvalidInput("name is required")
    found = services.prompts.get(scope, name, _selector(version, None))
    return json_response(resolved_to_api(found))


@router.post("/api/public/prompts")
async def create_prompt_v1(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = legacy_create_body(await read_json(request, services.limits.json_body_bytes))
    created = await run_in_threadpool(services.prompts.create, scope, body)
    return json_response(prompt_to_api(created, with_graph=False), 201)


# -- protected labels (Spyglass) -----------------------------------------------------------


@router.get("/api/public/protected-prompt-labels")
def list_protected_labels(services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return json_response({"data": services.prompts.protected_labels(scope)})


@router.put("/api/public/protected-prompt-labels/{label}")
def protect_label(label: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return json_response({"label": services.prompts.protect_label(scope, label)})


@router.delete("/api/public/protected-prompt-labels/{label}")
def unprotect_label(label: str, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    services.prompts.unprotect_label(scope, label)
    return Response(status_code=204)


# -- parameters ------------------------------------------------------------------------------


def _selector(version: str | None, label: str | None) -> Selector:
    if version is not None and label is not None:
        raise InvalidInput("Pass either version or label, not both")
    if label is not None and not label:
        raise InvalidInput("label must not be empty")
    return Selector(version=_version(version), label=label)


def _version(value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 2**31 - 1:
        raise InvalidInput(f"version must be a positive integer, got {value!r}")
    return int(value)
