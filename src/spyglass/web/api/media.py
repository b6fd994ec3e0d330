"""Media: the SDK's upload handshake (`/api/public/media`) and, embedded, the blob routes
its self-authorising URLs point at (`/api/public/media-blobs/…`, no Basic auth)."""

from __future__ import annotations

import tempfile
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from spyglass.domain.errors import InvalidInput
from spyglass.services.media import MediaView
from spyglass.services.media_links import BLOB_ROUTE
from spyglass.web.api.converters import iso
from spyglass.web.body import read_json
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()

_MEDIA: Final = "/api/public/media"
# Uploads up to this size stay in memory while they are checked; larger ones spill to a temp file.
_SPOOL_BYTES: Final = 8 << 20


def media_to_api(view: MediaView) -> dict[str, Any]:
    return {
        "mediaId": view.media.id,
        "contentType": view.media.content_type,
        "contentLength": view.media.content_length,
        "uploadedAt": iso(view.media.uploaded_at),
        "url": view.url,
        "urlExpiry": iso(view.url_expiry),
    }


@router.post(_MEDIA)
async def request_upload(request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    media_id, upload_url = await run_in_threadpool(services.media.request_upload, scope, body, str(request.base_url))
    return json_response({"mediaId": media_id, "uploadUrl": upload_url}, 201)


@router.patch(_MEDIA + "/{media_id}")
async def record_upload(media_id: str, request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    body = await read_json(request, services.limits.json_body_bytes)
    await run_in_threadpool(services.media.record_upload, scope, media_id, body)
    return json_response({"message": "OK"})


@router.get(_MEDIA + "/{media_id}")
def get_media(media_id: str, request: Request, services: ServicesDep, scope: ProjectScopeDep) -> Response:
    return json_response(media_to_api(services.media.get(scope, media_id, str(request.base_url))))


@router.put(BLOB_ROUTE + "{tail:path}")
async def upload_blob(tail: str, request: Request, services: ServicesDep) -> Response:
    grant = services.media.accept_upload(tail, dict(request.query_params), request.headers.get("content-type"))
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as body:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > grant.content_length:
                raise InvalidInput(f"The body is larger than the {grant.content_length} bytes this URL was issued for")
            body.write(chunk)
        body.seek(0)
        await run_in_threadpool(services.media.store_upload, grant, body)
    # 200, not 204: the SDK reports this status back, and only 200 counts as uploaded.
    return Response(status_code=200)


@router.get(BLOB_ROUTE + "{tail:path}")
def download_blob(tail: str, request: Request, services: ServicesDep) -> Response:
    download = services.media.open_download(tail, dict(request.query_params))

    def chunks() -> Any:
        with download.stream as stream:
            yield from iter(lambda: stream.read(1 << 20), b"")

    # As a header, not `media_type`: Starlette would add "; charset=utf-8" to text/* types.
    return StreamingResponse(chunks(), headers={"Content-Type": download.content_type,
                                                "Content-Length": str(download.content_length)})
