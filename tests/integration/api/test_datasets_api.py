"""Datasets over HTTP: v2 and legacy v1 dataset routes, versioned items (read as of a time),
JSON schemas, runs and run items, per-run score aggregates, CSV/JSONL import, other projects
and bad input (dataset spec; LANGFUSE_COMPAT §5.6, §8, App A.4, App B "Datasets"/"Dataset versions")."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from tests.integration.api.builders import (
    assert_error,
    barrier,
    get_when,
    ingest_ok,
    observation,
    score_create,
    trace_create,
    uid,
)
from tests.support.server import SpyglassServer

V2 = "/api/public/v2/datasets"
V1 = "/api/public/datasets"
ITEMS = "/api/public/dataset-items"
IMPORT = "/api/public/dataset-items/import"
RUN_ITEMS = "/api/public/dataset-run-items"

DATASET_KEYS = {"id", "name", "description", "metadata", "inputSchema", "expectedOutputSchema", "projectId",
                "createdAt", "updatedAt"}
ITEM_KEYS = {"id", "datasetId", "datasetName", "status", "input", "expectedOutput", "metadata", "sourceTraceId",
             "sourceObservationId", "createdAt", "updatedAt", "mediaReferences"}
RUN_KEYS = {"id", "name", "description", "metadata", "datasetId", "datasetName", "createdAt", "updatedAt"}
RUN_ITEM_KEYS = {"id", "datasetRunId", "datasetRunName", "datasetItemId", "traceId", "observationId", "createdAt",
                 "updatedAt"}
AGGREGATE_KEYS = {"name", "dataType", "count", "mean", "min", "max", "distribution"}

QUESTION_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
    "required": ["question"],
}
ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "number"}}}


# -- helpers ----------------------------------------------------------------------------------


def q(name: str) -> str:
    return quote(name, safe="")


def run_path(dataset: str, run: str, *rest: str) -> str:
    return "/".join([V1, q(dataset), "runs", q(run), *rest])


def not_found(response: httpx.Response, message: str) -> None:
    assert response.status_code == 404, response.text
    assert response.json() == {"message": message, "error": "LangfuseNotFoundError"}


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def make_dataset(client: httpx.Client, name: str | None = None, **body: Any) -> dict[str, Any]:
    return ok(client.post(V2, json={"name": name or f"ds-{uid()[:10]}", **body}))


def make_item(client: httpx.Client, dataset_name: str, **body: Any) -> dict[str, Any]:
    return ok(client.post(ITEMS, json={"datasetName": dataset_name, **body}))


def link(client: httpx.Client, run_name: str, item_id: str, trace_id: str | None = None, **body: Any) -> dict[str, Any]:
    payload = {"runName": run_name, "datasetItemId": item_id, **body}
    if trace_id is not None:
        payload["traceId"] = trace_id
    return ok(client.post(RUN_ITEMS, json=payload))


def item_list(client: httpx.Client, **params: Any) -> dict[str, Any]:
    return ok(client.get(ITEMS, params=params))


def item_ids(client: httpx.Client, **params: Any) -> list[str]:
    return [row["id"] for row in item_list(client, **params)["data"]]


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def pause() -> None:
    """Let the clock move past the last write (timestamps are compared at millisecond precision)."""
    time.sleep(0.02)


@pytest.fixture(scope="module")
def other(server: SpyglassServer) -> Iterator[httpx.Client]:
    with server.client(server.create_project(f"datasets-other-{uid()[:8]}")) as client:
        yield client


@pytest.fixture(scope="module")
def second_process(server: SpyglassServer, stack_env: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """On the scale-out stack: another API process (`--no-worker`) on the same PostgreSQL, same keys."""
    if os.environ.get("SPYGLASS_TEST_STACK") != "scaleout":
        pytest.skip("two processes share a database only on the scale-out stack")
    instance = SpyglassServer(data_dir=tmp_path_factory.mktemp("datasets-second") / "data", keys=server.keys,
                              extra_env=stack_env, serve_args=["--no-worker"]).start()
    with instance.client() as client:
        yield client
    instance.stop()


@pytest.fixture(scope="module")
def fresh(server: SpyglassServer) -> Iterator[httpx.Client]:
    """A project of its own, for assertions on whole lists."""
    with server.client(server.create_project(f"datasets-lists-{uid()[:8]}")) as client:
        yield client


# -- datasets ---------------------------------------------------------------------------------


def test_create_a_dataset_with_every_key(server: SpyglassServer, client: httpx.Client) -> None:
    name = f"plain-{uid()[:8]}"
    created = make_dataset(client, name)
    assert set(created) == DATASET_KEYS
    assert {k: created[k] for k in DATASET_KEYS - {"id", "createdAt", "updatedAt"}} == {
        "name": name, "description": None, "metadata": None, "inputSchema": None, "expectedOutputSchema": None,
        "projectId": server.keys.project_id,
    }
    assert created["createdAt"] == created["updatedAt"]
    assert created["createdAt"].endswith("Z")
    assert ok(client.get(f"{V2}/{q(name)}")) == created


def test_upsert_by_name_updates_the_given_fields_and_keeps_the_rest(client: httpx.Client) -> None:
    name = f"upsert-{uid()[:8]}"
    first = make_dataset(client, name, description="first", metadata={"owner": "a"}, inputSchema=QUESTION_SCHEMA)
    pause()
    second = make_dataset(client, name, metadata={"owner": "b", "tags": [1, 2]},
                          expectedOutputSchema=ANSWER_SCHEMA)
    assert second["id"] == first["id"]
    assert (second["description"], second["metadata"]) == ("first", {"owner": "b", "tags": [1, 2]})
    assert (second["inputSchema"], second["expectedOutputSchema"]) == (QUESTION_SCHEMA, ANSWER_SCHEMA)
    assert second["createdAt"] == first["createdAt"]
    assert parse_ts(second["updatedAt"]) > parse_ts(first["updatedAt"])

    # Explicit nulls clear a field (a schema too); the others stay.
    third = make_dataset(client, name, description=None, inputSchema=None)
    assert (third["description"], third["metadata"], third["inputSchema"], third["expectedOutputSchema"]) == (
        None, {"owner": "b", "tags": [1, 2]}, None, ANSWER_SCHEMA)
    # Only the name: nothing changes.
    assert make_dataset(client, name) == third
    assert ok(client.get(f"{V2}/{q(name)}")) == third


def test_upsert_by_id(client: httpx.Client) -> None:
    name, dataset_id = f"by-id-{uid()[:8]}", f"my-dataset-{uid()}"
    created = make_dataset(client, name, id=dataset_id, description="one")
    assert created["id"] == dataset_id
    updated = make_dataset(client, name, id=dataset_id, description="two")
    assert (updated["id"], updated["description"]) == (dataset_id, "two")
    # An unknown id with a name that is taken: 409, nothing changes.
    conflict = client.post(V2, json={"name": name, "id": f"another-{uid()}", "description": "three"})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json() == {"message": f"A dataset named '{name}' already exists with another id",
                               "error": "LangfuseConflictError"}
    assert ok(client.get(f"{V2}/{q(name)}"))["description"] == "two"
    # The name is what the id's dataset is called; it is not renamed through the id.
    assert_error(client.post(V2, json={"name": f"renamed-{uid()[:8]}", "id": dataset_id}), 400,
                 "InvalidRequestError", "A dataset's name cannot be changed through its id")


def test_list_datasets_with_pagination_and_the_v1_list(fresh: httpx.Client) -> None:
    names = [f"list-{n}" for n in ("a", "b", "c")]
    made = [make_dataset(fresh, name) for name in names]
    items = [make_item(fresh, "list-a", input=n) for n in range(2)]
    make_item(fresh, "list-a", input="archived", status="ARCHIVED")
    deleted = make_item(fresh, "list-a", input="deleted")
    assert fresh.delete(f"{ITEMS}/{deleted['id']}").status_code == 200
    link(fresh, "run-1", items[0]["id"], uid())
    link(fresh, "run-2", items[1]["id"], uid())

    page1 = ok(fresh.get(V2, params={"limit": 2}))
    page2 = ok(fresh.get(V2, params={"limit": 2, "page": 2}))
    assert page1["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert page2["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}
    # Newest first, each exactly as created.
    assert page1["data"] + page2["data"] == [made[2], made[1], made[0]]
    assert ok(fresh.get(V2, params={"page": 3, "limit": 2}))["data"] == []

    legacy = ok(fresh.get(V1))
    assert legacy["meta"] == {"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1}
    by_name = {row["name"]: row for row in legacy["data"]}
    assert set(by_name["list-a"]) == DATASET_KEYS | {"items", "runs"}
    # Active item ids only (newest first) and the run names.
    assert by_name["list-a"]["items"] == [items[1]["id"], items[0]["id"]]
    assert sorted(by_name["list-a"]["runs"]) == ["run-1", "run-2"]
    assert (by_name["list-b"]["items"], by_name["list-b"]["runs"]) == ([], [])
    assert {k: by_name["list-c"][k] for k in DATASET_KEYS} == made[2]


def test_get_with_folder_names_and_404(client: httpx.Client) -> None:
    name = f"team a/evals/qa?#%-{uid()[:6]}"
    created = make_dataset(client, name, description="folders")
    assert ok(client.get(f"{V2}/{q(name)}")) == created
    item = make_item(client, name, input="x")
    link(client, "runs/2026/01", item["id"], uid())
    legacy = ok(client.get(f"{V1}/{q(name)}"))
    assert {k: legacy[k] for k in DATASET_KEYS} == created
    assert legacy["items"] == [item]
    assert legacy["runs"] == ["runs/2026/01"]
    assert ok(client.get(run_path(name, "runs/2026/01")))["name"] == "runs/2026/01"

    not_found(client.get(f"{V2}/{q('no-such-dataset')}"), "Dataset not found")
    not_found(client.get(f"{V1}/{q('no-such-dataset')}"), "Dataset not found")
    not_found(client.get(f"{V2}/{q(name + '/more')}"), "Dataset not found")


def test_v1_post_adds_items_and_runs_and_v1_get_has_them(client: httpx.Client) -> None:
    name = f"legacy-{uid()[:8]}"
    created = ok(client.post(V1, json={"name": name, "description": "v1", "metadata": {"k": 1}}))
    assert set(created) == DATASET_KEYS | {"items", "runs"}
    assert (created["items"], created["runs"], created["description"], created["metadata"]) == (
        [], [], "v1", {"k": 1})
    assert ok(client.get(f"{V2}/{q(name)}")) == {k: created[k] for k in DATASET_KEYS}

    first = make_item(client, name, input={"n": 1})
    pause()
    second = make_item(client, name, input={"n": 2}, metadata={"m": True})
    make_item(client, name, input={"n": 3}, status="ARCHIVED")
    link(client, "first-run", first["id"], uid())
    pause()
    link(client, "second-run", second["id"], uid())

    read = ok(client.get(f"{V1}/{q(name)}"))
    assert read["items"] == [second, first]  # ACTIVE only, newest first, full items
    assert sorted(read["runs"]) == ["first-run", "second-run"]


# -- items ------------------------------------------------------------------------------------


def test_item_with_a_client_id_is_upserted(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    item_id = f"item-{uid()}"
    created = make_item(client, dataset["name"], id=item_id, input={"q": "one"}, expectedOutput={"a": 1},
                        sourceTraceId="trace-1", sourceObservationId="obs-1")
    assert set(created) == ITEM_KEYS
    assert {k: created[k] for k in ITEM_KEYS - {"createdAt", "updatedAt"}} == {
        "id": item_id, "datasetId": dataset["id"], "datasetName": dataset["name"], "status": "ACTIVE",
        "input": {"q": "one"}, "expectedOutput": {"a": 1}, "metadata": None, "sourceTraceId": "trace-1",
        "sourceObservationId": "obs-1", "mediaReferences": [],
    }
    assert created["createdAt"] == created["updatedAt"]
    assert ok(client.get(f"{ITEMS}/{item_id}")) == created

    pause()
    updated = make_item(client, dataset["name"], id=item_id, input={"q": "two"})
    assert updated["input"] == {"q": "two"}
    # Fields left out keep their values; createdAt stays, updatedAt moves.
    assert (updated["expectedOutput"], updated["sourceTraceId"], updated["sourceObservationId"]) == (
        {"a": 1}, "trace-1", "obs-1")
    assert updated["createdAt"] == created["createdAt"]
    assert parse_ts(updated["updatedAt"]) > parse_ts(created["updatedAt"])
    assert ok(client.get(f"{ITEMS}/{item_id}")) == updated
    assert item_ids(client, datasetName=dataset["name"]) == [item_id]

    cleared = make_item(client, dataset["name"], id=item_id, expectedOutput=None, metadata={"m": 1})
    assert (cleared["input"], cleared["expectedOutput"], cleared["metadata"]) == ({"q": "two"}, None, {"m": 1})


def test_item_without_an_id_gets_one(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    first = make_item(client, dataset["name"], input="a")
    second = make_item(client, dataset["name"])
    assert first["id"] and second["id"] and first["id"] != second["id"]
    assert set(second) == ITEM_KEYS
    assert (second["input"], second["expectedOutput"], second["metadata"], second["status"]) == (
        None, None, None, "ACTIVE")
    assert (second["sourceTraceId"], second["sourceObservationId"], second["mediaReferences"]) == (None, None, [])
    assert ok(client.get(f"{ITEMS}/{first['id']}")) == first


def test_item_in_an_unknown_dataset_or_in_another_dataset(client: httpx.Client) -> None:
    not_found(client.post(ITEMS, json={"datasetName": f"missing-{uid()}", "input": 1}), "Dataset not found")
    one, two = make_dataset(client), make_dataset(client)
    item_id = f"shared-{uid()}"
    make_item(client, one["name"], id=item_id, input="in one")
    moved = client.post(ITEMS, json={"datasetName": two["name"], "id": item_id, "input": "in two"})
    assert moved.status_code == 409, moved.text
    assert moved.json() == {"message": f"Dataset item {item_id} already exists in another dataset",
                            "error": "LangfuseConflictError"}
    assert ok(client.get(f"{ITEMS}/{item_id}"))["input"] == "in one"
    assert item_ids(client, datasetName=two["name"]) == []


def test_archived_items_are_hidden_from_lists_but_readable(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    kept = make_item(client, dataset["name"], input="kept")
    archived = make_item(client, dataset["name"], input="old", status="ARCHIVED")
    assert archived["status"] == "ARCHIVED"
    assert item_ids(client, datasetName=dataset["name"]) == [kept["id"]]
    assert ok(client.get(f"{ITEMS}/{archived['id']}")) == archived
    # An update that leaves status out keeps it ARCHIVED.
    still = make_item(client, dataset["name"], id=archived["id"], input="older")
    assert (still["input"], still["status"]) == ("older", "ARCHIVED")
    assert item_ids(client, datasetName=dataset["name"]) == [kept["id"]]
    # Back to ACTIVE: listed again (its place is by creation time).
    revived = make_item(client, dataset["name"], id=archived["id"], status="ACTIVE")
    assert (revived["input"], revived["status"]) == ("older", "ACTIVE")
    assert item_ids(client, datasetName=dataset["name"]) == [archived["id"], kept["id"]]


def test_delete_an_item(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    gone, kept = make_item(client, dataset["name"], input="gone"), make_item(client, dataset["name"], input="kept")
    assert ok(client.delete(f"{ITEMS}/{gone['id']}")) == {"message": "Dataset item successfully deleted"}
    message = f"Dataset item {gone['id']} not found within authorized project"
    not_found(client.get(f"{ITEMS}/{gone['id']}"), message)
    not_found(client.delete(f"{ITEMS}/{gone['id']}"), message)
    assert item_ids(client, datasetName=dataset["name"]) == [kept["id"]]
    not_found(client.post(RUN_ITEMS, json={"runName": "r", "datasetItemId": gone["id"], "traceId": uid()}), message)
    # The id can be used again in the same dataset: a new item.
    again = make_item(client, dataset["name"], id=gone["id"], input="again")
    assert (again["input"], again["status"]) == ("again", "ACTIVE")
    assert parse_ts(again["createdAt"]) > parse_ts(gone["createdAt"])


def test_item_ids_with_a_slash(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    item_id = f"folder/item-{uid()[:8]}"
    created = make_item(client, dataset["name"], id=item_id, input="x")
    assert created["id"] == item_id
    # An id the API accepts can be read and deleted again (sent URL-encoded, like dataset names).
    assert ok(client.get(f"{ITEMS}/{q(item_id)}")) == created
    assert ok(client.delete(f"{ITEMS}/{q(item_id)}")) == {"message": "Dataset item successfully deleted"}


def test_concurrent_writers_make_one_dataset_and_one_run(client: httpx.Client) -> None:
    name = f"concurrent-{uid()[:8]}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        datasets = list(pool.map(lambda n: client.post(V2, json={"name": name, "metadata": {"n": n}}), range(16)))
    assert [r.status_code for r in datasets] == [200] * 16
    assert len({r.json()["id"] for r in datasets}) == 1
    items = [make_item(client, name, input=n)["id"] for n in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        linked = list(pool.map(lambda item_id: client.post(RUN_ITEMS, json={"runName": "parallel",
                                                                              "datasetItemId": item_id,
                                                                              "traceId": uid()}), items))
    assert [r.status_code for r in linked] == [200] * 16
    assert len({r.json()["datasetRunId"] for r in linked}) == 1
    assert len(ok(client.get(run_path(name, "parallel")))["datasetRunItems"]) == 16


RACE_ROUNDS = 20  # a race is lost only some of the time: enough rounds to lose one reliably


def _race(clients: list[httpx.Client], requests: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """POST each (path, body) at once, alternating between the clients (processes)."""
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(lambda n: clients[n % len(clients)].post(requests[n][0], json=requests[n][1]),
                             range(len(requests))))


def test_two_processes_upserting_the_same_new_dataset(client: httpx.Client, second_process: httpx.Client) -> None:
    for _ in range(RACE_ROUNDS):
        name = f"fleet-{uid()[:8]}"
        responses = _race([client, second_process], [(V2, {"name": name})] * 8)
        # An upsert by name never conflicts with itself: every writer gets the one dataset.
        assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
        assert len({r.json()["id"] for r in responses}) == 1


def test_two_processes_starting_the_same_run(client: httpx.Client, second_process: httpx.Client) -> None:
    dataset = make_dataset(client)
    for _ in range(RACE_ROUNDS):
        run_name = f"fleet-run-{uid()[:8]}"
        items = [make_item(client, dataset["name"], input=n)["id"] for n in range(8)]
        responses = _race([client, second_process], [
            (RUN_ITEMS, {"runName": run_name, "datasetItemId": item_id, "traceId": uid()}) for item_id in items])
        # run_experiment links its items concurrently; the first ones all create "the" run by name.
        assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
        assert len({r.json()["datasetRunId"] for r in responses}) == 1


def test_two_processes_upserting_the_same_new_item(client: httpx.Client, second_process: httpx.Client) -> None:
    dataset = make_dataset(client)
    ids = []
    for _ in range(RACE_ROUNDS):
        item_id = f"fleet-item-{uid()[:8]}"
        ids.append(item_id)
        responses = _race([client, second_process], [
            (ITEMS, {"datasetName": dataset["name"], "id": item_id, "input": n}) for n in range(8)])
        assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
    listed = [row["id"] for page in (1, 2) for row in
              item_list(client, datasetName=dataset["name"], limit=100, page=page)["data"]]
    # One current version per id: each item is listed once.
    assert {k: v for k, v in Counter(listed).items() if v > 1} == {}
    assert sorted(listed) == sorted(ids)


def test_list_filters_by_source_trace_and_observation(client: httpx.Client) -> None:
    one, two = make_dataset(client), make_dataset(client)
    trace, obs = f"src-trace-{uid()}", f"src-obs-{uid()}"
    a = make_item(client, one["name"], sourceTraceId=trace)
    b = make_item(client, one["name"], sourceTraceId=trace, sourceObservationId=obs)
    c = make_item(client, two["name"], sourceTraceId=trace, sourceObservationId=obs)
    make_item(client, one["name"], sourceTraceId=f"other-{uid()}")
    make_item(client, one["name"], sourceTraceId=trace, status="ARCHIVED")

    assert item_ids(client, datasetName=one["name"], sourceTraceId=trace) == [b["id"], a["id"]]
    assert item_ids(client, datasetName=one["name"], sourceObservationId=obs) == [b["id"]]
    assert item_ids(client, sourceTraceId=trace) == [c["id"], b["id"], a["id"]]
    assert item_ids(client, sourceTraceId=trace, sourceObservationId=obs) == [c["id"], b["id"]]
    assert item_ids(client, sourceObservationId=f"none-{uid()}") == []
    not_found(client.get(ITEMS, params={"datasetName": f"missing-{uid()}"}), "Dataset not found")


def test_items_newest_first_across_pages(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    created = [make_item(client, dataset["name"], id=f"page-{n:03d}-{uid()[:6]}", input=n)["id"]
               for n in range(120)]
    pages = [item_list(client, datasetName=dataset["name"], limit=50, page=p) for p in (1, 2, 3, 4)]
    assert [len(p["data"]) for p in pages] == [50, 50, 20, 0]
    assert [p["meta"] for p in pages] == [{"page": p, "limit": 50, "totalItems": 120, "totalPages": 3}
                                          for p in (1, 2, 3, 4)]
    assert [row["id"] for p in pages for row in p["data"]] == created[::-1]
    # Default page size is 50.
    assert item_list(client, datasetName=dataset["name"])["meta"] == {"page": 1, "limit": 50, "totalItems": 120,
                                                                      "totalPages": 3}


def test_items_as_of_a_version(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    name = dataset["name"]
    before = datetime.now(tz=UTC)
    pause()
    first = make_item(client, name, id=f"v-first-{uid()}", input="first v1", expectedOutput="e1")
    deleted = make_item(client, name, id=f"v-deleted-{uid()}", input="deleted later")
    archived = make_item(client, name, id=f"v-archived-{uid()}", input="archived later")
    pause()
    version = datetime.now(tz=UTC)
    pause()
    make_item(client, name, id=first["id"], input="first v2")
    later = make_item(client, name, id=f"v-later-{uid()}", input="created later")
    ok(client.delete(f"{ITEMS}/{deleted['id']}"))
    make_item(client, name, id=archived["id"], status="ARCHIVED")

    now = item_list(client, datasetName=name)["data"]
    assert [(row["id"], row["input"]) for row in now] == [(later["id"], "created later"), (first["id"], "first v2")]

    then = item_list(client, datasetName=name, version=version.isoformat())
    assert then["meta"]["totalItems"] == 3
    # As they were: the old input (and updatedAt), the deleted and archived items still there, the later one absent.
    assert then["data"] == [archived, deleted, first]

    z_form = version.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    offset_form = version.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    for same_instant in (z_form, offset_form):
        assert item_ids(client, datasetName=name, version=same_instant) == [archived["id"], deleted["id"],
                                                                            first["id"]]
    assert item_ids(client, datasetName=name, version="2999-01-01T00:00:00Z") == [later["id"], first["id"]]
    assert item_list(client, datasetName=name, version=before.isoformat())["data"] == []
    assert_error(client.get(ITEMS, params={"version": version.isoformat()}), 400, "InvalidRequestError",
                 "version requires datasetName")
    assert_error(client.get(ITEMS, params={"datasetName": name, "version": "last tuesday"}), 400,
                 "InvalidRequestError", "version must be an ISO 8601 date-time")


# -- JSON schemas -----------------------------------------------------------------------------


def test_items_must_match_the_dataset_schemas(client: httpx.Client) -> None:
    dataset = make_dataset(client, inputSchema=QUESTION_SCHEMA, expectedOutputSchema=ANSWER_SCHEMA)
    assert (dataset["inputSchema"], dataset["expectedOutputSchema"]) == (QUESTION_SCHEMA, ANSWER_SCHEMA)
    name = dataset["name"]
    good = make_item(client, name, id=f"good-{uid()}", input={"question": "q", "tags": ["a"]},
                     expectedOutput={"answer": 4})

    bad_id = f"bad-{uid()}"
    cases = [
        ({"input": {"question": 5}},
         "input does not match the dataset's schema at $.question: 5 is not of type 'string'"),
        ({"input": {"question": "q", "tags": ["a", 2]}},
         "input does not match the dataset's schema at $.tags[1]: 2 is not of type 'string'"),
        ({"input": {"tags": []}}, "input does not match the dataset's schema at $: 'question' is a required property"),
        ({"input": "plain"}, "input does not match the dataset's schema at $: 'plain' is not of type 'object'"),
        ({"input": {"question": "q"}, "expectedOutput": {"answer": "four"}},
         "expectedOutput does not match the dataset's schema at $.answer: 'four' is not of type 'number'"),
    ]
    for body, message in cases:
        response = client.post(ITEMS, json={"datasetName": name, "id": bad_id, **body})
        assert response.status_code == 400, (body, response.text)
        assert response.json() == {"message": message, "error": "InvalidRequestError"}
    not_found(client.get(f"{ITEMS}/{bad_id}"), f"Dataset item {bad_id} not found within authorized project")

    # An update is checked with the values it keeps: nothing stored when it fails.
    assert_error(client.post(ITEMS, json={"datasetName": name, "id": good["id"], "expectedOutput": "x"}), 400,
                 "InvalidRequestError", "expectedOutput does not match the dataset's schema at $")
    assert ok(client.get(f"{ITEMS}/{good['id']}")) == good
    assert item_ids(client, datasetName=name) == [good["id"]]


def test_a_schema_must_accept_the_existing_items(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    name = dataset["name"]
    make_item(client, name, input={"question": "fine"}, expectedOutput={"answer": 1})
    offender = make_item(client, name, id=f"offender-{uid()}", input={"question": ["not", "a", "string"]},
                         expectedOutput={"answer": 2}, status="ARCHIVED")

    refused = client.post(V2, json={"name": name, "inputSchema": QUESTION_SCHEMA, "description": "new"})
    assert refused.status_code == 400, refused.text
    assert refused.json() == {
        "message": f"Existing item {offender['id']}: input does not match the dataset's schema at $.question: "
                   "['not', 'a', 'string'] is not of type 'string'",
        "error": "InvalidRequestError",
    }
    assert ok(client.get(f"{V2}/{q(name)}")) == dataset  # nothing changed, description included

    # The expected outputs are fine with their schema; once the offender is gone the input schema is too.
    assert make_dataset(client, name, expectedOutputSchema=ANSWER_SCHEMA)["expectedOutputSchema"] == ANSWER_SCHEMA
    ok(client.delete(f"{ITEMS}/{offender['id']}"))
    assert make_dataset(client, name, inputSchema=QUESTION_SCHEMA)["inputSchema"] == QUESTION_SCHEMA


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": 5}, "inputSchema is not a valid JSON Schema: 5 is not valid under any of the given schemas"),
    ({"type": "object", "required": "question"}, "inputSchema is not a valid JSON Schema: 'question' is not of type"),
    ("object", "inputSchema must be a JSON Schema object (or null)"),
])
def test_invalid_schemas_are_refused(client: httpx.Client, schema: Any, message: str) -> None:
    name = f"bad-schema-{uid()[:8]}"
    assert_error(client.post(V2, json={"name": name, "inputSchema": schema}), 400, "InvalidRequestError", message)
    not_found(client.get(f"{V2}/{q(name)}"), "Dataset not found")
    expected = message.replace("inputSchema", "expectedOutputSchema")
    assert_error(client.post(V2, json={"name": name, "expectedOutputSchema": schema}), 400, "InvalidRequestError",
                 expected)


# -- runs and run items -----------------------------------------------------------------------


def test_run_items_create_the_run_by_name(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    name = dataset["name"]
    one, two = make_item(client, name, input=1), make_item(client, name, input=2)
    run_name, trace_one, trace_two = f"exp/{uid()[:8]}", uid(), uid()
    first = link(client, run_name, one["id"], trace_one, runDescription="first description",
                 metadata={"model": "gpt"}, datasetVersion="2026-01-02T03:04:05.000Z")
    assert set(first) == RUN_ITEM_KEYS
    assert {k: first[k] for k in ("datasetRunName", "datasetItemId", "traceId", "observationId")} == {
        "datasetRunName": run_name, "datasetItemId": one["id"], "traceId": trace_one, "observationId": None}
    pause()
    second = link(client, run_name, two["id"], trace_two, runDescription="ignored", metadata={"model": "other"})
    assert second["datasetRunId"] == first["datasetRunId"]
    # The same item twice in a run: two run items.
    third = link(client, run_name, one["id"], trace_two, observationId="obs-x")
    assert (third["datasetRunId"], third["observationId"]) == (first["datasetRunId"], "obs-x")

    run = ok(client.get(run_path(name, run_name)))
    assert set(run) == RUN_KEYS | {"datasetRunItems"}
    assert {k: run[k] for k in ("id", "name", "description", "metadata", "datasetId", "datasetName")} == {
        "id": first["datasetRunId"], "name": run_name, "description": "first description",
        "metadata": {"model": "gpt", "dataset_version": "2026-01-02T03:04:05.000Z"},
        "datasetId": dataset["id"], "datasetName": name,
    }
    assert sorted(run["datasetRunItems"], key=lambda r: r["id"]) == sorted([first, second, third],
                                                                          key=lambda r: r["id"])
    runs = ok(client.get(f"{V1}/{q(name)}/runs"))
    assert runs["meta"] == {"page": 1, "limit": 50, "totalItems": 1, "totalPages": 1}
    assert runs["data"] == [{k: run[k] for k in RUN_KEYS}]


def test_run_names_are_per_dataset(client: httpx.Client) -> None:
    one, two = make_dataset(client), make_dataset(client)
    in_one, in_two = make_item(client, one["name"], input=1), make_item(client, two["name"], input=2)
    run_one = link(client, "shared-name", in_one["id"], uid())
    run_two = link(client, "shared-name", in_two["id"], uid())
    assert run_one["datasetRunId"] != run_two["datasetRunId"]
    assert ok(client.get(run_path(two["name"], "shared-name")))["datasetId"] == two["id"]
    assert [r["id"] for r in ok(client.get(run_path(one["name"], "shared-name")))["datasetRunItems"]] == [
        run_one["id"]]


def test_run_item_by_observation_resolves_the_trace(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    item = make_item(client, dataset["name"], input="x")
    trace_id, span_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id, name="experiment"), observation("span-create", span_id, trace_id)])
    get_when(client, f"/api/public/observations/{span_id}")
    made = link(client, "by-observation", item["id"], observationId=span_id)
    assert (made["traceId"], made["observationId"]) == (trace_id, span_id)

    unknown = f"unknown-obs-{uid()}"
    response = client.post(RUN_ITEMS, json={"runName": "by-observation", "datasetItemId": item["id"],
                                            "observationId": unknown})
    assert response.status_code == 400, response.text
    assert response.json() == {"message": f"traceId is required: observation {unknown} is not known (yet)",
                               "error": "InvalidRequestError"}


@pytest.mark.parametrize(("body", "message"), [
    ({"datasetItemId": "it", "traceId": "t"}, "runName is required and must be a non-empty string"),
    ({"runName": "r", "traceId": "t"}, "datasetItemId is required"),
    ({"runName": "r", "datasetItemId": "it"}, "traceId or observationId is required"),
    ({"runName": "r", "datasetItemId": "it", "traceId": 5}, "traceId must be a non-empty string (or null)"),
    ({"runName": "r", "datasetItemId": "it", "traceId": "t", "runDescription": 5},
     "runDescription must be a string (or null)"),
    ({"runName": 5, "datasetItemId": "it", "traceId": "t"}, "runName is required and must be a non-empty string"),
])
def test_invalid_run_items(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    response = client.post(RUN_ITEMS, json=body)
    assert response.status_code == 400, response.text
    assert response.json() == {"message": message, "error": "InvalidRequestError"}


def test_run_item_dataset_version_must_be_a_date_time(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    item = make_item(client, dataset["name"], input="x")
    run_name = f"versioned-{uid()[:8]}"
    response = client.post(RUN_ITEMS, json={"runName": run_name, "datasetItemId": item["id"], "traceId": uid(),
                                            "datasetVersion": "not a date"})
    assert_error(response, 400, "InvalidRequestError", "datasetVersion must be an ISO 8601 date-time")
    not_found(client.get(run_path(dataset["name"], run_name)), "Dataset run not found")


def test_run_item_for_an_unknown_item(client: httpx.Client) -> None:
    missing = f"missing-{uid()}"
    not_found(client.post(RUN_ITEMS, json={"runName": "r", "datasetItemId": missing, "traceId": uid()}),
              f"Dataset item {missing} not found within authorized project")


def test_list_run_items_paginated(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    items = [make_item(client, dataset["name"], input=n) for n in range(3)]
    made = [link(client, "paged", item["id"], uid()) for item in items]
    link(client, "other-run", items[0]["id"], uid())
    params = {"datasetId": dataset["id"], "runName": "paged", "limit": 2}
    page1, page2 = ok(client.get(RUN_ITEMS, params=params)), ok(client.get(RUN_ITEMS, params={**params, "page": 2}))
    assert page1["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert page2["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}
    assert sorted([r["id"] for r in page1["data"] + page2["data"]]) == sorted(r["id"] for r in made)
    assert {r["id"]: r for r in page1["data"] + page2["data"]} == {r["id"]: r for r in made}

    assert_error(client.get(RUN_ITEMS, params={"runName": "paged"}), 400, "InvalidRequestError",
                 "datasetId and runName are required")
    assert_error(client.get(RUN_ITEMS, params={"datasetId": dataset["id"]}), 400, "InvalidRequestError",
                 "datasetId and runName are required")
    not_found(client.get(RUN_ITEMS, params={"datasetId": dataset["id"], "runName": "nope"}), "Dataset run not found")
    not_found(client.get(RUN_ITEMS, params={"datasetId": f"nope-{uid()}", "runName": "paged"}), "Dataset not found")


def test_runs_newest_first_and_delete(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    name = dataset["name"]
    item = make_item(client, name, input="x")
    run_ids = []
    for run_name in ("r1", "r2", "folder/r3"):
        run_ids.append(link(client, run_name, item["id"], uid())["datasetRunId"])
        pause()
    listed = ok(client.get(f"{V1}/{q(name)}/runs"))
    assert [r["name"] for r in listed["data"]] == ["folder/r3", "r2", "r1"]
    assert [r["id"] for r in listed["data"]] == run_ids[::-1]
    assert all(set(r) == RUN_KEYS for r in listed["data"])
    page2 = ok(client.get(f"{V1}/{q(name)}/runs", params={"limit": 2, "page": 2}))
    assert ([r["name"] for r in page2["data"]], page2["meta"]) == (
        ["r1"], {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2})

    assert ok(client.delete(run_path(name, "folder/r3"))) == {"message": "Dataset run successfully deleted"}
    not_found(client.get(run_path(name, "folder/r3")), "Dataset run not found")
    not_found(client.delete(run_path(name, "folder/r3")), "Dataset run not found")
    not_found(client.get(RUN_ITEMS, params={"datasetId": dataset["id"], "runName": "folder/r3"}),
              "Dataset run not found")
    assert [r["name"] for r in ok(client.get(f"{V1}/{q(name)}/runs"))["data"]] == ["r2", "r1"]
    assert sorted(ok(client.get(f"{V1}/{q(name)}"))["runs"]) == ["r1", "r2"]

    # The name can be used again: a new run without the old run's items.
    again = link(client, "folder/r3", item["id"], "trace-again")
    assert again["datasetRunId"] != run_ids[2]
    run = ok(client.get(run_path(name, "folder/r3")))
    assert [(r["id"], r["traceId"]) for r in run["datasetRunItems"]] == [(again["id"], "trace-again")]

    not_found(client.get(run_path(name, "never")), "Dataset run not found")
    not_found(client.get(run_path(f"missing-{uid()}", "r1")), "Dataset not found")
    not_found(client.get(f"{V1}/{q('missing-' + uid())}/runs"), "Dataset not found")


# -- score aggregates -------------------------------------------------------------------------


def aggregate(name: str, data_type: str, count: int, mean: float | None = None, low: float | None = None,
              high: float | None = None, distribution: dict[str, int] | None = None) -> dict[str, Any]:
    return {"name": name, "dataType": data_type, "count": count, "mean": mean, "min": low, "max": high,
            "distribution": distribution}


def test_run_score_aggregates(client: httpx.Client, other: httpx.Client) -> None:
    dataset = make_dataset(client)
    name = dataset["name"]
    items = [make_item(client, name, input=n) for n in range(3)]
    t1, t2, t3, t_out, obs3 = uid(), uid(), uid(), uid(), uid()
    run_a = f"run-a/{uid()[:6]}"
    a1 = link(client, run_a, items[0]["id"], t1)
    link(client, run_a, items[1]["id"], t2)
    link(client, run_a, items[2]["id"], t3, observationId=obs3)
    run_a_id = a1["datasetRunId"]
    pause()
    run_b = f"run-b-{uid()[:6]}"
    run_b_id = link(client, run_b, items[0]["id"], t1)["datasetRunId"]
    link(client, run_b, items[1]["id"], t1)  # two items, one trace: its scores count once
    pause()
    run_c = f"run-c-{uid()[:6]}"
    run_c_id = link(client, run_c, items[1]["id"], uid())["datasetRunId"]  # no scores at all

    t1_accuracy, t2_accuracy = uid(), uid()
    ingest_ok(client, [
        score_create(t1_accuracy, "accuracy", 0.5, traceId=t1),
        score_create(uid(), "correct", 1, traceId=t1, dataType="BOOLEAN"),
        score_create(uid(), "label", "good", traceId=t1, dataType="CATEGORICAL"),
        score_create(uid(), "note", "looks fine", traceId=t1, dataType="TEXT"),
        score_create(t2_accuracy, "accuracy", 1.0, traceId=t2),
        score_create(uid(), "correct", 0, traceId=t2, dataType="BOOLEAN"),
        score_create(uid(), "label", "bad", traceId=t2),  # a string: CATEGORICAL
        score_create(uid(), "accuracy", 0.75, traceId=t3, observationId=obs3),  # observation level
        score_create(uid(), "label", "good", traceId=t3, observationId=obs3, dataType="CATEGORICAL"),
        score_create(uid(), "accuracy", 100.0, traceId=t_out),  # not in any run
        score_create(uid(), "label", "outside", traceId=t_out),
        score_create(uid(), "avg_accuracy", 0.75, datasetRunId=run_a_id),
        score_create(uid(), "verdict", "pass", datasetRunId=run_a_id, dataType="CATEGORICAL"),
        score_create(uid(), "verdict", "fail", datasetRunId=run_b_id, dataType="CATEGORICAL"),
    ])
    # The same trace ids in another project are other traces: never counted here.
    ingest_ok(other, [score_create(uid(), "accuracy", 1000.0, traceId=t1),
                      score_create(uid(), "avg_accuracy", 1000.0, datasetRunId=run_a_id)])
    barrier(other)

    path = run_path(name, run_a, "scores")
    expected_items = [
        aggregate("accuracy", "NUMERIC", 3, 0.75, 0.5, 1.0),
        aggregate("correct", "BOOLEAN", 2, 0.5, 0.0, 1.0, {"False": 1, "True": 1}),
        aggregate("label", "CATEGORICAL", 3, distribution={"bad": 1, "good": 2}),
        aggregate("note", "TEXT", 1),
    ]
    expected_run = [aggregate("avg_accuracy", "NUMERIC", 1, 0.75, 0.75, 0.75),
                    aggregate("verdict", "CATEGORICAL", 1, distribution={"pass": 1})]
    scores = get_when(client, path, lambda d: [a["count"] for a in d["itemScores"]] == [3, 2, 3, 1]
                      and len(d["runScores"]) == 2)
    run_a_row = ok(client.get(run_path(name, run_a)))
    assert scores == {
        "datasetRunId": run_a_id, "datasetRunName": run_a, "datasetRunCreatedAt": run_a_row["createdAt"],
        "itemCount": 3, "itemScores": expected_items, "runScores": expected_run,
    }
    assert all(set(a) == AGGREGATE_KEYS for a in scores["itemScores"] + scores["runScores"])

    everything = get_when(client, f"{V1}/{q(name)}/run-scores",
                          lambda d: len(d["data"]) == 3 and d["data"][1]["runScores"] != [])
    assert [row["datasetRunName"] for row in everything["data"]] == [run_c, run_b, run_a]
    assert [row["datasetRunId"] for row in everything["data"]] == [run_c_id, run_b_id, run_a_id]
    assert everything["data"][2] == scores
    assert everything["data"][1]["itemCount"] == 2
    assert everything["data"][1]["itemScores"] == [
        aggregate("accuracy", "NUMERIC", 1, 0.5, 0.5, 0.5),
        aggregate("correct", "BOOLEAN", 1, 1.0, 1.0, 1.0, {"True": 1}),
        aggregate("label", "CATEGORICAL", 1, distribution={"good": 1}),
        aggregate("note", "TEXT", 1),
    ]
    assert everything["data"][1]["runScores"] == [aggregate("verdict", "CATEGORICAL", 1, distribution={"fail": 1})]
    assert (everything["data"][0]["itemCount"], everything["data"][0]["itemScores"],
            everything["data"][0]["runScores"]) == (1, [], [])

    # A deleted score leaves the aggregates; a re-sent score counts once, with its new value.
    assert client.delete(f"/api/public/scores/{t2_accuracy}").status_code in (200, 202, 204)
    ingest_ok(client, [score_create(t1_accuracy, "accuracy", 0.25, traceId=t1)])
    updated = get_when(client, path, lambda d: d["itemScores"][0] == aggregate("accuracy", "NUMERIC", 2, 0.5, 0.25,
                                                                              0.75))
    assert updated["itemScores"][1:] == expected_items[1:]

    not_found(client.get(run_path(name, "no-such-run", "scores")), "Dataset run not found")
    not_found(client.get(f"{V1}/{q('missing-' + uid())}/run-scores"), "Dataset not found")
    not_found(other.get(path), "Dataset not found")
    not_found(other.get(f"{V1}/{q(name)}/run-scores"), "Dataset not found")


# -- runs declared by experiment spans ----------------------------------------------------------


def _experiment_task_span(trace_id: str, span_id: str, run_id: str, run_name: str, dataset_id: str,
                          item_id: str) -> dict[str, Any]:
    """OTLP/JSON of an SDK experiment's task span for one dataset item (the `langfuse.experiment.*` keys)."""
    attributes = {"langfuse.experiment.item.root_observation_id": span_id, "langfuse.experiment.id": run_id,
                  "langfuse.experiment.name": run_name, "langfuse.experiment.dataset.id": dataset_id,
                  "langfuse.experiment.item.id": item_id}
    span = {"traceId": trace_id, "spanId": span_id, "name": "experiment-item-task",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()]}
    return {"resourceSpans": [{"resource": {"attributes": []},
                               "scopeSpans": [{"scope": {"name": "langfuse-sdk"}, "spans": [span]}]}]}


def _experiment_records_its_run(project: httpx.Client, run_id: str, run_name: str) -> None:
    dataset = make_dataset(project)
    item = make_item(project, dataset["name"], input="x")
    trace_id, span_id = uid(), uid()[:16]
    body = _experiment_task_span(trace_id, span_id, run_id, run_name, dataset["id"], item["id"])
    assert project.post("/api/public/otel/v1/traces", json=body).status_code == 200
    # The run under the SDK's id, with the task span's trace as the item's run item.
    run = get_when(project, run_path(dataset["name"], run_name), lambda r: len(r["datasetRunItems"]) == 1,
                   timeout=15)
    assert (run["id"], run["name"], run["datasetId"]) == (run_id, run_name, dataset["id"])
    assert {k: run["datasetRunItems"][0][k] for k in ("datasetRunId", "datasetItemId", "traceId",
                                                      "observationId")} == {
        "datasetRunId": run_id, "datasetItemId": item["id"], "traceId": trace_id, "observationId": span_id}


def test_experiment_spans_record_their_run(client: httpx.Client) -> None:
    _experiment_records_its_run(client, uid(), "span-run")


def test_experiment_spans_in_another_project_may_use_the_same_run_id(client: httpx.Client,
                                                                      other: httpx.Client) -> None:
    # Run ids are per project (LANGFUSE_COMPAT §6.3: dataset_runs (id, projectId) primary key).
    run_id = uid()
    _experiment_records_its_run(client, run_id, "mine")
    _experiment_records_its_run(other, run_id, "theirs")


# -- import -----------------------------------------------------------------------------------


def _json_error(text: str) -> str:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as error:
        return f"invalid JSON: {error}"
    raise AssertionError("valid JSON")


def test_import_jsonl(client: httpx.Client) -> None:
    dataset = make_dataset(client, inputSchema=QUESTION_SCHEMA)
    name = dataset["name"]
    taken = make_item(client, make_dataset(client)["name"], id=f"taken-{uid()}")
    first_id, fourth_id = f"imp-{uid()}", f"imp-4-{uid()}"
    lines = [
        orjson.dumps({"input": {"question": "q1"}, "expectedOutput": {"answer": 1}, "id": first_id}).decode(),
        "{not json",
        orjson.dumps({"input": {"question": 5}}).decode(),
        "",
        orjson.dumps({"input": {"question": "q4"}, "expected_output": "four", "metadata": {"m": 1},
                      "source_trace_id": "trace-4", "status": "ARCHIVED", "id": fourth_id}).decode(),
        orjson.dumps({"input": {"question": "q5"}, "id": taken["id"]}).decode(),
        orjson.dumps({"input": {"question": "q6"}}).decode(),
    ]
    response = client.post(IMPORT, params={"datasetName": name, "format": "jsonl"}, content="\n".join(lines))
    assert ok(response) == {"created": 3, "errors": [
        {"row": 2, "message": _json_error("{not json")},
        {"row": 3, "message": "input does not match the dataset's schema at $.question: 5 is not of type 'string'"},
        {"row": 5, "message": f"Dataset item {taken['id']} already exists in another dataset"},
    ]}
    listed = item_list(client, datasetName=name)["data"]
    assert [row["input"] for row in listed] == [{"question": "q6"}, {"question": "q1"}]  # the ARCHIVED one is not
    first = ok(client.get(f"{ITEMS}/{first_id}"))
    assert (first["expectedOutput"], first["metadata"], first["status"]) == ({"answer": 1}, None, "ACTIVE")
    fourth = ok(client.get(f"{ITEMS}/{fourth_id}"))
    assert {k: fourth[k] for k in ("input", "expectedOutput", "metadata", "sourceTraceId", "status")} == {
        "input": {"question": "q4"}, "expectedOutput": "four", "metadata": {"m": 1}, "sourceTraceId": "trace-4",
        "status": "ARCHIVED"}
    assert ok(client.get(f"{ITEMS}/{taken['id']}")) == taken


def test_import_csv(client: httpx.Client) -> None:
    dataset = make_dataset(client, inputSchema={"type": "object"})
    name = dataset["name"]
    c1, c2, c3, c4 = (f"csv-{n}-{uid()[:8]}" for n in range(4))
    body = "\n".join([
        "input,expected_output,metadata,id,status",
        f'"{{""question"": ""c1""}}","{{""answer"": 1}}",,{c1},',
        f'"{{""question"": ""c2""}}",plain answer,"{{""k"": [1]}}",{c2},ARCHIVED',
        f'"{{""question"": ""c3""}}",,,{c3},ACTIVE,one too many',
        f"plain text,,,{c4},",
        '"{""question"": ""c5""}",,,,',
    ]) + "\n"
    result = ok(client.post(IMPORT, params={"datasetName": name, "format": "csv"}, content=body))
    assert result == {"created": 3, "errors": [
        {"row": 3, "message": "the row has more cells than the header"},
        {"row": 4, "message": "input does not match the dataset's schema at $: 'plain text' is not of type 'object'"},
    ]}
    listed = item_list(client, datasetName=name)["data"]
    assert [row["input"] for row in listed] == [{"question": "c5"}, {"question": "c1"}]
    assert listed[1]["id"] == c1 and listed[1]["expectedOutput"] == {"answer": 1} and listed[1]["metadata"] is None
    second = ok(client.get(f"{ITEMS}/{c2}"))
    assert (second["status"], second["expectedOutput"], second["metadata"]) == ("ARCHIVED", "plain answer", {"k": [1]})
    for missing in (c3, c4):
        not_found(client.get(f"{ITEMS}/{missing}"), f"Dataset item {missing} not found within authorized project")


def test_import_refusals(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    name = dataset["name"]
    good = b'{"input": 1}\n'
    assert_error(client.post(IMPORT, params={"datasetName": name, "format": "xlsx"}, content=good), 400,
                 "InvalidRequestError", 'format must be "csv" or "jsonl"')
    assert_error(client.post(IMPORT, params={"datasetName": name}, content=good), 400, "InvalidRequestError",
                 'format must be "csv" or "jsonl"')
    assert_error(client.post(IMPORT, params={"format": "jsonl"}, content=good), 400, "InvalidRequestError",
                 "datasetName is required")
    not_found(client.post(IMPORT, params={"datasetName": f"missing-{uid()}", "format": "jsonl"}, content=good),
              "Dataset not found")
    unknown = client.post(IMPORT, params={"datasetName": name, "format": "csv"},
                          content="input,colour\n1,red\n2,blue\n")
    assert_error(unknown, 400, "InvalidRequestError", "Unknown CSV columns: colour (known: ")
    no_input = client.post(IMPORT, params={"datasetName": name, "format": "csv"}, content="id\nx\n")
    assert_error(no_input, 400, "InvalidRequestError", "The CSV file needs a header row with an `input` column")
    assert_error(client.post(IMPORT, params={"datasetName": name, "format": "csv"}, content=b"input\n\xff\n"), 400,
                 "InvalidRequestError", "The file is not UTF-8 text")
    assert item_list(client, datasetName=name)["data"] == []
    assert ok(client.post(IMPORT, params={"datasetName": name, "format": "jsonl"}, content=b"")) == {
        "created": 0, "errors": []}


# -- other projects ---------------------------------------------------------------------------


def test_another_projects_datasets_are_not_found(client: httpx.Client, other: httpx.Client) -> None:
    dataset = make_dataset(client, description="mine")
    name = dataset["name"]
    item = make_item(client, name, id=f"private-{uid()}", input="mine", sourceTraceId=f"src-{uid()}")
    run_item = link(client, "private-run", item["id"], uid())
    item_message = f"Dataset item {item['id']} not found within authorized project"

    not_found(other.get(f"{V2}/{q(name)}"), "Dataset not found")
    not_found(other.get(f"{V1}/{q(name)}"), "Dataset not found")
    not_found(other.get(f"{V1}/{q(name)}/runs"), "Dataset not found")
    not_found(other.get(run_path(name, "private-run")), "Dataset not found")
    not_found(other.delete(run_path(name, "private-run")), "Dataset not found")
    not_found(other.get(ITEMS, params={"datasetName": name}), "Dataset not found")
    not_found(other.get(f"{ITEMS}/{item['id']}"), item_message)
    not_found(other.delete(f"{ITEMS}/{item['id']}"), item_message)
    not_found(other.post(ITEMS, json={"datasetName": name, "input": "theirs"}), "Dataset not found")
    not_found(other.post(RUN_ITEMS, json={"runName": "private-run", "datasetItemId": item["id"], "traceId": uid()}),
              item_message)
    not_found(other.get(RUN_ITEMS, params={"datasetId": dataset["id"], "runName": "private-run"}),
              "Dataset not found")
    not_found(other.post(IMPORT, params={"datasetName": name, "format": "jsonl"}, content=b'{"input": 1}'),
              "Dataset not found")
    assert other.get(ITEMS, params={"sourceTraceId": item["sourceTraceId"]}).json()["data"] == []
    assert name not in {row["name"] for row in ok(other.get(V2, params={"limit": 100}))["data"]}

    # Nothing of mine changed.
    assert ok(client.get(f"{ITEMS}/{item['id']}")) == item
    assert [r["id"] for r in ok(client.get(run_path(name, "private-run")))["datasetRunItems"]] == [run_item["id"]]


def test_another_project_may_use_the_same_names_and_item_ids(client: httpx.Client, other: httpx.Client) -> None:
    name = f"same-name-{uid()[:8]}"
    mine = make_dataset(client, name, description="mine")
    item = make_item(client, name, id=f"same-id-{uid()}", input="mine")
    theirs = make_dataset(other, name, description="theirs")
    assert theirs["id"] != mine["id"]
    # Item ids are per project (LANGFUSE_COMPAT §6.3: (id, projectId, validFrom)).
    their_item = make_item(other, name, id=item["id"], input="theirs")
    assert (their_item["id"], their_item["datasetId"], their_item["input"]) == (item["id"], theirs["id"], "theirs")
    assert ok(client.get(f"{ITEMS}/{item['id']}")) == item
    assert ok(other.get(f"{ITEMS}/{item['id']}")) == their_item
    assert ok(client.get(f"{V2}/{q(name)}")) == mine


def test_another_project_may_use_the_same_dataset_id(client: httpx.Client, other: httpx.Client) -> None:
    # Dataset ids are per project too (LANGFUSE_COMPAT §6.3: (id, projectId) primary key).
    dataset_id = f"shared-dataset-id-{uid()}"
    mine = make_dataset(client, f"mine-{uid()[:8]}", id=dataset_id)
    response = other.post(V2, json={"name": f"theirs-{uid()[:8]}", "id": dataset_id})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == dataset_id
    assert ok(client.get(f"{V2}/{q(mine['name'])}")) == mine


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [V2, V1, ITEMS, RUN_ITEMS])
@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"5", b"null"])
def test_bodies_that_are_not_objects(client: httpx.Client, path: str, body: bytes) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json() == {"message": "Request body must be a JSON object", "error": "InvalidRequestError"}


@pytest.mark.parametrize("path", [V2, V1, ITEMS, RUN_ITEMS])
@pytest.mark.parametrize("body", [b"{not json", b"", b'{"name": "x"'])
def test_malformed_json(client: httpx.Client, path: str, body: bytes) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, "InvalidRequestError")
    assert response.json()["message"].startswith("Invalid JSON body: ")


@pytest.mark.parametrize(("body", "message"), [
    ({"name": 5}, "name is required and must be a non-empty string"),
    ({"name": ""}, "name is required and must be a non-empty string"),
    ({"description": "no name"}, "name is required and must be a non-empty string"),
    ({"name": "x" * 256}, "name must be at most 255 characters"),
    ({"name": "ok", "description": 5}, "description must be a string (or null)"),
    ({"name": "ok", "id": 5}, "id must be a non-empty string (or null)"),
    ({"name": "ok", "id": ""}, "id must be a non-empty string (or null)"),
])
def test_invalid_dataset_bodies(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    for path in (V2, V1):
        response = client.post(path, json=body)
        assert response.status_code == 400, response.text
        assert response.json() == {"message": message, "error": "InvalidRequestError"}


@pytest.mark.parametrize(("body", "message"), [
    ({"datasetName": ""}, "datasetName is required and must be a non-empty string"),
    ({"datasetName": 5}, "datasetName is required and must be a non-empty string"),
    ({"datasetName": None}, "datasetName is required and must be a non-empty string"),
    ({"status": "DONE"}, "status must be ACTIVE or ARCHIVED, got 'DONE'"),
    ({"status": 1}, "status must be ACTIVE or ARCHIVED, got 1"),
    ({"id": 5}, "id must be a non-empty string (or null)"),
    ({"id": "x" * 256}, "id must be at most 255 characters"),
    ({"sourceTraceId": 5}, "sourceTraceId must be a non-empty string (or null)"),
    ({"sourceObservationId": ""}, "sourceObservationId must be a non-empty string (or null)"),
])
def test_invalid_item_bodies(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    dataset = make_dataset(client)
    response = client.post(ITEMS, json={"datasetName": dataset["name"], **body})
    assert response.status_code == 400, response.text
    assert response.json() == {"message": message, "error": "InvalidRequestError"}
    assert item_list(client, datasetName=dataset["name"])["data"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"page": 0}, {"limit": "many"}])
def test_invalid_pagination(client: httpx.Client, params: dict[str, Any]) -> None:
    dataset = make_dataset(client)
    for path in (V2, V1, ITEMS, f"{V1}/{q(dataset['name'])}/runs"):
        response = client.get(path, params=params)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["message"] == "Invalid request data", (path, response.text)


def test_unknown_dataset_subroutes(client: httpx.Client) -> None:
    dataset = make_dataset(client)
    assert client.patch(V2, json={}).json() == {"message": "Method not allowed", "error": "MethodNotAllowedError"}
    assert ok(client.get(f"{V1}/{q(dataset['name'])}/run-scores")) == {"data": []}
    not_found(client.get(f"{V1}/{q(dataset['name'])}/everything"), "Route not found")
    not_found(client.delete(f"{V1}/{q(dataset['name'])}"), "Route not found")


def test_missing_auth(server: SpyglassServer) -> None:
    with httpx.Client(base_url=server.base_url) as anonymous:
        for response in (anonymous.get(V2), anonymous.post(ITEMS, json={}), anonymous.get(ITEMS),
                         anonymous.post(RUN_ITEMS, json={})):
            assert response.status_code == 401, response.text
