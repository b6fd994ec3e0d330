"""The experiments API (`GET /api/public/experiments`, `/experiment-items`) over experiments the real SDK ran.

SDK 4.x posts run items and 5.x only declares them on its spans; both must show up the same way,
and so must experiments over local data, which have no dataset.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from langfuse import Langfuse
from tests.compat.test_sdk_datasets import (
    average_exact_match,
    exact_match,
    get_json,
    poll,
    qa_dataset,
    unique,
    upper_task,
    verdict,
)

EXPERIMENT_KEYS = {"id", "name", "description", "startTime", "endTime", "itemCount", "datasetId"}
ITEM_CORE_KEYS = {"id", "traceId", "startTime", "endTime", "level", "environment", "experimentId", "experimentName",
                  "experimentItemId"}


def since(minutes: int = 10) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def experiment_named(http: httpx.Client, name: str, items: int, **params: Any) -> dict[str, Any]:
    def read() -> list[dict[str, Any]]:
        return get_json(http, "/api/public/experiments", fromStartTime=since(), name=name, **params)["data"]

    found = poll(read, lambda data: len(data) == 1 and data[0]["itemCount"] == items)
    return found[0]


def test_dataset_and_local_experiments_are_listed_with_their_items(langfuse: Langfuse, http: httpx.Client) -> None:
    dataset = unique("exp-api")
    ids = qa_dataset(langfuse, dataset, archived=True)
    run = unique("run")
    result = langfuse.get_dataset(dataset).run_experiment(
        name="exp-api", run_name=run, description="three questions", metadata={"model": "upper"},
        task=upper_task, evaluators=[exact_match, verdict], run_evaluators=[average_exact_match])
    local_run = unique("local")
    langfuse.run_experiment(name="local", run_name=local_run, data=[{"input": {"question": "red"},
                                                                     "expected_output": {"answer": "RED"}}],
                            task=upper_task, evaluators=[exact_match])
    langfuse.flush()

    experiment = experiment_named(http, run, 3, fields="core,metadata,scores")
    assert set(experiment) == EXPERIMENT_KEYS | {"metadata", "scores"}
    dataset_id = get_json(http, f"/api/public/v2/datasets/{dataset}")["id"]
    assert (experiment["description"], experiment["datasetId"]) == ("three questions", dataset_id)
    assert experiment["metadata"]["model"] == "upper"
    # The run-level evaluation is the experiment's score.
    scored = poll(lambda: experiment_named(http, run, 3, fields="core,scores")["scores"], lambda s: len(s) == 1)
    assert (scored[0]["name"], scored[0]["value"]) == ("avg_exact_match", 2 / 3)
    assert experiment["startTime"] <= experiment["endTime"]

    local = experiment_named(http, local_run, 1)
    assert set(local) == EXPERIMENT_KEYS and local["datasetId"] is None

    items = poll(lambda: get_json(http, "/api/public/experiment-items", fromStartTime=since(),
                                  experimentId=experiment["id"], fields="core,dataset,io,itemMetadata,scores")["data"],
                 lambda data: len(data) == 3 and all(len(i["scores"]) == 2 for i in data))
    by_item = {item["experimentItemId"]: item for item in items}
    assert set(by_item) == {ids["alpha"], ids["beta"], ids["gamma"]}  # the archived item did not run
    alpha = by_item[ids["alpha"]]
    assert ITEM_CORE_KEYS <= set(alpha)
    assert (alpha["experimentName"], alpha["environment"], alpha["experimentDatasetId"]) == (
        run, "sdk-experiment", dataset_id)
    assert (alpha["input"], alpha["output"], alpha["expectedOutput"]) == (
        {"question": "alpha"}, {"answer": "ALPHA"}, {"answer": "ALPHA"})
    assert alpha["experimentItemMetadata"] == {"q": "alpha"}
    assert {s["name"]: s["value"] for s in alpha["scores"]} == {"exact_match": 1, "verdict": "correct"}
    assert {r.trace_id for r in result.item_results} == {i["traceId"] for i in items}

    # Newest first, two per page, and the cursor walks the rest.
    first = get_json(http, "/api/public/experiment-items", fromStartTime=since(), experimentId=experiment["id"],
                     limit=2)
    assert len(first["data"]) == 2 and first["meta"]["cursor"]
    rest = get_json(http, "/api/public/experiment-items", fromStartTime=since(), experimentId=experiment["id"],
                    limit=2, cursor=first["meta"]["cursor"])
    assert len(rest["data"]) == 1 and "cursor" not in rest["meta"]
    assert {i["id"] for i in first["data"] + rest["data"]} == {i["id"] for i in items}
    starts = [i["startTime"] for i in first["data"] + rest["data"]]
    assert starts == sorted(starts, reverse=True)

    local_items = get_json(http, "/api/public/experiment-items", fromStartTime=since(), experimentName=local_run,
                           fields="io")["data"]
    assert [(i["input"], i["expectedOutput"]) for i in local_items] == [({"question": "red"}, {"answer": "RED"})]


def test_experiment_filters_and_bad_requests(langfuse: Langfuse, http: httpx.Client) -> None:
    dataset = unique("exp-filter")
    qa_dataset(langfuse, dataset)
    run = unique("run")
    langfuse.get_dataset(dataset).run_experiment(name="f", run_name=run, task=upper_task)
    langfuse.flush()
    experiment = experiment_named(http, run, 3)

    by_filter = get_json(http, "/api/public/experiments", fromStartTime=since(), filter=json.dumps(
        [{"type": "stringOptions", "column": "id", "operator": "any of", "value": [experiment["id"]]}]))["data"]
    assert [e["id"] for e in by_filter] == [experiment["id"]]
    assert get_json(http, "/api/public/experiments", fromStartTime=since(), datasetId=experiment["datasetId"])[
        "data"][0]["id"] == experiment["id"]
    # Nothing ran after now.
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert get_json(http, "/api/public/experiments", fromStartTime=future, name=run)["data"] == []

    for params, message in (
        ({}, "fromStartTime is required"),
        ({"fromStartTime": "yesterday"}, "fromStartTime"),
        ({"fromStartTime": since(), "fields": "core,bogus"}, "Unknown field group"),
        ({"fromStartTime": since(), "filter": "[{"}, "filter must be a JSON array"),
        ({"fromStartTime": since(), "filter": json.dumps([{"column": "owner", "operator": "=", "value": "x"}])},
         "unsupported column"),
        ({"fromStartTime": since(), "cursor": "not-a-cursor"}, "Invalid cursor"),
        ({"fromStartTime": since(), "limit": 101}, None),
    ):
        response = http.get("/api/public/experiments", params=params)
        assert response.status_code == 400, (params, response.text)
        if message is not None:
            assert message in response.json()["message"], (params, response.text)
