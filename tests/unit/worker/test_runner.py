"""The worker's failure handling, with the real durable queue and a scripted applier."""

from __future__ import annotations

import time

from spyglass.ingestion.apply import PoisonJob
from spyglass.ingestion.contracts import IngestJob
from spyglass.storage.queue.local import LocalJobQueue
from spyglass.worker.runner import Worker


class ScriptedApplier:
    """Applies every job except those whose blob key says otherwise."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.released: list[str] = []

    def _check(self, jobs: list[IngestJob]) -> None:
        for job in jobs:
            if job.blob_key == "poison":
                raise PoisonJob("blob is not a stored batch")
            if job.blob_key == "flaky":
                raise RuntimeError("store unavailable")

    def apply(self, jobs: list[IngestJob]) -> None:
        self._check(jobs)
        self.applied += [j.blob_key for j in jobs]

    def prepare(self, jobs: list[IngestJob]) -> list[IngestJob]:
        self._check(jobs)
        return jobs

    def commit(self, plan: list[IngestJob]) -> None:
        self.applied += [j.blob_key for j in plan]

    def release(self, jobs: list[IngestJob]) -> None:
        self.released += [j.blob_key for j in jobs]


def job(key: str) -> bytes:
    return IngestJob(kind="batch", project_id="p", blob_key=key, received_at_us=1).encode()


def run_until_idle(worker: Worker, queue: LocalJobQueue, timeout: float = 5.0) -> None:
    worker.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = queue.stats()
        if stats.depth == 0 and stats.in_flight == 0:
            break
        time.sleep(0.01)
    worker.stop(drain_timeout=1)


def test_failing_jobs_are_isolated_retried_and_parked(tmp_path):
    queue, applier = LocalJobQueue(tmp_path), ScriptedApplier()
    for key in ("a", "poison", "b", "flaky", "c"):
        queue.put(job(key))
    run_until_idle(Worker(queue, applier, batch_jobs=10, max_attempts=3, backoff=lambda attempt: 0.01), queue)
    assert sorted(applier.applied) == ["a", "b", "c"]
    dead = {IngestJob.decode(d.payload).blob_key: d.error for d in LocalJobQueue(tmp_path).list_dead()}
    assert dead == {"poison": "blob is not a stored batch", "flaky": "RuntimeError: store unavailable"}
    assert LocalJobQueue(tmp_path).take(10, timeout=0.05) == []  # nothing left to redeliver


def test_an_undecodable_job_is_parked_not_retried(tmp_path):
    queue, applier = LocalJobQueue(tmp_path), ScriptedApplier()
    queue.put(b"not a job")
    queue.put(job("a"))
    run_until_idle(Worker(queue, applier), queue)
    assert applier.applied == ["a"]
    assert [d.payload for d in queue.list_dead()] == [b"not a job"]


def test_only_applied_jobs_release_their_input(tmp_path) -> None:
    """Dead-lettered jobs keep their blob so `dead-letters replay` can deliver them later."""
    queue, applier = LocalJobQueue(tmp_path), ScriptedApplier()
    for key in ("a", "poison", "b", "flaky"):
        queue.put(job(key))
    run_until_idle(Worker(queue, applier, max_attempts=2, backoff=lambda attempt: 0.01), queue)
    assert sorted(applier.released) == ["a", "b"]
    assert sorted(d.error.split(":")[0] for d in queue.list_dead()) == ["RuntimeError", "blob is not a stored batch"]


class UnreliableQueue(LocalJobQueue):
    """A shared queue's outage: `take` and `ack` fail for a while, then the store is back."""

    def __init__(self, root, failures: int) -> None:  # noqa: ANN001
        super().__init__(root)
        self.failures = failures

    def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("queue unreachable")

    def take(self, max_items: int, timeout: float):  # noqa: ANN201
        self._maybe_fail()
        return super().take(max_items, timeout)

    def ack(self, jobs) -> None:  # noqa: ANN001
        self._maybe_fail()
        super().ack(jobs)


def test_the_worker_outlives_a_queue_outage_and_loses_nothing(tmp_path) -> None:
    queue, applier = UnreliableQueue(tmp_path, failures=3), ScriptedApplier()
    for key in ("a", "b", "c"):
        queue.put(job(key))
    worker = Worker(queue, applier, batch_jobs=1)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (queue.failures or queue.stats().depth):
            time.sleep(0.05)
    finally:
        worker.stop(drain_timeout=5)
    assert worker._thread is not None and not worker._thread.is_alive()
    assert queue.failures == 0 and queue.stats().depth == 0
    # Every job was applied; one whose ack failed stays in flight for redelivery, never dropped.
    assert {"a", "b", "c"} <= set(applier.applied)
    assert sorted(applier.released) == sorted(set(applier.released))
