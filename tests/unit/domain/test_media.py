"""Media rules: ids, upload requests and results, reference strings, inline media (LANGFUSE_COMPAT §2.6).

Where the SDK computes the same thing (ids, hashes, reference strings, JSON paths) the SDK is the oracle.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from langfuse._utils.json_path import parse_path, set_value_at_path
from langfuse.media import LangfuseMedia

from spyglass.domain.errors import InvalidInput
from spyglass.domain.media import (
    CONTENT_TYPES,
    DATASET_ITEM_FIELDS,
    REFERENCE_PATTERN,
    TRACE_FIELDS,
    FoundReference,
    InlineMedia,
    Media,
    MediaReference,
    UploadRequest,
    extension_of,
    extract_inline_media,
    find_references,
    media_id_of,
    might_hold_inline_media,
    object_key,
    parse_reference,
    parse_upload_request,
    parse_upload_result,
    sha256_base64,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
PNG_B64 = base64.b64encode(PNG).decode()
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(100, 140))
WAV_B64 = base64.b64encode(WAV).decode()
# sha256(b"media-36") in base64 is "/7m5pExu+qNDwB/1l8Ek…": both characters the id rule rewrites.
PLUS_SLASH = b"media-36"
HASH = sha256_base64(PLUS_SLASH)


def sdk_reference(content_type: str, data: bytes) -> str:
    uri = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
    reference = LangfuseMedia(base64_data_uri=uri)._reference_string
    assert reference is not None
    return reference


PNG_REF = sdk_reference("image/png", PNG)
WAV_REF = sdk_reference("audio/wav", WAV)


# -- ids and keys -------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"hello", PLUS_SLASH, bytes(range(256)), b"\x00" * 10_000, PNG])
def test_hash_id_and_reference_agree_with_the_sdk(data: bytes) -> None:
    sdk = LangfuseMedia(content_bytes=data, content_type="image/png")

    assert sha256_base64(data) == sdk._content_sha256_hash
    assert media_id_of(sha256_base64(data)) == sdk._media_id
    assert MediaReference("image/png", media_id_of(sha256_base64(data)), "bytes").text == sdk._reference_string


def test_media_id_rewrites_plus_and_slash_and_keeps_22_characters() -> None:
    assert sha256_base64(PLUS_SLASH) == "/7m5pExu+qNDwB/1l8EkMZWMt4YKQ9VdPoZhtyV6hMU="
    assert media_id_of(sha256_base64(PLUS_SLASH)) == "_7m5pExu-qNDwB_1l8EkMZ"


def test_the_allow_list_is_the_documented_one() -> None:
    assert len(CONTENT_TYPES) == 52
    assert {"image/png", "audio/mp3", "video/x-matroska", "application/vnd.apache.parquet",
            "application/x-7z-compressed", "text/x-typescript"} <= CONTENT_TYPES
    assert "image/x-foo" not in CONTENT_TYPES
    assert TRACE_FIELDS == ("input", "output", "metadata")
    assert DATASET_ITEM_FIELDS == ("input", "expectedOutput", "metadata")


@pytest.mark.parametrize(("content_type", "extension"), [
    ("image/png", "png"), ("image/jpeg", "jpg"), ("image/jpg", "jpg"), ("image/svg+xml", "svg"),
    ("audio/mpeg", "mp3"), ("audio/mp3", "mp3"), ("audio/wav", "wav"), ("text/plain", "txt"),
    ("text/markdown", "md"), ("text/x-python", "py"), ("application/javascript", "js"),
    ("text/x-typescript", "ts"), ("application/x-yaml", "yaml"), ("application/msword", "doc"),
    ("application/vnd.ms-excel", "xls"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
    ("application/x-ndjson", "ndjson"), ("application/vnd.apache.parquet", "parquet"),
    ("application/gzip", "gz"), ("application/x-tar", "tar"), ("application/x-7z-compressed", "7z"),
    ("application/octet-stream", "bin"), ("video/quicktime", "mov"), ("video/x-msvideo", "avi"),
    ("video/x-matroska", "mkv"), ("application/pdf", "pdf"), ("video/mp4", "mp4"), ("text/csv", "csv"),
])
def test_extension_of(content_type: str, extension: str) -> None:
    assert extension_of(content_type) == extension


def test_every_allowed_type_has_a_plain_extension() -> None:
    for content_type in CONTENT_TYPES:
        assert extension_of(content_type).isalnum(), content_type


def test_extension_of_a_type_outside_the_allow_list_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Unsupported content type: image/x-foo"):
        extension_of("image/x-foo")


def test_object_key() -> None:
    assert object_key("proj-1", "_7m5pExu-qNDwB_1l8EkMZ", "image/jpeg") == "media/proj-1/_7m5pExu-qNDwB_1l8EkMZ.jpg"


def test_new_media_is_not_readable_until_its_upload_succeeded() -> None:
    media = Media.new("p", "_7m5pExu-qNDwB_1l8EkMZ", HASH, "image/png", 8, "media/p/_7m5pExu-qNDwB_1l8EkMZ.png")

    assert (media.id, media.project_id, media.sha256_hash, media.content_type, media.content_length,
            media.object_key) == ("_7m5pExu-qNDwB_1l8EkMZ", "p", HASH, "image/png", 8,
                                  "media/p/_7m5pExu-qNDwB_1l8EkMZ.png")
    assert media.created_at.tzinfo is UTC
    assert (media.uploaded_at, media.upload_http_status, media.upload_http_error, media.upload_time_ms) == \
        (None, None, None, None)
    assert not media.readable
    assert [replace(media, upload_http_status=status).readable for status in (200, 201, 204, 403)] == \
        [True, True, False, False]


# -- upload requests ----------------------------------------------------------------------

def request_body(**overrides: Any) -> dict[str, Any]:
    body = {"contentType": "image/png", "contentLength": 8, "sha256Hash": HASH, "field": "input",
            "traceId": "t1"}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def test_trace_context() -> None:
    request = parse_upload_request(request_body(datasetId=None, datasetItemId=None), max_bytes=1000)

    assert request == UploadRequest(content_type="image/png", content_length=8, sha256_hash=HASH,
                                    media_id="_7m5pExu-qNDwB_1l8EkMZ", field="input", trace_id="t1",
                                    observation_id=None, dataset_id=None, dataset_item_id=None)
    assert not request.for_dataset_item


def test_observation_context() -> None:
    request = parse_upload_request(request_body(observationId="o1", field="metadata"), max_bytes=1000)

    assert (request.trace_id, request.observation_id, request.field) == ("t1", "o1", "metadata")
    assert not request.for_dataset_item


def test_dataset_item_context() -> None:
    body = request_body(traceId=None, observationId=None, datasetId="d1", datasetItemId="i1", field="expectedOutput")

    request = parse_upload_request(body, max_bytes=1000)

    assert (request.dataset_id, request.dataset_item_id, request.trace_id, request.field) == \
        ("d1", "i1", None, "expectedOutput")
    assert request.for_dataset_item


def test_content_length_at_the_limit_is_accepted() -> None:
    assert parse_upload_request(request_body(contentLength=1000), max_bytes=1000).content_length == 1000


@pytest.mark.parametrize(("body", "message"), [
    ([], "Request body must be a JSON object"),
    ("x", "Request body must be a JSON object"),
    (request_body(contentType=...), "contentType is required"),
    (request_body(contentType="image/x-foo"), "Unsupported content type: image/x-foo"),
    (request_body(contentType="IMAGE/PNG"), "Unsupported content type: IMAGE/PNG"),
    (request_body(contentType=["image/png"]), "Unsupported content type: ['image/png']"),
    (request_body(contentLength=...), "contentLength must be a positive integer, got None"),
    (request_body(contentLength=0), "contentLength must be a positive integer, got 0"),
    (request_body(contentLength=-5), "contentLength must be a positive integer, got -5"),
    (request_body(contentLength=1.0), "contentLength must be a positive integer, got 1.0"),
    (request_body(contentLength="8"), "contentLength must be a positive integer, got '8'"),
    (request_body(contentLength=True), "contentLength must be a positive integer, got True"),
    (request_body(contentLength=2000), "contentLength 2000 exceeds the limit of 1000 bytes"),
    (request_body(sha256Hash=...), "sha256Hash must be the standard base64 encoding of a 32-byte SHA-256 "
                                   "digest (44 characters), got None"),
    (request_body(sha256Hash="abc"), "got 'abc'"),
    (request_body(sha256Hash=HASH.replace("+", "-").replace("/", "_")), "sha256Hash must be the standard base64"),
    (request_body(sha256Hash=HASH[:-1]), "sha256Hash must be the standard base64"),
    (request_body(sha256Hash=HASH[:-1] + "A"), "sha256Hash must be the standard base64"),
    (request_body(sha256Hash=base64.b64encode(bytes(33)).decode()), "sha256Hash must be the standard base64"),
    (request_body(sha256Hash=HASH[:42] + "V="), "sha256Hash must be the standard base64"),  # non-canonical bits
    (request_body(field=...), "field must be one of input, output, metadata for a trace, got None"),
    (request_body(field="expectedOutput"),
     "field must be one of input, output, metadata for a trace, got 'expectedOutput'"),
    (request_body(traceId=None, datasetId="d1", datasetItemId="i1", field="output"),
     "field must be one of input, expectedOutput, metadata for a dataset item, got 'output'"),
    (request_body(traceId=...), "traceId or datasetId+datasetItemId is required"),
    (request_body(traceId=None, datasetId=None), "traceId or datasetId+datasetItemId is required"),
    (request_body(datasetId="d1", datasetItemId="i1"), "Give either traceId or datasetId+datasetItemId, not both"),
    (request_body(traceId=None, datasetId="d1"), "datasetId requires datasetItemId"),
    (request_body(traceId=None, datasetItemId="i1"), "datasetItemId requires datasetId"),
    (request_body(traceId=None, observationId="o1"), "observationId requires traceId"),
    (request_body(traceId=""), "traceId must be a non-empty string, got ''"),
    (request_body(observationId=7), "observationId must be a non-empty string, got 7"),
    (request_body(traceId=None, datasetId="", datasetItemId="i1"), "datasetId must be a non-empty string, got ''"),
])
def test_bad_upload_requests(body: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_upload_request(body, max_bytes=1000)
    assert message in raised.value.message


# -- upload results -----------------------------------------------------------------------


def test_upload_result_in_the_sdk_shape() -> None:
    result = parse_upload_result({"uploadedAt": "2026-03-01T10:20:30.123456Z", "uploadHttpStatus": 200,
                                  "uploadHttpError": None, "uploadTimeMs": 42})

    assert result.uploaded_at == datetime(2026, 3, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert result.uploaded_at.tzinfo is UTC
    assert (result.http_status, result.http_error, result.upload_time_ms) == (200, None, 42)
    assert result.succeeded


@pytest.mark.parametrize(("uploaded_at", "expected"), [
    ("2026-03-01T12:20:30+02:00", datetime(2026, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("2026-03-01T10:20:30", datetime(2026, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("2026-03-01T10:20:30.5-01:30", datetime(2026, 3, 1, 11, 50, 30, 500000, tzinfo=UTC)),
])
def test_upload_time_is_aware_utc(uploaded_at: str, expected: datetime) -> None:
    result = parse_upload_result({"uploadedAt": uploaded_at, "uploadHttpStatus": 201})

    assert result.uploaded_at == expected
    assert result.uploaded_at.utcoffset() == timedelta(0)
    assert (result.http_error, result.upload_time_ms, result.succeeded) == (None, None, True)


@pytest.mark.parametrize("status", [204, 400, 403, 500])
def test_failed_upload_is_recorded_but_not_a_success(status: int) -> None:
    result = parse_upload_result({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": status,
                                  "uploadHttpError": "Forbidden", "uploadTimeMs": 3})

    assert (result.http_status, result.http_error, result.succeeded) == (status, "Forbidden", False)


@pytest.mark.parametrize(("body", "message"), [
    (None, "Request body must be a JSON object"),
    ({"uploadedAt": "2026-03-01T10:20:30Z"}, "uploadHttpStatus must be an HTTP status code (100 to 599), got None"),
    ({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": "200"}, "got '200'"),
    ({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": 200.0}, "got 200.0"),
    ({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": True}, "got True"),
    ({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": 99}, "got 99"),
    ({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": 600}, "got 600"),
    ({"uploadHttpStatus": 200}, "uploadedAt must be an ISO-8601 datetime, got None"),
    ({"uploadedAt": "yesterday", "uploadHttpStatus": 200}, "uploadedAt must be an ISO-8601 datetime, got 'yesterday'"),
    ({"uploadedAt": 1767225600, "uploadHttpStatus": 200}, "uploadedAt must be an ISO-8601 datetime, got 1767225600"),
    ({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": 200, "uploadHttpError": 5},
     "uploadHttpError must be a string or null, got 5"),
    ({"uploadedAt": "2026-03-01T10:20:30Z", "uploadHttpStatus": 200, "uploadTimeMs": "3"},
     "uploadTimeMs must be an integer or null, got '3'"),
])
def test_bad_upload_results(body: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_upload_result(body)
    assert message in raised.value.message


# -- reference strings --------------------------------------------------------------------


def test_reference_text_round_trips() -> None:
    reference = MediaReference("image/png", "_7m5pExu-qNDwB_1l8EkMZ", "bytes")

    assert reference.text == "@@@langfuseMedia:type=image/png|id=_7m5pExu-qNDwB_1l8EkMZ|source=bytes@@@"
    assert parse_reference(reference.text) == reference
    assert REFERENCE_PATTERN.fullmatch(reference.text)


def test_reference_fields_may_come_in_any_order() -> None:
    assert parse_reference("@@@langfuseMedia:source=file|id=abc|type=application/pdf@@@") == \
        MediaReference("application/pdf", "abc", "file")


@pytest.mark.parametrize("text", [
    "",
    "hello",
    "@@@langfuseMedia:@@@",
    "@@@langfuseMedia:type=image/png|id=abc@@@",
    "@@@langfuseMedia:type=image/png|junk|id=abc|source=bytes@@@",
    "@@@langfuseMedia:type=image/png|id=|source=bytes@@@",
    "@@@langfuseMedia:type=image/png|id=abc|source=bytes",
    "x@@@langfuseMedia:type=image/png|id=abc|source=bytes@@@",
    "@@@langfuseMedia:type=image/png|id=abc|source=bytes@@@ ",
    "@@@langfuseMedia:type=image/png@@@|id=abc|source=bytes@@@",
    "@@@langfusePrompt:name=x|version=1@@@",
])
def test_malformed_references_are_none(text: str) -> None:
    assert parse_reference(text) is None


REF_A = MediaReference("image/png", "AAAAAAAAAAAAAAAAAAAAAA", "bytes")
REF_B = MediaReference("audio/wav", "BBBBBBBBBBBBBBBBBBBBBB", "base64_data_uri")
REF_C = MediaReference("application/pdf", "CCCCCCCCCCCCCCCCCCCCCC", "file")


def test_reference_at_the_root() -> None:
    assert find_references(REF_A.text) == [FoundReference("$", REF_A)]


def test_references_in_document_order_with_normalised_paths() -> None:
    value = {
        "image": REF_A.text,
        "messages": [{"role": "user", "content": ["hi", f"look: {REF_B.text} and {REF_C.text}!"]}],
        "n": 3, "none": None, "flag": True,
        "bad": "@@@langfuseMedia:type=image/png|id=x@@@",
        "it's [odd]": REF_C.text,
    }

    assert find_references(value) == [
        FoundReference("$['image']", REF_A),
        FoundReference("$['messages'][0]['content'][1]", REF_B),
        FoundReference("$['messages'][0]['content'][1]", REF_C),
        FoundReference("$['it's [odd]']", REF_C),
    ]


def test_all_digit_object_keys_are_written_like_indexes() -> None:
    assert find_references({"12": {"a1": [REF_A.text]}, "1x": REF_B.text}) == [
        FoundReference("$[12]['a1'][0]", REF_A),
        FoundReference("$['1x']", REF_B),
    ]


def test_no_references() -> None:
    assert find_references({"a": ["text", 1, None, {"b": "@@@langfuseMedia:oops"}]}) == []
    assert find_references(None) == []


def test_references_deeper_than_the_depth_limit_are_not_found() -> None:
    assert find_references(nest(REF_A.text, 31)) == [FoundReference("$" + "[0]" * 31, REF_A)]
    assert find_references(nest(REF_A.text, 32)) == []


def nest(value: Any, lists: int) -> Any:
    for _ in range(lists):
        value = [value]
    return value


@pytest.mark.parametrize("value", [
    REF_A.text,
    {"image": REF_A.text},
    {"a": [1, {"b": [REF_B.text, {"c d.e": REF_C.text}]}]},
    [[["x", f"two {REF_A.text} {REF_B.text}"]]],
    {"it's": {"[0]": REF_A.text}},
])
def test_paths_resolve_with_the_sdks_json_path(value: Any) -> None:
    found = find_references(value)
    assert found

    for item in found:
        assert item.reference.text in navigate(value, item.json_path)
        replaced = set_value_at_path(copy.deepcopy(value), item.json_path, "REPLACED")
        assert navigate(replaced, item.json_path) == "REPLACED"


def navigate(value: Any, json_path: str) -> Any:
    for segment in parse_path(json_path):
        value = value[segment]
    return value


# -- inline media -------------------------------------------------------------------------


def png_uri(data: str = PNG_B64, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{data}"


SHAPES: list[tuple[Any, Any, str, bytes]] = [
    (png_uri(), PNG_REF, "image/png", PNG),
    ({"type": "base64", "media_type": "image/png", "data": PNG_B64},
     {"type": "base64", "media_type": "image/png", "data": PNG_REF}, "image/png", PNG),
    ({"type": "media", "mime_type": "audio/wav", "data": WAV_B64},
     {"type": "media", "mime_type": "audio/wav", "data": WAV_REF}, "audio/wav", WAV),
    ({"inline_data": {"mime_type": "image/png", "data": PNG_B64}},
     {"inline_data": {"mime_type": "image/png", "data": PNG_REF}}, "image/png", PNG),
    ({"inlineData": {"mimeType": "audio/wav", "data": WAV_B64}, "text": "x"},
     {"inlineData": {"mimeType": "audio/wav", "data": WAV_REF}, "text": "x"}, "audio/wav", WAV),
    ({"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
     {"type": "input_audio", "input_audio": {"data": WAV_REF, "format": "wav"}}, "audio/wav", WAV),
    ({"type": "blob", "modality": "image", "mime_type": "image/png", "content": PNG_B64},
     {"type": "blob", "modality": "image", "mime_type": "image/png", "content": PNG_REF}, "image/png", PNG),
]


@pytest.mark.parametrize(("value", "expected", "content_type", "data"), SHAPES)
def test_each_inline_shape_is_replaced_by_its_reference(value: Any, expected: Any, content_type: str,
                                                        data: bytes) -> None:
    new, media = extract_inline_media(value)

    assert new == expected
    assert media == [InlineMedia(content_type, data)]
    assert media[0].reference.text == sdk_reference(content_type, data)


def test_inline_media_identity() -> None:
    media = InlineMedia("image/png", PLUS_SLASH)

    assert media.sha256_hash == "/7m5pExu+qNDwB/1l8EkMZWMt4YKQ9VdPoZhtyV6hMU="
    assert media.media_id == "_7m5pExu-qNDwB_1l8EkMZ"
    assert media.reference == MediaReference("image/png", "_7m5pExu-qNDwB_1l8EkMZ", "base64_data_uri")


@pytest.mark.parametrize(("audio_format", "content_type"), [
    ("mp3", "audio/mpeg"), ("flac", "audio/flac"), ("ogg", "audio/ogg"), ("aac", "audio/aac"),
    ("opus", "audio/opus"), ("webm", "audio/webm"), ("WAV", "audio/wav"),
])
def test_openai_audio_formats(audio_format: str, content_type: str) -> None:
    new, media = extract_inline_media({"type": "input_audio", "input_audio": {"data": WAV_B64, "format": audio_format}})

    assert new["input_audio"]["data"] == sdk_reference(content_type, WAV)
    assert media == [InlineMedia(content_type, WAV)]


def test_openai_chat_message_with_an_image_url() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                             {"type": "image_url", "image_url": {"url": png_uri()}}]}]

    new, media = extract_inline_media(messages)

    assert new == [{"role": "user", "content": [{"type": "text", "text": "hi"},
                                                {"type": "image_url", "image_url": {"url": PNG_REF}}]}]
    assert media == [InlineMedia("image/png", PNG)]
    assert find_references(new) == [FoundReference("$[0]['content'][1]['image_url']['url']", parse_reference(PNG_REF))]


@pytest.mark.parametrize(("uri", "content_type", "data"), [
    ("data:text/plain;charset=utf-8;base64,aGVsbG8gd29ybGQ=", "text/plain", b"hello world"),
    ("data:IMAGE/PNG;base64,aGVsbG8gd29ybGQ=", "image/png", b"hello world"),
    ("data:image/png;base64,-__-IGhlbGxv", "image/png", b"\xfb\xff\xfe hello"),   # url-safe alphabet
    ("data:image/png;base64,aGVsbG8gd29ybGQ", "image/png", b"hello world"),        # no padding
    ("data:image/png;base64,aGVs\nbG8g\r\nd29y bGQ=", "image/png", b"hello world"),
])
def test_tolerated_data_uri_spellings(uri: str, content_type: str, data: bytes) -> None:
    new, media = extract_inline_media({"u": uri})

    assert media == [InlineMedia(content_type, data)]
    assert new == {"u": f"@@@langfuseMedia:type={content_type}|id={media_id_of(sha256_base64(data))}"
                        "|source=base64_data_uri@@@"}


@pytest.mark.parametrize("value", [
    png_uri("not base64!"),
    png_uri("QUJD!"),
    png_uri("QUJDR"),                      # one character too many
    png_uri("QQ=A"),                       # padding in the middle
    png_uri("QQ="),                        # incomplete padding
    png_uri("+/-_"),                       # mixed alphabets
    png_uri(""),
    png_uri("===="),
    png_uri(PNG_B64, "image/x-foo"),
    png_uri(PNG_B64, "application/x-sh"),
    "data:image/png," + PNG_B64,           # not base64-encoded
    "data:image/png;base64;x," + PNG_B64,
    " " + png_uri(),                       # not a whole data URI
    "see " + png_uri(),
    {"type": "base64", "media_type": "image/x-foo", "data": PNG_B64},
    {"type": "base64", "media_type": "image/png", "data": "%%%"},
    {"type": "base64", "media_type": "image/png", "data": 12},
    {"type": "base64", "data": PNG_B64},
    {"type": "media", "mime_type": None, "data": PNG_B64},
    {"type": "image", "media_type": "image/png", "data": PNG_B64},
    {"inline_data": {"data": PNG_B64}},
    {"inline_data": {"mime_type": "image/png", "data": "@@@"}},
    {"inline_data": "data"},
    {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "pcm16"}},
    {"type": "audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
    {"type": "blob", "modality": "image", "content": PNG_B64},
    {"type": "blob", "mime_type": "image/png", "data": PNG_B64},
    {"type": "text", "text": "plain", "data": PNG_B64},
    PNG_B64,
    PNG_REF,
    {"type": "base64", "media_type": "image/png", "data": PNG_REF},
    {"a": [1, 2.5, None, True, "text"]},
    42,
    None,
])
def test_values_without_recognised_media_are_returned_as_they_are(value: Any) -> None:
    before = copy.deepcopy(value)

    new, media = extract_inline_media(value)

    assert new is value
    assert media == []
    assert value == before


def test_a_data_uri_inside_an_unrecognised_part_is_still_found() -> None:
    value = {"type": "base64", "media_type": "image/x-foo", "data": png_uri()}

    new, media = extract_inline_media(value)

    assert new == {"type": "base64", "media_type": "image/x-foo", "data": PNG_REF}
    assert media == [InlineMedia("image/png", PNG)]


def test_same_bytes_twice_are_one_media_and_order_is_document_order() -> None:
    value = {"first": {"type": "media", "mime_type": "audio/wav", "data": WAV_B64},
             "list": [png_uri(), {"type": "base64", "media_type": "image/png", "data": PNG_B64}, png_uri()]}

    new, media = extract_inline_media(value)

    assert new == {"first": {"type": "media", "mime_type": "audio/wav", "data": WAV_REF},
                   "list": [PNG_REF, {"type": "base64", "media_type": "image/png", "data": PNG_REF}, PNG_REF]}
    assert media == [InlineMedia("audio/wav", WAV), InlineMedia("image/png", PNG)]


def test_the_input_is_not_mutated_and_unchanged_parts_are_shared() -> None:
    untouched = {"deep": ["x", {"y": 1}]}
    value = {"keep": untouched, "parts": [{"type": "base64", "media_type": "image/png", "data": PNG_B64}]}
    before = copy.deepcopy(value)

    new, _ = extract_inline_media(value)

    assert value == before
    assert new is not value and new["parts"] is not value["parts"]
    assert new["keep"] is untouched


def test_extraction_is_idempotent() -> None:
    new, _ = extract_inline_media({"a": png_uri(), "b": [{"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]})

    again, media = extract_inline_media(new)

    assert again is new
    assert media == []


def test_media_deeper_than_the_depth_limit_is_left_alone() -> None:
    assert extract_inline_media(nest(png_uri(), 31))[0] == nest(PNG_REF, 31)
    deep = nest(png_uri(), 32)
    assert extract_inline_media(deep) == (deep, [])


# -- the cheap pre-check ------------------------------------------------------------------

PRECHECK_FIXTURES = [value for value, *_ in SHAPES] + [
    [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": png_uri()}}]}],
    {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "mp3"}},
    {"a": "plain", "b": [1, 2, {"c": None}]},
    "just text",
    {"text": "données ünïcode"},
]


def escape_everything(value: Any) -> str:
    """Valid JSON for `value` with every character of every string (keys too) written as a \\u escape."""
    if isinstance(value, str):
        return '"' + "".join(f"\\u{ord(c):04x}" for c in value) + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"{escape_everything(k)}:{escape_everything(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(escape_everything(item) for item in value) + "]"
    return json.dumps(value)


@pytest.mark.parametrize("value", PRECHECK_FIXTURES)
@pytest.mark.parametrize("dumps", [
    json.dumps,
    lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")),
    escape_everything,
], ids=["ascii", "compact-unicode", "all-escaped"])
def test_precheck_never_rules_out_text_that_extraction_would_change(value: Any, dumps: Any) -> None:
    text = dumps(value)
    assert json.loads(text) == value

    if extract_inline_media(json.loads(text))[0] != value:
        assert might_hold_inline_media(text)


def test_precheck_rules_out_plain_values() -> None:
    assert not might_hold_inline_media(json.dumps({"a": "plain", "b": [1, 2, {"c": None}], "t": "données"}))
    assert not might_hold_inline_media('"just text"')
    # Chat messages without media stay on the fast path: "content" and "data" alone are no marker.
    assert not might_hold_inline_media(json.dumps([{"role": "user", "content": "hi", "data": "x"}]))
    assert might_hold_inline_media(json.dumps({"mime_type": "image/png", "data": "x"}))
    assert might_hold_inline_media(json.dumps({"type": "input_audio", "input_audio": {"data": "x"}}))
    assert might_hold_inline_media(json.dumps("data:image/png;base64,QUJD"))
    assert might_hold_inline_media('{"\\u0064ata": "x"}')
