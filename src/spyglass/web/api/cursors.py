"""Opaque cursors for keyset pagination: base64url JSON of the last row's sort key."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from spyglass.domain.errors import InvalidInput


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str | None, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    if not cursor:
        return None
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return tuple(raw[key] for key in keys)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("Invalid cursor") from None
