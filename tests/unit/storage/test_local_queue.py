from spyglass.storage.queue.local import LocalJobQueue


def test_unacked_jobs_are_redelivered_in_order_after_a_restart(tmp_path):
    queue = LocalJobQueue(tmp_path)
    ids = [queue.put(f"job-{i}".encode()) for i in range(3)]
    taken = queue.take(2, timeout=0.1)
    queue.ack(taken[:1])
    reopened = LocalJobQueue(tmp_path)  # as after a crash: nothing in memory survives
    again = reopened.take(10, timeout=0.1)
    assert [j.id for j in again] == ids[1:]
    assert [j.payload for j in again] == [b"job-1", b"job-2"]


def test_retry_waits_and_dead_letter_is_kept_with_its_error(tmp_path):
    queue = LocalJobQueue(tmp_path)
    queue.put(b"poison")
    job = queue.take(1, timeout=0.1)[0]
    queue.retry(job, "boom", delay=0.2)
    assert queue.take(1, timeout=0.05) == []
    job = queue.take(1, timeout=1.0)[0]
    assert job.attempts == 1
    queue.dead_letter(job, "still boom")
    assert queue.stats().depth == 0
    dead = LocalJobQueue(tmp_path).list_dead()
    assert [(d.payload, d.error) for d in dead] == [(b"poison", "still boom")]
    assert LocalJobQueue(tmp_path).take(1, timeout=0.05) == []


def test_stats_report_depth_and_age(tmp_path):
    queue = LocalJobQueue(tmp_path)
    assert queue.stats().oldest_age_seconds is None
    queue.put(b"a")
    stats = queue.stats()
    assert stats.depth == 1 and stats.oldest_age_seconds is not None

