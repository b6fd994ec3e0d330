"""What every JobQueue promises the worker and the API, checked on each implementation."""

from __future__ import annotations

import threading
import time

from tests.support.queues import take_all

from spyglass.storage.queue.base import Job


def test_jobs_come_out_in_the_order_they_went_in(queue):
    ids = [queue.put(f"job-{i}".encode()) for i in range(5)]
    assert len(set(ids)) == 5
    jobs = take_all(queue, 5)
    assert [j.id for j in jobs] == ids
    assert [j.payload for j in jobs] == [f"job-{i}".encode() for i in range(5)]
    assert all(j.attempts == 0 and j.errors == [] for j in jobs)


def test_take_respects_max_items_and_returns_nothing_when_empty(queue):
    assert queue.take(5, timeout=0.1) == []
    assert queue.take(5, timeout=0) == []
    for i in range(3):
        queue.put(f"job-{i}".encode())
    assert [j.payload for j in queue.take(2, timeout=1.0)] == [b"job-0", b"job-1"]
    assert [j.payload for j in queue.take(2, timeout=1.0)] == [b"job-2"]
    assert queue.take(2, timeout=0.1) == []


def test_an_acked_job_is_never_delivered_again(make_queue):
    queue = make_queue()
    queue.put(b"first")
    queue.put(b"second")
    first = queue.take(1, timeout=1.0)
    queue.ack(first)
    second = queue.take(10, timeout=1.0)
    assert [j.payload for j in second] == [b"second"]
    queue.ack(second)
    assert queue.take(10, timeout=0.2) == []
    # Nor to the next process that opens the queue.
    reopened = make_queue()
    assert reopened.take(10, timeout=0.2) == []
    stats = reopened.stats()
    assert (stats.depth, stats.in_flight, stats.oldest_age_seconds) == (0, 0, None)


def test_retry_redelivers_after_the_delay_with_attempts_and_error(queue):
    job_id = queue.put(b"flaky")
    job = queue.take(1, timeout=1.0)[0]
    queue.retry(job, "boom", delay=0.5)
    assert queue.contains(job_id)
    assert queue.take(1, timeout=0) == []  # not before it is due
    stats = queue.stats()
    assert (stats.depth, stats.in_flight) == (1, 0)
    assert stats.oldest_age_seconds is not None  # a job waiting for its retry is still waiting

    again = take_all(queue, 1)
    assert [(j.id, j.payload, j.attempts, j.errors) for j in again] == [(job_id, b"flaky", 1, ["boom"])]
    queue.retry(again[0], "boom again", delay=0)
    third = take_all(queue, 1)
    assert [(j.id, j.attempts, j.errors) for j in third] == [(job_id, 2, ["boom", "boom again"])]
    queue.ack(third)
    assert not queue.contains(job_id)
    assert queue.take(1, timeout=0.2) == []
    stats = queue.stats()
    assert (stats.depth, stats.in_flight, stats.oldest_age_seconds) == (0, 0, None)


def test_dead_lettered_jobs_are_listed_counted_and_not_delivered(queue):
    before = time.time()
    job_id = queue.put(b"poison")
    queue.put(b"fine")
    job = queue.take(1, timeout=1.0)[0]
    queue.dead_letter(job, "cannot decode")
    dead = queue.list_dead()
    assert [(d.id, d.payload, d.error) for d in dead] == [(job_id, b"poison", "cannot decode")]
    assert dead[0].died_at >= before
    assert not queue.contains(job_id)
    stats = queue.stats()
    assert (stats.depth, stats.in_flight, stats.dead) == (1, 0, 1)
    assert [j.payload for j in queue.take(10, timeout=1.0)] == [b"fine"]


def test_requeue_dead_delivers_dead_jobs_again(queue):
    ids = [queue.put(b"a"), queue.put(b"b")]
    for job in take_all(queue, 2):
        queue.dead_letter(job, "store was down")
    assert queue.stats().dead == 2

    assert queue.requeue_dead() == 2
    assert queue.list_dead() == []
    assert all(queue.contains(job_id) for job_id in ids)
    stats = queue.stats()
    assert (stats.depth, stats.dead) == (2, 0)
    jobs = take_all(queue, 2)
    assert sorted((j.id, j.payload, j.attempts) for j in jobs) == sorted(zip(ids, [b"a", b"b"], [0, 0], strict=True))
    assert queue.requeue_dead() == 0


def test_stats_count_waiting_in_flight_and_the_oldest_age(queue):
    empty = queue.stats()
    assert (empty.depth, empty.in_flight, empty.oldest_age_seconds, empty.dead) == (0, 0, None, 0)
    queue.put(b"old")
    time.sleep(0.2)
    queue.put(b"new")
    stats = queue.stats()
    assert (stats.depth, stats.in_flight) == (2, 0)
    assert stats.oldest_age_seconds >= 0.2  # the first job's age, not the last one's

    taken = queue.take(1, timeout=1.0)
    stats = queue.stats()
    assert (stats.depth, stats.in_flight) == (1, 1)
    queue.ack(taken)
    stats = queue.stats()
    assert (stats.depth, stats.in_flight) == (1, 0)
    queue.ack(queue.take(1, timeout=1.0))
    stats = queue.stats()
    assert (stats.depth, stats.in_flight, stats.oldest_age_seconds) == (0, 0, None)


def test_contains_follows_a_job_until_it_is_acked(queue):
    job_id = queue.put(b"x")
    assert queue.contains(job_id)
    jobs = queue.take(1, timeout=1.0)
    assert queue.contains(job_id)
    queue.ack(jobs)
    assert not queue.contains(job_id)
    assert not queue.contains("0-1")
    assert not queue.contains("not-a-job")
    assert not queue.contains("../pending")


def test_close_wakes_a_blocked_take(queue):
    results: list[list[Job]] = []
    taker = threading.Thread(target=lambda: results.append(queue.take(1, timeout=30)))
    taker.start()
    time.sleep(0.2)  # let it block
    queue.close()
    taker.join(timeout=10)
    assert not taker.is_alive()
    assert results == [[]]


def test_arbitrary_binary_payloads_roundtrip(queue):
    payloads = [bytes(range(256)), b"", b"\x00" * 10, bytes(range(255, -1, -1)) * 4]
    ids = [queue.put(p) for p in payloads]
    jobs = take_all(queue, len(payloads))
    assert [j.payload for j in jobs] == payloads
    # The delayed set keeps the bytes too.
    for job in jobs:
        queue.retry(job, "again", delay=0)
    again = take_all(queue, len(payloads))
    assert sorted((j.id, j.payload) for j in again) == sorted(zip(ids, payloads, strict=True))
