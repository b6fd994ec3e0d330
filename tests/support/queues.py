"""Helpers for tests of the queue port."""

from __future__ import annotations

import time

from spyglass.storage.queue.base import Job, JobQueue


def take_all(queue: JobQueue, count: int, timeout: float = 5.0) -> list[Job]:
    """Take until `count` jobs arrived (or `timeout` passed): a queue may hand them out over several calls."""
    jobs: list[Job] = []
    deadline = time.monotonic() + timeout
    while len(jobs) < count and time.monotonic() < deadline:
        jobs += queue.take(count - len(jobs), timeout=0.2)
    return jobs
