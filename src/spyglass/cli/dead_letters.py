"""`spyglass dead-letters`: inspect ingestion jobs that kept failing, and deliver them again."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from spyglass.bootstrap import StartupError, lock_data_dir, open_queue
from spyglass.cli.output import exit_with
from spyglass.cli.output import out as _out
from spyglass.settings import Settings

dead_letters_app = typer.Typer(
    help="Ingestion jobs that failed every retry (kept with their error, never dropped).",
    no_args_is_help=True,
)


@dead_letters_app.command("list")
def list_dead() -> None:
    """Show the dead-lettered jobs with the error that parked them."""
    try:
        queue = open_queue(Settings())
    except StartupError as exc:
        raise exit_with(exc) from None
    dead = queue.list_dead()
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
    """Put every dead-lettered job back on the queue, after fixing what made them fail.

    With the embedded queue, run it with the server stopped; the next `spyglass serve`
    processes them. With Redis, running workers pick them up at once. Replays are safe:
    ingestion is idempotent, so a job that half-succeeded before is not duplicated.
    """
    settings = Settings()
    try:
        lock = None if settings.redis_url else lock_data_dir(settings.data_dir)
        queue = open_queue(settings)
    except StartupError as exc:
        raise exit_with(exc) from None
    try:
        moved = queue.requeue_dead()
    finally:
        queue.close()
        if lock is not None:
            lock.close()
    hint = " Start `spyglass serve` to process them." if moved and lock is not None else ""
    _out.print(f"{moved} job(s) back on the queue.{hint}")
