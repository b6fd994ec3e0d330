"""Multi-modal media through the real `langfuse` Python SDK (4.x and 5.x), read back the way a user would.

The SDK swaps every `LangfuseMedia` (and every base64 data URI it recognises) for a reference string
`@@@langfuseMedia:type=<mime>|id=<mediaId>|source=<bytes|file|base64_data_uri>@@@`, then uploads the
bytes itself: POST /api/public/media (201 `{mediaId, uploadUrl|null}`), PUT to the self-authorising
`uploadUrl` (embedded blob store, or a presigned S3 URL on the scale-out stack), PATCH
/api/public/media/{id} with the PUT's status. Users get the bytes back through GET
/api/public/media/{id} and its download `url` (which is what `resolve_media_references` does) and,
for dataset items, through the `mediaReferences` that `get_dataset` hydrates into
`LangfuseMediaReference` objects. The media calls are the same in both SDK majors.

The SDK's HTTP traffic is recorded (a custom httpx client) to show which upload steps it took.
Every test uses its own bytes (a unique tag inside each file): the server is shared by the module
and media are deduplicated per project by content hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from langfuse import Langfuse, LangfuseMedia, LangfuseMediaReference

ReadTrace = Callable[..., dict[str, Any]]

MEDIA_KEYS = {"mediaId", "contentType", "contentLength", "uploadedAt", "url", "urlExpiry"}
REFERENCE_MEDIA_KEYS = {"mediaId", "contentType", "contentLength", "url", "urlExpiry"}
# The SDK stamps uploadedAt with its own clock; server and test share the machine.
CLOCK_SLACK = timedelta(seconds=5)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------------------------
# Small, valid media files (a tag inside each makes the bytes unique to the test)


def png_bytes(tag: str) -> bytes:
    """A 1x1 RGB PNG whose pixel colour and tEXt comment come from `tag`."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixel = hashlib.sha256(tag.encode()).digest()[:3]
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\x00" + tag.encode())
            + chunk(b"IDAT", zlib.compress(b"\x00" + pixel))
            + chunk(b"IEND", b""))


def wav_bytes(tag: str) -> bytes:
    """A mono 16-bit 8 kHz PCM WAV whose samples come from `tag`."""
    seed = hashlib.sha256(tag.encode()).digest()
    samples = b"".join(struct.pack("<h", (byte - 128) * 64) for byte in seed * 8)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pdf_bytes(tag: str) -> bytes:
    """A one-page PDF (correct xref offsets) that prints `tag`."""
    stream = f"BT /F1 12 Tf 20 50 Td ({tag}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def csv_bytes(tag: str) -> bytes:
    return f"id,label\n1,{tag}\n2,other\n".encode()


def media_id(content: bytes) -> str:
    """The media id both sides derive: URL-safe base64 of the SHA-256, first 22 characters."""
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    return digest.replace("+", "-").replace("/", "_")[:22]


def reference(content_type: str, content: bytes, source: str) -> str:
    return f"@@@langfuseMedia:type={content_type}|id={media_id(content)}|source={source}@@@"


def data_uri(content_type: str, content: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(content).decode()}"


# --------------------------------------------------------------------------------------------
# The SDK's HTTP traffic


@dataclass
class Call:
    method: str
    url: httpx.URL
    status: int
    request_json: Any
    response_json: Any


class Recorder:
    """An httpx client for the SDK that records every request it makes (bodies decoded where JSON)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.client = httpx.Client(timeout=30, event_hooks={"response": [self._record]})

    def _record(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        call = Call(request.method, request.url, response.status_code, _json(request.content), _json(response.content))
        with self._lock:
            self.calls.append(call)

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, mark: int = 0) -> list[Call]:
        with self._lock:
            return list(self.calls[mark:])

    def media_posts(self, mark: int = 0) -> list[Call]:
        return [c for c in self.since(mark) if c.method == "POST" and c.url.path == "/api/public/media"]

    def media_patches(self, mark: int = 0) -> list[Call]:
        return [c for c in self.since(mark) if c.method == "PATCH" and c.url.path.startswith("/api/public/media/")]

    def puts(self, mark: int = 0) -> list[Call]:
        return [c for c in self.since(mark) if c.method == "PUT"]


def _json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recording = Recorder()
    yield recording
    recording.client.close()


@pytest.fixture
def sdk(recorder: Recorder, make_langfuse: Callable[..., Langfuse]) -> Langfuse:
    """An SDK client whose non-tracing HTTP (API calls, media uploads) goes through `recorder`.

    `recorder` comes first so its httpx client is closed only after make_langfuse shut the SDK down.
    One upload thread (the default, made explicit): uploads run in the order the SDK queued them.
    """
    return make_langfuse(httpx_client=recorder.client, media_upload_thread_count=1)


def assert_uploaded(recorder: Recorder, expected: dict[str, bytes], mark: int = 0) -> None:
    """Each media in `expected` (id → bytes) was asked for once, PUT once (200) and PATCHed once (200)."""
    posts = recorder.media_posts(mark)
    assert [c.status for c in posts] == [201] * len(expected), [(c.status, c.response_json) for c in posts]
    assert sorted(c.response_json["mediaId"] for c in posts) == sorted(expected), posts
    for call in posts:
        assert set(call.response_json) == {"mediaId", "uploadUrl"}, call
        assert isinstance(call.response_json["uploadUrl"], str) and call.response_json["uploadUrl"], call
    puts = recorder.puts(mark)
    assert [c.status for c in puts] == [200] * len(expected), puts
    assert sorted(str(c.url) for c in puts) == sorted(c.response_json["uploadUrl"] for c in posts)
    patches = recorder.media_patches(mark)
    assert sorted(c.url.path.rsplit("/", 1)[1] for c in patches) == sorted(expected), patches
    for call in patches:
        assert (call.status, call.response_json) == (200, {"message": "OK"}), call
        assert call.request_json["uploadHttpStatus"] == 200, call


def assert_media(http: httpx.Client, content_type: str, content: bytes, started: datetime) -> dict[str, Any]:
    """GET /api/public/media/{id} describes the upload, and its `url` (no auth) serves the exact bytes."""
    identifier = media_id(content)
    response = http.get(f"/api/public/media/{identifier}")
    assert response.status_code == 200, f"GET /api/public/media/{identifier}: {response.status_code} {response.text}"
    body = response.json()
    assert set(body) == MEDIA_KEYS, body
    assert (body["mediaId"], body["contentType"], body["contentLength"]) == (identifier, content_type, len(content))
    assert started - CLOCK_SLACK <= parse_time(body["uploadedAt"]) <= datetime.now(UTC) + CLOCK_SLACK, body
    assert body["urlExpiry"].endswith("Z"), body
    assert parse_time(body["urlExpiry"]) > datetime.now(UTC) + timedelta(minutes=5), body
    assert_download(body["url"], content_type, content)
    return body


def assert_download(url: str, content_type: str, content: bytes) -> None:
    download = httpx.get(url, timeout=30)  # the URL authorises itself: no Basic auth
    assert download.status_code == 200, f"GET {url}: {download.status_code} {download.text[:500]}"
    assert download.content == content
    assert download.headers["content-type"] == content_type


# --------------------------------------------------------------------------------------------
# 1. LangfuseMedia objects (bytes and file) in a span's input, output and metadata


def test_media_objects_in_span_round_trip(sdk: Langfuse, recorder: Recorder, http: httpx.Client,
                                          read_trace: ReadTrace, tmp_path: Path) -> None:
    tag = unique("span-media")
    png, pdf, csv = png_bytes(tag), pdf_bytes(tag), csv_bytes(tag)
    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(pdf)
    image = LangfuseMedia(content_bytes=png, content_type="image/png")
    report = LangfuseMedia(file_path=str(pdf_path), content_type="application/pdf")
    table = LangfuseMedia(content_bytes=csv, content_type="text/csv")
    # The test's own expectation of the reference strings agrees with the SDK's.
    assert image._reference_string == reference("image/png", png, "bytes")
    assert report._reference_string == reference("application/pdf", pdf, "file")
    assert table._reference_string == reference("text/csv", csv, "bytes")

    started = datetime.now(UTC)
    with sdk.start_as_current_observation(name="describe-image",
                                          input={"question": "what is in the picture?", "image": image}) as span:
        span.update(output={"answer": "one pixel", "report": report}, metadata={"context": {"nested": table}})
        trace_id, span_id = span.trace_id, span.id
    sdk.flush()

    assert_uploaded(recorder, {media_id(png): png, media_id(pdf): pdf, media_id(csv): csv})
    for call in recorder.media_posts():
        assert (call.request_json["traceId"], call.request_json["observationId"]) == (trace_id, span_id), call

    observation = read_trace(trace_id, observations=1)["observations"][0]
    assert observation["id"] == span_id
    assert observation["input"] == {"question": "what is in the picture?", "image": image._reference_string}
    assert observation["output"] == {"answer": "one pixel", "report": report._reference_string}
    assert observation["metadata"]["context"] == {"nested": table._reference_string}

    image_record = assert_media(http, "image/png", png, started)
    assert_media(http, "application/pdf", pdf, started)
    assert_media(http, "text/csv", csv, started)

    # The SDK's typed read of the same record.
    typed = sdk.api.media.get(media_id(png))
    assert (typed.media_id, typed.content_type, typed.content_length) == (media_id(png), "image/png", len(png))
    assert typed.uploaded_at == parse_time(image_record["uploadedAt"])

    resolved_input = LangfuseMedia.resolve_media_references(obj=observation["input"], langfuse_client=sdk,
                                                            resolve_with="base64_data_uri")
    assert resolved_input == {"question": "what is in the picture?", "image": data_uri("image/png", png)}
    resolved_output = LangfuseMedia.resolve_media_references(obj=observation["output"], langfuse_client=sdk,
                                                             resolve_with="base64_data_uri")
    prefix = "data:application/pdf;base64,"
    assert resolved_output["report"].startswith(prefix), resolved_output
    assert base64.b64decode(resolved_output["report"][len(prefix):]) == pdf
    resolved_metadata = sdk.resolve_media_references(obj=observation["metadata"]["context"],
                                                     resolve_with="base64_data_uri")
    assert resolved_metadata == {"nested": data_uri("text/csv", csv)}


# --------------------------------------------------------------------------------------------
# 2. Base64 data URIs (and an Anthropic base64 block) found by the SDK in plain input


def test_base64_data_uri_uploaded_and_resolvable(sdk: Langfuse, recorder: Recorder, http: httpx.Client,
                                                 read_trace: ReadTrace) -> None:
    tag = unique("data-uri")
    wav, png = wav_bytes(tag), png_bytes(tag)
    audio_uri = data_uri("audio/wav", wav)
    image_b64 = base64.b64encode(png).decode()
    audio_ref = reference("audio/wav", wav, "base64_data_uri")
    image_ref = reference("image/png", png, "base64_data_uri")

    started = datetime.now(UTC)
    with sdk.start_as_current_observation(name="transcribe", as_type="generation", model="gpt-4o-audio-preview",
                                          input={"prompt": "transcribe this", "audio": audio_uri,
                                                 "image": {"type": "base64", "media_type": "image/png",
                                                           "data": image_b64}}) as generation:
        generation.update(output="beep", metadata={"context": {"nested": audio_uri}})
        trace_id = generation.trace_id
    sdk.flush()

    # The SDK uploaded both; the audio appears twice but its second request finds it uploaded already.
    posts = recorder.media_posts()
    assert [c.status for c in posts] == [201] * 3, [(c.status, c.response_json) for c in posts]
    assert sorted(c.response_json["mediaId"] for c in posts) == sorted([media_id(wav), media_id(wav), media_id(png)])
    assert [c.response_json["uploadUrl"] is None for c in posts] == [False, False, True], posts
    assert [c.status for c in recorder.puts()] == [200, 200]
    assert sorted(c.url.path.rsplit("/", 1)[1] for c in recorder.media_patches()) == sorted([media_id(wav),
                                                                                            media_id(png)])

    observation = read_trace(trace_id, observations=1)["observations"][0]
    assert observation["input"] == {"prompt": "transcribe this", "audio": audio_ref,
                                    "image": {"type": "base64", "media_type": "image/png", "data": image_ref}}
    assert observation["metadata"]["context"] == {"nested": audio_ref}
    assert observation["output"] == "beep"

    assert_media(http, "audio/wav", wav, started)
    assert_media(http, "image/png", png, started)
    resolved = LangfuseMedia.resolve_media_references(obj=observation["input"], langfuse_client=sdk,
                                                      resolve_with="base64_data_uri")
    assert resolved == {"prompt": "transcribe this", "audio": audio_uri,
                        "image": {"type": "base64", "media_type": "image/png", "data": data_uri("image/png", png)}}
    resolved_metadata = LangfuseMedia.resolve_media_references(obj=observation["metadata"], langfuse_client=sdk,
                                                               resolve_with="base64_data_uri")
    assert resolved_metadata["context"] == {"nested": audio_uri}


# --------------------------------------------------------------------------------------------
# 3. The same bytes in two traces: one media, uploaded once


def test_same_bytes_in_two_traces_upload_once(sdk: Langfuse, recorder: Recorder, http: httpx.Client,
                                              read_trace: ReadTrace) -> None:
    tag = unique("dedup")
    png = png_bytes(tag)
    started = datetime.now(UTC)

    with sdk.start_as_current_observation(name="first",
                                          input={"image": LangfuseMedia(content_bytes=png,
                                                                        content_type="image/png")}) as span:
        first_trace = span.trace_id
    sdk.flush()
    assert_uploaded(recorder, {media_id(png): png})
    before = assert_media(http, "image/png", png, started)

    mark = recorder.mark()
    with sdk.start_as_current_observation(name="second",
                                          input={"image": LangfuseMedia(content_bytes=png,
                                                                        content_type="image/png")}) as span:
        second_trace = span.trace_id
    sdk.flush()

    # The server reused the record and answered uploadUrl null, so the SDK neither PUT nor PATCHed.
    posts = recorder.media_posts(mark)
    assert [(c.status, c.response_json) for c in posts] == [(201, {"mediaId": media_id(png), "uploadUrl": None})]
    assert posts[0].request_json["traceId"] == second_trace
    assert recorder.puts(mark) == [] and recorder.media_patches(mark) == []

    expected_ref = reference("image/png", png, "bytes")
    assert read_trace(first_trace, observations=1)["observations"][0]["input"] == {"image": expected_ref}
    assert read_trace(second_trace, observations=1)["observations"][0]["input"] == {"image": expected_ref}
    after = assert_media(http, "image/png", png, started)
    assert after["uploadedAt"] == before["uploadedAt"]
    assert (after["contentType"], after["contentLength"]) == ("image/png", len(png))
    resolved = LangfuseMedia.resolve_media_references(obj={"image": expected_ref}, langfuse_client=sdk,
                                                      resolve_with="base64_data_uri")
    assert resolved == {"image": data_uri("image/png", png)}


# --------------------------------------------------------------------------------------------
# 4. Dataset items with media: stored as references, hydrated by get_dataset


def test_dataset_item_media(sdk: Langfuse, recorder: Recorder, http: httpx.Client, tmp_path: Path) -> None:
    tag = unique("dataset-media")
    png, wav, pdf, csv, cover = png_bytes(tag), wav_bytes(tag), pdf_bytes(tag), csv_bytes(tag), png_bytes(tag + "-2")
    pdf_path = tmp_path / "page.pdf"
    pdf_path.write_bytes(pdf)
    image = LangfuseMedia(content_bytes=png, content_type="image/png")
    page = LangfuseMedia(file_path=str(pdf_path), content_type="application/pdf")
    audio = LangfuseMedia(content_bytes=wav, content_type="audio/wav")
    table = LangfuseMedia(content_bytes=csv, content_type="text/csv")
    whole = LangfuseMedia(content_bytes=cover, content_type="image/png")
    refs = {name: media._reference_string for name, media in
            {"image": image, "page": page, "audio": audio, "table": table, "whole": whole}.items()}

    name = f"media/{unique('ds')}"
    dataset_id = sdk.create_dataset(name=name).id
    started = datetime.now(UTC)
    item = sdk.create_dataset_item(dataset_name=name, input={"question": "what is shown?", "image": image,
                                                             "pages": [page]},
                                   expected_output={"audio": audio}, metadata={"source": table})
    # The item is written with reference strings in place of the media.
    assert item.input == {"question": "what is shown?", "image": refs["image"], "pages": [refs["page"]]}
    assert item.expected_output == {"audio": refs["audio"]}
    assert item.metadata == {"source": refs["table"]}
    assert_uploaded(recorder, {media_id(png): png, media_id(pdf): pdf, media_id(wav): wav, media_id(csv): csv})
    contexts = {c.response_json["mediaId"]: (c.request_json["datasetId"], c.request_json["datasetItemId"],
                                             c.request_json["field"]) for c in recorder.media_posts()}
    assert contexts == {media_id(png): (dataset_id, item.id, "input"), media_id(pdf): (dataset_id, item.id, "input"),
                        media_id(wav): (dataset_id, item.id, "expectedOutput"),
                        media_id(csv): (dataset_id, item.id, "metadata")}
    root = sdk.create_dataset_item(dataset_name=name, input="describe the cover", expected_output=whole)
    assert root.expected_output == refs["whole"]

    items = sdk.get_dataset(name).items
    assert [i.id for i in items] == [root.id, item.id]  # newest first
    hydrated = items[1]
    assert hydrated.input["question"] == "what is shown?"
    expected = [
        (hydrated.input["image"], "image/png", png, refs["image"]),
        (hydrated.input["pages"][0], "application/pdf", pdf, refs["page"]),
        (hydrated.expected_output["audio"], "audio/wav", wav, refs["audio"]),
        (hydrated.metadata["source"], "text/csv", csv, refs["table"]),
        (items[0].expected_output, "image/png", cover, refs["whole"]),
    ]
    for value, content_type, content, reference_string in expected:
        assert isinstance(value, LangfuseMediaReference), (reference_string, value)
        assert (value.media_id, value.content_type, value.content_length) == (media_id(content), content_type,
                                                                              len(content))
        assert value.reference_string == reference_string
        assert not value.is_url_expired()
        assert value.fetch_bytes() == content
    assert items[0].input == "describe the cover"
    assert hydrated.input["image"].fetch_data_uri() == data_uri("image/png", png)

    # The raw item: one reference per media string, in field and document order, with jsonpath-plus paths.
    raw = http.get(f"/api/public/dataset-items/{item.id}")
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert body["input"] == {"question": "what is shown?", "image": refs["image"], "pages": [refs["page"]]}
    assert body["expectedOutput"] == {"audio": refs["audio"]}
    assert body["metadata"] == {"source": refs["table"]}
    references = body["mediaReferences"]
    assert [(r["field"], r["jsonPath"], r["referenceString"]) for r in references] == [
        ("input", "$['image']", refs["image"]),
        ("input", "$['pages'][0]", refs["page"]),
        ("expectedOutput", "$['audio']", refs["audio"]),
        ("metadata", "$['source']", refs["table"]),
    ]
    contents = [(png, "image/png"), (pdf, "application/pdf"), (wav, "audio/wav"), (csv, "text/csv")]
    for reference_json, (content, content_type) in zip(references, contents, strict=True):
        assert set(reference_json) == {"field", "referenceString", "jsonPath", "media"}, reference_json
        media = reference_json["media"]
        assert set(media) == REFERENCE_MEDIA_KEYS, media
        assert (media["mediaId"], media["contentType"], media["contentLength"]) == (media_id(content), content_type,
                                                                                    len(content))
        assert parse_time(media["urlExpiry"]) > datetime.now(UTC) + timedelta(minutes=5), media
        assert_download(media["url"], content_type, content)
        assert_media(http, content_type, content, started)

    root_raw = http.get(f"/api/public/dataset-items/{root.id}").json()
    assert [(r["field"], r["jsonPath"], r["referenceString"]) for r in root_raw["mediaReferences"]] == [
        ("expectedOutput", "$", refs["whole"])]

    # The list endpoint carries the same references.
    listed = http.get("/api/public/dataset-items", params={"datasetName": name})
    assert listed.status_code == 200, listed.text
    by_id = {i["id"]: i for i in listed.json()["data"]}
    assert [(r["field"], r["jsonPath"]) for r in by_id[item.id]["mediaReferences"]] == [
        ("input", "$['image']"), ("input", "$['pages'][0]"), ("expectedOutput", "$['audio']"),
        ("metadata", "$['source']")]
    assert [(r["field"], r["jsonPath"]) for r in by_id[root.id]["mediaReferences"]] == [("expectedOutput", "$")]
