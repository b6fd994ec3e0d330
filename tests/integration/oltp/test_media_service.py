"""MediaService against a real OLTP store (SQLite file; PostgreSQL when reachable) and a real blob
directory: the upload handshake, the embedded blob routes' checks, links, inline media, deletion
and a race between uploads and trace deletions from two "processes" (media-contract.md)."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import sqlalchemy as sa
from tests.integration.oltp.conftest import OTHER, PROJECT

from spyglass.auth.signed_urls import UrlSigner
from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Forbidden, InvalidInput, NotFound
from spyglass.domain.media import InlineMedia, InlineUse, Media
from spyglass.services.datasets import DatasetService
from spyglass.services.media import MediaService
from spyglass.services.media_links import BLOB_ROUTE, SignedLinks, UploadGrant
from spyglass.storage.blob.local import LocalBlobStore
from spyglass.storage.oltp.store import OltpStore

SCOPE = ProjectScope(project_id=PROJECT, public_key="pk-lf-a")
OTHER_SCOPE = ProjectScope(project_id=OTHER, public_key="pk-lf-b")
BASE = "http://testserver/"
MAX_BYTES = 10_000_000
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
UPLOADED_AT = "2026-11-27T10:00:00.000Z"
SAME_LENGTH = PNG[:-1] + b"\x00"  # other bytes, as many


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def media_id(data: bytes) -> str:
    return sha256_b64(data).replace("+", "-").replace("/", "_")[:22]


def request_body(data: bytes = PNG, *, trace_id: str | None = "trace-1", observation_id: str | None = None,
                 field: str = "input", content_type: str = "image/png", **context: str) -> dict[str, Any]:
    body: dict[str, Any] = {"contentType": content_type, "contentLength": len(data), "sha256Hash": sha256_b64(data),
                            "field": field}
    if trace_id is not None:
        body["traceId"] = trace_id
    if observation_id is not None:
        body["observationId"] = observation_id
    return {**body, **context}


def result_body(status: int, error: str | None = None) -> dict[str, Any]:
    return {"uploadedAt": UPLOADED_AT, "uploadHttpStatus": status, "uploadHttpError": error, "uploadTimeMs": 12}


def split(url: str) -> tuple[str, dict[str, str]]:
    """(tail, query) as the blob route receives them."""
    parts = urlsplit(url)
    assert BLOB_ROUTE in parts.path, url
    return unquote(parts.path.split(BLOB_ROUTE, 1)[1]), dict(parse_qsl(parts.query, keep_blank_values=True))


def put(service: MediaService, url: str, data: bytes, content_type: str = "image/png") -> UploadGrant:
    """What the embedded PUT route does with an upload URL and a body."""
    tail, query = split(url)
    grant = service.accept_upload(tail, query, content_type)
    service.store_upload(grant, io.BytesIO(data))
    return grant


def key_of(data: bytes, project_id: str = PROJECT, ext: str = "png") -> str:
    return f"media/{project_id}/{media_id(data)}.{ext}"


def find(store: OltpStore, mid: str, project_id: str = PROJECT) -> Media | None:
    with store.session() as uow:
        return uow.media.find(project_id, mid)


def trace_links(store: OltpStore, mid: str, project_id: str = PROJECT) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT trace_id, observation_id, field FROM trace_media "
                                    "WHERE project_id = :p AND media_id = :m"), {"p": project_id, "m": mid})
        return sorted((r[0], r[1], r[2]) for r in rows)


def item_links(store: OltpStore, mid: str, project_id: str = PROJECT) -> list[tuple[str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT dataset_id, dataset_item_id, field FROM dataset_item_media "
                                    "WHERE project_id = :p AND media_id = :m"), {"p": project_id, "m": mid})
        return sorted((r[0], r[1], r[2]) for r in rows)


def count(store: OltpStore, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def not_found(call, *args) -> str:  # noqa: ANN001
    with pytest.raises(NotFound) as excinfo:
        call(*args)
    return excinfo.value.message


def invalid(call, *args) -> str:  # noqa: ANN001
    with pytest.raises(InvalidInput) as excinfo:
        call(*args)
    return excinfo.value.message


def make_service(store: OltpStore, blobs: LocalBlobStore) -> MediaService:
    links = SignedLinks(UrlSigner(b"k"), 3600)
    return MediaService(store, blobs, links, max_bytes=MAX_BYTES, signed=links)


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def service(store: OltpStore, blobs: LocalBlobStore) -> MediaService:
    return make_service(store, blobs)


@pytest.fixture
def datasets(store: OltpStore) -> DatasetService:
    def needs_olap(*_args: object, **_kwargs: object) -> Any:
        raise AssertionError("not used by these tests")

    return DatasetService(store, needs_olap, needs_olap)


def upload(service: MediaService, data: bytes = PNG, scope: ProjectScope = SCOPE, **body: Any) -> str:
    """The SDK's whole flow: request a URL, PUT the bytes, report 200. Returns the media id."""
    mid, url = service.request_upload(scope, request_body(data, **body), BASE)
    if url is not None:
        put(service, url, data, body.get("content_type", "image/png"))
        service.record_upload(scope, mid, result_body(200))
    return mid


# -- the handshake ---------------------------------------------------------------------------------------


def test_request_upload_creates_the_row_and_the_trace_link_and_returns_a_url(service, store, blobs):
    mid, url = service.request_upload(SCOPE, request_body(field="input"), BASE)
    assert mid == media_id(PNG)
    assert len(mid) == 22
    assert url is not None
    assert url.startswith(f"http://testserver/api/public/media-blobs/{PROJECT}/{mid}.png?")
    tail, query = split(url)
    assert tail == f"{PROJECT}/{mid}.png"
    assert {k: v for k, v in query.items() if k not in ("expires", "signature")} == {
        "contentType": "image/png", "contentLength": str(len(PNG)), "sha256": sha256_b64(PNG)}
    media = find(store, mid)
    assert media is not None
    assert (media.id, media.project_id, media.sha256_hash, media.content_type, media.content_length,
            media.object_key) == (mid, PROJECT, sha256_b64(PNG), "image/png", len(PNG), key_of(PNG))
    assert (media.uploaded_at, media.upload_http_status, media.upload_http_error, media.upload_time_ms) == (
        None, None, None, None)
    assert trace_links(store, mid) == [("trace-1", "", "input")]
    assert item_links(store, mid) == []
    assert blobs.list_prefix("") == []  # nothing uploaded yet
    assert not_found(service.get, SCOPE, mid, BASE) == "Media not yet uploaded"


def test_observation_links_and_every_trace_field(service, store):
    mid, _ = service.request_upload(SCOPE, request_body(observation_id="obs-1", field="output"), BASE)
    service.request_upload(SCOPE, request_body(field="metadata"), BASE)
    service.request_upload(SCOPE, request_body(field="metadata"), BASE)  # recorded once
    assert trace_links(store, mid) == [("trace-1", "", "metadata"), ("trace-1", "obs-1", "output")]
    assert count(store, "media") == 1


def test_after_a_200_upload_another_request_gets_no_url_but_is_linked(service, store, blobs):
    mid, url = service.request_upload(SCOPE, request_body(trace_id="trace-1"), BASE)
    assert url is not None
    put(service, url, PNG)
    assert service.record_upload(SCOPE, mid, result_body(200)) is None
    assert service.request_upload(SCOPE, request_body(trace_id="trace-2", field="output"), BASE) == (mid, None)
    assert trace_links(store, mid) == [("trace-1", "", "input"), ("trace-2", "", "output")]
    media = find(store, mid)
    assert media is not None
    assert (media.uploaded_at, media.upload_http_status, media.upload_http_error, media.upload_time_ms) == (
        datetime(2026, 11, 27, 10, 0, tzinfo=UTC), 200, None, 12)
    view = service.get(SCOPE, mid, BASE)
    assert view.media == media
    assert view.url.startswith(f"http://testserver/api/public/media-blobs/{PROJECT}/{mid}.png?expires=")
    assert blobs.get(key_of(PNG)) == PNG


def test_a_failed_upload_is_not_readable_and_a_new_request_gets_a_url(service, store):
    mid, first = service.request_upload(SCOPE, request_body(), BASE)
    assert first is not None
    service.record_upload(SCOPE, mid, result_body(500, "Internal Server Error"))
    assert not_found(service.get, SCOPE, mid, BASE) == "Media upload failed with status 500"
    media = find(store, mid)
    assert media is not None
    assert (media.upload_http_status, media.upload_http_error) == (500, "Internal Server Error")
    again, url = service.request_upload(SCOPE, request_body(trace_id="trace-2"), BASE)
    assert again == mid
    assert url is not None
    assert split(url)[0] == f"{PROJECT}/{mid}.png"
    put(service, url, PNG)
    service.record_upload(SCOPE, mid, result_body(200))
    assert service.get(SCOPE, mid, BASE).media.upload_http_status == 200
    assert count(store, "media") == 1


def test_only_200_skips_the_upload_though_201_is_readable(service):
    mid, url = service.request_upload(SCOPE, request_body(), BASE)
    put(service, url, PNG)
    service.record_upload(SCOPE, mid, result_body(201))
    assert service.get(SCOPE, mid, BASE).media.upload_http_status == 201
    again, url = service.request_upload(SCOPE, request_body(trace_id="trace-2"), BASE)
    assert again == mid
    assert url is not None


def test_record_upload_of_an_unknown_id_is_not_found(service, store):
    assert not_found(service.record_upload, SCOPE, "nope" * 5 + "xx", result_body(200)) == "Media not found"
    assert count(store, "media") == 0


def test_invalid_requests_store_nothing(service, store):
    too_big = {**request_body(), "contentLength": MAX_BYTES + 1}
    assert invalid(service.request_upload, SCOPE, too_big, BASE) == (
        f"contentLength {MAX_BYTES + 1} exceeds the limit of {MAX_BYTES} bytes")
    assert invalid(service.request_upload, SCOPE, request_body(content_type="image/x-foo"), BASE) == (
        "Unsupported content type: image/x-foo")
    assert invalid(service.request_upload, SCOPE, request_body(trace_id=None), BASE) == (
        "traceId or datasetId+datasetItemId is required")
    assert count(store, "media") == 0
    assert count(store, "trace_media") == 0
    mid, _ = service.request_upload(SCOPE, request_body(), BASE)
    assert invalid(service.record_upload, SCOPE, mid, {**result_body(200), "uploadHttpStatus": "200"}) == (
        "uploadHttpStatus must be an HTTP status code (100 to 599), got '200'")
    assert find(store, mid).upload_http_status is None


def test_another_projects_media_is_not_found(service, store):
    mid = upload(service)
    assert not_found(service.get, OTHER_SCOPE, mid, BASE) == "Media not found"
    assert not_found(service.record_upload, OTHER_SCOPE, mid, result_body(500)) == "Media not found"
    assert find(store, mid).upload_http_status == 200  # untouched by the other project's PATCH
    assert service.get(SCOPE, mid, BASE).media.id == mid


def test_the_same_bytes_in_two_projects_are_two_media(service, store, blobs):
    mine = upload(service)
    theirs, url = service.request_upload(OTHER_SCOPE, request_body(trace_id="trace-1"), BASE)
    assert theirs == mine
    assert url is not None  # uploaded in PROJECT, not in OTHER
    assert split(url)[0] == f"{OTHER}/{mine}.png"
    put(service, url, PNG)
    service.record_upload(OTHER_SCOPE, theirs, result_body(200))
    assert blobs.list_prefix("media/") == sorted([key_of(PNG), key_of(PNG, OTHER)])
    assert service.forget_traces(OTHER, ["trace-1"]) == 1
    assert not_found(service.get, OTHER_SCOPE, mine, BASE) == "Media not found"
    assert service.get(SCOPE, mine, BASE).media.object_key == key_of(PNG)
    assert blobs.list_prefix("media/") == [key_of(PNG)]


def test_a_new_content_type_for_the_same_bytes_replaces_the_upload(service, store, blobs):
    mid = upload(service)
    again, url = service.request_upload(SCOPE, request_body(trace_id="trace-2", content_type="image/jpeg"), BASE)
    assert again == mid
    assert url is not None
    assert split(url)[0] == f"{PROJECT}/{mid}.jpg"
    media = find(store, mid)
    assert (media.content_type, media.object_key, media.upload_http_status) == (
        "image/jpeg", key_of(PNG, ext="jpg"), None)
    assert blobs.list_prefix("media/") == []  # the .png went with the old upload
    assert not_found(service.get, SCOPE, mid, BASE) == "Media not yet uploaded"
    put(service, url, PNG, "image/jpeg")
    service.record_upload(SCOPE, mid, result_body(200))
    assert service.get(SCOPE, mid, BASE).media.content_type == "image/jpeg"
    assert blobs.list_prefix("media/") == [key_of(PNG, ext="jpg")]


# -- the embedded blob routes ---------------------------------------------------------------------------


@pytest.fixture
def issued(service: MediaService) -> tuple[str, str]:
    """(media id, upload URL) for PNG on trace-1."""
    mid, url = service.request_upload(SCOPE, request_body(), BASE)
    assert url is not None
    return mid, url


def test_accept_upload_checks_the_content_type(service, issued):
    _, url = issued
    tail, query = split(url)
    for sent in ("image/jpeg", None, "", "image/pngx", "text/plain; image/png"):
        assert invalid(service.accept_upload, tail, query, sent) == (
            f"Content-Type {sent!r} does not match the 'image/png' this URL was issued for")
    grant = UploadGrant(key_of(PNG), "image/png", len(PNG), sha256_b64(PNG))
    for sent in ("image/png", "IMAGE/PNG", " image/png ; charset=binary"):
        assert service.accept_upload(tail, query, sent) == grant


def test_accept_upload_rejects_tampered_and_foreign_urls(service, store, blobs, issued):
    _, url = issued
    tail, query = split(url)
    for changed in ({**query, "contentLength": str(len(PNG) + 1)}, {**query, "sha256": sha256_b64(b"other")},
                    {**query, "expires": str(int(query["expires"]) + 1)}, {**query, "signature": "0" * 64}):
        with pytest.raises(Forbidden, match="^The signature of this URL does not match"):
            service.accept_upload(tail, changed, "image/png")
    with pytest.raises(Forbidden, match="^The signature of this URL does not match"):
        service.accept_upload(f"{OTHER}/{tail.split('/')[1]}", query, "image/png")
    foreign = SignedLinks(UrlSigner(b"another secret"), 3600)
    elsewhere = MediaService(store, blobs, foreign, max_bytes=MAX_BYTES, signed=foreign)
    with pytest.raises(Forbidden, match="^The signature of this URL does not match"):
        elsewhere.accept_upload(tail, query, "image/png")


@pytest.mark.parametrize("body, message", [
    (PNG[:-1], f"The body has {len(PNG) - 1} bytes; this URL was issued for {len(PNG)}"),
    (PNG + b"\x00", f"The body has {len(PNG) + 1} bytes; this URL was issued for {len(PNG)}"),
    (b"", f"The body has 0 bytes; this URL was issued for {len(PNG)}"),
    (SAME_LENGTH, f"The body's SHA-256 {sha256_b64(SAME_LENGTH)} does not match the {sha256_b64(PNG)} "
                  f"this URL was issued for"),
], ids=["short", "long", "empty", "other-bytes"])
def test_store_upload_of_other_bytes_stores_nothing(service, blobs, issued, body, message):
    mid, url = issued
    tail, query = split(url)
    grant = service.accept_upload(tail, query, "image/png")
    assert invalid(service.store_upload, grant, io.BytesIO(body)) == message
    assert blobs.list_prefix("") == []
    with pytest.raises(KeyError):
        blobs.get(key_of(PNG))
    assert [p for p in blobs.root.rglob("*") if p.is_file()] == []  # no temp file either


def test_store_upload_of_the_granted_bytes_stores_them(service, blobs, issued):
    mid, url = issued
    grant = put(service, url, PNG)
    assert grant == UploadGrant(key_of(PNG), "image/png", len(PNG), sha256_b64(PNG))
    assert blobs.get(key_of(PNG)) == PNG
    assert blobs.list_prefix("") == [key_of(PNG)]
    put(service, url, PNG)  # the SDK retries a PUT: the same URL works again
    assert blobs.list_prefix("") == [key_of(PNG)]


def test_store_upload_of_a_large_body_streams_it(store, blobs, tmp_path):
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 5)
    service = make_service(store, blobs)
    mid, url = service.request_upload(SCOPE, request_body(data, content_type="video/mp4"), BASE)
    put(service, url, data, "video/mp4")
    service.record_upload(SCOPE, mid, result_body(200))
    assert blobs.get(key_of(data, ext="mp4")) == data
    download = service.open_download(*split(service.get(SCOPE, mid, BASE).url))
    with download.stream as stream:
        assert stream.read() == data
    assert (download.content_type, download.content_length) == ("video/mp4", len(data))


def test_open_download_returns_the_bytes_and_content_type(service, blobs):
    mid = upload(service)
    view = service.get(SCOPE, mid, BASE)
    tail, query = split(view.url)
    assert tail == f"{PROJECT}/{mid}.png"
    assert set(query) == {"expires", "signature"}
    assert view.url_expiry == datetime.fromtimestamp(int(query["expires"]), tz=UTC)
    download = service.open_download(tail, query)
    with download.stream as stream:
        assert stream.read() == PNG
    assert (download.content_type, download.content_length) == ("image/png", len(PNG))


def test_open_download_refuses_upload_urls_and_tampered_ones(service, issued):
    mid, url = issued
    with pytest.raises(Forbidden, match="^The signature of this URL does not match"):
        service.open_download(*split(url))
    put(service, url, PNG)
    service.record_upload(SCOPE, mid, result_body(200))
    tail, query = split(service.get(SCOPE, mid, BASE).url)
    with pytest.raises(Forbidden, match="^The signature of this URL does not match"):
        service.open_download(tail, {**query, "expires": str(int(query["expires"]) + 60)})
    with pytest.raises(Forbidden, match="^The signature of this URL does not match"):
        service.accept_upload(tail, query, "image/png")


def test_open_download_of_deleted_media_or_bytes_is_not_found(service, blobs):
    mid = upload(service)
    tail, query = split(service.get(SCOPE, mid, BASE).url)
    blobs.delete(key_of(PNG))
    assert not_found(service.open_download, tail, query) == "Media not found"
    blobs.put(key_of(PNG), PNG)
    assert service.open_download(tail, query).content_length == len(PNG)
    assert service.forget_traces(PROJECT, ["trace-1"]) == 1
    assert not_found(service.open_download, tail, query) == "Media not found"


def test_a_download_url_for_a_replaced_key_is_not_found(service, blobs):
    mid = upload(service)
    tail, query = split(service.get(SCOPE, mid, BASE).url)  # for the .png
    _, url = service.request_upload(SCOPE, request_body(trace_id="trace-2", content_type="image/jpeg"), BASE)
    put(service, url, PNG, "image/jpeg")
    service.record_upload(SCOPE, mid, result_body(200))
    blobs.put(key_of(PNG), PNG)  # even if the old bytes were still there
    assert not_found(service.open_download, tail, query) == "Media not found"


def test_blob_routes_are_not_served_with_s3(store, blobs):
    links = SignedLinks(UrlSigner(b"k"), 3600)
    service = MediaService(store, blobs, links, max_bytes=MAX_BYTES, signed=None)
    message = "Media bytes are served by the object store, not by this server"
    mid, url = service.request_upload(SCOPE, request_body(), BASE)
    assert not_found(service.accept_upload, *split(url), "image/png") == message
    assert not_found(service.open_download, *split(links.download_url(key_of(PNG), "image/png", BASE)[0])) == message


# -- dataset items ---------------------------------------------------------------------------------------


def test_a_dataset_context_needs_an_existing_dataset(service, store, datasets):
    body = request_body(trace_id=None, field="expectedOutput", datasetId="no-such-dataset", datasetItemId="item-1")
    assert not_found(service.request_upload, SCOPE, body, BASE) == "Dataset not found"
    assert count(store, "media") == 0
    assert count(store, "dataset_item_media") == 0
    dataset = datasets.upsert_dataset(SCOPE, {"name": "images"})
    # Another project's dataset id is not found either.
    other = datasets.upsert_dataset(OTHER_SCOPE, {"name": "theirs"})
    body = request_body(trace_id=None, field="expectedOutput", datasetId=other.id, datasetItemId="item-1")
    assert not_found(service.request_upload, SCOPE, body, BASE) == "Dataset not found"
    assert count(store, "media") == 0
    body = request_body(trace_id=None, field="expectedOutput", datasetId=dataset.id, datasetItemId="item-1")
    mid, url = service.request_upload(SCOPE, body, BASE)
    assert url is not None
    assert item_links(store, mid) == [(dataset.id, "item-1", "expectedOutput")]
    assert trace_links(store, mid) == []


def test_media_in_a_dataset_item_survives_deleting_the_trace_it_came_with(service, store, blobs, datasets):
    mid = upload(service, trace_id="trace-1")
    dataset = datasets.upsert_dataset(SCOPE, {"name": "images"})
    reference = f"@@@langfuseMedia:type=image/png|id={mid}|source=bytes@@@"
    item = datasets.upsert_item(SCOPE, {"datasetName": "images", "id": "item-1",
                                        "input": {"question": "what is this?", "image": reference}})
    assert item.id == "item-1"
    assert item_links(store, mid) == [(dataset.id, "item-1", "input")]
    assert service.forget_traces(PROJECT, ["trace-1"]) == 0
    assert trace_links(store, mid) == []
    assert service.get(SCOPE, mid, BASE).media.id == mid
    assert blobs.get(key_of(PNG)) == PNG
    references = service.item_references(SCOPE, [item], BASE)
    assert [(r.field, r.found.json_path, r.found.reference.text, r.view.media.id)
            for r in references["item-1"]] == [("input", "$['image']", reference, mid)]


def test_an_item_referring_to_unknown_media_records_no_link(service, store, datasets):
    datasets.upsert_dataset(SCOPE, {"name": "images"})
    reference = "@@@langfuseMedia:type=image/png|id=AAAAAAAAAAAAAAAAAAAAAA|source=bytes@@@"
    datasets.upsert_item(SCOPE, {"datasetName": "images", "id": "item-1", "metadata": {"image": reference}})
    assert count(store, "dataset_item_media") == 0
    assert count(store, "media") == 0


# -- inline media ------------------------------------------------------------------------------------------


def inline(data: bytes, content_type: str = "image/png", trace_id: str = "trace-1", observation_id: str | None = None,
           field: str = "input") -> InlineUse:
    return InlineUse(trace_id, observation_id, field, InlineMedia(content_type, data))


def test_store_inline_stores_readable_media_and_links_it(service, store, blobs):
    audio = b"RIFF" + bytes(range(200))
    service.store_inline(PROJECT, [inline(PNG), inline(PNG, observation_id="obs-1", field="output"),
                                   inline(audio, "audio/wav", field="metadata")])
    png_id, wav_id = media_id(PNG), media_id(audio)
    png = service.get(SCOPE, png_id, BASE).media
    assert (png.content_type, png.content_length, png.sha256_hash, png.object_key, png.upload_http_status,
            png.upload_http_error, png.upload_time_ms) == ("image/png", len(PNG), sha256_b64(PNG), key_of(PNG), 200,
                                                           None, 0)
    assert service.get(SCOPE, wav_id, BASE).media.object_key == key_of(audio, ext="wav")
    assert blobs.get(key_of(PNG)) == PNG
    assert blobs.get(key_of(audio, ext="wav")) == audio
    assert trace_links(store, png_id) == [("trace-1", "", "input"), ("trace-1", "obs-1", "output")]
    assert trace_links(store, wav_id) == [("trace-1", "", "metadata")]
    download = service.open_download(*split(service.get(SCOPE, wav_id, BASE).url))
    with download.stream as stream:
        assert (stream.read(), download.content_type) == (audio, "audio/wav")


def test_store_inline_is_idempotent(service, store, blobs):
    uses = [inline(PNG), inline(PNG, trace_id="trace-2")]
    service.store_inline(PROJECT, uses)
    first = find(store, media_id(PNG))
    service.store_inline(PROJECT, uses)
    assert find(store, media_id(PNG)) == first  # not re-uploaded
    assert count(store, "media") == 1
    assert trace_links(store, media_id(PNG)) == [("trace-1", "", "input"), ("trace-2", "", "input")]
    assert blobs.list_prefix("") == [key_of(PNG)]
    service.store_inline(PROJECT, [])
    assert count(store, "trace_media") == 2


def test_store_inline_completes_a_pending_upload_and_then_requests_need_none(service, store, blobs):
    mid, url = service.request_upload(SCOPE, request_body(trace_id="trace-1"), BASE)
    assert url is not None
    service.store_inline(PROJECT, [inline(PNG, trace_id="trace-2")])
    assert service.get(SCOPE, mid, BASE).media.upload_http_status == 200
    assert blobs.get(key_of(PNG)) == PNG
    assert service.request_upload(SCOPE, request_body(trace_id="trace-3"), BASE) == (mid, None)
    assert [link[0] for link in trace_links(store, mid)] == ["trace-1", "trace-2", "trace-3"]


def test_store_inline_under_a_new_content_type_leaves_no_orphan_bytes(service, store, blobs):
    # Like a request_upload with a new content type: the row moves to the new key, the old bytes go.
    service.store_inline(PROJECT, [inline(PNG, trace_id="trace-1")])
    service.store_inline(PROJECT, [inline(PNG, "image/jpeg", trace_id="trace-2")])
    media = service.get(SCOPE, media_id(PNG), BASE).media
    assert (media.content_type, media.object_key) == ("image/jpeg", key_of(PNG, ext="jpg"))
    assert blobs.list_prefix("media/") == [key_of(PNG, ext="jpg")]
    assert service.forget_traces(PROJECT, ["trace-1", "trace-2"]) == 1
    assert blobs.list_prefix("media/") == []


# -- deletion ------------------------------------------------------------------------------------------------


def test_media_lives_until_the_last_linking_trace_is_forgotten(service, store, blobs):
    mid = upload(service, trace_id="trace-1")
    assert upload(service, trace_id="trace-2", observation_id="obs-2", field="output") == mid
    assert service.forget_traces(PROJECT, ["trace-1"]) == 0
    assert trace_links(store, mid) == [("trace-2", "obs-2", "output")]
    assert service.get(SCOPE, mid, BASE).media.id == mid
    assert blobs.get(key_of(PNG)) == PNG
    assert service.forget_traces(PROJECT, ["unknown-trace"]) == 0
    assert service.forget_traces(PROJECT, []) == 0
    assert service.forget_traces(PROJECT, ["trace-2"]) == 1
    assert not_found(service.get, SCOPE, mid, BASE) == "Media not found"
    assert find(store, mid) is None
    assert trace_links(store, mid) == []
    with pytest.raises(KeyError):
        blobs.get(key_of(PNG))
    assert blobs.list_prefix("") == []
    assert service.forget_traces(PROJECT, ["trace-2"]) == 0  # replayed deletion


def test_forget_traces_of_another_project_keeps_ours(service, store):
    mid = upload(service, trace_id="trace-1")
    assert service.forget_traces(OTHER, ["trace-1"]) == 0
    assert trace_links(store, mid) == [("trace-1", "", "input")]
    assert service.get(SCOPE, mid, BASE).media.id == mid


def test_forget_traces_deletes_every_unlinked_media_of_those_traces(service, store, blobs):
    one, two, kept = PNG, b"GIF89a" + bytes(100), b"kept"
    a = upload(service, one, trace_id="trace-1")
    b = upload(service, two, trace_id="trace-2", content_type="image/gif")
    c = upload(service, kept, trace_id="trace-1")
    upload(service, kept, trace_id="trace-3")
    assert service.forget_traces(PROJECT, ["trace-1", "trace-2"]) == 2
    assert find(store, a) is None and find(store, b) is None
    assert find(store, c) is not None
    assert blobs.list_prefix("") == [key_of(kept)]


def test_a_pending_upload_whose_trace_is_forgotten_is_deleted(service, store):
    mid, url = service.request_upload(SCOPE, request_body(), BASE)
    assert service.forget_traces(PROJECT, ["trace-1"]) == 1
    assert find(store, mid) is None
    assert not_found(service.record_upload, SCOPE, mid, result_body(200)) == "Media not found"


def test_an_upload_arriving_after_its_trace_was_deleted_is_not_kept(service, store, blobs):
    mid, url = service.request_upload(SCOPE, request_body(), BASE)
    assert service.forget_traces(PROJECT, ["trace-1"]) == 1

    assert not_found(put, service, url, PNG) == "Media not found: it was deleted after this URL was issued"
    assert blobs.list_prefix("media/") == []
    assert find(store, mid) is None


def test_a_media_relinked_after_deletion_is_created_afresh(service, store, blobs):
    mid = upload(service, trace_id="trace-1")
    assert service.forget_traces(PROJECT, ["trace-1"]) == 1
    again, url = service.request_upload(SCOPE, request_body(trace_id="trace-2"), BASE)
    assert again == mid
    assert url is not None  # the bytes are gone: they must be uploaded again
    assert not_found(service.get, SCOPE, mid, BASE) == "Media not yet uploaded"
    put(service, url, PNG)
    service.record_upload(SCOPE, mid, result_body(200))
    assert blobs.get(key_of(PNG)) == PNG


def test_purge_project_removes_only_that_projects_media_blobs(service, blobs):
    upload(service)
    upload(service, b"second file", content_type="text/plain")
    upload(service, scope=OTHER_SCOPE)
    blobs.put("media/project-a-2/x.png", b"similar prefix")  # another project whose id starts alike
    blobs.put("ingest/project-a/batch.json", b"{}")
    assert service.purge_project(PROJECT) == 2
    assert blobs.list_prefix("") == ["ingest/project-a/batch.json", "media/project-a-2/x.png", key_of(PNG, OTHER)]
    assert service.purge_project(PROJECT) == 0
    assert service.get(OTHER_SCOPE, media_id(PNG), BASE).media.project_id == OTHER


# -- races ---------------------------------------------------------------------------------------------------


def locked_check(store: OltpStore, blobs: LocalBlobStore, mid: str) -> str | None:
    """Under the media lock (no change to this id can run): a readable row must have its bytes."""
    with store.session() as uow:
        uow.media.lock(PROJECT, [mid])
        media = uow.media.find(PROJECT, mid)
        if media is None or not media.readable:
            return None
        try:
            if blobs.get(media.object_key) != PNG:
                return f"{media.object_key} holds other bytes"
        except KeyError:
            return f"readable media {mid} (status {media.upload_http_status}) without {media.object_key}"
    return None


def test_uploads_racing_trace_deletions_never_leave_readable_media_without_bytes(database_url, store, blobs):
    """8 threads over two stores on separate engines (two processes) upload the same bytes for a new
    trace each and forget their previous trace, so the media is deleted and created again while others
    request, upload and report it. A thread that holds a link and saw its upload reported must be able
    to read the media; under the media lock, readable media always has its bytes."""
    other_store = OltpStore.open(database_url, migrate=False)
    stores = [store, other_store]
    services = [make_service(s, blobs) for s in stores]
    threads_count, per_thread = 8, 7
    mid = media_id(PNG)
    barrier = threading.Barrier(threads_count + 1)
    done = threading.Event()
    lock = threading.Lock()
    errors: list[str] = []
    deleted: list[int] = []
    uploads: list[bool] = []

    def work(index: int) -> None:
        service = services[index % 2]
        rng = random.Random(index)
        previous: str | None = None
        try:
            barrier.wait()
            for n in range(per_thread):
                if previous is not None:
                    removed = service.forget_traces(PROJECT, [previous])
                    with lock:
                        deleted.append(removed)
                    if rng.random() < 0.5:
                        done.wait(rng.uniform(0, 0.01))
                trace = f"trace-{index}-{n}"
                got, url = service.request_upload(SCOPE, request_body(trace_id=trace), BASE)
                assert got == mid
                if url is not None:
                    put(service, url, PNG)
                    service.record_upload(SCOPE, mid, result_body(200))
                with lock:
                    uploads.append(url is not None)
                # Our link keeps the media: it must be readable, with its bytes.
                download = service.open_download(*split(service.get(SCOPE, mid, BASE).url))
                with download.stream as stream:
                    assert stream.read() == PNG
                previous = trace
            removed = service.forget_traces(PROJECT, [previous]) if previous is not None else 0
            with lock:
                deleted.append(removed)
        except BaseException as error:  # noqa: BLE001 - reported below
            with lock:
                errors.append(f"thread {index}: {type(error).__name__}: {error}")

    def check() -> None:
        barrier.wait()
        checks = 0
        while not done.is_set() or checks == 0:
            try:
                problem = locked_check(stores[checks % 2], blobs, mid)
            except BaseException as error:  # noqa: BLE001 - reported below
                problem = f"checker: {type(error).__name__}: {error}"
            if problem is not None:
                with lock:
                    errors.append(problem)
            checks += 1

    try:
        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
        checker = threading.Thread(target=check)
        for thread in [*workers, checker]:
            thread.start()
        for thread in workers:
            thread.join(timeout=240)
        done.set()
        checker.join(timeout=60)
        assert not any(thread.is_alive() for thread in [*workers, checker])
    finally:
        other_store.close()

    assert errors == []
    assert len(uploads) == threads_count * per_thread
    assert uploads.count(True) >= 1
    # Every trace was forgotten in the end: nothing may be left, neither rows nor bytes nor temp files.
    assert count(store, "trace_media") == 0
    assert find(store, mid) is None
    assert not_found(services[0].get, SCOPE, mid, BASE) == "Media not found"
    assert blobs.list_prefix("") == []
    assert [p for p in blobs.root.rglob("*") if p.is_file()] == []
    assert sum(deleted) >= 1
