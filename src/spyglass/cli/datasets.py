"""`spyglass dataset …`: bulk work on datasets from files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spyglass.bootstrap import build_dataset_service
from spyglass.cli.output import err, out
from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import SpyglassError
from spyglass.settings import Settings

datasets_app = typer.Typer(help="Bulk work on datasets: import items from CSV or JSONL files.", no_args_is_help=True)

_SHOWN_ERRORS = 20


@datasets_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A CSV file with a header row, or a JSONL file (one object per line).")],
    name: Annotated[str, typer.Option("--name", help="The dataset to add the items to (it must exist).")],
    project: Annotated[str, typer.Option("--project", help="The project the dataset belongs to (its id).")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the file's extension).")
    ] = None,
) -> None:
    """Create dataset items from a file: columns/keys input, expectedOutput, metadata, id, sourceTraceId,
    sourceObservationId, status; cells are JSON when they parse as JSON. Bad rows are listed and skipped;
    the good ones are stored together, or none of them if storing fails."""
    chosen = (file_format or file.suffix.lstrip(".")).lower()
    if chosen not in ("csv", "jsonl"):
        err.print(f"[bold red]Error:[/] cannot tell the format of {file.name}: pass --format csv or --format jsonl")
        raise typer.Exit(code=2)
    data = file.read_bytes()
    rows = max(sum(1 for line in data.splitlines() if line.strip()) - (1 if chosen == "csv" else 0), 0)
    service = build_dataset_service(Settings())
    scope = ProjectScope(project_id=project, public_key="cli")
    columns = (TextColumn("[bold]importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("import", total=rows)
            result = service.import_items(scope, name, data, chosen,
                                          progress=lambda done: progress.advance(task, done))
    except SpyglassError as error:
        err.print(f"[bold red]Error:[/] {error.message} (nothing was imported)")
        raise typer.Exit(code=1) from None
    out.print(f"[green]{result.created} item(s) imported[/] into dataset {name!r}.")
    if result.errors:
        table = Table(title=f"{len(result.errors)} row(s) skipped")
        table.add_column("Row", justify="right")
        table.add_column("Problem", overflow="fold")
        for row, message in result.errors[:_SHOWN_ERRORS]:
            table.add_row(str(row), message)
        out.print(table)
        if len(result.errors) > _SHOWN_ERRORS:
            out.print(f"… and {len(result.errors) - _SHOWN_ERRORS} more.")
        raise typer.Exit(code=1)
