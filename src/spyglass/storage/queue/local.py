"""In-process queue backed by a durable local log: the embedded default.

Each job is one small file in `pending/`, written durably before `put` returns and
removed on `ack`. On start every file still in `pending/` is delivered again, in the
order it was enqueued — so a crash at any point re-delivers what was not acknowledged.
Poison jobs move to `dead/` with their error.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections import deque
from pathlib import Path

import orjson

from spyglass.storage.fsync import ensure_dir, write_durably
from spyglass.storage.queue.base import DeadJob, Job, QueueStats


class LocalJobQueue:
    def __init__(self, root: Path) -> None:
        self._pending_dir = root / "pending"
        self._dead_dir = root / "dead"
        ensure_dir(self._pending_dir)
        ensure_dir(self._dead_dir)
        self._ready: deque[Job] = deque()
        self._delayed: list[tuple[float, int, Job]] = []
        self._tiebreak = itertools.count()
        self._in_flight: dict[str, Job] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._seq = itertools.count()
        self._recover()

    @staticmethod
    def inspect(root: Path) -> QueueStats:
        """Figures read from the files alone, beside a running server (taken jobs count as waiting)."""
        jobs = [path.stat().st_mtime for path in (root / "pending").glob("*.job")]
        return QueueStats(
            depth=len(jobs),
            in_flight=0,
            oldest_age_seconds=max(time.time() - min(jobs), 0.0) if jobs else None,
            dead=sum(1 for _ in (root / "dead").glob("*.json")),
        )

    def _recover(self) -> None:
        for path in sorted(self._pending_dir.glob("*.job")):
            self._ready.append(Job(id=path.stem, payload=path.read_bytes(), enqueued_at=path.stat().st_mtime))
        for stray in self._pending_dir.glob(".*.tmp"):
            stray.unlink(missing_ok=True)

    def _new_id(self) -> str:
        # Sortable by enqueue time, unique within the process and across restarts.
        return f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}"

    def put(self, payload: bytes) -> str:
        job_id = self._new_id()
        write_durably(self._pending_dir / f"{job_id}.job", payload)
        with self._cond:
            self._ready.append(Job(id=job_id, payload=payload, enqueued_at=time.time()))
            self._cond.notify()
        return job_id

    def _promote_due(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            self._ready.append(heapq.heappop(self._delayed)[2])

    def take(self, max_items: int, timeout: float) -> list[Job]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                self._promote_due(now)
                if self._ready or self._closed:
                    break
                remaining = deadline - now
                if remaining <= 0:
                    return []
                if self._delayed:
                    remaining = min(remaining, self._delayed[0][0] - now)
                self._cond.wait(max(remaining, 0.001))
            jobs = []
            while self._ready and len(jobs) < max_items:
                job = self._ready.popleft()
                self._in_flight[job.id] = job
                jobs.append(job)
            return jobs

    def ack(self, jobs: list[Job]) -> None:
        for job in jobs:
            (self._pending_dir / f"{job.id}.job").unlink(missing_ok=True)
        with self._cond:
            for job in jobs:
                self._in_flight.pop(job.id, None)

    def retry(self, job: Job, error: str, delay: float) -> None:
        job.attempts += 1
        job.errors.append(error)
        with self._cond:
            self._in_flight.pop(job.id, None)
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._tiebreak), job))
            self._cond.notify()

    def dead_letter(self, job: Job, error: str) -> None:
        record = {"id": job.id, "error": error, "errors": job.errors, "died_at": time.time(),
                  "payload": job.payload.decode("utf-8", "replace")}
        write_durably(self._dead_dir / f"{job.id}.json", orjson.dumps(record))
        (self._pending_dir / f"{job.id}.job").unlink(missing_ok=True)
        with self._cond:
            self._in_flight.pop(job.id, None)

    def list_dead(self) -> list[DeadJob]:
        dead = []
        for path in sorted(self._dead_dir.glob("*.json")):
            record = orjson.loads(path.read_bytes())
            dead.append(DeadJob(id=record["id"], payload=record["payload"].encode(), error=record["error"],
                                died_at=record["died_at"]))
        return dead

    def requeue_dead(self) -> int:
        """Move every dead-lettered job back to the queue (after its cause was fixed); returns how many."""
        moved = 0
        for path in sorted(self._dead_dir.glob("*.json")):
            record = orjson.loads(path.read_bytes())
            payload = record["payload"].encode()
            write_durably(self._pending_dir / f"{record['id']}.job", payload)
            path.unlink()
            with self._cond:
                self._ready.append(Job(id=record["id"], payload=payload, enqueued_at=time.time()))
                self._cond.notify()
            moved += 1
        return moved

    def stats(self) -> QueueStats:
        with self._cond:
            waiting = list(self._ready) + [entry[2] for entry in self._delayed]
            oldest = min((job.enqueued_at for job in [*waiting, *self._in_flight.values()]), default=None)
            return QueueStats(
                depth=len(waiting),
                in_flight=len(self._in_flight),
                oldest_age_seconds=None if oldest is None else max(time.time() - oldest, 0.0),
                dead=sum(1 for _ in self._dead_dir.glob("*.json")),
            )

    def contains(self, job_id: str) -> bool:
        # A job's pending file lives from `put` until its ack or dead-letter, retries included.
        if not job_id or Path(job_id).name != job_id:
            return False
        return (self._pending_dir / f"{job_id}.job").exists()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
