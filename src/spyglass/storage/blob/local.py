"""Blob store in a local directory: the embedded default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from spyglass.storage.fsync import copy_durably, write_durably


class LocalBlobStore:
    """Keys map to files under `root`; a put is atomic (temp file + rename) and fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Keys are built by the server, but a key must never reach outside the store.
        parts = key.split("/")
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"invalid blob key: {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes) -> None:
        write_durably(self._path(key), data)

    def put_file(self, key: str, source: BinaryIO) -> None:
        copy_durably(self._path(key), source)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise KeyError(key) from None

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def list_prefix(self, prefix: str) -> list[str]:
        base = self.root.resolve()
        # Dot files are puts still in progress (see `fsync`), not keys.
        keys = (str(p.relative_to(base)) for p in base.rglob("*") if p.is_file() and not p.name.startswith("."))
        return sorted(key for key in keys if key.startswith(prefix))
