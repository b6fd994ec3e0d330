"""`spyglass status`: the ingestion queue and the stores this configuration uses."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from spyglass.cli.output import exit_with, out
from spyglass.settings import Settings


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Show the ingestion queue (waiting, in flight, oldest item's age, dead letters) and the stores in use.

    Safe beside a running server: it only reads. A growing oldest-item age means the
    workers do not keep up; dead letters are listed by `spyglass dead-letters list`.
    """
    from spyglass.bootstrap import StartupError, describe_stores, queue_stats

    settings = Settings()
    try:
        stats = queue_stats(settings)
    except StartupError as exc:
        raise exit_with(exc) from None
    stores = describe_stores(settings)
    queue = {"waiting": stats.depth, "inFlight": stats.in_flight, "oldestAgeSeconds": stats.oldest_age_seconds,
             "deadLetters": stats.dead}
    if as_json:
        typer.echo(json.dumps({"stores": stores, "queue": queue}))
        return
    table = Table(title="Stores")
    table.add_column("port")
    table.add_column("backend", overflow="fold")
    for port, where in stores.items():
        table.add_row(port, where)
    out.print(table)
    age = "-" if stats.oldest_age_seconds is None else f"{stats.oldest_age_seconds:.1f} s"
    queue_table = Table(title="Ingestion queue")
    for column in ("waiting", "in flight", "oldest item", "dead letters"):
        queue_table.add_column(column, justify="right")
    queue_table.add_row(str(stats.depth), str(stats.in_flight), age, str(stats.dead))
    out.print(queue_table)
