"""Dataset rules: request bodies, JSON schemas and the rows of CSV/JSONL import files
(dataset spec, LANGFUSE_COMPAT §5.6 and App A.4)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson
import pytest

from spyglass.domain.datasets import (
    Dataset,
    DatasetDraft,
    ImportRow,
    ItemDraft,
    RunItemDraft,
    check_item_schemas,
    check_schema,
    import_rows,
    parse_dataset,
    parse_item,
    parse_run_item,
    schema_violation,
)
from spyglass.domain.errors import InvalidInput

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OBJECT_SCHEMA = {"type": "object", "properties": {"question": {"type": "string"},
                                                  "tags": {"type": "array", "items": {"type": "string"}}},
                 "required": ["question"]}


def invalid(call, *args, **kwargs) -> str:  # noqa: ANN001, ANN003
    with pytest.raises(InvalidInput) as err:
        call(*args, **kwargs)
    return err.value.message


def dataset(input_schema=None, expected_output_schema=None) -> Dataset:  # noqa: ANN001
    return Dataset(id="d1", project_id="p", name="ds", description=None, metadata=None, input_schema=input_schema,
                   expected_output_schema=expected_output_schema, created_at=T0, updated_at=T0)


def rows(data: bytes | str, file_format: str, dataset_name: str = "ds") -> list[ImportRow]:
    raw = data.encode() if isinstance(data, str) else data
    return list(import_rows(raw, file_format, dataset_name))


def csv_file(*records: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(records)
    return buffer.getvalue()


def draft(*, item_id: str | None = None, dataset_name: str = "ds", **fields: object) -> ItemDraft:
    return ItemDraft(dataset_name=dataset_name, id=item_id, fields=dict(fields))


# -- datasets ---------------------------------------------------------------------------


def test_a_dataset_with_only_a_name_changes_nothing_else():
    parsed = parse_dataset({"name": "folder/qa set"})
    assert parsed == DatasetDraft(name="folder/qa set")
    assert parsed.changes() == {}


def test_a_dataset_keeps_exactly_the_fields_it_was_given():
    parsed = parse_dataset({"name": "ds", "id": "ds-1", "description": None, "metadata": {"team": ["a"]},
                            "inputSchema": OBJECT_SCHEMA, "unknown": 1})
    assert parsed.id == "ds-1"
    # description null clears it; expectedOutputSchema left out keeps the stored one.
    assert parsed.changes() == {"description": None, "metadata": {"team": ["a"]}, "input_schema": OBJECT_SCHEMA}
    removed = parse_dataset({"name": "ds", "inputSchema": None, "expectedOutputSchema": True, "metadata": None})
    assert removed.changes() == {"metadata": None, "input_schema": None, "expected_output_schema": True}


@pytest.mark.parametrize(("body", "message"), [
    ([{"name": "x"}], "Request body must be a JSON object"),
    ("name", "Request body must be a JSON object"),
    (None, "Request body must be a JSON object"),
    ({}, "name is required and must be a non-empty string"),
    ({"name": ""}, "name is required and must be a non-empty string"),
    ({"name": "  "}, "name is required and must be a non-empty string"),
    ({"name": 5}, "name is required and must be a non-empty string"),
    ({"name": "x" * 256}, "name must be at most 255 characters"),
    ({"name": "ds", "id": ""}, "id must be a non-empty string (or null)"),
    ({"name": "ds", "id": 7}, "id must be a non-empty string (or null)"),
    ({"name": "ds", "id": "i" * 256}, "id must be at most 255 characters"),
    ({"name": "ds", "description": 5}, "description must be a string (or null)"),
    ({"name": "ds", "description": ["x"]}, "description must be a string (or null)"),
    ({"name": "ds", "inputSchema": "object"}, "inputSchema must be a JSON Schema object (or null)"),
    ({"name": "ds", "expectedOutputSchema": [1]}, "expectedOutputSchema must be a JSON Schema object (or null)"),
    ({"name": "ds", "inputSchema": {"type": 5}},
     "inputSchema is not a valid JSON Schema: 5 is not valid under any of the given schemas"),
])
def test_invalid_dataset_bodies(body, message):
    assert invalid(parse_dataset, body) == message


def test_a_name_of_255_characters_is_accepted():
    assert parse_dataset({"name": "x" * 255}).name == "x" * 255


# -- items ------------------------------------------------------------------------------


def test_an_item_carries_only_the_fields_it_was_given():
    assert parse_item({"datasetName": "ds"}) == draft()
    parsed = parse_item({"datasetName": "ds", "id": "it-1", "input": {"q": 1}, "expectedOutput": None,
                         "metadata": [1, 2], "sourceTraceId": "t", "sourceObservationId": None, "status": "ARCHIVED"})
    assert parsed == draft(item_id="it-1", input={"q": 1}, expected_output=None, metadata=[1, 2],
                           source_trace_id="t", source_observation_id=None, status="ARCHIVED")


def test_a_null_status_keeps_the_current_one():
    assert parse_item({"datasetName": "ds", "status": None}).fields == {}


@pytest.mark.parametrize(("body", "message"), [
    (["x"], "Request body must be a JSON object"),
    ({"input": 1}, "datasetName is required and must be a non-empty string"),
    ({"datasetName": 3}, "datasetName is required and must be a non-empty string"),
    ({"datasetName": "ds", "status": "DONE"}, "status must be ACTIVE or ARCHIVED, got 'DONE'"),
    ({"datasetName": "ds", "status": "active"}, "status must be ACTIVE or ARCHIVED, got 'active'"),
    ({"datasetName": "ds", "id": 12}, "id must be a non-empty string (or null)"),
    ({"datasetName": "ds", "id": "x" * 256}, "id must be at most 255 characters"),
    ({"datasetName": "ds", "sourceTraceId": ""}, "sourceTraceId must be a non-empty string (or null)"),
    ({"datasetName": "ds", "sourceObservationId": 4}, "sourceObservationId must be a non-empty string (or null)"),
])
def test_invalid_item_bodies(body, message):
    assert invalid(parse_item, body) == message


# -- run items --------------------------------------------------------------------------


def test_a_run_item_with_a_trace_or_an_observation():
    parsed = parse_run_item({"runName": "exp/1", "datasetItemId": "it", "traceId": "t", "runDescription": "d",
                             "metadata": {"m": 1}, "datasetVersion": "2026-01-01T00:00:00Z"})
    assert parsed == RunItemDraft(run_name="exp/1", dataset_item_id="it", trace_id="t", observation_id=None,
                                  run_description="d", metadata={"m": 1}, dataset_version="2026-01-01T00:00:00Z")
    only_observation = parse_run_item({"runName": "r", "datasetItemId": "it", "observationId": "o"})
    assert (only_observation.trace_id, only_observation.observation_id) == (None, "o")
    assert (only_observation.run_description, only_observation.metadata, only_observation.dataset_version) == (
        None, None, None)


@pytest.mark.parametrize(("body", "message"), [
    (5, "Request body must be a JSON object"),
    ({"datasetItemId": "it", "traceId": "t"}, "runName is required and must be a non-empty string"),
    ({"runName": "", "datasetItemId": "it", "traceId": "t"}, "runName is required and must be a non-empty string"),
    ({"runName": "r", "traceId": "t"}, "datasetItemId is required"),
    ({"runName": "r", "datasetItemId": None, "traceId": "t"}, "datasetItemId is required"),
    ({"runName": "r", "datasetItemId": 5, "traceId": "t"}, "datasetItemId must be a non-empty string (or null)"),
    ({"runName": "r", "datasetItemId": "it"}, "traceId or observationId is required"),
    ({"runName": "r", "datasetItemId": "it", "traceId": None, "observationId": None},
     "traceId or observationId is required"),
    ({"runName": "r", "datasetItemId": "it", "traceId": 1}, "traceId must be a non-empty string (or null)"),
    ({"runName": "r", "datasetItemId": "it", "traceId": "t", "runDescription": 1},
     "runDescription must be a string (or null)"),
    ({"runName": "r", "datasetItemId": "it", "traceId": "t", "datasetVersion": 1700000000},
     "datasetVersion must be an ISO 8601 date-time (or null), got 1700000000"),
    ({"runName": "r", "datasetItemId": "it", "traceId": "t", "datasetVersion": "not a date"},
     "datasetVersion must be an ISO 8601 date-time (or null), got 'not a date'"),
])
def test_invalid_run_item_bodies(body, message):
    assert invalid(parse_run_item, body) == message


# -- JSON schemas -----------------------------------------------------------------------


def test_check_schema_accepts_schemas_and_null():
    assert check_schema(OBJECT_SCHEMA, "inputSchema") is OBJECT_SCHEMA
    assert check_schema(None, "inputSchema") is None
    assert check_schema(True, "inputSchema") is True
    assert check_schema({}, "inputSchema") == {}


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": 5}, "inputSchema is not a valid JSON Schema: 5 is not valid under any of the given schemas"),
    ({"type": "integer", "minimum": "zero"}, "inputSchema is not a valid JSON Schema: 'zero' is not of type 'number'"),
    ({"required": "question"}, "inputSchema is not a valid JSON Schema: 'question' is not of type 'array'"),
    ("string", "inputSchema must be a JSON Schema object (or null)"),
    (3, "inputSchema must be a JSON Schema object (or null)"),
])
def test_check_schema_refuses_what_is_not_a_schema(schema, message):
    assert invalid(check_schema, schema, "inputSchema") == message


def test_schema_violation_names_the_json_path():
    assert schema_violation(None, "anything", "input") is None
    assert schema_violation(OBJECT_SCHEMA, {"question": "q", "tags": ["a"]}, "input") is None
    assert schema_violation(OBJECT_SCHEMA, {"question": 5}, "input") == (
        "input does not match the dataset's schema at $.question: 5 is not of type 'string'")
    assert schema_violation(OBJECT_SCHEMA, {"question": "q", "tags": ["a", 1]}, "input") == (
        "input does not match the dataset's schema at $.tags[1]: 1 is not of type 'string'")
    assert schema_violation(OBJECT_SCHEMA, "plain", "expectedOutput") == (
        "expectedOutput does not match the dataset's schema at $: 'plain' is not of type 'object'")
    # Several problems: the one nearest the root is named.
    assert schema_violation(OBJECT_SCHEMA, {"tags": [1]}, "input") == (
        "input does not match the dataset's schema at $: 'question' is a required property")


def test_check_item_schemas_checks_input_then_expected_output():
    both = dataset(OBJECT_SCHEMA, {"type": "number"})
    check_item_schemas(both, {"question": "q"}, 3)
    check_item_schemas(dataset(), "anything", ["goes"])
    assert invalid(check_item_schemas, both, {"question": "q"}, "three") == (
        "expectedOutput does not match the dataset's schema at $: 'three' is not of type 'number'")
    assert invalid(check_item_schemas, both, {}, "three") == (
        "input does not match the dataset's schema at $: 'question' is a required property")


# -- CSV import -------------------------------------------------------------------------


def test_csv_cells_are_json_when_they_parse_else_strings():
    data = csv_file(
        ["input", "expectedOutput", "metadata", "id", "sourceTraceId", "sourceObservationId", "status"],
        ['{"q": "one", "n": [1, 2]}', "42", "plain words", "row-1", "trace-1", "obs-1", "ARCHIVED"],
        ['"quoted json string"', "true", "null", "", "", "", ""],
    )
    assert rows(data, "csv") == [
        ImportRow(1, draft(item_id="row-1", input={"q": "one", "n": [1, 2]}, expected_output=42,
                           metadata="plain words", source_trace_id="trace-1", source_observation_id="obs-1",
                           status="ARCHIVED")),
        # Empty cells are left out (the item keeps its defaults); "null" is JSON null.
        ImportRow(2, draft(input="quoted json string", expected_output=True, metadata=None)),
    ]


def test_csv_snake_case_headers_and_a_bom():
    data = "\ufeff" + csv_file(["input", "expected_output", "source_trace_id", "source_observation_id"],
                               ["hi", "there", "t-1", "o-1"])
    assert rows(data.encode("utf-8"), "csv") == [
        ImportRow(1, draft(input="hi", expected_output="there", source_trace_id="t-1", source_observation_id="o-1")),
    ]


def test_a_numeric_id_cell_becomes_a_string():
    data = csv_file(["input", "id", "sourceTraceId"], ["x", "123", "456"])
    assert rows(data, "csv") == [ImportRow(1, draft(item_id="123", input="x", source_trace_id="456"))]


@pytest.mark.parametrize("cell", ["1.50", "1e3", "12345678901234567890123", "-0"])
def test_an_id_cell_that_looks_like_a_number_is_kept_as_written(cell):
    # An id is an identifier, not a number: the text of the cell is the id.
    data = csv_file(["input", "id"], ["x", cell])
    assert [row.draft.id for row in rows(data, "csv") if row.draft] == [cell]


def test_bad_csv_rows_are_reported_and_numbered_from_one():
    data = csv_file(["input", "id", "status"],
                    ["a", "1", ""],
                    ["b", "2", "DONE"],
                    ["c", "3", "", "one cell too many"],
                    ["d", "", ""],
                    ["e", "", "true"])
    found = rows(data, "csv")
    assert [(r.row, r.error) for r in found] == [
        (1, None),
        (2, "status must be ACTIVE or ARCHIVED, got 'DONE'"),
        (3, "the row has more cells than the header"),
        (4, None),
        (5, "status must be ACTIVE or ARCHIVED, got True"),
    ]
    assert found[3].draft == draft(input="d")


def test_a_short_csv_row_leaves_the_missing_cells_out():
    assert rows(csv_file(["input", "expectedOutput", "id"], ["only input"]), "csv") == [
        ImportRow(1, draft(input="only input"))]


@pytest.mark.parametrize(("data", "message"), [
    ("input,colour,size\nx,red,1\n",
     "Unknown CSV columns: colour, size (known: expectedOutput, expected_output, id, input, metadata, "
     "sourceObservationId, sourceTraceId, source_observation_id, source_trace_id, status)"),
    ("expectedOutput,id\n1,a\n", "The CSV file needs a header row with an `input` column"),
    ("", "The CSV file needs a header row with an `input` column"),
])
def test_csv_header_problems_refuse_the_whole_file(data, message):
    assert invalid(rows, data, "csv") == message


# -- JSONL import -----------------------------------------------------------------------


def test_jsonl_rows_skip_blank_lines_and_count_data_rows():
    data = "\n".join([
        '{"input": {"q": 1}, "expectedOutput": "a", "id": "j-1", "metadata": {"m": true}}',
        "",
        "   ",
        "not json",
        '["a", "list"]',
        '{"input": "x", "expected_output": "y", "source_trace_id": "t", "sourceObservationId": "o", "id": 77}',
        '{"input": "z", "status": "GONE"}',
        "",
    ])
    found = rows(data, "jsonl")
    try:
        orjson.loads("not json")
    except orjson.JSONDecodeError as error:
        json_error = f"invalid JSON: {error}"
    assert found == [
        ImportRow(1, draft(item_id="j-1", input={"q": 1}, expected_output="a", metadata={"m": True})),
        ImportRow(2, None, json_error),
        ImportRow(3, None, "each line must be a JSON object"),
        ImportRow(4, draft(item_id="77", input="x", expected_output="y", source_trace_id="t",
                           source_observation_id="o")),
        ImportRow(5, None, "status must be ACTIVE or ARCHIVED, got 'GONE'"),
    ]


def test_the_dataset_name_of_the_file_wins_over_a_key_in_a_line():
    assert rows('{"input": 1, "datasetName": "elsewhere"}', "jsonl", "mine") == [
        ImportRow(1, draft(input=1, dataset_name="mine"))]


def test_unknown_formats_and_non_utf8_files_are_refused():
    assert invalid(rows, "{}", "xml") == 'format must be "csv" or "jsonl", got \'xml\''
    assert invalid(rows, b"input\n\xff\xfe\n", "csv").startswith("The file is not UTF-8 text: ")
