"""Where clients send and fetch media bytes: URLs that authorise themselves.

The SDK uploads to the URL it is given with no credentials, so each URL carries its own
permission: S3 presigned URLs when the blobs live in S3, otherwise URLs to this server's
blob routes signed with a secret kept in the data directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

from spyglass.auth.signed_urls import EXPIRES, UrlSigner
from spyglass.domain.errors import Forbidden
from spyglass.domain.media import MEDIA_PREFIX
from spyglass.storage.blob.s3 import S3BlobStore

# The web route serving the blob directory; keys under `MEDIA_PREFIX` only.
BLOB_ROUTE = "/api/public/media-blobs/"


@dataclass(frozen=True, slots=True)
class UploadGrant:
    """What a verified upload URL allows: these exact bytes under `key`."""

    key: str
    content_type: str
    content_length: int
    sha256_hash: str


class MediaLinks(Protocol):
    def upload_url(self, grant: UploadGrant, base_url: str) -> str: ...

    def download_url(self, key: str, content_type: str, base_url: str) -> tuple[str, datetime]:
        """The URL and the moment it stops working; the download is served as `content_type`."""
        ...


class PresignedLinks:
    """S3 checks the signature, the content type and the SHA-256 of the upload itself."""

    def __init__(self, store: S3BlobStore, ttl_seconds: int) -> None:
        self._store = store
        self._ttl = ttl_seconds

    def upload_url(self, grant: UploadGrant, base_url: str) -> str:
        return self._store.presigned_put(grant.key, content_type=grant.content_type, sha256_hash=grant.sha256_hash,
                                         expires_in=self._ttl)

    def download_url(self, key: str, content_type: str, base_url: str) -> tuple[str, datetime]:
        # Media stored by the worker (inline extraction) has no content type in S3: name it here.
        expires = datetime.fromtimestamp(int(time.time()) + self._ttl, tz=UTC)
        return self._store.presigned_get(key, expires_in=self._ttl, content_type=content_type), expires


class SignedLinks:
    """URLs to `BLOB_ROUTE` on this server, checked by `verify_upload` / `verify_download`."""

    def __init__(self, signer: UrlSigner, ttl_seconds: int, public_url: str | None = None) -> None:
        self._signer = signer
        self._ttl = ttl_seconds
        self._public_url = public_url

    def upload_url(self, grant: UploadGrant, base_url: str) -> str:
        params = {"contentType": grant.content_type, "contentLength": str(grant.content_length),
                  "sha256": grant.sha256_hash}
        query, _ = self._signer.sign("PUT", grant.key, params, self._ttl)
        return f"{self._url(grant.key, base_url)}?{query}"

    def download_url(self, key: str, content_type: str, base_url: str) -> tuple[str, datetime]:
        # The route serves the type recorded for the media, so the URL need not carry it.
        query, expires = self._signer.sign("GET", key, {}, self._ttl)
        return f"{self._url(key, base_url)}?{query}", datetime.fromtimestamp(expires, tz=UTC)

    def verify_upload(self, tail: str, query: dict[str, str]) -> UploadGrant:
        key = _key_of(tail)
        granted = self._signer.verify("PUT", key, query)
        length = granted.get("contentLength", "")
        if set(granted) != {"contentType", "contentLength", "sha256", EXPIRES} or not length.isdigit():
            raise Forbidden("This URL does not grant an upload")
        return UploadGrant(key, granted["contentType"], int(length), granted["sha256"])

    def verify_download(self, tail: str, query: dict[str, str]) -> str:
        key = _key_of(tail)
        if set(self._signer.verify("GET", key, query)) != {EXPIRES}:
            raise Forbidden("This URL does not grant a download")
        return key

    def _url(self, key: str, base_url: str) -> str:
        base = (self._public_url or base_url).rstrip("/")
        return base + BLOB_ROUTE + quote(key.removeprefix(MEDIA_PREFIX))


def _key_of(tail: str) -> str:
    return MEDIA_PREFIX + tail
