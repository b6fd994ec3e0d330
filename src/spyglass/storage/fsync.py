"""Writing files so that they survive a crash: what "durable" means for the local backends."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

_known_dirs: set[Path] = set()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create `path` (and parents) once, fsyncing the parent so the new entry is durable too."""
    if path in _known_dirs:
        return
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        _fsync_dir(path.parent)
    _known_dirs.add(path)


def write_durably(path: Path, data: bytes) -> None:
    """Atomic and durable: temp file, fsync, rename, fsync the directory.

    A crash leaves either no file or the whole file, never a torn one.
    """
    _write_chunks(path, (data,))


def copy_durably(path: Path, source: BinaryIO, chunk_bytes: int = 1 << 20) -> None:
    """`write_durably` for a stream too large to hold in memory (media files)."""
    _write_chunks(path, iter(lambda: source.read(chunk_bytes), b""))


def _write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
