"""Domain errors → HTTP status and Langfuse's error bodies, in one place for the whole app."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from spyglass.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    SpyglassError,
    Unauthorized,
    Unavailable,
)
from spyglass.web.responses import json_response

log = logging.getLogger(__name__)

# Routes whose auth failures carry an `error` key upstream.
_TYPED_AUTH_PREFIXES = ("/api/public/ingestion", "/api/public/v2/prompts", "/api/public/otel")


def error_response(request: Request, exc: SpyglassError) -> Response:
    match exc:
        case NotFound():
            return json_response({"message": exc.message, "error": "LangfuseNotFoundError"}, 404)
        case InvalidInput():
            return json_response({"message": exc.message, "error": "InvalidRequestError"}, 400)
        case Unauthorized():
            body = {"message": f"{exc.message}. Confirm that you've configured the correct host."}
            if request.url.path.startswith(_TYPED_AUTH_PREFIXES):
                body["error"] = "UnauthorizedError"
            return json_response(body, 401)
        case Forbidden():
            return json_response({"message": exc.message, "error": "ForbiddenError"}, 403)
        case Conflict():
            return json_response({"message": exc.message, "error": "LangfuseConflictError"}, 409)
        case PayloadTooLarge():
            return json_response({"message": exc.message, "error": "PayloadTooLargeError"}, 413)
        case Unavailable():
            return json_response({"message": exc.message, "error": "ServiceUnavailableError"}, 503)
    return json_response({"message": "Internal Server Error", "error": exc.message}, 500)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SpyglassError)
    async def _domain(request: Request, exc: SpyglassError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        issues = [
            {"path": [str(p) for p in err.get("loc", ())], "message": err.get("msg"), "code": err.get("type")}
            for err in exc.errors()
        ]
        return json_response({"message": "Invalid request data", "error": issues}, 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return json_response({"message": "Method not allowed", "error": "MethodNotAllowedError"}, 405)
        if exc.status_code == 404:
            return json_response({"message": "Route not found", "error": "LangfuseNotFoundError"}, 404)
        return json_response({"message": str(exc.detail), "error": "HttpError"}, exc.status_code)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return json_response({"message": "Internal Server Error", "error": str(exc)}, 500)
