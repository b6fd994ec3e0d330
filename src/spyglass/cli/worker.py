"""`spyglass worker`: consume the shared ingestion queue in a process of its own."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from spyglass.cli.output import configure_logging, err, exit_with
from spyglass.settings import Settings

log = logging.getLogger("spyglass.worker")

_REPORT_EVERY_SECONDS = 30.0


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", min=1,
                     help="Consumer threads (default SPYGLASS_WORKER_CONCURRENCY, 1). Each takes its own batches; "
                     "more than the cores rarely helps, run more processes instead."),
    ] = None,
) -> None:
    """Apply accepted events from the shared queue (Redis) to ClickHouse, until stopped.

    Run any number of these beside `spyglass serve --no-worker` processes. Needs
    SPYGLASS_REDIS_URL, SPYGLASS_S3_BUCKET and a ClickHouse server (SPYGLASS_CLICKHOUSE_URL);
    run `spyglass migrate` once before the first start. On SIGTERM/SIGINT the batch in
    hand is finished and acknowledged; what is still queued stays for the other workers.
    """
    from spyglass.bootstrap import StartupError, build_platform

    settings = Settings()
    configure_logging(settings.log_level)
    try:
        platform = build_platform(settings, "worker", concurrency)
    except StartupError as exc:
        raise exit_with(exc) from None
    stopping = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    platform.start()
    err.print(f"Spyglass worker running {len(platform.workers)} consumer thread(s); stop with Ctrl-C or SIGTERM.")
    while not stopping.wait(_REPORT_EVERY_SECONDS):
        stats = platform.queue.stats()
        log.info("queue: %d waiting, %d in flight, oldest %.1fs, %d dead letters", stats.depth, stats.in_flight,
                 stats.oldest_age_seconds or 0.0, stats.dead)
    platform.stop()
    err.print("Spyglass worker stopped; unfinished jobs stay on the queue.")
