"""The blob port: durable bytes by key (raw ingestion batches and media files)."""

from __future__ import annotations

from typing import BinaryIO, Protocol


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`. Returns only once the bytes are durable (fsynced / acknowledged)."""

    def put_file(self, key: str, source: BinaryIO) -> None:
        """`put` for a stream read to its end (large media files are never held in memory)."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises KeyError when absent."""

    def open(self, key: str) -> BinaryIO:
        """A readable stream of the bytes under `key` (the caller closes it); raises KeyError when absent."""

    def delete(self, key: str) -> None:
        """Remove `key` if present."""

    def list_prefix(self, prefix: str) -> list[str]:
        """Keys starting with `prefix`, sorted."""
