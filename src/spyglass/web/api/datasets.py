"""Dataset routes: datasets (v2 and legacy v1), items, runs, run items, run score aggregates, import.

Dataset and run names are folder-like and arrive URL-encoded in one path segment; the
`/api/public/datasets/...` routes read the raw path and dispatch on its segments.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from spyglass.domain.access import ProjectScope
from spyglass.domain.datasets import DatasetItem
from spyglass.domain.errors import InvalidInput, NotFound
from spyglass.web.api.converters import page_meta
from spyglass.web.api.dataset_converters import (
    dataset_to_api,
    items_to_api,
    run_item_to_api,
    run_scores_to_api,
    run_to_api,
)
from spyglass.web.api.params import LimitParam, PageParam, datetime_param, page_of
from spyglass.web.api.paths import name_from_path, raw_segments
from spyglass.web.body import read_body, read_json
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()

_V1 = "/api/public/datasets"
_V2 = "/api/public/v2/datasets"
_ITEMS = "/api/public/dataset-items"


# -- datasets -------------------------------------------------------------------------------


@router.post(_V2)
@router.post(_V1)
async def upsert_dataset(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    dataset = await run_in_threadpool(services.datasets.upsert_dataset, scope, body)
    out = dataset_to_api(dataset)
    if request.url.path == _V1:  # v1 answers with the (new) dataset's items and runs too
        out |= {"items": [], "runs": services.datasets.run_names(scope, [dataset.id])[dataset.id]}
    return json_response(out)


@router.get(_V2)
def list_datasets(services: ServicesDep, scope: ProjectScopeDep, page: PageParam = 1,
                  limit: LimitParam = 50) -> Response:
    datasets, total = services.datasets.list_datasets(scope, page_of(page, limit))
    return json_response({"data": [dataset_to_api(d) for d in datasets], "meta": page_meta(page, limit, total)})


@router.get(_V1)
def list_datasets_v1(services: ServicesDep, scope: ProjectScopeDep, page: PageParam = 1,
                     limit: LimitParam = 50) -> Response:
    datasets, total = services.datasets.list_datasets(scope, page_of(page, limit))
    ids = [d.id for d in datasets]
    runs, items = services.datasets.run_names(scope, ids), services.datasets.active_item_ids(scope, ids)
    data = [dataset_to_api(d) | {"items": items[d.id], "runs": runs[d.id]} for d in datasets]
    return json_response({"data": data, "meta": page_meta(page, limit, total)})


@router.get(_V2 + "/{tail:path}")
def get_dataset(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return json_response(dataset_to_api(services.datasets.get_dataset(scope, name_from_path(request, _V2))))


@router.get(_V1 + "/{tail:path}")
def dataset_v1_reads(request: Request, services: ServicesDep, scope: ProjectScopeDep, page: PageParam = 1,
                     limit: LimitParam = 50) -> Response:
    """`{name}`, `{name}/runs`, `{name}/runs/{run}`, `{name}/runs/{run}/scores`, `{name}/run-scores`."""
    match raw_segments(request, _V1):
        case [name] if name:
            dataset = services.datasets.get_dataset(scope, name)
            items, _ = services.datasets.list_items(scope, dataset_name=name, source_trace_id=None,
                                                    source_observation_id=None, as_of=None, page=None)
            runs = services.datasets.run_names(scope, [dataset.id])[dataset.id]
            return json_response(dataset_to_api(dataset) | {"items": _items(request, services, scope, items),
                                                             "runs": runs})
        case [name, "runs"]:
            runs, total = services.datasets.list_runs(scope, name, page_of(page, limit))
            return json_response({"data": [run_to_api(r) for r in runs], "meta": page_meta(page, limit, total)})
        case [name, "runs", run_name]:
            run, items = services.datasets.get_run(scope, name, run_name)
            return json_response(run_to_api(run) | {"datasetRunItems": [run_item_to_api(i) for i in items]})
        case [name, "runs", run_name, "scores"]:
            return json_response(run_scores_to_api(services.datasets.run_scores(scope, name, run_name)[0]))
        case [name, "run-scores"]:
            return json_response({"data": [run_scores_to_api(s) for s in services.datasets.run_scores(scope, name)]})
    raise NotFound("Route not found")


@router.delete(_V1 + "/{tail:path}")
def delete_run(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    match raw_segments(request, _V1):
        case [name, "runs", run_name]:
            services.datasets.delete_run(scope, name, run_name)
            return json_response({"message": "Dataset run successfully deleted"})
    raise NotFound("Route not found")


# -- items ------------------------------------------------------------------------------------


@router.post("/api/public/dataset-items")
async def upsert_item(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.ingestion_body_bytes)
    item = await run_in_threadpool(services.datasets.upsert_item, scope, body)
    return json_response((await run_in_threadpool(_items, request, services, scope, [item]))[0])


@router.post("/api/public/dataset-items/import")
async def import_items(request: Request, services: ServicesDep, scope: ProjectScopeDep,
                       datasetName: str | None = None, format: str | None = None) -> Response:  # noqa: A002, N803
    if not datasetName:
        raise InvalidInput("datasetName is required")
    if format not in ("csv", "jsonl"):
        raise InvalidInput('format must be "csv" or "jsonl"')
    data = await read_body(request, services.limits.ingestion_body_bytes)
    result = await run_in_threadpool(services.datasets.import_items, scope, datasetName, data, format)
    return json_response({"created": result.created,
                          "errors": [{"row": row, "message": message} for row, message in result.errors]})


@router.get("/api/public/dataset-items")
def list_items(request: Request, services: ServicesDep, scope: ProjectScopeDep,
               datasetName: str | None = None,  # noqa: N803
               sourceTraceId: str | None = None, sourceObservationId: str | None = None,  # noqa: N803
               version: str | None = None, page: PageParam = 1, limit: LimitParam = 50) -> Response:
    items, total = services.datasets.list_items(
        scope, dataset_name=datasetName, source_trace_id=sourceTraceId, source_observation_id=sourceObservationId,
        as_of=datetime_param("version", version), page=page_of(page, limit))
    return json_response({"data": _items(request, services, scope, items), "meta": page_meta(page, limit, total)})


# Item ids may hold a slash (they are the caller's): read from the raw path, like dataset names.
@router.get(_ITEMS + "/{tail:path}")
def get_item(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    item = services.datasets.get_item(scope, name_from_path(request, _ITEMS))
    return json_response(_items(request, services, scope, [item])[0])


@router.delete(_ITEMS + "/{tail:path}")
def delete_item(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    services.datasets.delete_item(scope, name_from_path(request, _ITEMS))
    return json_response({"message": "Dataset item successfully deleted"})


def _items(request: Request, services: ServicesDep, scope: ProjectScope, items: list[DatasetItem]) -> list[Any]:
    """Items as the API shows them, each with its media references and their download URLs."""
    return items_to_api(items, services.media.item_references(scope, items, str(request.base_url)))


# -- run items --------------------------------------------------------------------------------


@router.post("/api/public/dataset-run-items")
async def create_run_item(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    return json_response(run_item_to_api(await run_in_threadpool(services.datasets.create_run_item, scope, body)))


@router.get("/api/public/dataset-run-items")
def list_run_items(services: ServicesDep, scope: ProjectScopeDep, datasetId: str | None = None,  # noqa: N803
                   runName: str | None = None, page: PageParam = 1, limit: LimitParam = 50) -> Response:  # noqa: N803
    if not datasetId or not runName:
        raise InvalidInput("datasetId and runName are required")
    items, total = services.datasets.list_run_items(scope, datasetId, runName, page_of(page, limit))
    return json_response({"data": [run_item_to_api(i) for i in items], "meta": page_meta(page, limit, total)})
