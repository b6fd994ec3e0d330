"""Hand freed heap memory back to the operating system between writes.

Each write builds tens of megabytes of short-lived Python objects (records, rows, JSON)
in whatever malloc arena the thread got; glibc keeps the freed pages, so the resident
size ratchets up to the worst burst seen. `malloc_trim(0)` returns them. Not glibc
(musl, macOS): a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None


class HeapTrimmer:
    """Calls `malloc_trim` at most once per `interval_s` (it walks the heap: a few ms)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._trim = _malloc_trim()
        self._last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if self._trim is None or now - self._last < self.interval_s:
            return
        self._last = now
        self._trim(0)
