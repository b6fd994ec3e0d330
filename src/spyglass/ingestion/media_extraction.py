"""Inline media in ingested events → media files plus reference strings in the record.

OpenTelemetry instrumentations (and SDKs with media upload off) put images and audio
into span attributes as base64. Stored as is, one screenshot makes a trace megabytes
large and every read of it slow; moved out, the trace keeps a 90-byte reference that
the SDK's `resolve_media_references` and the UI resolve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import orjson

from spyglass.domain.media import InlineUse, extract_inline_media, might_hold_inline_media
from spyglass.domain.records import EntityKind, Record

_IO_FIELDS: Final = ("input", "output")

StoreInline = Callable[[str, list[InlineUse]], None]


class MediaExtractor:
    def __init__(self, store: StoreInline) -> None:
        self._store = store

    def extract(self, records: Iterable[tuple[EntityKind, Record]]) -> None:
        """Rewrite the records' input, output and metadata in place; store the media found first."""
        uses: dict[str, list[InlineUse]] = {}
        for kind, record in records:
            if kind == "score":
                continue
            trace_id, observation_id = (record["id"], None) if kind == "trace" else (record["trace_id"], record["id"])
            found: list[InlineUse] = []
            for field in _IO_FIELDS:
                text = record.get(field)
                if text and might_hold_inline_media(text):
                    record[field] = _extracted(text, field, trace_id, observation_id, found)
            metadata: dict[str, str] = record.get("metadata") or {}
            changed = {key: _extracted(value, "metadata", trace_id, observation_id, found)
                       for key, value in metadata.items() if might_hold_inline_media(value)}
            if changed:
                record["metadata"] = {**metadata, **changed}
            if found:
                uses.setdefault(record["project_id"], []).extend(found)
        for project_id, project_uses in uses.items():
            self._store(project_id, project_uses)


def _extracted(text: str, field: str, trace_id: str, observation_id: str | None, found: list[InlineUse]) -> str:
    """`text` (JSON, or a plain string the client sent) with its inline media replaced."""
    try:
        value: Any = orjson.loads(text)
        is_json = True
    except orjson.JSONDecodeError:
        value, is_json = text, False
    replaced, media = extract_inline_media(value)
    if not media:
        return text
    found.extend(InlineUse(trace_id, observation_id, field, item) for item in media)
    if is_json:
        return orjson.dumps(replaced).decode()
    return replaced if isinstance(replaced, str) else orjson.dumps(replaced).decode()
