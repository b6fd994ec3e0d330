"""The blob port: durable bytes by key (raw ingestion batches now, media later)."""

from __future__ import annotations

from typing import Protocol


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`. Returns only once the bytes are durable (fsynced / acknowledged)."""

    def get(self, key: str) -> bytes:
        """The bytes under `key`; raises KeyError when absent."""

    def delete(self, key: str) -> None:
        """Remove `key` if present."""

    def list_prefix(self, prefix: str) -> list[str]:
        """Keys starting with `prefix`, sorted."""
