"""`GET /api/public/experiments` and `GET /api/public/experiment-items`: cursor pages with field groups."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput
from spyglass.domain.values import decode_metadata, decode_value
from spyglass.domain.values import format_timestamp as ts
from spyglass.services.experiments import MAX_SCORES, Experiment, ExperimentFilter, ExperimentItem
from spyglass.web.api.converters import iso
from spyglass.web.api.cursors import decode_cursor, encode_cursor
from spyglass.web.api.params import csv_values, timestamp_param
from spyglass.web.api.scores_v3 import score_to_v3
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()

ExperimentLimit = Annotated[int, Query(ge=1, le=100)]
ScoreLimit = Annotated[int, Query(ge=1, le=MAX_SCORES)]
_EXPERIMENT_GROUPS = ("core", "metadata", "scores")
_ITEM_GROUPS = ("core", "dataset", "io", "metadata", "itemMetadata", "experimentMetadata", "scores")
# filter column → the ExperimentFilter list it narrows
_EXPERIMENT_COLUMNS = {"id": "ids", "name": "names", "datasetId": "dataset_ids"}
_ITEM_COLUMNS = {"experimentId": "ids", "experimentName": "names", "experimentItemId": "item_ids",
                 "datasetId": "dataset_ids"}


@router.get("/api/public/experiments")
def list_experiments(
    services: ServicesDep, scope: ProjectScopeDep, fromStartTime: str | None = None,  # noqa: N803
    toStartTime: str | None = None, limit: ExperimentLimit = 50, cursor: str | None = None,  # noqa: N803
    fields: str | None = None, scoreLimit: ScoreLimit = MAX_SCORES, id: str | None = None,  # noqa: A002, N803
    name: str | None = None, datasetId: str | None = None, filter: str | None = None,  # noqa: A002, N803
) -> Response:
    groups = _groups(fields, _EXPERIMENT_GROUPS, ("core",))
    lists = _filter_lists(filter, _EXPERIMENT_COLUMNS)
    where = ExperimentFilter(
        from_us=_required_time(fromStartTime), to_us=timestamp_param("toStartTime", toStartTime),
        ids=_given(id, lists, "ids"), names=_given(name, lists, "names"),
        dataset_ids=_given(datasetId, lists, "dataset_ids"),
    )
    found = services.experiments.list_experiments(scope, where, score_limit=scoreLimit if "scores" in groups else None)
    page, next_cursor = _page(found, cursor, limit)
    return json_response({"data": [_experiment(e, groups) for e in page], "meta": _meta(next_cursor)})


@router.get("/api/public/experiment-items")
def list_experiment_items(
    services: ServicesDep, scope: ProjectScopeDep, fromStartTime: str | None = None,  # noqa: N803
    toStartTime: str | None = None, limit: ExperimentLimit = 50, cursor: str | None = None,  # noqa: N803
    fields: str | None = None, scoreLimit: ScoreLimit = MAX_SCORES, experimentId: str | None = None,  # noqa: N803
    experimentName: str | None = None, experimentItemId: str | None = None,  # noqa: N803
    datasetId: str | None = None, filter: str | None = None,  # noqa: A002, N803
) -> Response:
    groups = _groups(fields, _ITEM_GROUPS, ("core", "dataset"))
    lists = _filter_lists(filter, _ITEM_COLUMNS)
    where = ExperimentFilter(
        from_us=_required_time(fromStartTime), to_us=timestamp_param("toStartTime", toStartTime),
        ids=_given(experimentId, lists, "ids"), names=_given(experimentName, lists, "names"),
        dataset_ids=_given(datasetId, lists, "dataset_ids"), item_ids=_given(experimentItemId, lists, "item_ids"),
    )
    found = services.experiments.list_items(
        scope, where, score_limit=scoreLimit if "scores" in groups else None,
        with_dataset_items=bool({"io", "itemMetadata"} & groups))
    page, next_cursor = _page(found, cursor, limit)
    return json_response({"data": [_item(i, groups) for i in page], "meta": _meta(next_cursor)})


def _experiment(experiment: Experiment, groups: set[str]) -> dict[str, Any]:
    run = experiment.run
    out: dict[str, Any] = {
        "id": run.id, "name": run.name, "description": run.description, "startTime": ts(experiment.start_us),
        "endTime": ts(experiment.end_us), "itemCount": experiment.item_count, "datasetId": run.dataset_id,
    }
    if "metadata" in groups:
        out["metadata"] = run.metadata
    if "scores" in groups:
        out["scores"] = [score_to_v3(s) for s in experiment.scores]
    return out


def _item(found: ExperimentItem, groups: set[str]) -> dict[str, Any]:
    obs, item, run, dataset_item = found.observation, found.item, found.run, found.dataset_item
    out: dict[str, Any] = {
        "id": obs["id"], "traceId": obs["trace_id"], "startTime": ts(obs["start_time"]),
        "endTime": ts(obs["end_time"]), "level": obs["level"], "environment": obs["environment"],
        "experimentId": run.id, "experimentName": run.name, "experimentItemId": item.dataset_item_id,
    }
    if "dataset" in groups:
        out |= {"experimentDatasetId": run.dataset_id, "experimentItemVersion": iso(item.item_version)}
    if "io" in groups:
        expected = item.expected_output
        if expected is None and dataset_item is not None:
            expected = dataset_item.expected_output
        out |= {"input": decode_value(obs["input"]), "output": decode_value(obs["output"]),
                "expectedOutput": expected}
    if "metadata" in groups:
        out["metadata"] = decode_metadata(obs["metadata"])
    if "itemMetadata" in groups:
        metadata = item.item_metadata
        if metadata is None and dataset_item is not None:
            metadata = dataset_item.metadata
        out["experimentItemMetadata"] = metadata
    if "experimentMetadata" in groups:
        out |= {"experimentMetadata": run.metadata, "experimentDescription": run.description}
    if "scores" in groups:
        out["scores"] = [score_to_v3(s) for s in found.scores]
    return out


def _groups(fields: str | None, known: tuple[str, ...], default: tuple[str, ...]) -> set[str]:
    groups = set(csv_values([fields] if fields else None)) or set(default)
    unknown = sorted(groups - set(known))
    if unknown:
        raise InvalidInput(f"Unknown field group(s): {', '.join(unknown)} (known: {', '.join(known)})")
    return groups | {"core"}


def _filter_lists(text: str | None, columns: dict[str, str]) -> dict[str, list[str]]:
    """The structured filter's conditions as value lists; only equality and `any of` on the given columns."""
    lists: dict[str, list[str]] = {key: [] for key in ("ids", "names", "dataset_ids", "item_ids")}
    if not text:
        return lists
    try:
        conditions = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidInput("filter must be a JSON array of filter conditions") from None
    if not isinstance(conditions, list):
        raise InvalidInput("filter must be a JSON array of filter conditions")
    for condition in conditions:
        column = condition.get("column") if isinstance(condition, dict) else None
        if column not in columns:
            raise InvalidInput(f"filter: unsupported column {column!r} (supported: {', '.join(columns)})")
        operator, value = condition.get("operator"), condition.get("value")
        if operator == "=" and isinstance(value, str):
            lists[columns[column]].append(value)
        elif operator == "any of" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            lists[columns[column]].extend(value)
        else:
            raise InvalidInput(f'filter on {column}: use operator "=" with a string or "any of" with a list of strings')
    return lists


def _given(value: str | None, lists: dict[str, list[str]], key: str) -> list[str]:
    """A CSV query parameter's values and the filter's values for the same field."""
    return csv_values([value] if value else None) + lists[key]


def _required_time(value: str | None) -> int:
    micros = timestamp_param("fromStartTime", value)
    if micros is None:
        raise InvalidInput("fromStartTime is required")
    return micros


def _page(rows: list[Any], cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    decoded = decode_cursor(cursor, ("offset",))
    offset = int(decoded[0]) if decoded else 0
    if offset < 0:
        raise InvalidInput("Invalid cursor")
    page = rows[offset:offset + limit]
    more = offset + limit < len(rows)
    return page, encode_cursor({"offset": offset + limit}) if more else None


def _meta(cursor: str | None) -> dict[str, Any]:
    return {"cursor": cursor} if cursor else {}
