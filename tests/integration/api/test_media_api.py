"""Media over HTTP: the SDK's upload flow (POST /media → PUT uploadUrl → PATCH), dedup, bad input,
other projects, the embedded signer's self-authorising URLs, dataset items' mediaReferences and
inline base64 media moved out of ingested traces (media contract; LANGFUSE_COMPAT §2.6).

The helpers at the top are shared with test_media_deletion.py."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import time
import wave
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from tests.integration.api.builders import (
    OTEL_TRACES,
    assert_error,
    get_when,
    ingest_ok,
    observation,
    trace_create,
    uid,
    wait_trace,
)
from tests.support.server import SpyglassServer, wait_until

MEDIA = "/api/public/media"
ITEMS = "/api/public/dataset-items"
MEDIA_KEYS = {"mediaId", "contentType", "contentLength", "uploadedAt", "url", "urlExpiry"}
REFERENCE_MEDIA_KEYS = {"mediaId", "contentType", "contentLength", "url", "urlExpiry"}
SCALE_OUT = os.environ.get("SPYGLASS_TEST_STACK") == "scaleout"
embedded_only = pytest.mark.skipif(
    SCALE_OUT, reason="scale-out stack: media URLs are S3 presigned URLs from moto, which verifies no signature "
                      "and no expiry; the embedded signer is what is tested here")


# -- helpers (also used by test_media_deletion.py) -------------------------------------------------


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def media_id_of(data: bytes) -> str:
    """The SDK's rule (langfuse/media.py `_get_media_id`)."""
    return sha256_b64(data).replace("+", "-").replace("/", "_")[:22]


def reference(content_type: str, media_id: str, source: str = "bytes") -> str:
    return f"@@@langfuseMedia:type={content_type}|id={media_id}|source={source}@@@"


def png_bytes() -> bytes:
    """A real 1×1 PNG, made unique by a tEXt chunk (media are deduplicated by content per project)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\x00" + uid().encode())
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def wav_bytes() -> bytes:
    """A real, unique, short 8 kHz mono WAV."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(os.urandom(64))
    return buffer.getvalue()


def data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def upload_body(data: bytes, content_type: str = "image/png", field: str = "input", **context: Any) -> dict[str, Any]:
    if not context:
        context = {"traceId": uid()}
    return {"contentType": content_type, "contentLength": len(data), "sha256Hash": sha256_b64(data),
            "field": field, **context}


def request_upload(client: httpx.Client, data: bytes, content_type: str = "image/png", field: str = "input",
                   **context: Any) -> dict[str, Any]:
    """POST /media; asserts 201, the body's keys and the SDK's media id."""
    response = client.post(MEDIA, json=upload_body(data, content_type, field, **context))
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"mediaId", "uploadUrl"}, body
    assert body["mediaId"] == media_id_of(data), body
    return body


def put_bytes(url: str, data: bytes, content_type: str = "image/png", sha256: str | None = None) -> httpx.Response:
    """PUT as the SDK's media manager does: no auth, Content-Type, x-ms-blob-type, x-amz-checksum-sha256."""
    headers = {"Content-Type": content_type, "x-ms-blob-type": "BlockBlob",
               "x-amz-checksum-sha256": sha256 or sha256_b64(data)}
    return httpx.put(url, content=data, headers=headers, timeout=30)


def patch_media(client: httpx.Client, media_id: str, status: int = 200, error: str | None = None,
                uploaded_at: str | None = None) -> httpx.Response:
    return client.patch(f"{MEDIA}/{media_id}", json={
        "uploadedAt": uploaded_at or datetime.now(tz=UTC).isoformat(), "uploadHttpStatus": status,
        "uploadHttpError": error, "uploadTimeMs": 12})


def upload(client: httpx.Client, data: bytes, content_type: str = "image/png", field: str = "input",
           **context: Any) -> str:
    """The SDK's whole flow; returns the media id."""
    body = request_upload(client, data, content_type, field, **context)
    if body["uploadUrl"] is not None:
        put = put_bytes(body["uploadUrl"], data, content_type)
        assert put.status_code == 200, put.text
        patched = patch_media(client, body["mediaId"])
        assert (patched.status_code, patched.json()) == (200, {"message": "OK"}), patched.text
    return body["mediaId"]


def get_media(client: httpx.Client, media_id: str) -> dict[str, Any]:
    response = client.get(f"{MEDIA}/{media_id}")
    assert response.status_code == 200, response.text
    return response.json()


def download(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def assert_serves(client: httpx.Client, media_id: str, data: bytes, content_type: str) -> dict[str, Any]:
    """GET /media/{id} answers with the right record and its url downloads exactly `data`."""
    media = get_media(client, media_id)
    assert set(media) == MEDIA_KEYS, media
    assert (media["mediaId"], media["contentType"], media["contentLength"]) == (media_id, content_type, len(data))
    got = download(media["url"])
    assert got.status_code == 200, got.text
    assert got.content == data
    assert got.headers["content-type"].split(";")[0].strip() == content_type
    return media


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def with_query(url: str, **changes: str | None) -> str:
    """The URL with query parameters replaced (None removes one)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in changes.items():
        assert key in query, (key, url)
        if value is None:
            del query[key]
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def flip_hex(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def otlp_generation(trace_id: str, span_id: str, **attributes: Any) -> bytes:
    """OTLP/JSON body with one generation span carrying `attributes` (values JSON-encoded unless strings)."""
    attrs = [{"key": "langfuse.observation.type", "value": {"stringValue": "generation"}}]
    attrs += [{"key": key, "value": {"stringValue": value if isinstance(value, str) else json.dumps(value)}}
              for key, value in attributes.items()]
    start = time.time_ns()
    span = {"traceId": trace_id, "spanId": span_id, "name": "vision", "kind": 1,
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1_000_000), "attributes": attrs}
    scope = {"scope": {"name": "media-test"}, "spans": [span]}
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [scope]}]}).encode()


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other(server: SpyglassServer) -> Iterator[httpx.Client]:
    with server.client(server.create_project(f"media-other-{uid()[:8]}")) as client:
        yield client


@pytest.fixture(scope="module")
def dataset(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/api/public/v2/datasets", json={"name": f"media-ds-{uid()[:10]}"})
    assert response.status_code == 200, response.text
    return response.json()


TUNED_TTL = 4
TUNED_MAX_BYTES = 1000


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SpyglassServer]:
    """A server with 4 s media URLs, a 1000-byte media limit, inline extraction off and a public URL
    (`localhost` instead of the 127.0.0.1 the tests connect to). On the scale-out stack it gets its own stack."""
    env = {"SPYGLASS_MEDIA_URL_TTL_SECONDS": str(TUNED_TTL), "SPYGLASS_MEDIA_MAX_BYTES": str(TUNED_MAX_BYTES),
           "SPYGLASS_EXTRACT_INLINE_MEDIA": "false"}
    stack = None
    if SCALE_OUT:
        from tests.support.stack import ScaleOutStack

        stack = ScaleOutStack.create(request.getfixturevalue("s3_server"))
        env.update(stack.env())
    instance = SpyglassServer(data_dir=tmp_path_factory.mktemp("media-tuned") / "data", extra_env=env)
    instance.extra_env["SPYGLASS_PUBLIC_URL"] = f"http://localhost:{instance.port}"
    instance.start()
    yield instance
    instance.stop()
    if stack is not None:
        stack.close()


@pytest.fixture(scope="module")
def tuned_client(tuned: SpyglassServer) -> Iterator[httpx.Client]:
    with tuned.client() as c:
        yield c


# -- the SDK's upload flow ----------------------------------------------------------------------------


def test_upload_flow_as_the_sdk_does_it(client: httpx.Client) -> None:
    data = png_bytes()
    trace_id, observation_id = uid(), uid()
    created = request_upload(client, data, "image/png", "input", traceId=trace_id, observationId=observation_id)
    assert len(created["mediaId"]) == 22
    assert isinstance(created["uploadUrl"], str) and created["uploadUrl"].startswith("http")

    put = put_bytes(created["uploadUrl"], data)
    assert put.status_code == 200, put.text  # 200, not 204: the SDK reports it and only 200 deduplicates

    uploaded_at = datetime.now(tz=UTC).replace(microsecond=123000)
    patched = patch_media(client, created["mediaId"], uploaded_at=uploaded_at.isoformat())
    assert (patched.status_code, patched.json()) == (200, {"message": "OK"})

    before = datetime.now(tz=UTC).timestamp()
    media = assert_serves(client, created["mediaId"], data, "image/png")
    assert parse_ts(media["uploadedAt"]) == uploaded_at
    assert media["urlExpiry"].endswith("Z"), media
    expiry = parse_ts(media["urlExpiry"]).timestamp()
    assert before + 3600 - 60 <= expiry <= datetime.now(tz=UTC).timestamp() + 3600 + 60, media


def test_media_id_uses_the_url_safe_alphabet(client: httpx.Client) -> None:
    """Bytes whose hash has `+` and `/` in its first 22 base64 characters get `-` and `_` in the id."""
    prefix = uid().encode()
    data = next(prefix + str(n).encode() for n in range(100_000)
                if {"+", "/"} <= set(sha256_b64(prefix + str(n).encode())[:22]))
    media_id = upload(client, data, "text/plain")
    assert "-" in media_id and "_" in media_id
    assert_serves(client, media_id, data, "text/plain")


def test_uploaded_bytes_are_deduplicated(client: httpx.Client, dataset: dict[str, Any]) -> None:
    data = png_bytes()
    media_id = upload(client, data, traceId=uid())
    for context in ({"traceId": uid()}, {"traceId": uid(), "observationId": uid(), "field": "output"},
                    {"datasetId": dataset["id"], "datasetItemId": uid(), "field": "expectedOutput"}):
        field = context.pop("field", "input")
        again = request_upload(client, data, "image/png", field, **context)
        assert again == {"mediaId": media_id, "uploadUrl": None}, context
    assert_serves(client, media_id, data, "image/png")


def test_same_bytes_with_another_content_type_get_an_upload_url(client: httpx.Client) -> None:
    data = png_bytes()
    media_id = upload(client, data, "image/png")
    again = request_upload(client, data, "application/octet-stream")
    assert again["mediaId"] == media_id
    assert again["uploadUrl"] is not None


def test_upload_url_until_a_200_is_reported(client: httpx.Client) -> None:
    data = png_bytes()
    first = request_upload(client, data)
    assert first["uploadUrl"] is not None
    second = request_upload(client, data)  # not uploaded yet: a fresh URL
    assert second["mediaId"] == first["mediaId"] and second["uploadUrl"] is not None
    path = f"{MEDIA}/{first['mediaId']}"
    assert_error(client.get(path), 404, "LangfuseNotFoundError")

    assert put_bytes(second["uploadUrl"], data).status_code == 200
    assert_error(client.get(path), 404, "LangfuseNotFoundError")  # bytes there, but no PATCH yet

    failed = patch_media(client, first["mediaId"], status=500, error="upstream broke")
    assert (failed.status_code, failed.json()) == (200, {"message": "OK"})
    assert_error(client.get(path), 404, "LangfuseNotFoundError")
    third = request_upload(client, data)
    assert third["uploadUrl"] is not None

    assert patch_media(client, first["mediaId"]).status_code == 200
    assert_serves(client, first["mediaId"], data, "image/png")
    assert request_upload(client, data) == {"mediaId": first["mediaId"], "uploadUrl": None}


def test_a_201_upload_is_served_but_not_deduplicated(client: httpx.Client) -> None:
    data = png_bytes()
    first = request_upload(client, data)
    assert put_bytes(first["uploadUrl"], data).status_code == 200
    assert patch_media(client, first["mediaId"], status=201).status_code == 200
    assert_serves(client, first["mediaId"], data, "image/png")
    assert request_upload(client, data)["uploadUrl"] is not None  # only exactly 200 short-circuits


def test_largest_allowed_content_length(client: httpx.Client) -> None:
    body = upload_body(png_bytes())
    body["contentLength"] = 1_000_000_000
    response = client.post(MEDIA, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["uploadUrl"] is not None


# -- bad input ---------------------------------------------------------------------------------------

DROP = object()
HASH_OF_31_BYTES = base64.b64encode(b"\x01" * 31).decode()  # 44 characters, but not a SHA-256
assert len(HASH_OF_31_BYTES) == 44


def _url_safe_hash() -> str:
    for _ in range(1000):
        value = sha256_b64(os.urandom(16))
        if "+" in value or "/" in value:
            return value.replace("+", "-").replace("/", "_")
    raise AssertionError("no hash with + or / found")


BAD_UPLOADS: list[tuple[str, Callable[[str], dict[str, Any]], tuple[str, ...]]] = [
    ("content type not allowed", lambda ds: {"contentType": "image/x-foo"},
     ("Unsupported content type: image/x-foo",)),
    ("content type missing", lambda ds: {"contentType": DROP}, ("contentType",)),
    ("content type not a string", lambda ds: {"contentType": 7}, ("content type",)),
    ("content length zero", lambda ds: {"contentLength": 0}, ("contentLength",)),
    ("content length negative", lambda ds: {"contentLength": -5}, ("contentLength",)),
    ("content length fractional", lambda ds: {"contentLength": 1.5}, ("contentLength",)),
    ("content length a string", lambda ds: {"contentLength": "10"}, ("contentLength",)),
    ("content length a boolean", lambda ds: {"contentLength": True}, ("contentLength",)),
    ("content length missing", lambda ds: {"contentLength": DROP}, ("contentLength",)),
    ("content length over the limit", lambda ds: {"contentLength": 1_000_000_001}, ("1000000000",)),
    ("hash missing", lambda ds: {"sha256Hash": DROP}, ("sha256Hash",)),
    ("hash too short", lambda ds: {"sha256Hash": "abc"}, ("sha256Hash",)),
    ("hash in hex", lambda ds: {"sha256Hash": hashlib.sha256(b"x").hexdigest()}, ("sha256Hash",)),
    ("hash without padding", lambda ds: {"sha256Hash": sha256_b64(b"x")[:43]}, ("sha256Hash",)),
    ("hash in the url-safe alphabet", lambda ds: {"sha256Hash": _url_safe_hash()}, ("sha256Hash",)),
    ("hash not base64", lambda ds: {"sha256Hash": "!" * 44}, ("sha256Hash",)),
    ("hash of 31 bytes", lambda ds: {"sha256Hash": HASH_OF_31_BYTES}, ("sha256Hash",)),
    ("field missing", lambda ds: {"field": DROP}, ("field",)),
    ("field unknown", lambda ds: {"field": "body"}, ("field",)),
    ("expectedOutput on a trace", lambda ds: {"field": "expectedOutput"}, ("field",)),
    ("output on a dataset item", lambda ds: {"field": "output", "traceId": DROP, "datasetId": ds,
                                             "datasetItemId": uid()}, ("field",)),
    ("no context", lambda ds: {"traceId": DROP}, ("traceId or datasetId+datasetItemId is required",)),
    ("null context", lambda ds: {"traceId": None, "datasetId": None, "datasetItemId": None},
     ("traceId or datasetId+datasetItemId is required",)),
    ("both contexts", lambda ds: {"datasetId": ds, "datasetItemId": uid()}, ()),
    ("dataset without item", lambda ds: {"traceId": DROP, "datasetId": ds}, ("datasetItemId",)),
    ("item without dataset", lambda ds: {"traceId": DROP, "datasetItemId": uid()}, ("datasetId",)),
    ("observation without trace", lambda ds: {"traceId": DROP, "observationId": uid()}, ("traceId",)),
    ("observation on a dataset item", lambda ds: {"traceId": DROP, "observationId": uid(), "datasetId": ds,
                                                  "datasetItemId": uid()}, ("traceId",)),
]


@pytest.mark.parametrize(("case", "change", "message_parts"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS])
def test_bad_upload_request(client: httpx.Client, dataset: dict[str, Any], case: str,
                            change: Callable[[str], dict[str, Any]], message_parts: tuple[str, ...]) -> None:
    data = png_bytes()
    body = upload_body(data)
    for key, value in change(dataset["id"]).items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    response = client.post(MEDIA, json=body)
    assert_error(response, 400, "InvalidRequestError")
    message = response.json()["message"].replace(",", "").replace("_", "")
    for part in message_parts:
        assert part in message, response.json()
    # Nothing was stored: the valid request for the same bytes is a first upload.
    assert request_upload(client, data)["uploadUrl"] is not None


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"media"', b"5", b"null", b"{not json"])
def test_upload_body_must_be_an_object(client: httpx.Client, payload: bytes) -> None:
    response = client.post(MEDIA, content=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"message", "error"}, response.text


def test_auth_is_required(server: SpyglassServer, client: httpx.Client) -> None:
    media_id = upload(client, png_bytes())
    data = png_bytes()
    body = upload_body(data)
    wrong = (server.keys.public_key, "sk-lf-wrong")
    for auth in (None, wrong):
        with httpx.Client(base_url=server.base_url, auth=auth, timeout=30) as anonymous:
            for response in (anonymous.post(MEDIA, json=body), anonymous.get(f"{MEDIA}/{media_id}"),
                             anonymous.patch(f"{MEDIA}/{media_id}", json={"uploadedAt": "2026-01-01T00:00:00Z",
                                                                          "uploadHttpStatus": 200})):
                assert response.status_code == 401, (auth, response.request.method, response.text)
                assert "message" in response.json()
    assert request_upload(client, data)["uploadUrl"] is not None


def test_another_projects_media_is_not_found(client: httpx.Client, other: httpx.Client) -> None:
    data = png_bytes()
    media_id = upload(client, data)
    assert_error(other.get(f"{MEDIA}/{media_id}"), 404, "LangfuseNotFoundError")
    assert_error(patch_media(other, media_id), 404, "LangfuseNotFoundError")
    # The other project has no such media: it is asked to upload its own copy.
    theirs = request_upload(other, data)
    assert theirs["mediaId"] == media_id and theirs["uploadUrl"] is not None
    assert_error(other.get(f"{MEDIA}/{media_id}"), 404, "LangfuseNotFoundError")
    assert_serves(client, media_id, data, "image/png")


def test_dataset_context_needs_a_dataset_of_the_project(client: httpx.Client, other: httpx.Client,
                                                        dataset: dict[str, Any]) -> None:
    data = png_bytes()
    for owner, dataset_id in ((client, f"missing-{uid()}"), (other, dataset["id"])):
        response = owner.post(MEDIA, json=upload_body(data, datasetId=dataset_id, datasetItemId=uid()))
        assert_error(response, 404, "LangfuseNotFoundError", "Dataset not found")
    # The item need not exist yet.
    created = request_upload(client, data, datasetId=dataset["id"], datasetItemId=uid())
    assert created["uploadUrl"] is not None


def test_patch_unknown_media_and_bad_bodies(client: httpx.Client) -> None:
    assert_error(patch_media(client, media_id_of(os.urandom(8))), 404, "LangfuseNotFoundError")
    data = png_bytes()
    created = request_upload(client, data)
    assert put_bytes(created["uploadUrl"], data).status_code == 200
    now = datetime.now(tz=UTC).isoformat()
    path = f"{MEDIA}/{created['mediaId']}"
    for body in ({"uploadedAt": now, "uploadHttpStatus": "ok"}, {"uploadedAt": now, "uploadHttpStatus": "200"},
                 {"uploadedAt": now, "uploadHttpStatus": 200.5}, {"uploadedAt": now},
                 {"uploadedAt": "yesterday", "uploadHttpStatus": 200}, {"uploadHttpStatus": 200}, [200]):
        response = client.patch(path, json=body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) >= {"message", "error"}
    # None of them recorded an upload.
    assert_error(client.get(path), 404, "LangfuseNotFoundError")
    assert patch_media(client, created["mediaId"]).status_code == 200
    assert_serves(client, created["mediaId"], data, "image/png")


def test_get_unknown_media(client: httpx.Client) -> None:
    assert_error(client.get(f"{MEDIA}/{media_id_of(os.urandom(8))}"), 404, "LangfuseNotFoundError")


# -- the embedded signer ------------------------------------------------------------------------------


def _uploaded_pair(client: httpx.Client) -> tuple[str, bytes, str, bytes]:
    first, second = png_bytes(), png_bytes()
    return upload(client, first), first, upload(client, second), second


@embedded_only
def test_embedded_urls_are_served_by_spyglass(server: SpyglassServer, client: httpx.Client) -> None:
    data = png_bytes()
    created = request_upload(client, data)
    prefix = f"{server.base_url}/api/public/media-blobs/{server.keys.project_id}/{created['mediaId']}.png?"
    assert created["uploadUrl"].startswith(prefix), created
    put = put_bytes(created["uploadUrl"], data)
    assert (put.status_code, put.content) == (200, b"")
    assert patch_media(client, created["mediaId"]).status_code == 200
    media = assert_serves(client, created["mediaId"], data, "image/png")
    assert media["url"].startswith(prefix), media
    assert int(query_of(media["url"])["expires"]) == pytest.approx(parse_ts(media["urlExpiry"]).timestamp(), abs=1)


UPLOAD_TAMPERING: list[tuple[str, Callable[[str, str], str]]] = [
    ("signature", lambda url, other_id: with_query(url, signature=flip_hex(query_of(url)["signature"]))),
    ("no signature", lambda url, other_id: with_query(url, signature=None)),
    ("expires", lambda url, other_id: with_query(url, expires=str(int(query_of(url)["expires"]) + 1))),
    ("content type", lambda url, other_id: with_query(url, contentType="image/jpeg")),
    ("content length", lambda url, other_id: with_query(url, contentLength=str(int(query_of(url)["contentLength"])
                                                                              + 1))),
    ("sha256", lambda url, other_id: with_query(url, sha256=sha256_b64(b"other"))),
    ("path", lambda url, other_id: url.replace(urlsplit(url).path.rsplit("/", 1)[1].split(".")[0], other_id, 1)),
]


@embedded_only
@pytest.mark.parametrize(("case", "tamper"), UPLOAD_TAMPERING, ids=[c[0] for c in UPLOAD_TAMPERING])
def test_tampered_upload_url_is_forbidden(client: httpx.Client, case: str, tamper: Callable[[str, str], str]) -> None:
    data, other_data = png_bytes(), png_bytes()
    created = request_upload(client, data)
    other_id = request_upload(client, other_data)["mediaId"]
    tampered = tamper(created["uploadUrl"], other_id)
    assert tampered != created["uploadUrl"]
    response = put_bytes(tampered, data)
    assert response.status_code == 403, response.text
    # No bytes were stored under either id (even once a 200 is reported, there is nothing to download);
    # the untouched URL still works.
    for media_id in (created["mediaId"], other_id):
        assert patch_media(client, media_id).status_code == 200
        missing = download(get_media(client, media_id)["url"])
        assert missing.status_code == 404, (media_id, missing.text)
    assert put_bytes(created["uploadUrl"], data).status_code == 200
    assert_serves(client, created["mediaId"], data, "image/png")


# Each case: (name, the body and content type sent instead, what the message must name given the signed bytes).
BAD_BODIES: list[tuple[str, Callable[[bytes], tuple[bytes, str]], Callable[[bytes], str]]] = [
    ("other bytes, same length", lambda data: (data[:-1] + bytes([data[-1] ^ 1]), "image/png"), lambda data: "sha"),
    ("one byte more", lambda data: (data + b"\x00", "image/png"), lambda data: f"{len(data)} bytes"),
    ("one byte less", lambda data: (data[:-1], "image/png"), lambda data: str(len(data))),
    ("other content type", lambda data: (data, "image/jpeg"), lambda data: "content"),
]


@embedded_only
@pytest.mark.parametrize(("case", "mutate", "named"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_upload_body_must_match_what_was_signed(client: httpx.Client, case: str,
                                                mutate: Callable[[bytes], tuple[bytes, str]],
                                                named: Callable[[bytes], str]) -> None:
    data = png_bytes()
    created = request_upload(client, data)
    body, content_type = mutate(data)
    response = httpx.put(created["uploadUrl"], content=body, timeout=30,
                         headers={"Content-Type": content_type, "x-ms-blob-type": "BlockBlob",
                                  "x-amz-checksum-sha256": sha256_b64(data)})
    assert response.status_code == 400, response.text
    assert named(data) in response.json()["message"].lower().replace("-", ""), response.text
    # The SDK reports the failure; the media is not served and may be uploaded again.
    assert patch_media(client, created["mediaId"], status=400, error=response.text).status_code == 200
    assert_error(client.get(f"{MEDIA}/{created['mediaId']}"), 404, "LangfuseNotFoundError")
    retry = request_upload(client, data)
    assert retry["uploadUrl"] is not None
    assert put_bytes(retry["uploadUrl"], data).status_code == 200
    assert patch_media(client, created["mediaId"]).status_code == 200
    assert_serves(client, created["mediaId"], data, "image/png")


DOWNLOAD_TAMPERING: list[tuple[str, Callable[[str, str], str]]] = [
    ("signature", lambda url, other_id: with_query(url, signature=flip_hex(query_of(url)["signature"]))),
    ("no signature", lambda url, other_id: with_query(url, signature=None)),
    ("expires", lambda url, other_id: with_query(url, expires=str(int(query_of(url)["expires"]) + 10))),
    ("path", lambda url, other_id: url.replace(urlsplit(url).path.rsplit("/", 1)[1].split(".")[0], other_id, 1)),
]


@embedded_only
@pytest.mark.parametrize(("case", "tamper"), DOWNLOAD_TAMPERING, ids=[c[0] for c in DOWNLOAD_TAMPERING])
def test_tampered_download_url_is_forbidden(client: httpx.Client, case: str,
                                            tamper: Callable[[str, str], str]) -> None:
    media_id, data, other_id, _ = _uploaded_pair(client)
    url = get_media(client, media_id)["url"]
    tampered = tamper(url, other_id)
    assert tampered != url
    response = download(tampered)
    assert response.status_code == 403, response.text
    assert data not in response.content
    assert download(url).content == data


@embedded_only
def test_urls_expire(tuned: SpyglassServer, tuned_client: httpx.Client) -> None:
    data, late = png_bytes(), png_bytes()
    media_id = upload(tuned_client, data)
    before = time.time()
    media = assert_serves(tuned_client, media_id, data, "image/png")
    assert before + TUNED_TTL - 2 <= parse_ts(media["urlExpiry"]).timestamp() <= time.time() + TUNED_TTL + 2
    pending = request_upload(tuned_client, late)
    expires = max(int(query_of(media["url"])["expires"]), int(query_of(pending["uploadUrl"])["expires"]))
    wait_until(lambda: time.time() > expires + 1, timeout=TUNED_TTL + 10, interval=0.2)

    put = put_bytes(pending["uploadUrl"], late)
    assert put.status_code == 403, put.text
    stale = download(media["url"])
    assert stale.status_code == 403, stale.text
    assert data not in stale.content
    # A fresh link works again.
    assert_serves(tuned_client, media_id, data, "image/png")


@embedded_only
def test_public_url_setting_is_the_base_of_media_urls(tuned: SpyglassServer, tuned_client: httpx.Client) -> None:
    data = png_bytes()
    created = request_upload(tuned_client, data)
    assert created["uploadUrl"].startswith(f"http://localhost:{tuned.port}/api/public/media-blobs/"), created
    media_id = upload(tuned_client, data)
    assert get_media(tuned_client, media_id)["url"].startswith(f"http://localhost:{tuned.port}/"), media_id


def test_size_limit_setting(tuned_client: httpx.Client) -> None:
    body = upload_body(png_bytes())
    body["contentLength"] = TUNED_MAX_BYTES + 1
    refused = tuned_client.post(MEDIA, json=body)
    assert_error(refused, 400, "InvalidRequestError")
    assert str(TUNED_MAX_BYTES) in refused.json()["message"].replace(",", "").replace("_", ""), refused.text
    body["contentLength"] = TUNED_MAX_BYTES
    response = tuned_client.post(MEDIA, json=body)
    assert response.status_code == 201, response.text


def test_inline_extraction_can_be_turned_off(tuned_client: httpx.Client) -> None:
    trace_id, inline = uid(), data_uri("image/png", png_bytes())
    ingest_ok(tuned_client, [trace_create(trace_id, input=inline)])
    assert wait_trace(tuned_client, trace_id)["input"] == inline


# -- dataset items -------------------------------------------------------------------------------------


def _strip_urls(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**ref, "media": {k: v for k, v in ref["media"].items() if k not in ("url", "urlExpiry")}}
            for ref in refs]


def _check_reference_urls(refs: list[dict[str, Any]], payloads: dict[str, bytes]) -> None:
    for ref in refs:
        assert set(ref) == {"field", "referenceString", "jsonPath", "media"}, ref
        assert set(ref["media"]) == REFERENCE_MEDIA_KEYS, ref
        assert ref["media"]["urlExpiry"].endswith("Z")
        got = download(ref["media"]["url"])
        assert got.status_code == 200, got.text
        assert got.content == payloads[ref["media"]["mediaId"]]


def test_dataset_item_media_references(client: httpx.Client, dataset: dict[str, Any]) -> None:
    image, sound = png_bytes(), wav_bytes()
    item_id = f"item-{uid()}"
    image_id = upload(client, image, "image/png", "input", datasetId=dataset["id"], datasetItemId=item_id)
    sound_id = upload(client, sound, "audio/wav", "output", traceId=uid())  # uploaded for a trace: still found
    image_ref, sound_ref = reference("image/png", image_id), reference("audio/wav", sound_id, "base64_data_uri")
    created = client.post(ITEMS, json={
        "datasetName": dataset["name"], "id": item_id,
        # Keys shortest first: the order PostgreSQL's jsonb would keep them in anyway.
        "input": {"list": ["x", image_ref], "image": image_ref, "a b c d e": {"deep": [[sound_ref]]}},
        "expectedOutput": image_ref,
        "metadata": {"7": {"k": sound_ref}, "note": f"see {image_ref}"},
    })
    assert created.status_code == 200, created.text

    image_media = {"mediaId": image_id, "contentType": "image/png", "contentLength": len(image)}
    sound_media = {"mediaId": sound_id, "contentType": "audio/wav", "contentLength": len(sound)}
    expected = [
        {"field": "input", "referenceString": image_ref, "jsonPath": "$['list'][1]", "media": image_media},
        {"field": "input", "referenceString": image_ref, "jsonPath": "$['image']", "media": image_media},
        {"field": "input", "referenceString": sound_ref, "jsonPath": "$['a b c d e']['deep'][0][0]",
         "media": sound_media},
        {"field": "expectedOutput", "referenceString": image_ref, "jsonPath": "$", "media": image_media},
        {"field": "metadata", "referenceString": sound_ref, "jsonPath": "$[7]['k']", "media": sound_media},
        {"field": "metadata", "referenceString": image_ref, "jsonPath": "$['note']", "media": image_media},
    ]
    payloads = {image_id: image, sound_id: sound}
    by_id = client.get(f"{ITEMS}/{quote(item_id, safe='')}")
    assert by_id.status_code == 200, by_id.text
    listed = client.get(ITEMS, params={"datasetName": dataset["name"], "limit": 100})
    assert listed.status_code == 200, listed.text
    legacy = client.get(f"/api/public/datasets/{quote(dataset['name'], safe='')}")
    assert legacy.status_code == 200, legacy.text
    for where, item in (("POST", created.json()), ("GET by id", by_id.json()),
                        ("GET list", next(i for i in listed.json()["data"] if i["id"] == item_id)),
                        ("legacy GET dataset", next(i for i in legacy.json()["items"] if i["id"] == item_id))):
        assert _strip_urls(item["mediaReferences"]) == expected, where
        _check_reference_urls(item["mediaReferences"], payloads)


def test_items_list_only_uploaded_media_of_their_project(client: httpx.Client, other: httpx.Client,
                                                         dataset: dict[str, Any]) -> None:
    plain = client.post(ITEMS, json={"datasetName": dataset["name"], "input": {"q": "no media"}})
    assert plain.status_code == 200, plain.text
    assert plain.json()["mediaReferences"] == []

    known, pending, foreign = png_bytes(), png_bytes(), png_bytes()
    known_id = upload(client, known)
    pending_id = request_upload(client, pending)["mediaId"]  # never uploaded
    foreign_id = upload(other, foreign)  # uploaded, but in another project
    unknown_ref = reference("image/png", media_id_of(os.urandom(8)))
    known_ref = reference("image/png", known_id)
    item = client.post(ITEMS, json={"datasetName": dataset["name"], "input": {
        "unknown": unknown_ref, "pending": reference("image/png", pending_id),
        "foreign": reference("image/png", foreign_id), "known": known_ref, "broken": "@@@langfuseMedia:type=x@@@"}})
    assert item.status_code == 200, item.text
    assert _strip_urls(item.json()["mediaReferences"]) == [
        {"field": "input", "referenceString": known_ref, "jsonPath": "$['known']",
         "media": {"mediaId": known_id, "contentType": "image/png", "contentLength": len(known)}}]
    by_id = client.get(f"{ITEMS}/{item.json()['id']}").json()
    assert _strip_urls(by_id["mediaReferences"]) == _strip_urls(item.json()["mediaReferences"])


# -- inline media extraction ----------------------------------------------------------------------------


def test_otlp_generation_with_inline_image(client: httpx.Client) -> None:
    image, blob = png_bytes(), png_bytes()
    image_id, blob_id = media_id_of(image), media_id_of(blob)
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": data_uri("image/png", image), "detail": "low"}}]}]
    output = [{"role": "assistant", "parts": [
        {"type": "text", "content": "Another picture:"},
        {"type": "blob", "modality": "image", "mime_type": "image/png",
         "content": base64.b64encode(blob).decode()}], "finish_reason": "stop"}]
    trace_id, span_id = uid(), uid()[:16]
    response = client.post(OTEL_TRACES, content=otlp_generation(trace_id, span_id, **{
        "langfuse.observation.input": messages, "langfuse.observation.output": output}),
        headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (200, {})

    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    generation = trace["observations"][0]
    assert (generation["id"], generation["type"]) == (span_id, "GENERATION")
    assert generation["input"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": reference("image/png", image_id, "base64_data_uri"),
                                            "detail": "low"}}]}]
    assert generation["output"] == [{"role": "assistant", "parts": [
        {"type": "text", "content": "Another picture:"},
        {"type": "blob", "modality": "image", "mime_type": "image/png",
         "content": reference("image/png", blob_id, "base64_data_uri")}], "finish_reason": "stop"}]
    observation_read = client.get(f"/api/public/observations/{span_id}").json()
    assert (observation_read["input"], observation_read["output"]) == (generation["input"], generation["output"])
    assert_serves(client, image_id, image, "image/png")
    assert_serves(client, blob_id, blob, "image/png")


def test_batch_trace_with_inline_media(client: httpx.Client) -> None:
    sound, picture, doc = wav_bytes(), png_bytes(), b"%PDF-1.4 " + uid().encode()
    trace_id = uid()
    ingest_ok(client, [trace_create(trace_id, input=data_uri("audio/wav", sound),
                                    output={"pictures": [data_uri("image/png", picture)]},
                                    metadata={"attachment": data_uri("application/pdf", doc)})])
    trace = wait_trace(client, trace_id)
    assert trace["input"] == reference("audio/wav", media_id_of(sound), "base64_data_uri")
    assert trace["output"] == {"pictures": [reference("image/png", media_id_of(picture), "base64_data_uri")]}
    assert trace["metadata"]["attachment"] == reference("application/pdf", media_id_of(doc), "base64_data_uri")
    assert_serves(client, media_id_of(sound), sound, "audio/wav")
    assert_serves(client, media_id_of(picture), picture, "image/png")
    assert_serves(client, media_id_of(doc), doc, "application/pdf")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Each case: (name, content type, bytes factory, shape given the base64 data, shape given the reference).
SHAPES: list[tuple[str, str, Callable[[], bytes], Callable[[str], Any], Callable[[str], Any]]] = [
    ("data uri with parameters", "image/png", png_bytes,
     lambda d: f"data:image/png;name=cat.png;base64,{d}", lambda r: r),
    ("anthropic", "image/png", png_bytes,
     lambda d: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": d}},
     lambda r: {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": r}}),
    ("vertex", "image/png", png_bytes,
     lambda d: {"type": "media", "mime_type": "image/png", "data": d},
     lambda r: {"type": "media", "mime_type": "image/png", "data": r}),
    ("gemini snake case", "image/png", png_bytes,
     lambda d: {"inline_data": {"mime_type": "image/png", "data": d}},
     lambda r: {"inline_data": {"mime_type": "image/png", "data": r}}),
    ("gemini camel case", "image/png", png_bytes,
     lambda d: {"inlineData": {"mimeType": "image/png", "data": d}},
     lambda r: {"inlineData": {"mimeType": "image/png", "data": r}}),
    ("openai input_audio wav", "audio/wav", wav_bytes,
     lambda d: {"type": "input_audio", "input_audio": {"data": d, "format": "wav"}},
     lambda r: {"type": "input_audio", "input_audio": {"data": r, "format": "wav"}}),
    ("openai input_audio mp3", "audio/mpeg", lambda: b"ID3" + os.urandom(32),
     lambda d: {"type": "input_audio", "input_audio": {"data": d, "format": "mp3"}},
     lambda r: {"type": "input_audio", "input_audio": {"data": r, "format": "mp3"}}),
    ("genai blob", "image/png", png_bytes,
     lambda d: {"type": "blob", "mime_type": "image/png", "content": d},
     lambda r: {"type": "blob", "mime_type": "image/png", "content": r}),
]


@pytest.mark.parametrize(("case", "content_type", "make", "shape", "replaced"), SHAPES, ids=[s[0] for s in SHAPES])
def test_inline_media_shapes(client: httpx.Client, case: str, content_type: str, make: Callable[[], bytes],
                             shape: Callable[[str], Any], replaced: Callable[[str], Any]) -> None:
    data = make()
    media_id = media_id_of(data)
    trace_id, obs_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id), observation(
        "generation-create", obs_id, trace_id, input=[{"role": "user", "content": [shape(_b64(data))]}],
        output={"kept": "text"}, metadata={"media": shape(_b64(data))})])
    generation = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)["observations"][0]
    ref = reference(content_type, media_id, "base64_data_uri")
    assert generation["input"] == [{"role": "user", "content": [replaced(ref)]}]
    assert generation["output"] == {"kept": "text"}
    assert generation["metadata"]["media"] == replaced(ref)
    assert_serves(client, media_id, data, content_type)


def test_inline_data_that_is_not_allowed_media_stays(client: httpx.Client) -> None:
    kept = {
        "disallowed type": data_uri("image/x-foo", png_bytes()),
        "not base64": "data:image/png;base64,@@not*base64@@",
        "not marked base64": "data:text/plain,hello%20world",
        "inside text": f"look: {data_uri('image/png', png_bytes())}",
        "anthropic disallowed": {"type": "base64", "media_type": "image/x-foo", "data": _b64(png_bytes())},
        "gemini bad data": {"inline_data": {"mime_type": "image/png", "data": "***"}},
        "audio unknown format": {"type": "input_audio", "input_audio": {"data": _b64(wav_bytes()), "format": "xyz"}},
    }
    trace_id = uid()
    ingest_ok(client, [trace_create(trace_id, input=kept)])
    assert wait_trace(client, trace_id)["input"] == kept


def test_inline_media_already_uploaded_is_reused(client: httpx.Client) -> None:
    data = png_bytes()
    media_id = upload(client, data)
    trace_id = uid()
    ingest_ok(client, [trace_create(trace_id, output=data_uri("image/png", data))])
    assert wait_trace(client, trace_id)["output"] == reference("image/png", media_id, "base64_data_uri")
    assert_serves(client, media_id, data, "image/png")


def test_inline_media_is_per_project(client: httpx.Client, other: httpx.Client) -> None:
    data = png_bytes()
    trace_id = uid()
    ingest_ok(client, [trace_create(trace_id, input=data_uri("image/png", data))])
    wait_trace(client, trace_id)
    get_when(client, f"{MEDIA}/{media_id_of(data)}")
    assert_error(other.get(f"{MEDIA}/{media_id_of(data)}"), 404, "LangfuseNotFoundError")
