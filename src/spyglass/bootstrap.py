"""The composition root: settings → concrete stores → services → a runnable platform.

The only module that names concrete backends. Embedded mode runs the worker inside the
serving process (chDB allows one process per data directory).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from spyglass import __version__
from spyglass.domain.values import now_micros
from spyglass.ingestion.accept import Acceptor
from spyglass.ingestion.apply import JobApplier
from spyglass.services.container import Limits, Services
from spyglass.services.metrics import MetricsService
from spyglass.services.projects import ProjectService
from spyglass.services.tracing import TracingService
from spyglass.settings import InitSettings, Settings
from spyglass.storage.blob.local import LocalBlobStore
from spyglass.storage.fsync import write_durably
from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.gate import VisibilityGate
from spyglass.storage.olap.metrics import MetricsQueries
from spyglass.storage.olap.migrate import migrate as migrate_olap
from spyglass.storage.olap.queries import TraceQueries
from spyglass.storage.olap.records import RecordStore
from spyglass.storage.oltp.store import OltpStore
from spyglass.storage.queue.local import LocalJobQueue
from spyglass.worker.runner import Worker

log = logging.getLogger(__name__)


class DataDirLocked(RuntimeError):
    """Another Spyglass process owns the data directory."""


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data dir for the life of the process (chDB allows one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "spyglass.lock", "a+")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise DataDirLocked(
            f"Another Spyglass process (pid {owner}) is already using the data directory "
            f"{data_dir.resolve()}. Stop it first, or point SPYGLASS_DATA_DIR at another directory."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def resolve_salt(settings: Settings) -> str:
    """The API-key hash salt: from settings, else generated once and kept in the data dir."""
    if settings.salt:
        return settings.salt
    path = settings.data_dir / "salt"
    if not path.exists():
        write_durably(path, secrets.token_hex(32).encode())
    return path.read_text().strip()


def build_project_service(settings: Settings) -> ProjectService:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ProjectService(OltpStore.open(settings.resolved_database_url), resolve_salt(settings))


def open_queue(settings: Settings) -> LocalJobQueue:
    """The ingestion queue of the data dir (for operator commands; the server holds it while running)."""
    return LocalJobQueue(settings.data_dir / "queue")


def migrate_all(settings: Settings) -> list[str]:
    """Apply OLTP (Alembic) and OLAP (.sql) migrations; returns the OLAP ones applied."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    OltpStore.open(settings.resolved_database_url, migrate=True).close()
    olap = OlapClient(settings.resolved_clickhouse_url, pool_size=1)
    try:
        return migrate_olap(olap)
    finally:
        olap.close()


@dataclass
class Platform:
    """Everything `spyglass serve` runs in one process, with its start/stop hooks."""

    settings: Settings
    services: Services
    worker: Worker
    olap: OlapClient
    oltp: OltpStore
    queue: LocalJobQueue
    lock: IO[str]

    def start(self) -> None:
        self.worker.start()
        log.info("spyglass %s ready (data dir %s)", __version__, self.settings.data_dir.resolve())
        if not self.services.projects.list_projects():
            log.warning("no projects yet: create one with `spyglass projects create --name NAME` "
                        "(prints its API keys), or set the LANGFUSE_INIT_* variables and restart")

    def stop(self) -> None:
        log.info("draining the ingestion queue before exit")
        self.worker.stop(drain_timeout=30.0)
        self.olap.close()
        self.oltp.close()
        self.lock.close()


def build_platform(settings: Settings) -> Platform:
    lock = lock_data_dir(settings.data_dir)
    oltp = OltpStore.open(settings.resolved_database_url, migrate=True)
    projects = ProjectService(oltp, resolve_salt(settings))
    projects.apply_headless_init(InitSettings().to_init())
    olap = OlapClient(settings.resolved_clickhouse_url, pool_size=settings.olap_pool_size)
    migrate_olap(olap)
    blobs = LocalBlobStore(settings.data_dir / "blobs")
    queue = open_queue(settings)
    acceptor = Acceptor(blobs, queue)
    gate = VisibilityGate()  # one process writes and reads: make each write visible at once
    applier = JobApplier(blobs, RecordStore(olap, gate), now_micros, keep_raw_events=settings.keep_raw_events)
    worker = Worker(queue, applier, batch_jobs=settings.worker_batch_jobs, max_attempts=settings.worker_max_attempts)
    tracing = TracingService(TraceQueries(olap, gate), acceptor, worker.wait_for)

    def status() -> dict[str, Any]:
        stats = queue.stats()
        return {"queue": {"depth": stats.depth, "inFlight": stats.in_flight,
                          "oldestAgeSeconds": stats.oldest_age_seconds, "deadLetters": stats.dead}}

    def ready() -> bool:
        try:
            olap.scalar("SELECT 1 AS ok")
            return True
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            return False

    services = Services(
        projects=projects,
        tracing=tracing,
        metrics=MetricsService(MetricsQueries(olap, gate)),
        ingestion=acceptor,
        limits=Limits(settings.max_ingestion_body_bytes, settings.max_otel_body_bytes, settings.max_json_body_bytes),
        version=__version__,
        status=status,
        ready=ready,
    )
    return Platform(settings, services, worker, olap, oltp, queue, lock)
