"""Datasets and experiments through the real `langfuse` Python SDK (4.x and 5.x), read back the way a user would.

Datasets, items and versions use the same SDK calls in both majors. Experiments differ on the wire:
4.x links every item to its run with POST /api/public/dataset-run-items and uses the returned
`datasetRunId` as the experiment id; 5.x derives the experiment id itself and only sends OTel spans
carrying `langfuse.experiment.*` attributes, so the server has to create the run from those. 5.x also
dropped the dataset-run reads from its client and evaluates batches over observations only. The tests
branch on the SDK major only there and assert the same user-visible outcome through raw HTTP.
Every test uses its own dataset names: the server is shared by the whole module.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from langfuse import Evaluation, EvaluatorInputs, Langfuse, propagate_attributes
from langfuse import __version__ as SDK_VERSION
from langfuse.api import DatasetStatus, NotFoundError
from langfuse.api.core.api_error import ApiError
from tests.support.server import SpyglassServer, wait_until

SDK_MAJOR = int(SDK_VERSION.split(".")[0])

ReadTrace = Callable[..., dict[str, Any]]

POLL_TIMEOUT = 20.0

DATASET_KEYS = {
    "id", "name", "description", "metadata", "inputSchema", "expectedOutputSchema", "projectId", "createdAt",
    "updatedAt",
}
ITEM_KEYS = {
    "id", "datasetId", "datasetName", "status", "input", "expectedOutput", "metadata", "sourceTraceId",
    "sourceObservationId", "createdAt", "updatedAt", "mediaReferences",
}
RUN_KEYS = {"id", "name", "description", "metadata", "datasetId", "datasetName", "createdAt", "updatedAt"}
RUN_ITEM_KEYS = {
    "id", "datasetRunId", "datasetRunName", "datasetItemId", "traceId", "observationId", "createdAt", "updatedAt",
}
QUESTION_SCHEMA = {"type": "object", "required": ["question"], "properties": {"question": {"type": "string"}}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def enc(name: str) -> str:
    """Dataset and run names (folders `a/b` included) travel as one %2F-encoded path segment."""
    return quote(name, safe="")


def get_json(http: httpx.Client, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, f"GET {path} {params}: {response.status_code} {response.text}"
    return response.json()


def poll(read: Callable[[], Any], check: Callable[[Any], bool], timeout: float = POLL_TIMEOUT) -> Any:
    """Re-read until `check(value)` holds; on timeout fail with the last value read."""
    last: dict[str, Any] = {}

    def ready() -> Any:
        try:
            value = read()
        except AssertionError as error:  # a read that failed (e.g. 404 before the data lands): poll again
            last["value"] = str(error)
            return None
        last["value"] = value
        return value if check(value) else None

    try:
        return wait_until(ready, timeout, interval=0.2)
    except AssertionError:
        raise AssertionError(f"not reached within {timeout}s; last read: {last.get('value')!r}") from None


def new_trace_id() -> str:
    return uuid.uuid4().hex


def item_input(item: Any) -> Any:
    return item["input"] if isinstance(item, dict) else item.input


def run_with_items(http: httpx.Client, dataset: str, run: str, count: int) -> dict[str, Any]:
    """GET /api/public/datasets/{name}/runs/{run}, polled until the run has `count` run items."""
    def read() -> dict[str, Any] | None:
        response = http.get(f"/api/public/datasets/{enc(dataset)}/runs/{enc(run)}")
        return response.json() if response.status_code == 200 else {"status": response.status_code,
                                                                     "body": response.text}

    return poll(read, lambda body: len(body.get("datasetRunItems") or []) == count)


def run_scores(http: httpx.Client, run_id: str, count: int) -> list[dict[str, Any]]:
    """GET /api/public/v2/scores?datasetRunId=..., polled until `count` scores are listed."""
    return poll(lambda: get_json(http, "/api/public/v2/scores", datasetRunId=run_id)["data"],
                lambda data: len(data) == count)


# --------------------------------------------------------------------------------------------
# Tasks and evaluators shared by the experiment tests


def upper_task(*, item: Any, **_: Any) -> dict[str, Any]:
    """Echo the question, upper-cased."""
    return {"answer": item_input(item)["question"].upper()}


def exact_match(*, input: Any, output: Any, expected_output: Any, **_: Any) -> Evaluation:
    return Evaluation(name="exact_match", value=1.0 if output == expected_output else 0.0, data_type="NUMERIC",
                      comment=f"expected {expected_output}")


def verdict(*, input: Any, output: Any, expected_output: Any, **_: Any) -> Evaluation:
    return Evaluation(name="verdict", value="correct" if output == expected_output else "wrong",
                      data_type="CATEGORICAL")


def overall(*, input: Any, output: Any, expected_output: Any, metadata: Any, evaluations: list[Evaluation],
            **_: Any) -> Evaluation:
    """Composite: half exact match, half verdict."""
    values = {e.name: e.value for e in evaluations}
    score = 0.5 * values["exact_match"] + 0.5 * (1.0 if values["verdict"] == "correct" else 0.0)
    return Evaluation(name="overall", value=score, data_type="NUMERIC")


def average_exact_match(*, item_results: list[Any], **_: Any) -> Evaluation:
    values = [e.value for r in item_results for e in r.evaluations if e.name == "exact_match"]
    return Evaluation(name="avg_exact_match", value=sum(values) / len(values), data_type="NUMERIC")


def qa_dataset(langfuse: Langfuse, name: str, archived: bool = False) -> dict[str, str]:
    """Three ACTIVE items (the last one's expected answer is wrong on purpose), optionally one ARCHIVED item.

    Returns the item ids by question.
    """
    langfuse.create_dataset(name=name, description="qa", metadata={"suite": "compat"})
    ids = {}
    for question, expected in (("alpha", "ALPHA"), ("beta", "BETA"), ("gamma", "nope")):
        item = langfuse.create_dataset_item(dataset_name=name, input={"question": question},
                                            expected_output={"answer": expected}, metadata={"q": question})
        ids[question] = item.id
        time.sleep(0.01)
    if archived:
        item = langfuse.create_dataset_item(dataset_name=name, input={"question": "archived"},
                                            expected_output={"answer": "ARCHIVED"}, status=DatasetStatus.ARCHIVED)
        ids["archived"] = item.id
    return ids


# --------------------------------------------------------------------------------------------
# 1. Datasets


def test_create_dataset_round_trip_and_upsert(langfuse: Langfuse, http: httpx.Client, server: SpyglassServer) -> None:
    name = f"eval/{unique('qa')}"
    metadata = {"owner": "qa-team", "nested": {"list": [1, 2, {"x": None}], "flag": True}, "text": "héllo ✓"}

    created = langfuse.create_dataset(name=name, description="questions and answers", metadata=metadata)
    assert created.name == name
    assert created.description == "questions and answers"
    assert created.metadata == metadata
    assert created.project_id == server.keys.project_id
    assert created.input_schema is None and created.expected_output_schema is None

    dataset = langfuse.get_dataset(name)
    assert (dataset.id, dataset.name, dataset.description) == (created.id, name, "questions and answers")
    assert dataset.metadata == metadata
    assert dataset.project_id == server.keys.project_id
    assert dataset.items == []

    body = get_json(http, f"/api/public/v2/datasets/{enc(name)}")
    assert set(body) == DATASET_KEYS
    assert body["id"] == created.id and body["name"] == name
    assert body["description"] == "questions and answers"
    assert body["metadata"] == metadata
    assert body["projectId"] == server.keys.project_id
    assert body["inputSchema"] is None and body["expectedOutputSchema"] is None
    assert get_json(http, "/api/public/dataset-items", datasetName=name)["data"] == []

    # Creating it again by name updates the same dataset.
    updated = langfuse.create_dataset(name=name, description="second description", metadata={"owner": "other"})
    assert updated.id == created.id
    assert (updated.description, updated.metadata) == ("second description", {"owner": "other"})
    again = langfuse.get_dataset(name)
    assert (again.id, again.description, again.metadata) == (created.id, "second description", {"owner": "other"})
    body = get_json(http, f"/api/public/v2/datasets/{enc(name)}")
    assert (body["id"], body["description"], body["metadata"]) == (created.id, "second description",
                                                                     {"owner": "other"})
    listed = [d for d in get_json(http, "/api/public/v2/datasets", limit=100)["data"] if d["name"] == name]
    assert [d["id"] for d in listed] == [created.id]

    with pytest.raises(NotFoundError):
        langfuse.get_dataset(f"eval/{unique('missing')}")
    response = http.get(f"/api/public/v2/datasets/{enc(unique('missing'))}")
    assert response.status_code == 404, response.text


# --------------------------------------------------------------------------------------------
# 2. Items


def test_dataset_items(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("items")
    dataset_id = langfuse.create_dataset(name=name).id
    source_trace_id = new_trace_id()

    first = langfuse.create_dataset_item(dataset_name=name, input={"question": "one", "n": 1},
                                         expected_output={"answer": "ONE"}, metadata={"difficulty": "easy"},
                                         source_trace_id=source_trace_id)
    time.sleep(0.01)
    second = langfuse.create_dataset_item(dataset_name=name, input={"question": "two"}, expected_output="TWO")
    time.sleep(0.01)
    third = langfuse.create_dataset_item(dataset_name=name, input={"question": "three", "tags": ["a", "b"]},
                                         expected_output=None, metadata={"k": [1, 2]})
    assert first.dataset_id == dataset_id and first.dataset_name == name
    assert first.status == DatasetStatus.ACTIVE
    assert first.input == {"question": "one", "n": 1}
    assert first.expected_output == {"answer": "ONE"}
    assert first.metadata == {"difficulty": "easy"}
    assert first.source_trace_id == source_trace_id and first.source_observation_id is None
    assert second.metadata is None and second.expected_output == "TWO"

    items = langfuse.get_dataset(name).items
    assert [i.id for i in items] == [third.id, second.id, first.id]  # newest first
    by_id = {i.id: i for i in items}
    assert by_id[first.id].input == {"question": "one", "n": 1}
    assert by_id[first.id].expected_output == {"answer": "ONE"}
    assert by_id[first.id].metadata == {"difficulty": "easy"}
    assert by_id[first.id].source_trace_id == source_trace_id
    assert by_id[second.id].metadata is None
    assert by_id[second.id].expected_output == "TWO"
    assert by_id[third.id].input == {"question": "three", "tags": ["a", "b"]}
    assert by_id[third.id].expected_output is None
    assert by_id[third.id].metadata == {"k": [1, 2]}
    assert all(i.status == DatasetStatus.ACTIVE and i.dataset_id == dataset_id for i in items)

    raw = get_json(http, f"/api/public/dataset-items/{first.id}")
    assert set(raw) >= ITEM_KEYS
    assert raw["id"] == first.id and raw["datasetId"] == dataset_id and raw["datasetName"] == name
    assert raw["status"] == "ACTIVE"
    assert raw["input"] == {"question": "one", "n": 1} and raw["expectedOutput"] == {"answer": "ONE"}
    assert raw["metadata"] == {"difficulty": "easy"}
    assert raw["sourceTraceId"] == source_trace_id and raw["sourceObservationId"] is None
    assert raw["mediaReferences"] == []
    by_source = get_json(http, "/api/public/dataset-items", datasetName=name, sourceTraceId=source_trace_id)
    assert [i["id"] for i in by_source["data"]] == [first.id]

    # Upsert by id: new input and expected output, same item.
    changed = langfuse.create_dataset_item(dataset_name=name, id=first.id, input={"question": "uno"},
                                           expected_output={"answer": "UNO"}, metadata={"difficulty": "hard"})
    assert changed.id == first.id
    assert (changed.input, changed.expected_output) == ({"question": "uno"}, {"answer": "UNO"})
    items = langfuse.get_dataset(name).items
    assert sorted(i.id for i in items) == sorted([first.id, second.id, third.id])
    upserted = next(i for i in items if i.id == first.id)
    assert upserted.input == {"question": "uno"}
    assert upserted.expected_output == {"answer": "UNO"}
    assert upserted.metadata == {"difficulty": "hard"}

    # ARCHIVED: gone from the dataset, still readable by id.
    archived = langfuse.create_dataset_item(dataset_name=name, id=second.id, input={"question": "two"},
                                            expected_output="TWO", status=DatasetStatus.ARCHIVED)
    assert archived.status == DatasetStatus.ARCHIVED
    assert [i.id for i in langfuse.get_dataset(name).items] == [third.id, first.id]
    raw = get_json(http, f"/api/public/dataset-items/{second.id}")
    assert (raw["status"], raw["input"], raw["expectedOutput"]) == ("ARCHIVED", {"question": "two"}, "TWO")
    sdk_item = langfuse.api.dataset_items.get(second.id)
    assert sdk_item.status == DatasetStatus.ARCHIVED and sdk_item.input == {"question": "two"}
    listed = get_json(http, "/api/public/dataset-items", datasetName=name)
    assert [i["id"] for i in listed["data"]] == [third.id, first.id]
    assert listed["meta"]["totalItems"] == 2

    # An item id belongs to one dataset: reusing it in another one is a 409 and changes nothing.
    other = unique("items-other")
    langfuse.create_dataset(name=other)
    with pytest.raises(ApiError) as conflict:
        langfuse.create_dataset_item(dataset_name=other, id=third.id, input={"question": "stolen"})
    assert conflict.value.status_code == 409
    assert get_json(http, f"/api/public/dataset-items/{third.id}")["input"] == {"question": "three", "tags": ["a", "b"]}
    assert langfuse.get_dataset(other).items == []

    # Deleting an item removes it from the dataset and from reads by id.
    deleted = langfuse.api.dataset_items.delete(third.id)
    assert deleted.message == "Dataset item successfully deleted"
    assert [i.id for i in langfuse.get_dataset(name).items] == [first.id]
    assert http.get(f"/api/public/dataset-items/{third.id}").status_code == 404

    # Pages hold at most 100 items.
    too_many = http.get("/api/public/dataset-items", params={"datasetName": name, "limit": 101})
    assert too_many.status_code == 400, too_many.text

    # An unknown dataset name is a 404.
    with pytest.raises(NotFoundError) as caught:
        langfuse.create_dataset_item(dataset_name=unique("no-such-dataset"), input={"question": "lost"})
    assert caught.value.status_code == 404
    response = http.post("/api/public/dataset-items", json={"datasetName": unique("no-such-dataset"), "input": 1})
    assert response.status_code == 404, response.text


def test_ninety_nine_items_across_pages(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("paged")
    langfuse.create_dataset(name=name)
    created = [langfuse.create_dataset_item(dataset_name=name, input={"n": n}).id for n in range(99)]

    dataset = langfuse.get_dataset(name)  # the SDK fetches 50 per page: two pages
    assert len(dataset.items) == 99
    assert sorted(i.id for i in dataset.items) == sorted(created)
    assert sorted(i.input["n"] for i in dataset.items) == list(range(99))

    page_two = get_json(http, "/api/public/dataset-items", datasetName=name, page=2, limit=50)
    assert len(page_two["data"]) == 49
    assert page_two["meta"] == {"page": 2, "limit": 50, "totalItems": 99, "totalPages": 2}
    small = langfuse.get_dataset(name, fetch_items_page_size=7)
    assert [i.id for i in small.items] == [i.id for i in dataset.items]


# --------------------------------------------------------------------------------------------
# 3. Dataset versions


def test_get_dataset_at_version(langfuse: Langfuse, http: httpx.Client) -> None:
    if "version" not in inspect.signature(langfuse.get_dataset).parameters:
        pytest.skip(f"langfuse {SDK_VERSION}: get_dataset has no version parameter")
    name = unique("versioned")
    langfuse.create_dataset(name=name)
    kept = langfuse.create_dataset_item(dataset_name=name, input={"question": "kept"}, expected_output="K")
    time.sleep(0.01)
    edited = langfuse.create_dataset_item(dataset_name=name, input={"question": "old"}, expected_output="OLD",
                                          metadata={"rev": 1})
    time.sleep(0.01)
    archived = langfuse.create_dataset_item(dataset_name=name, input={"question": "archived later"})

    time.sleep(0.5)
    version = datetime.now(UTC)
    time.sleep(0.5)

    langfuse.create_dataset_item(dataset_name=name, id=edited.id, input={"question": "new"}, expected_output="NEW",
                                 metadata={"rev": 2})
    added = langfuse.create_dataset_item(dataset_name=name, input={"question": "added later"})
    langfuse.create_dataset_item(dataset_name=name, id=archived.id, input={"question": "archived later"},
                                 status=DatasetStatus.ARCHIVED)

    current = langfuse.get_dataset(name)
    assert [i.id for i in current.items] == [added.id, edited.id, kept.id]
    assert next(i for i in current.items if i.id == edited.id).input == {"question": "new"}

    then = langfuse.get_dataset(name, version=version)
    assert then.version == version
    assert [i.id for i in then.items] == [archived.id, edited.id, kept.id]
    old = {i.id: i for i in then.items}
    assert (old[edited.id].input, old[edited.id].expected_output, old[edited.id].metadata) == (
        {"question": "old"}, "OLD", {"rev": 1})
    assert old[archived.id].status == DatasetStatus.ACTIVE
    assert old[kept.id].input == {"question": "kept"}

    raw = get_json(http, "/api/public/dataset-items", datasetName=name,
                   version=version.isoformat().replace("+00:00", "Z"))
    assert [i["id"] for i in raw["data"]] == [archived.id, edited.id, kept.id]
    assert raw["data"][1]["input"] == {"question": "old"}

    before_anything = langfuse.get_dataset(name, version=datetime(2000, 1, 1, tzinfo=UTC))
    assert before_anything.items == []


# --------------------------------------------------------------------------------------------
# 4. run_experiment on a dataset


def test_run_experiment_on_dataset(langfuse: Langfuse, http: httpx.Client, read_trace: ReadTrace,
                                   server: SpyglassServer) -> None:
    name = f"eval/{unique('experiment')}"
    ids = qa_dataset(langfuse, name, archived=True)
    dataset = langfuse.get_dataset(name)
    assert sorted(i.id for i in dataset.items) == sorted([ids["alpha"], ids["beta"], ids["gamma"]])
    run_name = unique("upper-run")

    result = dataset.run_experiment(
        name="upper-case", run_name=run_name, description="upper-cases the question", task=upper_task,
        evaluators=[exact_match, verdict], composite_evaluator=overall, run_evaluators=[average_exact_match],
        max_concurrency=2, metadata={"model": "echo"},
    )

    # What the SDK hands back.
    assert result.run_name == run_name
    assert len(result.item_results) == 3
    expected_values = {"alpha": (1.0, "correct", 1.0), "beta": (1.0, "correct", 1.0), "gamma": (0.0, "wrong", 0.0)}
    by_item: dict[str, Any] = {}
    for item_result in result.item_results:
        question = item_result.item.input["question"]
        by_item[item_result.item.id] = item_result
        assert item_result.output == {"answer": question.upper()}
        assert [(e.name, e.value) for e in item_result.evaluations] == list(zip(
            ("exact_match", "verdict", "overall"), expected_values[question], strict=True))
        assert re.fullmatch(r"[0-9a-f]{32}", item_result.trace_id)
    assert sorted(by_item) == sorted([ids["alpha"], ids["beta"], ids["gamma"]])
    assert [(e.name, e.value) for e in result.run_evaluations] == [("avg_exact_match", pytest.approx(2 / 3))]
    run_id = result.experiment_id
    assert run_id
    if SDK_MAJOR < 5:
        assert result.dataset_run_id == run_id
        assert result.dataset_run_url == (
            f"{server.base_url}/project/{server.keys.project_id}/datasets/{dataset.id}/runs/{run_id}")
    else:
        assert result.experiment_url == (
            f"{server.base_url}/project/{server.keys.project_id}/experiments/results?baseline={run_id}")

    # Each item's trace: the experiment spans, the item's input/output and its evaluator scores.
    task_spans = {}
    for item_id, item_result in by_item.items():
        question = item_result.item.input["question"]
        trace = read_trace(item_result.trace_id, observations=6, scores=3)
        assert trace["name"] == "experiment-item-run"
        assert trace["environment"] == "sdk-experiment"
        assert trace["input"] == {"question": question}
        assert trace["output"] == {"answer": question.upper()}
        assert trace["metadata"]["experiment_name"] == "upper-case"
        assert trace["metadata"]["experiment_run_name"] == run_name
        assert trace["metadata"]["dataset_item_id"] == item_id
        observations = {o["name"]: o for o in trace["observations"]}
        assert sorted(observations) == sorted(["experiment-item-run", "experiment-item-task",
                                               "experiment-item-evaluation", "exact_match", "verdict", "overall"])
        task_spans[item_id] = observations["experiment-item-task"]["id"]
        assert observations["exact_match"]["type"] == "EVALUATOR"
        scores = {s["name"]: s for s in trace["scores"]}
        numeric, label, composite = expected_values[question]
        assert (scores["exact_match"]["dataType"], scores["exact_match"]["value"]) == ("NUMERIC", numeric)
        assert scores["exact_match"]["comment"] == f"expected {item_result.item.expected_output}"
        assert (scores["verdict"]["dataType"], scores["verdict"]["stringValue"]) == ("CATEGORICAL", label)
        assert (scores["overall"]["dataType"], scores["overall"]["value"]) == ("NUMERIC", composite)
        assert {s["observationId"] for s in scores.values()} == {task_spans[item_id]}

    # The run-level score carries the run's id.
    [run_score] = run_scores(http, run_id, 1)
    assert (run_score["name"], run_score["dataType"]) == ("avg_exact_match", "NUMERIC")
    assert run_score["value"] == pytest.approx(2 / 3)
    assert run_score["datasetRunId"] == run_id
    assert run_score["traceId"] is None

    # The run: one run item per ACTIVE item (the archived one was never run), each linking the item's
    # trace and task span.
    run = run_with_items(http, name, run_name, 3)
    assert set(run) >= RUN_KEYS | {"datasetRunItems"}
    assert (run["id"], run["name"], run["description"]) == (run_id, run_name, "upper-cases the question")
    assert (run["datasetId"], run["datasetName"]) == (dataset.id, name)
    assert run["metadata"] == {"model": "echo"}
    run_items = {ri["datasetItemId"]: ri for ri in run["datasetRunItems"]}
    assert sorted(run_items) == sorted(by_item)
    for item_id, run_item in run_items.items():
        assert set(run_item) >= RUN_ITEM_KEYS
        assert (run_item["datasetRunId"], run_item["datasetRunName"]) == (run_id, run_name)
        assert (run_item["traceId"], run_item["observationId"]) == (by_item[item_id].trace_id, task_spans[item_id])
        read_trace(run_item["traceId"], scores=3)

    runs = get_json(http, f"/api/public/datasets/{enc(name)}/runs")
    assert [(r["name"], r["id"]) for r in runs["data"]] == [(run_name, run_id)]
    assert runs["meta"]["totalItems"] == 1
    v1 = get_json(http, f"/api/public/datasets/{enc(name)}")
    assert v1["runs"] == [run_name]


# --------------------------------------------------------------------------------------------
# 5. run_experiment on local data


def test_run_experiment_on_local_data(langfuse: Langfuse, http: httpx.Client, read_trace: ReadTrace) -> None:
    experiment = unique("local-experiment")
    run_name = unique("local-run")
    data = [
        {"input": {"question": "red"}, "expected_output": {"answer": "RED"}, "metadata": {"colour": True}},
        {"input": {"question": "green"}, "expected_output": {"answer": "blue"}},
    ]
    result = langfuse.run_experiment(name=experiment, run_name=run_name, data=data, task=upper_task,
                                     evaluators=[exact_match, verdict])

    assert result.run_name == run_name
    assert [r.output for r in result.item_results] == [{"answer": "RED"}, {"answer": "GREEN"}]
    assert [[(e.name, e.value) for e in r.evaluations] for r in result.item_results] == [
        [("exact_match", 1.0), ("verdict", "correct")], [("exact_match", 0.0), ("verdict", "wrong")]]
    assert result.experiment_id
    if SDK_MAJOR < 5:
        assert result.dataset_run_id is None and result.dataset_run_url is None

    for item_result, (numeric, label) in zip(result.item_results, ((1.0, "correct"), (0.0, "wrong")), strict=True):
        trace = read_trace(item_result.trace_id, observations=5, scores=2)
        assert trace["name"] == "experiment-item-run"
        assert trace["environment"] == "sdk-experiment"
        assert trace["input"] == item_result.item["input"]
        assert trace["output"] == item_result.output
        assert trace["metadata"]["experiment_name"] == experiment
        assert trace["metadata"]["experiment_run_name"] == run_name
        assert "dataset_id" not in trace["metadata"] and "dataset_item_id" not in trace["metadata"]
        scores = {s["name"]: s for s in trace["scores"]}
        assert scores["exact_match"]["value"] == numeric
        assert scores["verdict"]["stringValue"] == label

    # No dataset run anywhere carries this run name.
    datasets = get_json(http, "/api/public/datasets", limit=100)["data"]
    assert [d["name"] for d in datasets if run_name in d["runs"]] == []


# --------------------------------------------------------------------------------------------
# 6. Run comparison aggregates (Spyglass extension)


def test_run_score_aggregates(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("compare")
    ids = qa_dataset(langfuse, name)
    dataset = langfuse.get_dataset(name)

    def perfect_task(*, item: Any, **_: Any) -> Any:
        return item.expected_output

    def one_wrong_task(*, item: Any, **_: Any) -> Any:
        return {"answer": "wrong"} if item.id == ids["gamma"] else item.expected_output

    run_a, run_b = unique("run-a"), unique("run-b")
    result_a = dataset.run_experiment(name="compare", run_name=run_a, task=perfect_task,
                                      evaluators=[exact_match, verdict], run_evaluators=[average_exact_match])
    result_b = dataset.run_experiment(name="compare", run_name=run_b, task=one_wrong_task,
                                      evaluators=[exact_match, verdict], run_evaluators=[average_exact_match])
    assert [e.value for e in result_a.run_evaluations] == [1.0]
    assert [e.value for e in result_b.run_evaluations] == [pytest.approx(2 / 3)]

    def aggregates(run: str) -> dict[str, Any]:
        return poll(
            lambda: get_json(http, f"/api/public/datasets/{enc(name)}/runs/{enc(run)}/scores"),
            lambda body: [a["count"] for a in body["itemScores"]] == [3, 3]
            and [a["count"] for a in body["runScores"]] == [1],
        )

    a, b = aggregates(run_a), aggregates(run_b)
    assert (a["datasetRunId"], a["datasetRunName"], a["itemCount"]) == (result_a.experiment_id, run_a, 3)
    assert (b["datasetRunId"], b["datasetRunName"], b["itemCount"]) == (result_b.experiment_id, run_b, 3)

    a_numeric, a_label = a["itemScores"]
    assert a_numeric == {"name": "exact_match", "dataType": "NUMERIC", "count": 3, "mean": 1.0, "min": 1.0,
                         "max": 1.0, "distribution": None}
    assert (a_label["name"], a_label["dataType"], a_label["count"]) == ("verdict", "CATEGORICAL", 3)
    assert a_label["mean"] is None
    assert a_label["distribution"] == {"correct": 3}
    assert a["runScores"] == [{"name": "avg_exact_match", "dataType": "NUMERIC", "count": 1, "mean": 1.0,
                               "min": 1.0, "max": 1.0, "distribution": None}]

    b_numeric, b_label = b["itemScores"]
    assert (b_numeric["name"], b_numeric["dataType"], b_numeric["count"]) == ("exact_match", "NUMERIC", 3)
    assert b_numeric["mean"] == pytest.approx(2 / 3)
    assert (b_numeric["min"], b_numeric["max"], b_numeric["distribution"]) == (0.0, 1.0, None)
    assert (b_label["name"], b_label["count"], b_label["mean"]) == ("verdict", 3, None)
    assert b_label["distribution"] == {"correct": 2, "wrong": 1}
    [b_run] = b["runScores"]
    assert (b_run["name"], b_run["count"]) == ("avg_exact_match", 1)
    assert b_run["mean"] == pytest.approx(2 / 3)
    assert b_run["min"] == pytest.approx(2 / 3) and b_run["max"] == pytest.approx(2 / 3)

    every_run = get_json(http, f"/api/public/datasets/{enc(name)}/run-scores")
    assert [r["datasetRunName"] for r in every_run["data"]] == [run_b, run_a]  # newest run first
    assert every_run["data"][0] == b and every_run["data"][1] == a

    missing = http.get(f"/api/public/datasets/{enc(name)}/runs/{enc(unique('no-run'))}/scores")
    assert missing.status_code == 404, missing.text


# --------------------------------------------------------------------------------------------
# 7. Batched evaluation over stored traces


def test_run_batched_evaluation(langfuse: Langfuse, http: httpx.Client, read_trace: ReadTrace) -> None:
    if not hasattr(langfuse, "run_batched_evaluation"):
        pytest.skip(f"langfuse {SDK_VERSION} has no run_batched_evaluation")
    tag, span_name = unique("batch-tag"), unique("batch-span")
    targets: dict[str, float] = {}
    for n in (1, 2, 3):
        with propagate_attributes(tags=[tag]):
            with langfuse.start_as_current_observation(name=span_name, input={"n": n}) as span:
                span.update(output=f"answer-{n}")
                targets[span.trace_id] = float(n)
    with propagate_attributes(tags=[unique("other-tag")]):
        with langfuse.start_as_current_observation(name=unique("other-span"), input={"n": 9}) as span:
            span.update(output="answer-9")
            decoy = span.trace_id
    langfuse.flush()
    roots = {trace_id: read_trace(trace_id, observations=1)["observations"][0]["id"] for trace_id in targets}
    read_trace(decoy, observations=1)

    score_name = unique("batch-score")

    def mapper(*, item: Any) -> EvaluatorInputs:
        return EvaluatorInputs(input=item.input, output=item.output, expected_output=None, metadata=None)

    def answer_number(*, input: Any, output: Any, **_: Any) -> Evaluation:
        return Evaluation(name=score_name, value=float(re.search(r"answer-(\d)", str(output)).group(1)),
                          data_type="NUMERIC")

    if SDK_MAJOR < 5:
        filter_json = json.dumps([{"type": "arrayOptions", "column": "tags", "operator": "any of", "value": [tag]}])
        poll(lambda: get_json(http, "/api/public/traces", filter=filter_json)["meta"]["totalItems"],
             lambda total: total == 3)
        result = langfuse.run_batched_evaluation(scope="traces", filter=filter_json, mapper=mapper,
                                                 evaluators=[answer_number], metadata={"batch": tag})
    else:
        # 5.x evaluates observations (GET /api/public/v2/observations); each target trace has one.
        filter_json = json.dumps([{"type": "string", "column": "name", "operator": "=", "value": span_name}])
        poll(lambda: get_json(http, "/api/public/v2/observations", filter=filter_json)["data"],
             lambda data: len(data) == 3)
        result = langfuse.run_batched_evaluation(filter=filter_json, mapper=mapper, evaluators=[answer_number],
                                                 metadata={"batch": tag})
    assert (result.total_items_fetched, result.total_items_processed, result.total_items_failed) == (3, 3, 0)
    assert result.total_scores_created == 3
    assert result.completed is True

    scores = poll(lambda: get_json(http, "/api/public/scores", name=score_name)["data"],
                  lambda data: len(data) >= 3)
    assert {s["traceId"]: s["value"] for s in scores} == targets
    assert len(scores) == 3
    assert all(s["dataType"] == "NUMERIC" and s["metadata"] == {"batch": tag} for s in scores)
    expected_observations = {t: None for t in targets} if SDK_MAJOR < 5 else roots
    assert {s["traceId"]: s["observationId"] for s in scores} == expected_observations
    assert read_trace(decoy, scores=0)["scores"] == []


# --------------------------------------------------------------------------------------------
# 8. Dataset runs through the SDK


def test_dataset_runs_through_sdk(langfuse: Langfuse, http: httpx.Client) -> None:
    if not hasattr(langfuse, "get_dataset_run"):
        pytest.skip(f"langfuse {SDK_VERSION} has no get_dataset_run/get_dataset_runs/delete_dataset_run "
                    "(and no dataset-run methods on its api client)")
    name = f"runs/{unique('ds')}"
    dataset_id = langfuse.create_dataset(name=name).id
    first = langfuse.create_dataset_item(dataset_name=name, input={"question": "one"})
    second = langfuse.create_dataset_item(dataset_name=name, input={"question": "two"})
    nightly, weekly = f"nightly/{unique('run')}", unique("weekly")
    traces = {first.id: new_trace_id(), second.id: new_trace_id()}

    linked = [langfuse.api.dataset_run_items.create(run_name=nightly, run_description="nightly run",
                                                    metadata={"model": "m1"}, dataset_item_id=item_id,
                                                    trace_id=trace_id)
              for item_id, trace_id in traces.items()]
    time.sleep(0.01)
    weekly_item = langfuse.api.dataset_run_items.create(run_name=weekly, dataset_item_id=first.id,
                                                        trace_id=new_trace_id())
    assert linked[0].dataset_run_id == linked[1].dataset_run_id
    assert {ri.dataset_run_name for ri in linked} == {nightly}

    run = langfuse.get_dataset_run(dataset_name=name, run_name=nightly)
    assert (run.id, run.name, run.description) == (linked[0].dataset_run_id, nightly, "nightly run")
    assert run.metadata == {"model": "m1"}
    assert (run.dataset_id, run.dataset_name) == (dataset_id, name)
    assert {(ri.dataset_item_id, ri.trace_id) for ri in run.dataset_run_items} == set(traces.items())
    assert {(ri.dataset_run_id, ri.dataset_run_name) for ri in run.dataset_run_items} == {(run.id, nightly)}
    assert {ri.id for ri in run.dataset_run_items} == {ri.id for ri in linked}

    listed = langfuse.api.dataset_run_items.list(dataset_id=dataset_id, run_name=nightly)
    assert sorted(ri.trace_id for ri in listed.data) == sorted(traces.values())

    runs = langfuse.get_dataset_runs(dataset_name=name)
    assert [r.name for r in runs.data] == [weekly, nightly]  # newest first
    assert runs.meta.total_items == 2
    assert runs.data[0].id == weekly_item.dataset_run_id
    paged = langfuse.get_dataset_runs(dataset_name=name, page=2, limit=1)
    assert [r.name for r in paged.data] == [nightly]
    assert (paged.meta.total_items, paged.meta.total_pages) == (2, 2)

    deleted = langfuse.delete_dataset_run(dataset_name=name, run_name=nightly)
    assert deleted.message == "Dataset run successfully deleted"
    with pytest.raises(NotFoundError):
        langfuse.get_dataset_run(dataset_name=name, run_name=nightly)
    assert [r.name for r in langfuse.get_dataset_runs(dataset_name=name).data] == [weekly]
    assert http.get(f"/api/public/datasets/{enc(name)}/runs/{enc(nightly)}").status_code == 404
    with pytest.raises(NotFoundError):
        langfuse.delete_dataset_run(dataset_name=name, run_name=nightly)
    # The items themselves are untouched.
    assert sorted(i.id for i in langfuse.get_dataset(name).items) == sorted([first.id, second.id])


# --------------------------------------------------------------------------------------------
# 9. Import (Spyglass extension)


def test_import_jsonl_and_csv(langfuse: Langfuse, http: httpx.Client) -> None:
    plain = unique("import-jsonl")
    langfuse.create_dataset(name=plain)
    jsonl_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    lines = [
        json.dumps({"id": jsonl_ids[0], "input": {"question": "q1"}, "expectedOutput": {"answer": "A1"},
                    "metadata": {"row": 1}}),
        '{"input": {"question": "broken"',
        json.dumps({"id": jsonl_ids[1], "input": "plain text", "expectedOutput": None, "status": "ACTIVE"}),
    ]
    response = http.post("/api/public/dataset-items/import", params={"datasetName": plain, "format": "jsonl"},
                         content="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 2
    assert [e["row"] for e in body["errors"]] == [2], body
    assert body["errors"][0]["message"]

    items = {i.id: i for i in langfuse.get_dataset(plain).items}
    assert sorted(items) == sorted(jsonl_ids)
    assert (items[jsonl_ids[0]].input, items[jsonl_ids[0]].expected_output) == ({"question": "q1"}, {"answer": "A1"})
    assert items[jsonl_ids[0]].metadata == {"row": 1}
    assert (items[jsonl_ids[1]].input, items[jsonl_ids[1]].expected_output) == ("plain text", None)

    schema = unique("import-csv")
    langfuse.create_dataset(name=schema, input_schema=QUESTION_SCHEMA)
    csv_ids = [str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "input", "expected_output", "metadata"])
    writer.writerow([csv_ids[0], json.dumps({"question": "capital of France?"}), "Paris", json.dumps({"src": "csv"})])
    writer.writerow([csv_ids[1], json.dumps({"text": "no question"}), "x", json.dumps({"src": "csv"})])
    writer.writerow([csv_ids[2], json.dumps({"question": "2+2, \"quoted\""}), "4", json.dumps({"src": "csv"})])
    response = http.post("/api/public/dataset-items/import", params={"datasetName": schema, "format": "csv"},
                         content=buffer.getvalue(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 2
    assert [e["row"] for e in body["errors"]] == [2], body
    assert "question" in body["errors"][0]["message"], body

    items = {i.id: i for i in langfuse.get_dataset(schema).items}
    assert sorted(items) == sorted([csv_ids[0], csv_ids[2]])
    assert items[csv_ids[0]].input == {"question": "capital of France?"}
    assert items[csv_ids[0]].expected_output == "Paris"  # not valid JSON: kept as a string
    assert items[csv_ids[0]].metadata == {"src": "csv"}
    assert items[csv_ids[2]].input == {"question": '2+2, "quoted"'}
    assert items[csv_ids[2]].expected_output == 4  # valid JSON: parsed
    assert http.get(f"/api/public/dataset-items/{csv_ids[1]}").status_code == 404

    unknown = http.post("/api/public/dataset-items/import", params={"datasetName": unique("nope"), "format": "csv"},
                        content="input\n1\n", headers={"Content-Type": "text/csv"})
    assert unknown.status_code == 404, unknown.text


# --------------------------------------------------------------------------------------------
# 10. JSON Schema on a dataset


def test_input_schema_rejects_items(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("schema")
    output_schema = {"type": "object", "required": ["answer"]}
    created = langfuse.create_dataset(name=name, input_schema=QUESTION_SCHEMA, expected_output_schema=output_schema)
    assert created.input_schema == QUESTION_SCHEMA
    assert created.expected_output_schema == output_schema
    dataset = langfuse.get_dataset(name)
    assert (dataset.input_schema, dataset.expected_output_schema) == (QUESTION_SCHEMA, output_schema)
    body = get_json(http, f"/api/public/v2/datasets/{enc(name)}")
    assert (body["inputSchema"], body["expectedOutputSchema"]) == (QUESTION_SCHEMA, output_schema)

    good = langfuse.create_dataset_item(dataset_name=name, input={"question": "why?"},
                                        expected_output={"answer": "because"})

    with pytest.raises(ApiError) as caught:
        langfuse.create_dataset_item(dataset_name=name, input={"text": "no question here"},
                                     expected_output={"answer": "x"})
    assert caught.value.status_code == 400

    missing = http.post("/api/public/dataset-items", json={"datasetName": name, "input": {"text": "no question"},
                                                           "expectedOutput": {"answer": "x"}})
    assert missing.status_code == 400, missing.text
    assert "question" in missing.json()["message"], missing.text

    wrong_type = http.post("/api/public/dataset-items", json={"datasetName": name, "input": {"question": 42},
                                                              "expectedOutput": {"answer": "x"}})
    assert wrong_type.status_code == 400, wrong_type.text
    assert "question" in wrong_type.json()["message"], wrong_type.text

    bad_output = http.post("/api/public/dataset-items", json={"datasetName": name, "input": {"question": "ok"},
                                                              "expectedOutput": {"text": "no answer"}})
    assert bad_output.status_code == 400, bad_output.text
    assert "answer" in bad_output.json()["message"], bad_output.text

    assert [i.id for i in langfuse.get_dataset(name).items] == [good.id]
