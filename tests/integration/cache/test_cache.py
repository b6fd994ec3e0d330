"""The cache port: memory (embedded) and Redis (shared) behave alike, and Redis shares revocations."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator

import pytest
from tests.support.redis import RedisServer, require_redis, shared_redis_url

from spyglass.domain.errors import Unauthorized
from spyglass.services.projects import ProjectService
from spyglass.storage.cache.memory import MemoryCache
from spyglass.storage.cache.redis import RedisCache
from spyglass.storage.oltp.store import OltpStore


@pytest.fixture
def redis_cache() -> Iterator[RedisCache]:
    url = shared_redis_url()
    require_redis(url)
    cache = RedisCache(url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    yield cache
    cache.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
def cache(request: pytest.FixtureRequest):
    if request.param == "memory":
        return MemoryCache()
    return request.getfixturevalue("redis_cache")


def test_set_get_and_delete(cache):
    assert cache.get("a") is None
    cache.set("a", b"\x00\xffvalue", 30)
    cache.set("b", b"2", 30)
    assert cache.get("a") == b"\x00\xffvalue"
    assert cache.get_many(["b", "missing", "a"]) == [b"2", None, b"\x00\xffvalue"]
    cache.set("a", b"new", 30)
    assert cache.get("a") == b"new"
    cache.delete("a")
    cache.delete("never-there")
    assert cache.get("a") is None


def test_entries_expire(cache):
    cache.set("short", b"x", 0.2)
    cache.set("long", b"y", 30)
    time.sleep(0.35)
    assert cache.get_many(["short", "long"]) == [None, b"y"]


def test_memory_cache_is_bounded():
    cache = MemoryCache(max_entries=2)
    for key in "abc":
        cache.set(key, key.encode(), 30)
    assert len(cache) == 2
    assert cache.get("a") is None and cache.get("c") == b"c"


@pytest.mark.services
def test_an_unreachable_redis_is_a_miss_not_an_error(tmp_path):
    server = RedisServer(tmp_path).start()
    cache = RedisCache(server.url, timeout=0.5)
    cache.set("k", b"v", 30)
    assert cache.get("k") == b"v"
    server.kill()
    try:
        assert cache.get("k") is None
        assert cache.get_many(["k", "j"]) == [None, None]
        cache.set("k", b"w", 30)  # swallowed
        cache.delete("k")
    finally:
        cache.close()


def _basic(public_key: str, secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


@pytest.mark.services
def test_a_key_deleted_in_one_process_is_refused_by_another_at_once(tmp_path, redis_cache):
    """Two API processes share the database and the Redis cache: revocation is not delayed by the TTL."""
    url = f"sqlite:///{tmp_path / 'spyglass.db'}"
    store_a, store_b = OltpStore.open(url), OltpStore.open(url, migrate=False)
    try:
        first = ProjectService(store_a, "salt", cache=redis_cache)
        second = ProjectService(store_b, "salt", cache=redis_cache)
        created = first.create_project(project_name="p")
        header = _basic(created.public_key, created.secret_key)
        assert second.authenticate(header).project_id == created.project.id  # now cached in Redis
        [key] = first.list_api_keys(created.project.id)
        first.delete_api_key(created.project.id, key.id)
        with pytest.raises(Unauthorized):
            second.authenticate(header)
    finally:
        store_a.close()
        store_b.close()


@pytest.mark.services
def test_a_cached_key_is_served_from_redis_without_the_database(tmp_path, redis_cache):
    url = f"sqlite:///{tmp_path / 'spyglass.db'}"
    store = OltpStore.open(url)
    service = ProjectService(store, "salt", cache=redis_cache)
    created = service.create_project(project_name="p")
    header = _basic(created.public_key, created.secret_key)
    service.authenticate(header)
    # A fresh process (new service, same Redis) whose database is gone still authenticates.
    cold = ProjectService(OltpStore.open(f"sqlite:///{tmp_path / 'empty.db'}"), "salt", cache=redis_cache)
    assert cold.authenticate(header).project_id == created.project.id
    with pytest.raises(Unauthorized):
        cold.authenticate(_basic(created.public_key, "sk-wrong"))
    store.close()
