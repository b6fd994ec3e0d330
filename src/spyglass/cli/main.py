"""The `spyglass` command."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer

from spyglass import __version__
from spyglass.cli.datasets import datasets_app
from spyglass.cli.dead_letters import dead_letters_app
from spyglass.cli.output import configure_logging, exit_with
from spyglass.cli.output import err as console
from spyglass.cli.projects import projects_app
from spyglass.cli.status import status
from spyglass.cli.worker import worker
from spyglass.settings import Settings

app = typer.Typer(
    help="Spyglass: LLM tracing, prompts and evaluation, wire-compatible with Langfuse.",
    no_args_is_help=True,
    add_completion=False,
)

app.add_typer(projects_app, name="projects")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(datasets_app, name="dataset")
app.command()(worker)
app.command()(status)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1, or SPYGLASS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 3000, or SPYGLASS_PORT).")] = None,
    no_worker: Annotated[
        bool,
        typer.Option("--no-worker", help="Accept ingestion and serve the API, but leave the queue to "
                     "`spyglass worker` processes (or to the one `serve` that owns embedded chDB). Needs "
                     "PostgreSQL, Redis and S3; see the README's Deploying section."),
    ] = False,
    otlp_grpc_port: Annotated[
        int | None,
        typer.Option("--otlp-grpc-port", help="Also receive OTLP over gRPC on this port (the OpenTelemetry "
                     "exporters' default transport; usually 4317). Default: SPYGLASS_OTLP_GRPC (on when Redis "
                     "is configured, off on the embedded default) on SPYGLASS_OTLP_GRPC_PORT."),
    ] = None,
) -> None:
    """Run the platform: API, OTLP receivers (HTTP; gRPC when enabled) and, unless --no-worker, the worker.

    With no configuration everything is embedded under SPYGLASS_DATA_DIR (default
    ./spyglass-data): SQLite, ClickHouse (chDB), raw event blobs and the durable queue.
    Set SPYGLASS_DATABASE_URL, SPYGLASS_REDIS_URL, SPYGLASS_S3_BUCKET and
    SPYGLASS_CLICKHOUSE_URL to run on shared engines. LANGFUSE_INIT_* variables
    provision an organisation, project and API keys on start.
    """
    import uvicorn

    from spyglass.bootstrap import StartupError, build_platform
    from spyglass.web.app import create_app
    from spyglass.web.otlp_grpc import OtlpGrpcReceiver

    settings = Settings()
    configure_logging(settings.log_level)
    try:
        platform = build_platform(settings, "api" if no_worker else "all")
    except StartupError as exc:
        raise exit_with(exc) from None
    assert platform.services is not None
    bind_host, bind_port = host or settings.host, port or settings.port
    receiver = None
    if otlp_grpc_port is not None or settings.otlp_grpc_enabled:
        receiver = OtlpGrpcReceiver(platform.services, bind_host, otlp_grpc_port or settings.otlp_grpc_port)
        try:
            grpc_port = receiver.start()
        except RuntimeError as exc:
            platform.stop()
            raise exit_with(exc) from None

    def shutdown() -> None:
        if receiver is not None:  # no new exports while the worker drains the queue
            receiver.stop()
        platform.stop()

    application = create_app(platform.services, on_startup=platform.start, on_shutdown=shutdown)
    role = " (ingest and API only; no worker)" if no_worker else ""
    console.print(f"Spyglass {__version__} listening on [bold]http://{bind_host}:{bind_port}[/bold]{role}")
    if receiver is not None:
        console.print(f"OTLP/gRPC on [bold]{bind_host}:{grpc_port}[/bold]")
    # uvicorn drains and shuts down on SIGTERM/SIGINT, then re-raises the signal through the
    # previous handler: make that a clean exit, since the worker stopped by then.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_cleanly)
    uvicorn.run(application, host=bind_host, port=bind_port, log_level=settings.log_level, access_log=False,
                timeout_graceful_shutdown=30)


def _exit_cleanly(signum: int, frame: object) -> None:
    console.print(f"Spyglass stopped ({signal.Signals(signum).name}).")
    sys.exit(0)


@app.command()
def migrate() -> None:
    """Apply database migrations (SQLite/PostgreSQL and ClickHouse) and exit.

    `serve` migrates on start too; run this to upgrade ahead of time, e.g. once per
    deploy before starting new `serve`/`worker` processes. On shared engines several
    processes may run it at once (a PostgreSQL advisory lock serialises them). With
    embedded chDB it needs the data directory to itself: stop a running `serve` first.
    """
    from spyglass.bootstrap import StartupError, check_topology, lock_data_dir, migrate_all

    settings = Settings()
    configure_logging(settings.log_level)
    try:
        check_topology(settings, "all")
        lock = lock_data_dir(settings.data_dir) if settings.embedded_olap else None
        with console.status("Applying migrations…"):
            applied = migrate_all(settings)
    except StartupError as exc:
        raise exit_with(exc) from None
    if lock is not None:
        lock.close()
    console.print(f"OLAP migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    console.print("OLTP schema: at head")


@app.command()
def version() -> None:
    """Print the Spyglass version."""
    typer.echo(__version__)


def main() -> None:  # pragma: no cover
    sys.exit(app())
