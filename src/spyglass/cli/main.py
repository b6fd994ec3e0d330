"""The `spyglass` command."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from spyglass import __version__
from spyglass.cli.dead_letters import dead_letters_app
from spyglass.cli.projects import projects_app
from spyglass.settings import Settings

app = typer.Typer(
    help="Spyglass: LLM tracing, prompts and evaluation, wire-compatible with Langfuse.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

app.add_typer(projects_app, name="projects")
app.add_typer(dead_letters_app, name="dead-letters")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(name)s: %(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=True)],
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1, or SPYGLASS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 3000, or SPYGLASS_PORT).")] = None,
) -> None:
    """Run the whole platform in one process: API, OTLP receiver and ingestion worker.

    Data lives under SPYGLASS_DATA_DIR (default ./spyglass-data): SQLite, embedded
    ClickHouse (chDB), raw event blobs and the durable ingestion queue. LANGFUSE_INIT_*
    variables provision an organisation, project and API keys on start.
    """
    import uvicorn

    from spyglass.bootstrap import DataDirLocked, build_platform
    from spyglass.web.app import create_app

    settings = Settings()
    _configure_logging(settings.log_level)
    try:
        platform = build_platform(settings)
    except DataDirLocked as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    application = create_app(platform.services, on_startup=platform.start, on_shutdown=platform.stop)
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"Spyglass {__version__} listening on [bold]http://{bind_host}:{bind_port}[/bold]")
    # uvicorn drains and shuts down on SIGTERM/SIGINT, then re-raises the signal through the
    # previous handler: make that a clean exit, since the queue was drained by then.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _exit_cleanly)
    uvicorn.run(application, host=bind_host, port=bind_port, log_level=settings.log_level, access_log=False,
                timeout_graceful_shutdown=30)


def _exit_cleanly(signum: int, frame: object) -> None:
    console.print(f"Spyglass stopped ({signal.Signals(signum).name}); the ingestion queue was drained.")
    sys.exit(0)


@app.command()
def migrate() -> None:
    """Apply database migrations (SQLite/PostgreSQL and ClickHouse) and exit.

    `serve` migrates on start too; run this to upgrade ahead of time. It needs the data
    directory to itself, so stop a running `serve` first.
    """
    from spyglass.bootstrap import DataDirLocked, lock_data_dir, migrate_all

    settings = Settings()
    _configure_logging(settings.log_level)
    try:
        lock = lock_data_dir(settings.data_dir)
    except DataDirLocked as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    with console.status("Applying migrations…"):
        applied = migrate_all(settings)
    lock.close()
    console.print(f"OLAP migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    console.print("OLTP schema: at head")


@app.command()
def version() -> None:
    """Print the Spyglass version."""
    typer.echo(__version__)


def main() -> None:  # pragma: no cover
    sys.exit(app())
