"""Names that travel URL-encoded in one path segment (`folder%2Fname`, Langfuse's prompts and datasets).

Starlette decodes `%2F` before routing, which would turn one name into two segments; these
helpers read the raw path instead, so an encoded slash stays in the name.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request

from spyglass.domain.errors import InvalidInput


def raw_tail(request: Request, prefix: str) -> str:
    """What follows `prefix/` in the raw (still encoded) path."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    return path[len(prefix) + 1:] if path.startswith(prefix + "/") else ""


def raw_segments(request: Request, prefix: str) -> list[str]:
    """The decoded path segments after `prefix`, each of which may hold an encoded slash."""
    return [unquote(segment) for segment in raw_tail(request, prefix).split("/")]


def name_from_path(request: Request, prefix: str) -> str:
    name = unquote(raw_tail(request, prefix))
    if not name:
        raise InvalidInput("A name is required in the path")
    return name
