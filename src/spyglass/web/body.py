"""Reading request bodies with limits: size-capped streaming and bounded gunzip (no zip bombs)."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from starlette.requests import Request

from spyglass.domain.errors import InvalidInput, PayloadTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, decompressed when `Content-Encoding: gzip`; 413 past `limit` bytes."""
    raw = await read_raw_body(request, limit)
    return gunzip(raw, limit) if is_gzip(request) else raw


def is_gzip(request: Request) -> bool:
    return request.headers.get("content-encoding", "").lower().strip() == "gzip"


async def read_raw_body(request: Request, limit: int) -> bytes:
    """The body as sent (still compressed, if it was); 413 past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise InvalidInput("Failed to decompress request body") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"Decompressed request body exceeds the limit of {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        # A truncated stream must not pass for a short body (nothing half-read is accepted).
        raise InvalidInput("Failed to decompress request body")
    return out


async def read_json(request: Request, limit: int) -> Any:
    body = await read_body(request, limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"Invalid JSON body: {exc}") from None
