"""Queue tests run on the embedded LocalJobQueue and on RedisJobQueue (shared Redis, a key prefix per test)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.redis import RedisServer, delete_redis_prefix, require_redis, require_redis_server, shared_redis_url

from spyglass.storage.queue.base import JobQueue
from spyglass.storage.queue.local import LocalJobQueue

QueueFactory = Callable[..., JobQueue]


@pytest.fixture
def redis_url() -> str:
    url = shared_redis_url()
    require_redis(url)
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"spyglass-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_redis_prefix(redis_url, prefix)


@pytest.fixture
def make_redis_queue(redis_url: str, redis_prefix: str) -> Iterator[QueueFactory]:
    """Queue instances on one shared prefix, as separate worker processes would have; closed afterwards."""
    from spyglass.storage.queue.redis import RedisJobQueue

    made: list[RedisJobQueue] = []

    def make(url: str = redis_url, **kwargs: object) -> RedisJobQueue:
        queue = RedisJobQueue(url, prefix=redis_prefix, **kwargs)  # type: ignore[arg-type]
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server (AOF, appendfsync always) that a test may stop, kill and restart."""
    server = RedisServer(tmp_path / "redis", binary=require_redis_server()).start()
    yield server
    server.stop()


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.services)])
def make_queue(request: pytest.FixtureRequest, tmp_path: Path) -> QueueFactory:
    """Opens the queue under test; every call opens another handle on the same stored queue."""
    if request.param == "redis":
        return request.getfixturevalue("make_redis_queue")
    return lambda: LocalJobQueue(tmp_path / "queue")


@pytest.fixture
def queue(make_queue: QueueFactory) -> JobQueue:
    return make_queue()
