"""The composition root: settings → concrete stores → services → a runnable platform.

The only module that names concrete backends. A process plays one role:

* `all` — `spyglass serve`: API, OTLP receiver and worker. The embedded default, and
  with embedded chDB also the one process that owns the OLAP data in a split topology.
* `api` — `spyglass serve --no-worker`: accepts ingestion (needs only blobs + queue);
  serves reads too when the OLAP store is a ClickHouse server.
* `worker` — `spyglass worker`: consumes the shared queue (needs a ClickHouse server).

Split roles need shared engines; `check_topology` refuses the rest before anything starts.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NoReturn

from sqlalchemy.engine import make_url

from spyglass import __version__
from spyglass.auth.signed_urls import UrlSigner
from spyglass.domain.errors import Unavailable
from spyglass.domain.values import now_micros
from spyglass.ingestion.accept import Acceptor
from spyglass.ingestion.apply import JobApplier
from spyglass.ingestion.contracts import IngestJob
from spyglass.ingestion.media_extraction import MediaExtractor
from spyglass.ingestion.pricing import Pricer
from spyglass.ingestion.prompt_links import PromptLinker
from spyglass.llm.tokenizer import Tokenizers
from spyglass.services.container import Limits, Services
from spyglass.services.datasets import DatasetService, ExperimentRecorder
from spyglass.services.experiments import ExperimentService
from spyglass.services.media import MediaService
from spyglass.services.media_links import MediaLinks, PresignedLinks, SignedLinks
from spyglass.services.metrics import MetricsService
from spyglass.services.models import ModelService
from spyglass.services.projects import ProjectDeletion, ProjectService
from spyglass.services.prompts import PromptService
from spyglass.services.tracing import TracingService
from spyglass.settings import InitSettings, Settings
from spyglass.storage.blob.base import BlobStore
from spyglass.storage.blob.local import LocalBlobStore
from spyglass.storage.blob.s3 import S3BlobStore
from spyglass.storage.cache.base import Cache
from spyglass.storage.cache.memory import MemoryCache
from spyglass.storage.cache.redis import RedisCache
from spyglass.storage.fsync import write_durably
from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.dialect import ServerOptions
from spyglass.storage.olap.gate import VisibilityGate
from spyglass.storage.olap.metrics import MetricsQueries
from spyglass.storage.olap.metrics_query import MetricsQueryRunner
from spyglass.storage.olap.migrate import ensure_database, pending_migrations
from spyglass.storage.olap.migrate import migrate as migrate_olap
from spyglass.storage.olap.queries import TraceQueries
from spyglass.storage.olap.records import RecordStore
from spyglass.storage.oltp.store import OltpStore
from spyglass.storage.queue.base import JobQueue, QueueStats
from spyglass.storage.queue.local import LocalJobQueue
from spyglass.storage.queue.redis import RedisJobQueue
from spyglass.worker.runner import Worker

log = logging.getLogger(__name__)

Role = Literal["all", "api", "worker"]


class StartupError(RuntimeError):
    """The process cannot start as configured; the message says what to change."""


def _is_sqlite(settings: Settings) -> bool:
    return make_url(settings.resolved_database_url).get_backend_name() == "sqlite"


def check_topology(settings: Settings, role: Role) -> None:
    """Refuse configurations that would run but lose or strand data, with what to set instead."""
    if not _is_sqlite(settings) and not settings.salt:
        raise StartupError(
            "SPYGLASS_SALT must be set when the database is shared (PostgreSQL): every process must hash "
            "API keys with the same salt, or keys created by one are refused by the others."
        )
    if role == "all":
        return
    command = "spyglass serve --no-worker" if role == "api" else "spyglass worker"
    missing = []
    if not settings.redis_url:
        missing.append("SPYGLASS_REDIS_URL (the queue every process shares)")
    if not settings.s3_bucket:
        missing.append("SPYGLASS_S3_BUCKET (where accepted events wait for a worker on any machine)")
    if _is_sqlite(settings):
        missing.append("SPYGLASS_DATABASE_URL=postgresql+psycopg://… (projects, API keys and model prices every "
                       "process reads)")
    if missing:
        raise StartupError(f"`{command}` runs beside other processes, so it needs shared stores. Set: "
                           + "; ".join(missing) + ".")
    if role == "worker" and settings.embedded_olap:
        raise StartupError(
            "`spyglass worker` needs a ClickHouse server (SPYGLASS_CLICKHOUSE_URL=http://…): embedded chDB "
            "allows one process per data directory, and that process is `spyglass serve`, which runs the "
            "worker and the read API itself. Run the ingest-only API processes with `spyglass serve --no-worker`."
        )


class DataDirLocked(StartupError):
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


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


@contextmanager
def _opening(what: str) -> Iterator[None]:
    """Turn a failure to reach a store at start into one line that names it."""
    try:
        yield
    except StartupError:
        raise
    except Exception as exc:  # noqa: BLE001 - every connection error reads the same to an operator
        raise StartupError(f"{what}: {exc}") from exc


def open_oltp(settings: Settings, *, migrate: bool) -> OltpStore:
    if _is_sqlite(settings):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _opening(f"cannot open the database {_redacted(settings.resolved_database_url)}"):
        return OltpStore.open(settings.resolved_database_url, migrate=migrate)


def open_blobs(settings: Settings) -> BlobStore:
    if not settings.s3_bucket:
        return LocalBlobStore(settings.data_dir / "blobs")
    where = f"S3 bucket {settings.s3_bucket!r} at {settings.s3_endpoint_url or 'AWS'}"
    with _opening(f"cannot use the {where}"):
        store = S3BlobStore(
            settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region, access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key, path_style=settings.s3_force_path_style,
            timeout=settings.s3_timeout_seconds,
        )
        store.check()
        return store


def open_queue(settings: Settings) -> JobQueue:
    """The ingestion queue: Redis Streams when configured, else the data dir's durable local queue."""
    if not settings.redis_url:
        return LocalJobQueue(settings.data_dir / "queue")
    with _opening(f"cannot reach Redis at {_redacted(settings.redis_url)}"):
        queue = RedisJobQueue(settings.redis_url, prefix=settings.redis_prefix,
                              visibility_timeout=settings.queue_visibility_timeout_seconds)
        queue.stats()
        return queue


def open_cache(settings: Settings) -> Cache:
    if settings.redis_url:
        return RedisCache(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryCache()


def open_olap(settings: Settings, pool_size: int) -> OlapClient:
    options = ServerOptions(user=settings.clickhouse_user, password=settings.clickhouse_password,
                            database=settings.clickhouse_database, cluster=settings.clickhouse_cluster)
    with _opening(f"cannot reach ClickHouse at {_redacted(settings.resolved_clickhouse_url)}"):
        if not settings.embedded_olap:
            ensure_database(settings.resolved_clickhouse_url, options)
        return OlapClient(settings.resolved_clickhouse_url, pool_size=pool_size, options=options)


def migrate_all(settings: Settings) -> list[str]:
    """Apply OLTP (Alembic) and OLAP (.sql) migrations; returns the OLAP ones applied."""
    oltp = open_oltp(settings, migrate=False)
    try:
        olap = open_olap(settings, pool_size=1)
        try:
            return _migrate_stores(oltp, olap, ModelService(oltp))
        finally:
            olap.close()
    finally:
        oltp.close()


def _migrate_stores(oltp: OltpStore, olap: OlapClient | None, models: ModelService) -> list[str]:
    """Both schemas and the shipped model prices; returns the OLAP migrations applied.

    Several processes may do this at once against shared engines: PostgreSQL's advisory
    lock serialises them, and ClickHouse (which has no locks) and the price sync run under it.
    """
    with oltp.migration_lock():
        oltp.migrate()
        applied = migrate_olap(olap) if olap is not None else []
        models.sync_defaults()
    return applied


class _IngestOnlyReads:
    """Stands in for the OLAP queries in an ingest-only process on embedded chDB."""

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
            raise Unavailable(
                "This Spyglass process only accepts ingestion (`serve --no-worker` with embedded ClickHouse). "
                "Reads are served by the `spyglass serve` process that owns the data directory."
            )

        return refuse


def _wait_while_queued(queue: JobQueue) -> Callable[[str, float], bool]:
    """How a process without its own worker waits for a job: until the queue no longer holds it."""

    def wait(job_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while queue.contains(job_id):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    return wait


def _queue_status(queue: JobQueue) -> dict[str, Any]:
    stats = queue.stats()
    return {"depth": stats.depth, "inFlight": stats.in_flight, "oldestAgeSeconds": stats.oldest_age_seconds,
            "deadLetters": stats.dead}


@dataclass(frozen=True)
class _WorkerSteps:
    """What the worker does besides merging and writing records (each a service's callable)."""

    pricer: Pricer
    linker: PromptLinker
    experiments: ExperimentRecorder
    extractor: MediaExtractor | None
    after_delete: Callable[[IngestJob], None]


def _workers(settings: Settings, queue: JobQueue, blobs: BlobStore, records: RecordStore, steps: _WorkerSteps,
             count: int) -> list[Worker]:
    # The record cache is only safe while this one thread is the only writer anywhere.
    sole_writer = settings.embedded_olap and count == 1
    return [
        Worker(queue, JobApplier(blobs, records, now_micros, keep_raw_events=settings.keep_raw_events,
                                 sole_writer=sole_writer, pricer=steps.pricer, linker=steps.linker,
                                 experiments=steps.experiments.record, extractor=steps.extractor,
                                 after_delete=steps.after_delete),
               batch_jobs=settings.worker_batch_jobs, max_attempts=settings.worker_max_attempts)
        for _ in range(max(count, 1))
    ]


def _after_delete(media: MediaService, deletion: ProjectDeletion) -> Callable[[IngestJob], None]:
    def follow_up(job: IngestJob) -> None:
        if job.kind == "delete-traces":
            media.forget_traces(job.project_id, job.ids)
        elif job.kind == "delete-project":
            deletion.purge(job.project_id)

    return follow_up


def resolve_media_secret(settings: Settings) -> bytes:
    """The key that signs embedded media URLs: generated once and kept in the data dir."""
    path = settings.data_dir / "media-url-secret"
    if not path.exists():
        write_durably(path, secrets.token_hex(32).encode())
    return path.read_text().strip().encode()


def open_media(settings: Settings, oltp: OltpStore, blobs: BlobStore) -> MediaService:
    """Media bytes go to S3 through presigned URLs, or to this server through signed ones."""
    if isinstance(blobs, S3BlobStore):
        links: MediaLinks = PresignedLinks(blobs, settings.media_url_ttl_seconds)
        signed = None
    else:
        links = signed = SignedLinks(UrlSigner(resolve_media_secret(settings)), settings.media_url_ttl_seconds,
                                     settings.public_url)
    return MediaService(oltp, blobs, links, max_bytes=settings.media_max_bytes, signed=signed)


@dataclass
class Platform:
    """Everything one process runs, with its start/stop hooks."""

    settings: Settings
    role: Role
    services: Services | None
    workers: list[Worker]
    queue: JobQueue
    resources: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        for number, worker in enumerate(self.workers):
            worker.start(name=f"spyglass-worker-{number}")
        where = self.settings.data_dir.resolve() if self.settings.embedded_olap else "shared stores"
        log.info("spyglass %s ready: role %s, %d worker thread(s), data in %s", __version__, self.role,
                 len(self.workers), where)
        if self.services is not None and not self.services.projects.list_projects():
            log.warning("no projects yet: create one with `spyglass projects create --name NAME` "
                        "(prints its API keys), or set the LANGFUSE_INIT_* variables and restart")

    def stop(self) -> None:
        # A private queue is drained so nothing waits for the next start; a shared one is left
        # to the other workers (what is in flight here is finished and acked either way).
        drain = 30.0 if isinstance(self.queue, LocalJobQueue) else 0.0
        if self.workers:
            log.info("stopping the worker%s", " after draining the ingestion queue" if drain else "")
        for worker in self.workers:
            worker.stop(drain_timeout=drain)
        self.resources.close()


def build_platform(settings: Settings, role: Role = "all", concurrency: int | None = None) -> Platform:
    """Open what `role` needs, in dependency order; on any failure close what was opened."""
    check_topology(settings, role)
    with ExitStack() as resources:
        if role == "all" and (settings.embedded_olap or not settings.redis_url or not settings.s3_bucket):
            resources.callback(lock_data_dir(settings.data_dir).close)
        queue = open_queue(settings)
        resources.callback(queue.close)
        blobs = open_blobs(settings)
        olap = None
        if not (role == "api" and settings.embedded_olap):
            olap = open_olap(settings, settings.olap_pool_size)
            resources.callback(olap.close)
        platform = _assemble(settings, role, queue, blobs, olap, resources, concurrency)
        platform.resources = resources.pop_all()
        return platform
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _assemble(settings: Settings, role: Role, queue: JobQueue, blobs: BlobStore, olap: OlapClient | None,
              resources: ExitStack, concurrency: int | None) -> Platform:
    # One process writes and reads chDB: the gate makes each write visible at once. Across
    # processes (a ClickHouse server) each read sees what the server has committed.
    gate = VisibilityGate()
    oltp = open_oltp(settings, migrate=False)
    resources.callback(oltp.close)
    models = ModelService(oltp)
    cache = open_cache(settings)
    if isinstance(cache, RedisCache):
        resources.callback(cache.close)
    prompts = PromptService(oltp, cache, cache_ttl=settings.prompt_cache_ttl_seconds)
    if role == "worker":
        assert olap is not None
        if pending_migrations(olap) or oltp.current_revision() != oltp.head_revision():
            raise StartupError("the database schema is not up to date: run `spyglass migrate` first")
    else:
        _migrate_stores(oltp, olap, models)
    projects = ProjectService(oltp, resolve_salt(settings), cache=cache)
    acceptor = Acceptor(blobs, queue)
    media = open_media(settings, oltp, blobs)
    deletion = ProjectDeletion(projects, acceptor.enqueue_project_deletion, media.purge_project)
    workers: list[Worker] = []
    if role != "api":
        assert olap is not None
        steps = _WorkerSteps(
            pricer=Pricer(models.models_for_matching, Tokenizers(settings.data_dir / "tiktoken")),
            linker=PromptLinker(prompts.link_ids), experiments=ExperimentRecorder(oltp),
            extractor=MediaExtractor(media.store_inline) if settings.extract_inline_media else None,
            after_delete=_after_delete(media, deletion),
        )
        count = concurrency or (settings.worker_concurrency if settings.redis_url else 1)
        workers = _workers(settings, queue, blobs, RecordStore(olap, gate), steps, count)
    if role == "worker":
        return Platform(settings, role, None, workers, queue)

    projects.apply_headless_init(InitSettings().to_init())
    wait_for = workers[0].wait_for if len(workers) == 1 and isinstance(queue, LocalJobQueue) \
        else _wait_while_queued(queue)
    reads: Any = _IngestOnlyReads() if olap is None else TraceQueries(olap, gate)
    metrics: Any = _IngestOnlyReads() if olap is None else MetricsQueries(olap, gate)
    metrics_runner: Any = _IngestOnlyReads() if olap is None else MetricsQueryRunner(olap, gate)

    def ready() -> bool:
        try:
            oltp.ping()
            if olap is not None:
                olap.scalar("SELECT 1 AS ok")
            queue.stats()
            return True
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            return False

    tracing = TracingService(reads, acceptor, wait_for, models.prices_of)
    services = Services(
        projects=projects,
        models=models,
        prompts=prompts,
        datasets=DatasetService(oltp, tracing.trace_of_observation, reads.score_aggregates),
        experiments=ExperimentService(oltp, reads.observations_by_ids, reads.scores_of_traces, reads.scores_of_runs),
        media=media,
        tracing=tracing,
        metrics=MetricsService(metrics, metrics_runner, max_range_days=settings.metrics_max_range_days),
        ingestion=acceptor,
        project_deletion=deletion,
        limits=Limits(settings.max_ingestion_body_bytes, settings.max_otel_body_bytes, settings.max_json_body_bytes),
        version=__version__,
        status=lambda: {"role": role, "queue": _queue_status(queue)},
        ready=ready,
    )
    return Platform(settings, role, services, workers, queue)


def build_dataset_service(settings: Settings) -> DatasetService:
    """For `spyglass dataset import`: the OLTP store only (run score reads need the server)."""
    check_topology(settings, "all")

    def needs_server(*_args: object, **_kwargs: object) -> Any:
        raise Unavailable("reading traces and scores needs the server; use the API")

    return DatasetService(open_oltp(settings, migrate=True), needs_server, needs_server)


@contextmanager
def project_deletion(settings: Settings) -> Iterator[ProjectDeletion]:
    """For `spyglass projects delete`: marks the project and queues its clean-up for the worker.

    With the embedded queue the server must be stopped (it owns the data directory); the
    next `spyglass serve` removes the data. With Redis, running workers do it at once.
    """
    check_topology(settings, "all")
    with ExitStack() as resources:
        if not settings.redis_url:
            resources.callback(lock_data_dir(settings.data_dir).close)
        queue = open_queue(settings)
        resources.callback(queue.close)
        blobs = open_blobs(settings)
        oltp = open_oltp(settings, migrate=True)
        resources.callback(oltp.close)
        projects = ProjectService(oltp, resolve_salt(settings), cache=open_cache(settings))
        media = open_media(settings, oltp, blobs)
        yield ProjectDeletion(projects, Acceptor(blobs, queue).enqueue_project_deletion, media.purge_project)


def build_project_service(settings: Settings) -> ProjectService:
    """For operator commands (`spyglass projects`): the database and cache, nothing else."""
    check_topology(settings, "all")
    return ProjectService(open_oltp(settings, migrate=True), resolve_salt(settings), cache=open_cache(settings))


def describe_stores(settings: Settings) -> dict[str, str]:
    """Where each port points, with passwords hidden (for `spyglass status`)."""
    blobs = (f"s3://{settings.s3_bucket}/{settings.s3_prefix} at {settings.s3_endpoint_url or 'AWS'}"
             if settings.s3_bucket else str((settings.data_dir / "blobs").resolve()))
    queue = (f"Redis Streams {_redacted(settings.redis_url)} ({settings.redis_prefix}:queue)"
             if settings.redis_url else str((settings.data_dir / "queue").resolve()))
    return {"OLTP": _redacted(settings.resolved_database_url), "OLAP": _redacted(settings.resolved_clickhouse_url),
            "blobs": blobs, "queue": queue}


def queue_stats(settings: Settings) -> QueueStats:
    """The queue's figures without taking part in it (a local queue is read from its files)."""
    if not settings.redis_url:
        return LocalJobQueue.inspect(settings.data_dir / "queue")
    queue = open_queue(settings)
    try:
        return queue.stats()
    finally:
        queue.close()
