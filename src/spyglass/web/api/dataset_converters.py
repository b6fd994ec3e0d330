"""Datasets, items, runs, run items and run score aggregates → Langfuse's JSON (every key present)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spyglass.domain.datasets import Dataset, DatasetItem, DatasetRun, DatasetRunItem
from spyglass.services.datasets import RunScores
from spyglass.services.media import ItemMediaReference
from spyglass.web.api.converters import iso

# Labels are counted for these; the others are numbers.
_LABELLED = ("CATEGORICAL", "BOOLEAN")


def dataset_to_api(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "description": dataset.description,
        "metadata": dataset.metadata,
        "inputSchema": dataset.input_schema,
        "expectedOutputSchema": dataset.expected_output_schema,
        "projectId": dataset.project_id,
        "createdAt": iso(dataset.created_at),
        "updatedAt": iso(dataset.updated_at),
    }


def item_to_api(item: DatasetItem, references: Sequence[ItemMediaReference] = ()) -> dict[str, Any]:
    return {
        "id": item.id,
        "datasetId": item.dataset_id,
        "datasetName": item.dataset_name,
        "status": item.status,
        "input": item.input,
        "expectedOutput": item.expected_output,
        "metadata": item.metadata,
        "sourceTraceId": item.source_trace_id,
        "sourceObservationId": item.source_observation_id,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
        "mediaReferences": [media_reference_to_api(reference) for reference in references],
    }


def items_to_api(items: Sequence[DatasetItem], references: dict[str, list[ItemMediaReference]]) -> list[dict[str, Any]]:
    return [item_to_api(item, references.get(item.id, ())) for item in items]


def media_reference_to_api(reference: ItemMediaReference) -> dict[str, Any]:
    view = reference.view
    return {
        "field": reference.field,
        "referenceString": reference.found.reference.text,
        "jsonPath": reference.found.json_path,
        "media": {
            "mediaId": view.media.id,
            "contentType": view.media.content_type,
            "contentLength": view.media.content_length,
            "url": view.url,
            "urlExpiry": iso(view.url_expiry),
        },
    }


def run_to_api(run: DatasetRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "description": run.description,
        "metadata": run.metadata,
        "datasetId": run.dataset_id,
        "datasetName": run.dataset_name,
        "createdAt": iso(run.created_at),
        "updatedAt": iso(run.updated_at),
    }


def run_item_to_api(item: DatasetRunItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "datasetRunId": item.dataset_run_id,
        "datasetRunName": item.dataset_run_name,
        "datasetItemId": item.dataset_item_id,
        "traceId": item.trace_id,
        "observationId": item.observation_id,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
    }


def run_scores_to_api(scores: RunScores) -> dict[str, Any]:
    return {
        "datasetRunId": scores.run.id,
        "datasetRunName": scores.run.name,
        "datasetRunCreatedAt": iso(scores.run.created_at),
        "itemCount": scores.item_count,
        "itemScores": [_aggregate(row) for row in scores.item_scores],
        "runScores": [_aggregate(row) for row in scores.run_scores],
    }


def _aggregate(row: dict[str, Any]) -> dict[str, Any]:
    numeric = row["data_type"] in ("NUMERIC", "BOOLEAN")
    return {
        "name": row["name"],
        "dataType": row["data_type"],
        "count": int(row["count"]),
        "mean": float(row["mean"]) if numeric else None,
        "min": float(row["min"]) if numeric else None,
        "max": float(row["max"]) if numeric else None,
        "distribution": {label: int(n) for label, n in sorted(row["labels"].items())}
        if row["data_type"] in _LABELLED else None,
    }
