"""`spyglass dead-letters`: inspect ingestion jobs that kept failing, and deliver them again."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from spyglass.bootstrap import DataDirLocked, lock_data_dir, open_queue
from spyglass.settings import Settings

dead_letters_app = typer.Typer(
    help="Ingestion jobs that failed every retry (kept with their error, never dropped).",
    no_args_is_help=True,
)
_out = Console()
_err = Console(stderr=True)


@dead_letters_app.command("list")
def list_dead() -> None:
    """Show the dead-lettered jobs with the error that parked them."""
    dead = open_queue(Settings()).list_dead()
    if not dead:
        _out.print("No dead letters: every accepted job was processed.")
        return
    table = Table(title=f"{len(dead)} dead-lettered job(s)")
    table.add_column("job")
    table.add_column("parked at (UTC)")
    table.add_column("error", overflow="fold")
    for job in dead:
        table.add_row(job.id, datetime.fromtimestamp(job.died_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"), job.error)
    _out.print(table)


@dead_letters_app.command("replay")
def replay() -> None:
    """Put every dead-lettered job back on the queue; the next `spyglass serve` processes them.

    Run it with the server stopped, after fixing what made the jobs fail. Replays are safe:
    ingestion is idempotent, so a job that half-succeeded before is not duplicated.
    """
    settings = Settings()
    try:
        lock = lock_data_dir(settings.data_dir)
    except DataDirLocked as exc:
        _err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    try:
        moved = open_queue(settings).requeue_dead()
    finally:
        lock.close()
    _out.print(f"{moved} job(s) back on the queue." + (" Start `spyglass serve` to process them." if moved else ""))
