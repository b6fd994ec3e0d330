"""Media outlive a deleted trace only while something else links them; dataset items keep theirs;
deleting a project removes its media too (media contract, "Deletion")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.integration.api.builders import (
    assert_error,
    ingest_ok,
    observation,
    trace_create,
    uid,
    wait_gone,
    wait_trace,
)
from tests.integration.api.test_media_api import (
    ITEMS,
    MEDIA,
    SCALE_OUT,
    assert_serves,
    data_uri,
    download,
    get_media,
    media_id_of,
    png_bytes,
    reference,
    request_upload,
    upload,
    wav_bytes,
)
from tests.support.server import SpyglassServer, wait_until

PROJECT_DELETION_BODY = {"success": True,
                         "message": "Project deletion has been initiated and is being processed asynchronously"}


def traces(client: httpx.Client, *trace_ids: str) -> None:
    ingest_ok(client, [trace_create(trace_id, name="media-owner") for trace_id in trace_ids])
    for trace_id in trace_ids:
        wait_trace(client, trace_id)


def wait_media_gone(client: httpx.Client, media_id: str, timeout: float = 20.0) -> None:
    wait_gone(client, f"{MEDIA}/{media_id}", timeout)


# S3 (and moto) answers 403, not 404, for a missing object to a client that may not list the bucket.
GONE = (403, 404) if SCALE_OUT else (404,)


def assert_download_gone(url: str, data: bytes) -> None:
    gone = download(url)
    assert gone.status_code in GONE, gone.text
    assert data not in gone.content


def wait_download_gone(url: str, timeout: float = 20.0) -> None:
    wait_until(lambda: download(url).status_code in GONE, timeout, interval=0.1)


def test_media_lives_while_a_trace_links_it(client: httpx.Client) -> None:
    shared, own, sentinel = png_bytes(), png_bytes(), wav_bytes()
    a, b, c, d = uid(), uid(), uid(), uid()
    traces(client, a, b, c, d)
    shared_id = upload(client, shared, traceId=a)
    again = request_upload(client, shared, "image/png", "output", traceId=b, observationId=uid())
    assert again == {"mediaId": shared_id, "uploadUrl": None}
    own_id = upload(client, own, traceId=c, field="metadata")
    sentinel_id = upload(client, sentinel, "audio/wav", traceId=d)
    shared_url = get_media(client, shared_id)["url"]

    # A goes together with D, whose media nothing else links: once D's media is gone, A's deletion has run.
    deleted = client.request("DELETE", "/api/public/traces", json={"traceIds": [a, d]})
    assert (deleted.status_code, deleted.json()) == (200, {"message": "Traces deleted successfully"})
    wait_media_gone(client, sentinel_id)
    assert_serves(client, shared_id, shared, "image/png")  # B still links it

    deleted = client.delete(f"/api/public/traces/{b}")
    assert (deleted.status_code, deleted.json()) == (200, {"message": "Trace deleted successfully"})
    wait_media_gone(client, shared_id)
    assert_download_gone(shared_url, shared)
    assert_serves(client, own_id, own, "image/png")
    # Uploading the same bytes again starts from scratch.
    assert request_upload(client, shared, traceId=uid())["uploadUrl"] is not None


def test_observation_links_are_removed_with_their_trace(client: httpx.Client) -> None:
    data = png_bytes()
    trace_id, obs_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id), observation("span-create", obs_id, trace_id)])
    wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    media_id = upload(client, data, "image/png", "output", traceId=trace_id, observationId=obs_id)
    assert client.delete(f"/api/public/traces/{trace_id}").status_code == 200
    wait_media_gone(client, media_id)


def test_inline_media_is_deleted_with_its_trace(client: httpx.Client) -> None:
    data, kept = png_bytes(), png_bytes()
    doomed, keeper = uid(), uid()
    ingest_ok(client, [trace_create(doomed, input=data_uri("image/png", data)),
                       trace_create(keeper, input=data_uri("image/png", kept))])
    wait_trace(client, doomed)
    wait_trace(client, keeper)
    url = assert_serves(client, media_id_of(data), data, "image/png")["url"]
    assert client.delete(f"/api/public/traces/{doomed}").status_code == 200
    wait_media_gone(client, media_id_of(data))
    assert_download_gone(url, data)
    assert_serves(client, media_id_of(kept), kept, "image/png")


def test_dataset_item_keeps_media_of_a_deleted_trace(client: httpx.Client) -> None:
    dataset_response = client.post("/api/public/v2/datasets", json={"name": f"media-keep-{uid()[:10]}"})
    assert dataset_response.status_code == 200, dataset_response.text
    dataset = dataset_response.json()
    kept, sentinel = png_bytes(), png_bytes()
    trace_id, sentinel_trace = uid(), uid()
    traces(client, trace_id, sentinel_trace)
    kept_id = upload(client, kept, traceId=trace_id)
    sentinel_id = upload(client, sentinel, traceId=sentinel_trace)
    ref = reference("image/png", kept_id)
    item = client.post(ITEMS, json={"datasetName": dataset["name"], "input": {"image": ref}})
    assert item.status_code == 200, item.text

    deleted = client.request("DELETE", "/api/public/traces", json={"traceIds": [trace_id, sentinel_trace]})
    assert deleted.status_code == 200, deleted.text
    wait_media_gone(client, sentinel_id)
    assert_serves(client, kept_id, kept, "image/png")
    read = client.get(f"{ITEMS}/{item.json()['id']}")
    assert read.status_code == 200, read.text
    assert [(r["jsonPath"], r["media"]["mediaId"]) for r in read.json()["mediaReferences"]] == [
        ("$['image']", kept_id)]
    assert download(read.json()["mediaReferences"][0]["media"]["url"]).content == kept


# -- project deletion ------------------------------------------------------------------------------


def _project_with_media(server: SpyglassServer) -> tuple[Any, httpx.Client, str, bytes, str]:
    keys = server.create_project(f"doomed-{uid()[:8]}")
    owner = server.client(keys)
    data = png_bytes()
    trace_id = uid()
    ingest_ok(owner, [trace_create(trace_id, input=data_uri("image/png", wav_bytes()))])
    wait_trace(owner, trace_id)
    media_id = upload(owner, data, traceId=trace_id)
    return keys, owner, media_id, data, get_media(owner, media_id)["url"]


def test_project_deletion(server: SpyglassServer, client: httpx.Client) -> None:
    keys, owner, media_id, data, url = _project_with_media(server)
    member_keys = server.add_key("member", keys.project_id)
    path = f"/api/public/projects/{keys.project_id}"
    survivor = png_bytes()
    survivor_id = upload(client, survivor)
    try:
        with server.client(member_keys) as member:
            assert_error(member.delete(path), 403, "ForbiddenError")
        # The default project's (admin) key cannot delete another project.
        assert_error(client.delete(path), 404, "LangfuseNotFoundError")
        assert_serves(owner, media_id, data, "image/png")

        response = owner.delete(path)
        assert (response.status_code, response.json()) == (202, PROJECT_DELETION_BODY)
        for auth in (keys, member_keys):
            with server.client(auth) as stale:
                assert stale.get("/api/public/projects").status_code == 401
                assert stale.get(f"{MEDIA}/{media_id}").status_code == 401
        wait_download_gone(url)
        assert_serves(client, survivor_id, survivor, "image/png")
        assert client.get("/api/public/projects").status_code == 200
    finally:
        owner.close()


@pytest.mark.parametrize("project_id", ["no-such-project", "proj-" + "0" * 8])
def test_deleting_an_unknown_project(client: httpx.Client, project_id: str) -> None:
    assert_error(client.delete(f"/api/public/projects/{project_id}"), 404, "LangfuseNotFoundError")
