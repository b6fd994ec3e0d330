"""`spyglass projects …`: create, inspect and delete projects and their API keys."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from spyglass.bootstrap import StartupError, build_project_service, project_deletion
from spyglass.cli.output import err as _err
from spyglass.cli.output import exit_with
from spyglass.cli.output import out as _out
from spyglass.domain.errors import SpyglassError
from spyglass.services.projects import DEFAULT_ORG_NAME, ProjectService
from spyglass.settings import Settings

projects_app = typer.Typer(
    help="Create, inspect and delete projects and their API keys.",
    no_args_is_help=True,
)


def _service() -> tuple[ProjectService, Settings]:
    settings = Settings()
    return build_project_service(settings), settings


def _fail(error: SpyglassError) -> typer.Exit:
    _err.print(f"[bold red]Error:[/] {error.message}")
    return typer.Exit(code=1)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"


def _base_url(settings: Settings) -> str:
    # A wildcard bind address is not something a client can connect to.
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


@projects_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Project name (unique within the organization).")],
    org: Annotated[
        str, typer.Option("--org", help="Organization name; reused when it exists, created otherwise.")
    ] = DEFAULT_ORG_NAME,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key", help="Use this public key instead of generating one (needs --secret-key)."
        ),
    ] = None,
    secret_key: Annotated[
        str | None,
        typer.Option(
            "--secret-key", help="Use this secret key instead of generating one (needs --public-key)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts).")] = False,
) -> None:
    """Create a project with an API key pair and print the keys (the secret is shown only once)."""
    service, settings = _service()
    try:
        created = service.create_project(
            project_name=name, org_name=org, public_key=public_key, secret_key=secret_key
        )
    except SpyglassError as error:
        raise _fail(error) from None
    if as_json:
        typer.echo(json.dumps({"projectId": created.project.id, "projectName": created.project.name,
                               "organizationId": created.organization.id, "publicKey": created.public_key,
                               "secretKey": created.secret_key}))
        return

    table = Table(title="Project created", show_header=False)
    table.add_column("field", style="bold")
    # fold, never ellipsize: the secret must be printed in full.
    table.add_column("value", overflow="fold")
    table.add_row("Project ID", created.project.id)
    table.add_row("Project name", created.project.name)
    table.add_row("Organization", f"{created.organization.name} ({created.organization.id})")
    _print_keys(table, created.public_key, created.secret_key, settings)


def _print_keys(table: Table, public_key: str, secret_key: str, settings: Settings) -> None:
    table.add_row("Public key", public_key)
    table.add_row("Secret key", secret_key)
    _out.print(table)
    _out.print("[yellow]Store the secret key now: only its hash is kept, it cannot be shown again.[/]")
    _out.print("Configure a Langfuse SDK with:")
    _out.print(
        f"export LANGFUSE_PUBLIC_KEY={public_key} LANGFUSE_SECRET_KEY={secret_key} "
        f"LANGFUSE_BASE_URL={_base_url(settings)}",
        soft_wrap=True,
        highlight=False,
    )


@projects_app.command("add-key")
def add_key(
    project_id: Annotated[str, typer.Option("--project", help="The project the key belongs to.")],
    role: Annotated[
        str,
        typer.Option(
            "--role", case_sensitive=False,
            help="admin: everything a Langfuse project key can do. member: the same, except changing "
                 "protected prompt labels (for application and CI keys).",
        ),
    ] = "admin",
    note: Annotated[str | None, typer.Option("--note", help="A note to recognise the key by.")] = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="Use this public key instead of generating one.")
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option("--secret-key", help="Use this secret key instead of generating one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts).")] = False,
) -> None:
    """Add an API key pair to a project and print it (the secret is shown only once)."""
    service, settings = _service()
    try:
        created = service.create_api_key(project_id, public_key=public_key, secret_key=secret_key, note=note,
                                         role=role.upper())
    except SpyglassError as error:
        raise _fail(error) from None
    if as_json:
        typer.echo(json.dumps({"projectId": project_id, "publicKey": created.api_key.public_key,
                               "secretKey": created.secret_key, "role": created.api_key.role}))
        return
    table = Table(title="API key added", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("Project ID", project_id)
    table.add_row("Role", created.api_key.role)
    _print_keys(table, created.api_key.public_key, created.secret_key, settings)


@projects_app.command("list")
def list_projects() -> None:
    """List all projects with their organizations."""
    service, _ = _service()
    projects = service.list_projects()
    if not projects:
        _out.print("No projects yet. Create one with `spyglass projects create --name NAME`.")
        return
    table = Table(title="Projects")
    # Ids are copied into other commands: fold them, never cut them with an ellipsis.
    table.add_column("Project ID", overflow="fold")
    for column in ("Name", "Organization", "Created"):
        table.add_column(column)
    for info in projects:
        table.add_row(
            info.project.id, info.project.name, info.organization_name, _when(info.project.created_at)
        )
    _out.print(table)


@projects_app.command("keys")
def keys(
    project_id: Annotated[str, typer.Argument(help="The project whose API keys to list.")],
) -> None:
    """List a project's API keys (secrets only in masked form)."""
    service, _ = _service()
    try:
        api_keys = service.list_api_keys(project_id)
    except SpyglassError as error:
        raise _fail(error) from None
    if not api_keys:
        _out.print(f"Project {project_id} has no API keys.")
        return
    table = Table(title=f"API keys of {project_id}")
    for column in ("Key ID", "Public key"):
        table.add_column(column, overflow="fold")
    for column in ("Secret key", "Role", "Note", "Created", "Last used"):
        table.add_column(column)
    for key in api_keys:
        table.add_row(
            key.id,
            key.public_key,
            key.display_secret_key,
            key.role,
            key.note or "",
            _when(key.created_at),
            _when(key.last_used_at),
        )
    _out.print(table)


@projects_app.command("delete")
def delete(
    project_id: Annotated[str, typer.Argument(help="The project to delete.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a project: its API keys stop working at once, and the worker then removes its
    traces, observations, scores, prompts, datasets and media files.

    With the embedded queue, run it with the server stopped: the next `spyglass serve`
    removes the data. With Redis, running workers remove it at once.
    """
    if not yes:
        typer.confirm(f"Delete project {project_id} and all of its data?", abort=True)
    try:
        with project_deletion(Settings()) as deletion:
            deletion.delete(project_id)
    except StartupError as error:
        raise exit_with(error) from None
    except SpyglassError as error:
        raise _fail(error) from None
    _out.print(f"Project {project_id} deleted; its data is removed by the worker.")
