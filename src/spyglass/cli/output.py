"""What every command shares: the consoles, log setup, and how a startup error ends a command."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.logging import RichHandler

out = Console()
err = Console(stderr=True)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(name)s: %(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=err, show_path=False, rich_tracebacks=True)],
    )


def exit_with(error: Exception, code: int = 2) -> typer.Exit:
    """Print a configuration or startup problem as one line (no traceback) and exit."""
    err.print(f"[bold red]error:[/] {error}")
    return typer.Exit(code=code)
