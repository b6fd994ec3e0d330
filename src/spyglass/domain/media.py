"""Media: upload requests and results, reference strings, and inline base64 media in JSON values.

Pure. Media is content-addressed: its id is derived from the SHA-256 of its bytes exactly as the
Langfuse SDK derives it, so client and server agree without a round trip (LANGFUSE_COMPAT §2.6).
Inside traces and dataset items media appears only as a reference string
`@@@langfuseMedia:type=<mime>|id=<mediaId>|source=<source>@@@`.

One module over the ~400-line budget because every part below implements one wire contract
(media-contract.md) and they share its constants and tables.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final

from spyglass.domain.errors import InvalidInput

CONTENT_TYPES: Final[frozenset[str]] = frozenset({
    "image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif", "image/svg+xml", "image/tiff",
    "image/bmp", "image/avif", "image/heic",
    "audio/mpeg", "audio/mp3", "audio/wav", "audio/ogg", "audio/oga", "audio/aac", "audio/mp4", "audio/flac",
    "audio/opus", "audio/webm",
    "video/mp4", "video/webm", "video/ogg", "video/mpeg", "video/quicktime", "video/x-msvideo",
    "video/x-matroska",
    "text/plain", "text/html", "text/css", "text/csv", "text/markdown", "text/x-python",
    "application/javascript", "text/x-typescript", "application/x-yaml",
    "application/pdf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/zip", "application/json", "application/xml", "application/octet-stream",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/rtf", "application/x-ndjson", "application/vnd.apache.parquet", "application/gzip",
    "application/x-tar", "application/x-7z-compressed",
})
TRACE_FIELDS: Final = ("input", "output", "metadata")
DATASET_ITEM_FIELDS: Final = ("input", "expectedOutput", "metadata")
REFERENCE_PATTERN: Final[re.Pattern[str]] = re.compile(r"@@@langfuseMedia:.+?@@@")
BASE64_DATA_URI: Final = "base64_data_uri"
MAX_DEPTH: Final = 32

_EXTENSIONS: Final = {
    "image/jpeg": "jpg", "image/jpg": "jpg", "image/svg+xml": "svg", "audio/mpeg": "mp3", "audio/mp3": "mp3",
    "video/quicktime": "mov", "video/x-msvideo": "avi", "video/x-matroska": "mkv",
    "text/plain": "txt", "text/markdown": "md", "text/x-python": "py", "application/javascript": "js",
    "text/x-typescript": "ts", "application/x-yaml": "yaml", "application/x-ndjson": "ndjson",
    "application/msword": "doc", "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.apache.parquet": "parquet", "application/gzip": "gz", "application/x-tar": "tar",
    "application/x-7z-compressed": "7z", "application/octet-stream": "bin",
}
# OpenAI `input_audio.format` → content type.
_AUDIO_FORMATS: Final = {
    "wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
    "aac": "audio/aac", "opus": "audio/opus", "webm": "audio/webm",
}
_REFERENCE_PREFIX: Final = "@@@langfuseMedia:"
_REFERENCE_SUFFIX: Final = "@@@"
_DATA_URI = re.compile(r"data:(?P<type>[^;,]+)(?:;[^;,]*)*?;base64,(?P<data>.*)", re.DOTALL)
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_DIGITS = re.compile(r"[0-9]+")
# Every recognised shape names one of these: data URIs and Anthropic parts say base64, Vertex,
# Gemini and GenAI parts a mime type (`mime_type`, `mimeType`), OpenAI audio its part type.
# Common words such as "content" would send nearly every chat message through a JSON decode
# for nothing. An escaped ASCII letter or digit (`\u0064` is "d") could spell a marker that a
# plain substring test misses.
_MARKERS: Final = ("base64", "mime", "input_audio")
_BYTE_MARKERS: Final = tuple(marker.encode() for marker in _MARKERS)
_ESCAPED_ASCII: Final = re.compile(r"\\u00[3-7]")
_ESCAPED_ASCII_BYTES: Final = re.compile(rb"\\u00[3-7]")


# -- ids and keys -----------------------------------------------------------------------


def sha256_base64(data: bytes) -> str:
    """The standard base64 of the SHA-256 digest of `data` (44 characters), as the SDK sends it."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def media_id_of(sha256_hash: str) -> str:
    """The SDK's media id: the hash in the url-safe alphabet, cut to 22 characters."""
    return sha256_hash.replace("+", "-").replace("/", "_")[:22]


def extension_of(content_type: str) -> str:
    """The file extension blobs of an allowed content type are stored under."""
    if content_type not in CONTENT_TYPES:
        raise InvalidInput(f"Unsupported content type: {content_type}")
    return _EXTENSIONS.get(content_type) or content_type.split("/", 1)[1]


MEDIA_PREFIX: Final = "media/"


def object_key(project_id: str, media_id: str, content_type: str) -> str:
    return f"{project_prefix(project_id)}{media_id}.{extension_of(content_type)}"


def project_prefix(project_id: str) -> str:
    """Where every media object of a project lives in the blob store."""
    return f"{MEDIA_PREFIX}{project_id}/"


def names_of_key(key: str) -> tuple[str, str]:
    """(project id, media id) of a key built by `object_key`."""
    project_id, _, name = key.removeprefix(MEDIA_PREFIX).rpartition("/")
    return project_id, name.partition(".")[0]


# -- stored media ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Media:
    """One stored media object of a project; readable once its upload reported 200 or 201."""

    id: str
    project_id: str
    sha256_hash: str
    content_type: str
    content_length: int
    object_key: str
    created_at: datetime
    uploaded_at: datetime | None
    upload_http_status: int | None
    upload_http_error: str | None
    upload_time_ms: int | None

    @classmethod
    def new(cls, project_id: str, media_id: str, sha256_hash: str, content_type: str, content_length: int,
            key: str) -> Media:
        """A media row as first created: nothing uploaded yet."""
        return cls(id=media_id, project_id=project_id, sha256_hash=sha256_hash, content_type=content_type,
                   content_length=content_length, object_key=key, created_at=datetime.now(tz=UTC),
                   uploaded_at=None, upload_http_status=None, upload_http_error=None, upload_time_ms=None)

    @property
    def readable(self) -> bool:
        return self.upload_http_status in (200, 201)


# -- POST /api/public/media ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadRequest:
    """A validated upload-URL request: the media's identity and the one context it is linked to."""

    content_type: str
    content_length: int
    sha256_hash: str
    media_id: str
    field: str
    trace_id: str | None
    observation_id: str | None
    dataset_id: str | None
    dataset_item_id: str | None

    @property
    def for_dataset_item(self) -> bool:
        return self.dataset_id is not None


def parse_upload_request(body: Any, max_bytes: int) -> UploadRequest:
    """Validate a `POST /api/public/media` body, or raise `InvalidInput` naming the field and value."""
    if not isinstance(body, Mapping):
        raise InvalidInput("Request body must be a JSON object")
    content_type = _content_type(body.get("contentType"))
    content_length = _content_length(body.get("contentLength"), max_bytes)
    sha256_hash = _sha256_hash(body.get("sha256Hash"))
    ids = {key: _optional_id(body, key) for key in ("traceId", "observationId", "datasetId", "datasetItemId")}
    fields = _context_fields(ids)
    field = body.get("field")
    if field not in fields:
        context = "a dataset item" if fields is DATASET_ITEM_FIELDS else "a trace"
        raise InvalidInput(f"field must be one of {', '.join(fields)} for {context}, got {field!r}")
    return UploadRequest(
        content_type=content_type,
        content_length=content_length,
        sha256_hash=sha256_hash,
        media_id=media_id_of(sha256_hash),
        field=field,
        trace_id=ids["traceId"],
        observation_id=ids["observationId"],
        dataset_id=ids["datasetId"],
        dataset_item_id=ids["datasetItemId"],
    )


def _content_type(value: Any) -> str:
    if value is None:
        raise InvalidInput("contentType is required")
    if not isinstance(value, str) or value not in CONTENT_TYPES:
        raise InvalidInput(f"Unsupported content type: {value}")
    return value


def _content_length(value: Any, max_bytes: int) -> int:
    if not _is_int(value) or value <= 0:
        raise InvalidInput(f"contentLength must be a positive integer, got {value!r}")
    if value > max_bytes:
        raise InvalidInput(f"contentLength {value} exceeds the limit of {max_bytes} bytes")
    return int(value)


def _sha256_hash(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 44 or not _is_sha256_base64(value):
        raise InvalidInput(
            f"sha256Hash must be the standard base64 encoding of a 32-byte SHA-256 digest (44 characters), "
            f"got {value!r}"
        )
    return value


def _is_sha256_base64(text: str) -> bool:
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    # Re-encoding rejects non-canonical spellings of the same digest, which would get another media id.
    return len(digest) == 32 and base64.b64encode(digest).decode("ascii") == text


def _optional_id(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidInput(f"{key} must be a non-empty string, got {value!r}")
    return value


def _context_fields(ids: Mapping[str, str | None]) -> tuple[str, ...]:
    """The fields valid for the one context the ids name."""
    trace, observation, dataset, item = (ids[key] for key in ("traceId", "observationId", "datasetId", "datasetItemId"))
    if observation is not None and trace is None:
        raise InvalidInput("observationId requires traceId")
    if dataset is not None and item is None:
        raise InvalidInput("datasetId requires datasetItemId")
    if item is not None and dataset is None:
        raise InvalidInput("datasetItemId requires datasetId")
    if trace is not None and dataset is not None:
        raise InvalidInput("Give either traceId or datasetId+datasetItemId, not both")
    if trace is not None:
        return TRACE_FIELDS
    if dataset is not None:
        return DATASET_ITEM_FIELDS
    raise InvalidInput("traceId or datasetId+datasetItemId is required")


# -- PATCH /api/public/media/{mediaId} ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What the client reports after its PUT to the upload URL (also sent when the PUT failed)."""

    uploaded_at: datetime
    http_status: int
    http_error: str | None
    upload_time_ms: int | None

    @property
    def succeeded(self) -> bool:
        return self.http_status in (200, 201)


def parse_upload_result(body: Any) -> UploadResult:
    """Validate a `PATCH /api/public/media/{mediaId}` body, or raise `InvalidInput`."""
    if not isinstance(body, Mapping):
        raise InvalidInput("Request body must be a JSON object")
    status = body.get("uploadHttpStatus")
    if not _is_int(status) or not 100 <= status <= 599:
        raise InvalidInput(f"uploadHttpStatus must be an HTTP status code (100 to 599), got {status!r}")
    error = body.get("uploadHttpError")
    if error is not None and not isinstance(error, str):
        raise InvalidInput(f"uploadHttpError must be a string or null, got {error!r}")
    time_ms = body.get("uploadTimeMs")
    if time_ms is not None and not _is_int(time_ms):
        raise InvalidInput(f"uploadTimeMs must be an integer or null, got {time_ms!r}")
    return UploadResult(
        uploaded_at=_utc_datetime(body.get("uploadedAt")),
        http_status=int(status),
        http_error=error,
        upload_time_ms=time_ms,
    )


def _utc_datetime(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidInput(f"uploadedAt must be an ISO-8601 datetime, got {value!r}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- reference strings --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaReference:
    content_type: str
    media_id: str
    source: str

    @property
    def text(self) -> str:
        return f"{_REFERENCE_PREFIX}type={self.content_type}|id={self.media_id}|source={self.source}{_REFERENCE_SUFFIX}"


def parse_reference(text: str) -> MediaReference | None:
    """The reference `text` is, exactly; None unless it is well-formed with a type, an id and a source."""
    if not (text.startswith(_REFERENCE_PREFIX) and text.endswith(_REFERENCE_SUFFIX)):
        return None
    body = text[len(_REFERENCE_PREFIX):-len(_REFERENCE_SUFFIX)]
    if not body or _REFERENCE_SUFFIX in body:
        return None
    parts = [part.split("=", 1) for part in body.split("|")]
    if any(len(part) != 2 for part in parts):
        return None
    pairs = dict(parts)
    content_type, media_id, source = (pairs.get(key) for key in ("type", "id", "source"))
    if not (content_type and media_id and source):
        return None
    return MediaReference(content_type=content_type, media_id=media_id, source=source)


@dataclass(frozen=True, slots=True)
class FoundReference:
    """A reference and the jsonpath-plus normalised path of the string that holds it."""

    json_path: str
    reference: MediaReference


def find_references(value: Any) -> list[FoundReference]:
    """Every well-formed reference in a decoded JSON value, in document order (a string may hold several)."""
    return [FoundReference(path, ref) for path, text in _strings(value, "$", 1) for ref in _references_in(text)]


def _strings(value: Any, path: str, depth: int) -> Iterator[tuple[str, str]]:
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, path + _key_segment(str(key)), depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]", depth + 1)


def _key_segment(key: str) -> str:
    # jsonpath-plus writes all-digit object keys like list indexes, and never escapes quotes in keys.
    return f"[{key}]" if _DIGITS.fullmatch(key) else f"['{key}']"


def _references_in(text: str) -> Iterator[MediaReference]:
    if _REFERENCE_PREFIX not in text:
        return
    for match in REFERENCE_PATTERN.finditer(text):
        reference = parse_reference(match.group())
        if reference is not None:
            yield reference


# -- inline media -------------------------------------------------------------------------


@dataclass(frozen=True)
class InlineMedia:
    """Base64 media found inside a traced value; it is stored as an uploaded media object."""

    content_type: str
    data: bytes

    # Not slotted so the digest of large media is computed once (cached_property needs __dict__).
    @cached_property
    def sha256_hash(self) -> str:
        return sha256_base64(self.data)

    @property
    def media_id(self) -> str:
        return media_id_of(self.sha256_hash)

    @property
    def reference(self) -> MediaReference:
        return MediaReference(content_type=self.content_type, media_id=self.media_id, source=BASE64_DATA_URI)


@dataclass(frozen=True, slots=True)
class InlineUse:
    """Inline media found in a trace's or observation's field during ingestion."""

    trace_id: str
    observation_id: str | None
    field: str
    media: InlineMedia


def extract_inline_media(value: Any) -> tuple[Any, list[InlineMedia]]:
    """Replace inline base64 media in a decoded JSON value by reference strings.

    Returns the new value and the media found (one per media id, in document order). The input is
    never mutated; unchanged parts are shared with it, and when nothing is found the input itself is
    returned, so callers can skip re-encoding by an identity check. Shapes recognised (contract
    "OTel / ingestion inline media extraction"): whole data-URI strings; Anthropic `{"type": "base64"}`,
    Vertex `{"type": "media"}` and OTel GenAI `{"type": "blob"}` parts; Gemini `inline_data` /
    `inlineData`; OpenAI `input_audio`. Anything whose type is not allowed or whose data is not valid
    base64 is left exactly as it was.
    """
    found: dict[str, InlineMedia] = {}
    return _extract(value, 1, found), list(found.values())


def might_hold_inline_media(text: str | bytes) -> bool:
    """A cheap test on raw JSON text (or a whole request body, protobuf included): False only when
    `extract_inline_media` could not change any value in it."""
    # The plain `in` tests first: they are several times faster than the regex, which only runs
    # on text with escapes in it (`\\u00e9` and the like are common in non-English text).
    if isinstance(text, bytes):
        return any(marker in text for marker in _BYTE_MARKERS) or (
            b"\\u00" in text and _ESCAPED_ASCII_BYTES.search(text) is not None)
    return any(marker in text for marker in _MARKERS) or (
        "\\u00" in text and _ESCAPED_ASCII.search(text) is not None)


def _extract(value: Any, depth: int, found: dict[str, InlineMedia]) -> Any:
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, str):
        media = _data_uri_media(value)
        return value if media is None else _record(media, found)
    if isinstance(value, list):
        items = [_extract(item, depth + 1, found) for item in value]
        return value if _same_items(items, value) else items
    if isinstance(value, dict):
        return _extract_dict(value, depth, found)
    return value


def _extract_dict(value: dict[str, Any], depth: int, found: dict[str, InlineMedia]) -> dict[str, Any]:
    result = {key: _extract_entry(value, key, depth, found) for key in value}
    return value if _same_items(result.values(), value.values()) else result


def _extract_entry(parent: dict[str, Any], key: str, depth: int, found: dict[str, InlineMedia]) -> Any:
    item = parent[key]
    data_key, content_type = _part_media_slot(parent)
    if key == data_key and (media := _media(content_type, item)) is not None:
        return _record(media, found)
    nested = _nested_media_slot(parent, key)
    if nested is not None and (media := _media(*nested)) is not None:
        return {**item, "data": _record(media, found)}
    return _extract(item, depth + 1, found)


def _part_media_slot(part: dict[str, Any]) -> tuple[str | None, Any]:
    """Which key of a content part holds base64 data, and the content type it declares."""
    kind = part.get("type")
    if kind == "base64":
        return "data", part.get("media_type")
    if kind == "media":
        return "data", part.get("mime_type")
    if kind == "blob":
        return "content", part.get("mime_type")
    return None, None


def _nested_media_slot(parent: dict[str, Any], key: str) -> tuple[Any, Any] | None:
    """(content type, data) when `parent[key]` is a Gemini inline-data or an OpenAI input-audio object."""
    inner = parent[key]
    if not isinstance(inner, dict):
        return None
    if key in ("inline_data", "inlineData"):
        return inner.get("mime_type") or inner.get("mimeType"), inner.get("data")
    if key == "input_audio" and parent.get("type") == "input_audio":
        audio_format = inner.get("format")
        content_type = _AUDIO_FORMATS.get(audio_format.lower()) if isinstance(audio_format, str) else None
        return content_type, inner.get("data")
    return None


def _data_uri_media(text: str) -> InlineMedia | None:
    if not text.startswith("data:"):
        return None
    match = _DATA_URI.fullmatch(text)
    return None if match is None else _media(match["type"], match["data"])


def _media(content_type: Any, data: Any) -> InlineMedia | None:
    if not isinstance(content_type, str) or not isinstance(data, str):
        return None
    normalised = content_type.strip().lower()
    if normalised not in CONTENT_TYPES:
        return None
    decoded = _decode_base64(data)
    return None if decoded is None else InlineMedia(content_type=normalised, data=decoded)


def _decode_base64(text: str) -> bytes | None:
    """Bytes of standard or url-safe base64 with optional padding and any whitespace; None if not that."""
    compact = "".join(text.split())
    if not _BASE64_TEXT.fullmatch(compact):
        return None
    if any(c in compact for c in "+/") and any(c in compact for c in "-_"):
        return None
    unpadded = compact.rstrip("=")
    if len(unpadded) % 4 == 1 or (unpadded != compact and len(compact) % 4):
        return None
    standard = unpadded.replace("-", "+").replace("_", "/") + "=" * (-len(unpadded) % 4)
    return base64.b64decode(standard, validate=True) or None


def _record(media: InlineMedia, found: dict[str, InlineMedia]) -> str:
    found.setdefault(media.media_id, media)
    return media.reference.text


def _same_items(new: Any, old: Any) -> bool:
    return all(a is b for a, b in zip(new, old, strict=True))

