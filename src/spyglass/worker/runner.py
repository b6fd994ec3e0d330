"""The consume loop: take jobs in batches, apply them, ack; retry with backoff; dead-letter.

A batch that fails is split and its jobs retried one by one, so one poison job never
holds back its neighbours. On stop the worker drains what is ready before it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from pydantic import ValidationError

from spyglass.ingestion.apply import JobApplier, PoisonJob, WritePlan
from spyglass.ingestion.contracts import IngestJob
from spyglass.storage.queue.base import Job, JobQueue
from spyglass.worker.heap import HeapTrimmer

log = logging.getLogger(__name__)
InFlight = tuple[Future[None], list[tuple[Job, IngestJob]]]  # a write under way and the jobs it carries


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        applier: JobApplier,
        *,
        batch_jobs: int = 64,
        max_attempts: int = 10,
        # 0.5 s doubling to a minute: ten attempts ride out about five minutes of store outage.
        backoff: Callable[[int], float] = lambda attempt: min(0.5 * 2**attempt, 60.0),
    ) -> None:
        self.queue = queue
        self.applier = applier
        self.batch_jobs = batch_jobs
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done: dict[str, threading.Event] = {}
        self._done_lock = threading.Lock()
        self._trim_heap = HeapTrimmer()

    def start(self, name: str = "spyglass-worker") -> None:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self, drain_timeout: float = 30.0) -> None:
        """Process everything already ready (up to `drain_timeout`), then stop.

        The write under way is always finished and acked. A worker on a shared queue passes
        0: it leaves what is waiting to the other workers instead of racing the producers.
        The queue stays open (other consumers may share it); its owner closes it.
        """
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            stats = self.queue.stats()
            if stats.depth == 0 and stats.in_flight == 0:
                break
            time.sleep(0.05)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_for(self, job_id: str, timeout: float) -> bool:
        """Block until the job was applied (or dead-lettered); False on timeout."""
        with self._done_lock:
            event = self._done.setdefault(job_id, threading.Event())
        finished = event.wait(timeout)
        with self._done_lock:
            self._done.pop(job_id, None)
        return finished

    def _signal(self, jobs: list[Job]) -> None:
        with self._done_lock:
            for job in jobs:
                event = self._done.get(job.id)
                if event is not None:
                    event.set()

    def _run(self) -> None:
        # One writer thread: batch N is written while batch N+1 is merged (chDB releases the GIL).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spyglass-writer") as writer:
            in_flight: InFlight | None = None
            while not self._stop.is_set():
                try:
                    in_flight = self._step(writer, in_flight)
                except Exception:  # noqa: BLE001 - a shared queue can be briefly unreachable
                    # Un-acked jobs are redelivered (after the visibility timeout), so the only
                    # safe reaction is to wait and go on; dying would stop ingestion for good.
                    log.warning("worker could not reach the queue; retrying in 1 s", exc_info=True)
                    in_flight = None
                    self._stop.wait(1.0)
            self._settle(in_flight)

    def _step(self, writer: ThreadPoolExecutor, in_flight: InFlight | None) -> InFlight | None:
        """Take the next batch, settle the write under way, start the next; returns what is in flight."""
        jobs = self.queue.take(self.batch_jobs, timeout=0.2 if in_flight is None else 0.0)
        decoded = self._decode(jobs)
        if not decoded:
            self._settle(in_flight)
            return None
        if any(j.kind.startswith("delete") for _, j in decoded):
            self._settle(in_flight)
            self.process_decoded(decoded)
            return None
        started = time.perf_counter()
        try:
            plan = self.applier.prepare([j for _, j in decoded])
        except Exception:  # noqa: BLE001 - fall back to one job at a time
            self._settle(in_flight)
            self.process_decoded(decoded)
            return None
        if self._settle(in_flight, failed_next=decoded) is not None:
            return None
        merged_s = time.perf_counter() - started
        return writer.submit(self._commit, plan, len(decoded), merged_s), decoded

    def _commit(self, plan: WritePlan, jobs: int, merged_s: float) -> None:
        started = time.perf_counter()
        self.applier.commit(plan)
        # The executor still holds this plan; the trim returns what earlier writes freed.
        self._trim_heap()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("applied %d jobs: merge %.0f ms, write %.0f ms", jobs, merged_s * 1e3,
                      (time.perf_counter() - started) * 1e3)

    def _settle(
        self, in_flight: InFlight | None, failed_next: list[tuple[Job, IngestJob]] | None = None
    ) -> InFlight | None:
        """Wait for the in-flight write; ack it, or on failure redo it (and `failed_next`) job by job.

        Returns a non-None marker when the write failed, so the caller drops its next plan:
        that plan may build on records that never reached the store.
        """
        if in_flight is None:
            return None
        future, decoded = in_flight
        try:
            future.result()
        except Exception:  # noqa: BLE001
            log.warning("write of %d jobs failed; retrying them one by one", len(decoded), exc_info=True)
            self.process_decoded(decoded)
            if failed_next:
                self.process_decoded(failed_next)
            return in_flight
        self._ack(decoded)
        return None

    def _decode(self, jobs: list[Job]) -> list[tuple[Job, IngestJob]]:
        decoded: list[tuple[Job, IngestJob]] = []
        for job in jobs:
            try:
                decoded.append((job, IngestJob.decode(job.payload)))
            except ValidationError as exc:
                self._dead(job, f"undecodable job payload: {exc}")
        return decoded

    def process_decoded(self, decoded: list[tuple[Job, IngestJob]]) -> None:
        """Apply jobs synchronously: the whole batch at once, or one by one if that fails."""
        if not decoded:
            return
        if len(decoded) > 1:
            try:
                self.applier.apply([ingest_job for _, ingest_job in decoded])
            except Exception:  # noqa: BLE001 - isolate the failing job below
                log.warning("batch of %d jobs failed; retrying them one by one", len(decoded), exc_info=True)
            else:
                self._ack(decoded)
                return
        for job, ingest_job in decoded:
            self._attempt(job, ingest_job)

    def _ack(self, decoded: list[tuple[Job, IngestJob]]) -> None:
        jobs = [job for job, _ in decoded]
        self.queue.ack(jobs)
        self._signal(jobs)
        # Only after the ack: a crash in between leaves a stray blob, never a job without its input.
        self.applier.release([ingest_job for _, ingest_job in decoded])

    def _attempt(self, job: Job, ingest_job: IngestJob) -> None:
        try:
            self.applier.apply([ingest_job])
        except PoisonJob as exc:
            self._dead(job, str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure is retried, then parked
            error = f"{type(exc).__name__}: {exc}"
            if job.attempts + 1 >= self.max_attempts:
                self._dead(job, error)
            else:
                delay = self.backoff(job.attempts)
                log.warning("job %s failed (attempt %d), retrying in %.1fs: %s", job.id, job.attempts + 1, delay,
                            error)
                self.queue.retry(job, error, delay)
        else:
            self._ack([(job, ingest_job)])

    def _dead(self, job: Job, error: str) -> None:
        log.error("job %s moved to the dead-letter list: %s", job.id, error)
        self.queue.dead_letter(job, error)
        self._signal([job])
