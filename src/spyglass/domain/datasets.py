"""Datasets, their versioned items, experiment runs and run items: values and request rules.

Pure. Items are versioned: every change closes the current row and opens a new one, so a
dataset can be read as it was at any moment (what an experiment ran against).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from spyglass.domain.errors import InvalidInput
from spyglass.domain.values import parse_timestamp

ItemStatus = Literal["ACTIVE", "ARCHIVED"]
STATUSES: Final = ("ACTIVE", "ARCHIVED")
MAX_NAME_LENGTH: Final = 255
MAX_ID_LENGTH: Final = 255
_UNSET: Final = object()


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    project_id: str
    name: str
    description: str | None
    metadata: Any
    input_schema: Any
    expected_output_schema: Any
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DatasetItem:
    id: str
    project_id: str
    dataset_id: str
    dataset_name: str
    status: ItemStatus
    input: Any
    expected_output: Any
    metadata: Any
    source_trace_id: str | None
    source_observation_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DatasetRun:
    """An experiment run; `dataset_id` None for one over local data."""

    id: str
    project_id: str
    dataset_id: str | None
    dataset_name: str | None
    name: str
    description: str | None
    metadata: Any
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DatasetRunItem:
    id: str
    project_id: str
    dataset_run_id: str
    dataset_run_name: str
    dataset_item_id: str
    trace_id: str | None
    observation_id: str | None
    created_at: datetime
    updated_at: datetime
    item_version: datetime | None = None
    expected_output: Any = None
    item_metadata: Any = None


@dataclass(frozen=True, slots=True)
class DatasetDraft:
    """A dataset upsert: fields left out (`_UNSET`) keep their stored value."""

    name: str
    id: str | None = None
    description: Any = _UNSET
    metadata: Any = _UNSET
    input_schema: Any = _UNSET
    expected_output_schema: Any = _UNSET

    def changes(self) -> dict[str, Any]:
        return {key: value for key in ("description", "metadata", "input_schema", "expected_output_schema")
                if (value := getattr(self, key)) is not _UNSET}


@dataclass(frozen=True, slots=True)
class ItemDraft:
    """An item upsert; fields left out keep the current version's values."""

    dataset_name: str
    id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunItemDraft:
    run_name: str
    dataset_item_id: str
    trace_id: str | None
    observation_id: str | None
    run_description: str | None
    metadata: Any
    dataset_version: str | None


# The key under which an OTLP observation patch carries its experiment link to the worker.
EXPERIMENT_LINK: Final = "experiment_link"


@dataclass(frozen=True, slots=True)
class ExperimentLink:
    """A dataset item run as part of an experiment, as the SDK's task span declares it.

    SDK 5.x no longer posts run items: the run (its id derived by the SDK) and its items
    exist only as `langfuse.experiment.*` span attributes, and the server records them.
    """

    project_id: str
    run_id: str
    run_name: str
    dataset_id: str | None  # None: an experiment over local data
    dataset_item_id: str
    trace_id: str
    observation_id: str
    description: str | None
    metadata: Any
    item_version: datetime | None = None
    expected_output: Any = None
    item_metadata: Any = None


@dataclass(frozen=True, slots=True)
class ImportRow:
    row: int
    draft: ItemDraft | None
    error: str | None = None


# -- request bodies ---------------------------------------------------------------------


def parse_dataset(body: Any) -> DatasetDraft:
    body = _object(body)
    name = validate_name(body.get("name"), "name")
    dataset_id = _optional_text(body, "id", MAX_ID_LENGTH)
    values: dict[str, Any] = {}
    if "description" in body:
        description = body["description"]
        if description is not None and not isinstance(description, str):
            raise InvalidInput("description must be a string (or null)")
        values["description"] = description
    if "metadata" in body:
        values["metadata"] = body["metadata"]
    for wire, key in (("inputSchema", "input_schema"), ("expectedOutputSchema", "expected_output_schema")):
        if wire in body:
            values[key] = check_schema(body[wire], wire)
    return DatasetDraft(name=name, id=dataset_id, **values)


def parse_item(body: Any) -> ItemDraft:
    body = _object(body)
    dataset_name = validate_name(body.get("datasetName"), "datasetName")
    item_id = _optional_text(body, "id", MAX_ID_LENGTH)
    fields: dict[str, Any] = {}
    for wire, key in (("input", "input"), ("expectedOutput", "expected_output"), ("metadata", "metadata")):
        if wire in body:
            fields[key] = body[wire]
    for wire, key in (("sourceTraceId", "source_trace_id"), ("sourceObservationId", "source_observation_id")):
        if wire in body:
            fields[key] = _optional_text(body, wire, MAX_ID_LENGTH)
    if "status" in body and body["status"] is not None:
        if body["status"] not in STATUSES:
            raise InvalidInput(f"status must be ACTIVE or ARCHIVED, got {body['status']!r}")
        fields["status"] = body["status"]
    return ItemDraft(dataset_name=dataset_name, id=item_id, fields=fields)


def parse_run_item(body: Any) -> RunItemDraft:
    body = _object(body)
    run_name = validate_name(body.get("runName"), "runName")
    item_id = _optional_text(body, "datasetItemId", MAX_ID_LENGTH)
    if item_id is None:
        raise InvalidInput("datasetItemId is required")
    trace_id = _optional_text(body, "traceId", MAX_ID_LENGTH)
    observation_id = _optional_text(body, "observationId", MAX_ID_LENGTH)
    if trace_id is None and observation_id is None:
        raise InvalidInput("traceId or observationId is required")
    description = body.get("runDescription")
    if description is not None and not isinstance(description, str):
        raise InvalidInput("runDescription must be a string (or null)")
    version = body.get("datasetVersion")
    if version is not None and (not isinstance(version, str) or parse_timestamp(version) is None):
        raise InvalidInput(f"datasetVersion must be an ISO 8601 date-time (or null), got {version!r}")
    return RunItemDraft(run_name=run_name, dataset_item_id=item_id, trace_id=trace_id, observation_id=observation_id,
                        run_description=description, metadata=body.get("metadata"), dataset_version=version)


def validate_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} is required and must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} must be at most {MAX_NAME_LENGTH} characters")
    return value


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput("Request body must be a JSON object")
    return body


def _optional_text(body: Mapping[str, Any], key: str, max_length: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{key} must be a non-empty string (or null)")
    if len(value) > max_length:
        raise InvalidInput(f"{key} must be at most {max_length} characters")
    return value


# -- JSON schemas -------------------------------------------------------------------------


def check_schema(schema: Any, what: str) -> Any:
    """A JSON Schema (draft 2020-12) given for a dataset, or None to remove it."""
    if schema is None:
        return None
    if not isinstance(schema, dict | bool):
        raise InvalidInput(f"{what} must be a JSON Schema object (or null)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise InvalidInput(f"{what} is not a valid JSON Schema: {error.message}") from None
    return schema


def schema_violation(schema: Any, value: Any, what: str) -> str | None:
    """Why `value` does not match `schema`, naming the JSON path, or None when it matches."""
    if schema is None:
        return None
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    first = errors[0]
    return f"{what} does not match the dataset's schema at {first.json_path}: {first.message}"


def check_item_schemas(dataset: Dataset, item_input: Any, expected_output: Any) -> None:
    for schema, value, what in ((dataset.input_schema, item_input, "input"),
                                (dataset.expected_output_schema, expected_output, "expectedOutput")):
        problem = schema_violation(schema, value, what)
        if problem is not None:
            raise InvalidInput(problem)


# -- import files -------------------------------------------------------------------------

_COLUMNS: Final = {
    "input": "input", "expectedOutput": "expectedOutput", "expected_output": "expectedOutput",
    "metadata": "metadata", "id": "id", "sourceTraceId": "sourceTraceId", "source_trace_id": "sourceTraceId",
    "sourceObservationId": "sourceObservationId", "source_observation_id": "sourceObservationId", "status": "status",
}


def import_rows(data: bytes, file_format: str, dataset_name: str) -> Iterator[ImportRow]:
    """Each data row of a CSV or JSONL file as an item draft, or the reason it is not one (1-based rows)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"The file is not UTF-8 text: {error}") from None
    if file_format == "jsonl":
        yield from _jsonl_rows(text, dataset_name)
    elif file_format == "csv":
        yield from _csv_rows(text, dataset_name)
    else:
        raise InvalidInput(f'format must be "csv" or "jsonl", got {file_format!r}')


def _jsonl_rows(text: str, dataset_name: str) -> Iterator[ImportRow]:
    row = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        row += 1
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield ImportRow(row, None, f"invalid JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield ImportRow(row, None, "each line must be a JSON object")
            continue
        yield _row_draft(row, {_COLUMNS.get(k, k): v for k, v in value.items()}, dataset_name)


def _csv_rows(text: str, dataset_name: str) -> Iterator[ImportRow]:
    reader = csv.DictReader(io.StringIO(text))
    unknown = [c for c in reader.fieldnames or () if c not in _COLUMNS]
    if not reader.fieldnames or "input" not in reader.fieldnames:
        raise InvalidInput("The CSV file needs a header row with an `input` column")
    if unknown:
        raise InvalidInput(f"Unknown CSV columns: {', '.join(unknown)} (known: {', '.join(sorted(set(_COLUMNS)))})")
    for row, record in enumerate(reader, start=1):
        if None in record:
            yield ImportRow(row, None, "the row has more cells than the header")
            continue
        values = {_COLUMNS[k]: v if _COLUMNS[k] in _ID_COLUMNS else _cell(v)
                  for k, v in record.items() if v not in (None, "")}
        yield _row_draft(row, values, dataset_name)


# Ids are text as written: "1.50" is not the number 1.5.
_ID_COLUMNS: Final = ("id", "sourceTraceId", "sourceObservationId")


def _cell(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _row_draft(row: int, values: dict[str, Any], dataset_name: str) -> ImportRow:
    for key in _ID_COLUMNS:
        if key in values and not isinstance(values[key], str):
            values[key] = orjson.dumps(values[key]).decode()  # a JSONL id given as a number
    try:
        return ImportRow(row, parse_item({**values, "datasetName": dataset_name}))
    except InvalidInput as error:
        return ImportRow(row, None, error.message)
