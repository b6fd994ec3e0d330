"""A clock tests advance by hand, for caches with a TTL and write throttles."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that move only when a test sets `now`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
