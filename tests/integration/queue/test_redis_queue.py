"""RedisJobQueue beyond the contract: crashed consumers, concurrency, Redis restarts, outages, lost groups."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from tests.support.queues import take_all

from spyglass.storage.queue.redis import RedisJobQueue

pytestmark = pytest.mark.services


def test_a_crashed_consumers_job_goes_to_another_consumer_after_the_visibility_timeout(make_redis_queue):
    crashed = make_redis_queue(consumer="crashed", visibility_timeout=1)
    survivor = make_redis_queue(consumer="survivor", visibility_timeout=1)
    done_id = crashed.put(b"acked before the crash")
    lost_id = crashed.put(b"taken, never acked")
    crashed.ack(crashed.take(1, timeout=1.0))
    assert [j.id for j in crashed.take(1, timeout=1.0)] == [lost_id]  # ... and then the process dies

    reclaimed = take_all(survivor, 1, timeout=10)
    assert [(j.id, j.payload, j.attempts) for j in reclaimed] == [(lost_id, b"taken, never acked", 0)]
    survivor.ack(reclaimed)
    assert survivor.take(10, timeout=1.5) == []  # the acked one is not reclaimed, nor the reclaimed one twice
    stats = survivor.stats()
    assert (stats.depth, stats.in_flight) == (0, 0)
    assert not survivor.contains(lost_id) and not survivor.contains(done_id)


def test_concurrent_producers_and_consumers_deliver_every_job_exactly_once(make_redis_queue):
    producers, per_producer = 2, 2000
    total = producers * per_producer
    put_ids: list[list[str]] = [[] for _ in range(producers)]
    delivered: list[list[tuple[str, bytes]]] = [[] for _ in range(2)]
    errors: list[BaseException] = []
    done = threading.Event()

    def produce(n: int) -> None:
        queue = make_redis_queue()
        try:
            put_ids[n] = [queue.put(f"{n}:{i}".encode()) for i in range(per_producer)]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def consume(n: int) -> None:
        queue = make_redis_queue(consumer=f"consumer-{n}")
        try:
            while not done.is_set():
                jobs = queue.take(64, timeout=0.2)
                delivered[n] += [(j.id, j.payload) for j in jobs]
                queue.ack(jobs)
                if sum(map(len, delivered)) >= total:
                    done.set()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=consume, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for thread in threads:
        thread.start()
    done.wait(timeout=120)
    done.set()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []

    got = [item for items in delivered for item in items]
    assert len(got) == total  # no duplicates ...
    assert sorted(got) == sorted(  # ... and no loss
        (job_id, f"{n}:{i}".encode()) for n, ids in enumerate(put_ids) for i, job_id in enumerate(ids)
    )
    stats = make_redis_queue().stats()
    assert (stats.depth, stats.in_flight, stats.oldest_age_seconds) == (0, 0, None)


def test_jobs_survive_a_redis_crash_and_in_flight_ones_are_reclaimed(redis_server):
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    before = RedisJobQueue(redis_server.url, prefix=prefix, consumer="before", visibility_timeout=1)
    ids = [before.put(f"job-{i}".encode()) for i in range(100)]
    in_flight = take_all(before, 10)
    assert len(in_flight) == 10
    before.close()

    redis_server.kill()  # no clean shutdown: only what was fsynced to the AOF comes back
    redis_server.start()

    after = RedisJobQueue(redis_server.url, prefix=prefix, consumer="after", visibility_timeout=1)
    try:
        jobs = take_all(after, 100, timeout=20)
        assert sorted(j.id for j in jobs) == sorted(ids)
        assert sorted(j.payload for j in jobs) == sorted(f"job-{i}".encode() for i in range(100))
        after.ack(jobs)
        stats = after.stats()
        assert (stats.depth, stats.in_flight) == (0, 0)
    finally:
        after.close()


def test_a_clean_redis_restart_keeps_the_queue_and_the_same_instance_reconnects(redis_server):
    queue = RedisJobQueue(redis_server.url, prefix="restart")
    try:
        first = queue.put(b"before restart")
        redis_server.restart()
        second = queue.put(b"after restart")
        assert [j.id for j in take_all(queue, 2)] == [first, second]
    finally:
        queue.close()


def test_while_redis_is_down_put_fails_and_take_waits_then_both_recover(redis_server):
    queue = RedisJobQueue(redis_server.url, prefix="outage")
    try:
        queue.put(b"before the outage")
        queue.ack(queue.take(1, timeout=1.0))
        redis_server.kill()

        with pytest.raises(redis.ConnectionError):
            queue.put(b"during the outage")
        assert queue.take(10, timeout=0.2) == []  # a consumer loop keeps running
        with pytest.raises(redis.ConnectionError):
            queue.stats()

        redis_server.start()
        job_id = queue.put(b"after the outage")
        assert [(j.id, j.payload) for j in take_all(queue, 1)] == [(job_id, b"after the outage")]
    finally:
        queue.close()


def test_a_deleted_stream_and_group_are_recreated(make_redis_queue, redis_url):
    queue = make_redis_queue()
    queue.put(b"lost with the key")
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(queue.stream)  # as after a Redis restart without persistence

        assert queue.take(10, timeout=0.1) == []
        job_id = queue.put(b"after")
        assert [j.id for j in take_all(queue, 1)] == [job_id]

        client.delete(queue.stream)
        job_id = queue.put(b"put first, then taken")  # XADD recreates the stream, but not the group
        jobs = take_all(queue, 1)
        assert [j.id for j in jobs] == [job_id]
        queue.ack(jobs)
        client.delete(queue.stream)
        stats = queue.stats()
        assert (stats.depth, stats.in_flight, stats.oldest_age_seconds) == (0, 0, None)
    finally:
        client.close()


def test_a_closed_queue_still_accepts_puts(make_redis_queue):
    queue = make_redis_queue()
    queue.close()
    assert queue.take(1, timeout=1.0) == []
    job_id = queue.put(b"from the API while the worker stops")
    assert make_redis_queue().contains(job_id)


def test_a_blocked_take_sees_a_job_put_by_another_process(make_redis_queue):
    consumer, producer = make_redis_queue(), make_redis_queue()
    results: list[list[str]] = []
    taker = threading.Thread(target=lambda: results.append([j.id for j in consumer.take(1, timeout=10)]))
    taker.start()
    time.sleep(0.1)
    job_id = producer.put(b"wake up")
    taker.join(timeout=15)
    assert results == [[job_id]]
