"""The cache port: short-lived shared lookups (API keys now, prompts later).

A cache is an optimisation, never a source of truth: implementations swallow their own
outages (a miss, a skipped write) so a request never fails because the cache did.
"""

from __future__ import annotations

from typing import Protocol


class Cache(Protocol):
    def get(self, key: str) -> bytes | None:
        """The value under `key`, or None when absent, expired or the cache is unreachable."""

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        """`get` of several keys in one round trip, in order."""

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store `value` under `key`, replacing what was there."""

    def delete(self, key: str) -> None: ...
