"""Redis as the cache shared by every process of a deployment.

Sharing matters for revocation: a deleted API key is refused by every API process at
once instead of after each one's TTL. Redis outages degrade to misses (logged once per
minute), so authentication falls back to the database instead of failing.
"""

from __future__ import annotations

import logging
import time

import redis

log = logging.getLogger(__name__)

_WARN_EVERY_SECONDS = 60.0


class RedisCache:
    def __init__(self, url: str, *, prefix: str = "spyglass", timeout: float = 1.0) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._prefix = f"{prefix}:cache:"
        self._warned_at = float("-inf")

    def get(self, key: str) -> bytes | None:
        try:
            return self._client.get(self._prefix + key)
        except redis.RedisError as error:
            self._warn(error)
            return None

    def get_many(self, keys: list[str]) -> list[bytes | None]:
        try:
            return self._client.mget([self._prefix + key for key in keys])
        except redis.RedisError as error:
            self._warn(error)
            return [None] * len(keys)

    def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        try:
            self._client.set(self._prefix + key, value, px=max(int(ttl_seconds * 1000), 1))
        except redis.RedisError as error:
            self._warn(error)

    def delete(self, key: str) -> None:
        try:
            self._client.delete(self._prefix + key)
        except redis.RedisError as error:
            self._warn(error)

    def close(self) -> None:
        self._client.close()

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("Redis cache unavailable, falling back to the database: %s", error)
