"""Media files: upload handshakes, downloads, links to what uses them, and their removal.

The bytes never pass through the API process in scale-out mode: clients PUT them to a
presigned S3 URL. Embedded, this process serves the blob directory itself through
self-authorising URLs (`media_links.SignedLinks`). A media file lives as long as a trace,
an observation or a dataset item links it; the last link removed deletes it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final

from spyglass.domain.access import ProjectScope
from spyglass.domain.datasets import DatasetItem
from spyglass.domain.errors import InvalidInput, NotFound
from spyglass.domain.media import (
    FoundReference,
    InlineUse,
    Media,
    UploadRequest,
    UploadResult,
    find_references,
    names_of_key,
    object_key,
    parse_upload_request,
    parse_upload_result,
    project_prefix,
)
from spyglass.services.media_links import MediaLinks, SignedLinks, UploadGrant
from spyglass.services.retries import retrying_duplicates
from spyglass.storage.blob.base import BlobStore
from spyglass.storage.oltp.repositories.media import MediaRepository
from spyglass.storage.oltp.store import OltpStore

log = logging.getLogger(__name__)

_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class MediaView:
    """A readable media file and a URL to fetch it."""

    media: Media
    url: str
    url_expiry: datetime


@dataclass(frozen=True, slots=True)
class ItemMediaReference:
    field: str  # input | expectedOutput | metadata
    found: FoundReference
    view: MediaView


@dataclass(frozen=True, slots=True)
class Download:
    stream: BinaryIO
    content_type: str
    content_length: int


def item_fields(input_: Any, expected_output: Any, metadata: Any) -> tuple[tuple[str, Any], ...]:
    return ("input", input_), ("expectedOutput", expected_output), ("metadata", metadata)


def link_item_media(repo: MediaRepository, project_id: str, dataset_id: str, item_id: str,
                    fields: Iterable[tuple[str, Any]]) -> None:
    """Record the media an item version refers to, so deleting the traces it came from keeps it."""
    uses = {(field, found.reference.media_id) for field, value in fields for found in find_references(value)}
    if not uses:
        return
    repo.lock(project_id, {media_id for _, media_id in uses})
    known = repo.find_many(project_id, {media_id for _, media_id in uses})
    for field, media_id in sorted(uses):
        if media_id in known:
            repo.link_dataset_item(project_id, media_id, dataset_id, item_id, field)


class MediaService:
    def __init__(self, store: OltpStore, blobs: BlobStore, links: MediaLinks, *, max_bytes: int,
                 signed: SignedLinks | None = None) -> None:
        self._store = store
        self._blobs = blobs
        self._links = links
        self._max_bytes = max_bytes
        # Set when this process serves the blob routes (embedded blobs); None with S3.
        self._signed = signed

    # -- the SDK's handshake -------------------------------------------------------------

    def request_upload(self, scope: ProjectScope, body: Any, base_url: str) -> tuple[str, str | None]:
        """Register (and link) a media file; returns its id and an upload URL, or None if already uploaded."""
        request = parse_upload_request(body, self._max_bytes)
        key = object_key(scope.project_id, request.media_id, request.content_type)
        uploaded = retrying_duplicates(lambda: self._register(scope.project_id, request, key), "media")
        if uploaded:
            return request.media_id, None
        grant = UploadGrant(key, request.content_type, request.content_length, request.sha256_hash)
        return request.media_id, self._links.upload_url(grant, base_url)

    def _register(self, project_id: str, request: UploadRequest, key: str) -> bool:
        with self._store.session() as uow:
            if request.for_dataset_item:
                if uow.datasets.find_dataset(project_id, dataset_id=request.dataset_id) is None:
                    raise NotFound("Dataset not found")
            uow.media.lock(project_id, [request.media_id])
            media = uow.media.find(project_id, request.media_id)
            if media is None:
                uow.media.create(Media.new(project_id, request.media_id, request.sha256_hash, request.content_type,
                                           request.content_length, key))
            elif media.content_type != request.content_type:
                self._replace(uow.media, media, request.content_type, request.content_length, key)
            if request.for_dataset_item:
                assert request.dataset_id is not None and request.dataset_item_id is not None
                uow.media.link_dataset_item(project_id, request.media_id, request.dataset_id,
                                            request.dataset_item_id, request.field)
            else:
                assert request.trace_id is not None
                uow.media.link_trace(project_id, request.media_id, request.trace_id, request.observation_id,
                                     request.field)
        # Only exactly 200 counts as "already there": the SDK skips the upload on a null URL.
        return media is not None and media.content_type == request.content_type and media.upload_http_status == 200

    def _replace(self, repo: MediaRepository, media: Media, content_type: str, content_length: int,
                 key: str) -> None:
        """The same bytes announced under another content type: a new upload under the new name."""
        repo.replace_content(media.project_id, media.id, content_type, content_length, key)
        if media.object_key != key:
            # Under the caller's lock, like a deletion: the bytes under the old name are no longer served.
            self._blobs.delete(media.object_key)

    def record_upload(self, scope: ProjectScope, media_id: str, body: Any) -> None:
        result = parse_upload_result(body)
        with self._store.session() as uow:
            uow.media.lock(scope.project_id, [media_id])
            if uow.media.find(scope.project_id, media_id) is None:
                raise NotFound("Media not found")
            uow.media.record_upload(scope.project_id, media_id, result)

    def get(self, scope: ProjectScope, media_id: str, base_url: str) -> MediaView:
        with self._store.session() as uow:
            media = uow.media.find(scope.project_id, media_id)
        if media is None:
            raise NotFound("Media not found")
        if not media.readable:
            raise NotFound("Media not yet uploaded" if media.upload_http_status is None
                           else f"Media upload failed with status {media.upload_http_status}")
        return self._view(media, base_url)

    def _view(self, media: Media, base_url: str) -> MediaView:
        url, expiry = self._links.download_url(media.object_key, media.content_type, base_url)
        return MediaView(media, url, expiry)

    # -- the embedded blob routes --------------------------------------------------------

    def accept_upload(self, tail: str, query: dict[str, str], content_type: str | None) -> UploadGrant:
        """Check an upload URL before its body is read; raises Forbidden / InvalidInput / NotFound."""
        grant = self._signed_links().verify_upload(tail, query)
        if (content_type or "").split(";")[0].strip().lower() != grant.content_type.lower():
            raise InvalidInput(f"Content-Type {content_type!r} does not match the {grant.content_type!r} "
                               f"this URL was issued for")
        return grant

    def store_upload(self, grant: UploadGrant, body: BinaryIO) -> None:
        """Keep the body under the granted key if it is exactly the granted bytes."""
        digest, length = hashlib.sha256(), 0
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
            length += len(chunk)
        if length != grant.content_length:
            raise InvalidInput(f"The body has {length} bytes; this URL was issued for {grant.content_length}")
        received = base64.b64encode(digest.digest()).decode()
        if received != grant.sha256_hash:
            raise InvalidInput(f"The body's SHA-256 {received} does not match the {grant.sha256_hash} "
                               f"this URL was issued for")
        body.seek(0)
        self._blobs.put_file(grant.key, body)
        project_id, media_id = names_of_key(grant.key)
        with self._store.session() as uow:
            uow.media.lock(project_id, [media_id])
            media = uow.media.find(project_id, media_id)
            if media is None or media.object_key != grant.key:
                # Deleted (or renamed) since the URL was issued: keeping the bytes would leak them.
                self._blobs.delete(grant.key)
                raise NotFound("Media not found: it was deleted after this URL was issued")

    def open_download(self, tail: str, query: dict[str, str]) -> Download:
        key = self._signed_links().verify_download(tail, query)
        with self._store.session() as uow:
            media = uow.media.find(*names_of_key(key))
        if media is None or media.object_key != key:
            raise NotFound("Media not found")
        try:
            return Download(self._blobs.open(key), media.content_type, media.content_length)
        except KeyError:
            raise NotFound("Media not found") from None

    def _signed_links(self) -> SignedLinks:
        if self._signed is None:
            raise NotFound("Media bytes are served by the object store, not by this server")
        return self._signed

    # -- dataset items -------------------------------------------------------------------

    def item_references(self, scope: ProjectScope, items: list[DatasetItem],
                        base_url: str) -> dict[str, list[ItemMediaReference]]:
        """Per item id: each reference string in its fields whose media is readable, with a URL."""
        found = {item.id: [(field, ref) for field, value in item_fields(item.input, item.expected_output,
                                                                        item.metadata)
                           for ref in find_references(value)] for item in items}
        media_ids = {ref.reference.media_id for refs in found.values() for _, ref in refs}
        if not media_ids:
            return {}
        with self._store.session() as uow:
            media = {id_: m for id_, m in uow.media.find_many(scope.project_id, media_ids).items() if m.readable}
        views = {id_: self._view(m, base_url) for id_, m in media.items()}
        return {item_id: [ItemMediaReference(field, ref, views[ref.reference.media_id])
                          for field, ref in refs if ref.reference.media_id in views]
                for item_id, refs in found.items()}

    # -- ingestion -----------------------------------------------------------------------

    def store_inline(self, project_id: str, uses: list[InlineUse]) -> None:
        """Store media extracted from ingested events (uploaded at once) and link it; idempotent."""
        if not uses:
            return
        wanted = {use.media.media_id: use.media for use in uses}
        with self._store.session() as uow:
            uow.media.lock(project_id, wanted)
            known = uow.media.find_many(project_id, wanted)
            for media_id, inline in wanted.items():
                current = known.get(media_id)
                if current is not None and current.readable and current.content_type == inline.content_type:
                    continue
                key = object_key(project_id, media_id, inline.content_type)
                # Under the lock: no deletion of this media can run between the put and the link.
                self._blobs.put(key, inline.data)
                if current is None:
                    uow.media.create(Media.new(project_id, media_id, inline.sha256_hash, inline.content_type,
                                               len(inline.data), key))
                else:
                    self._replace(uow.media, current, inline.content_type, len(inline.data), key)
                uow.media.record_upload(project_id, media_id, UploadResult(datetime.now(tz=UTC), 200, None, 0))
            for use in uses:
                uow.media.link_trace(project_id, use.media.media_id, use.trace_id, use.observation_id, use.field)

    # -- deletion ------------------------------------------------------------------------

    def forget_traces(self, project_id: str, trace_ids: list[str]) -> int:
        """After traces were deleted: drop their links and delete media nothing links any more."""
        with self._store.session() as uow:
            candidates = uow.media.unlink_traces(project_id, trace_ids)
        return sum(self._delete_if_unused(project_id, media_id) for media_id in sorted(candidates))

    def _delete_if_unused(self, project_id: str, media_id: str) -> bool:
        with self._store.session() as uow:
            uow.media.lock(project_id, [media_id])
            media = uow.media.find(project_id, media_id)
            if media is None or uow.media.is_linked(project_id, media_id):
                return False
            uow.media.delete(project_id, media_id)
            # Before the commit, under the lock: a new link to this id waits, then creates it afresh.
            self._blobs.delete(media.object_key)
        return True

    def purge_project(self, project_id: str) -> int:
        """Delete every media file of a deleted project (its rows go with the project's)."""
        keys = self._blobs.list_prefix(project_prefix(project_id))
        for key in keys:
            self._blobs.delete(key)
        return len(keys)

