"""OTLP over gRPC: the OpenTelemetry exporters' default transport, beside OTLP/HTTP.

The same contract as `POST /api/public/otel/v1/traces`: Basic auth (sent as the
`authorization` metadata), the export validated whole and made durable before the answer,
so a client's retry after any error never loses or doubles a span. Langfuse has no gRPC
receiver; with this one an exporter left on its default transport works unchanged.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final, NoReturn

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from spyglass.domain.errors import Forbidden, PayloadTooLarge, SpyglassError, Unauthorized, Unavailable
from spyglass.ingestion.otel import OtlpDecodeError
from spyglass.services.container import Services

SERVICE: Final = "opentelemetry.proto.collector.trace.v1.TraceService"
_OK: Final = ExportTraceServiceResponse().SerializeToString()
# OTLP's retry rules: UNAVAILABLE is retried by exporters, the other codes are final.
_CODES: Final = (
    (Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
)


class OtlpGrpcReceiver:
    def __init__(self, services: Services, host: str, port: int, *, threads: int = 8) -> None:
        self._services = services
        self._address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        limit = services.limits.otel_body_bytes
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="otlp-grpc"),
            # Past the limit gRPC itself answers RESOURCE_EXHAUSTED, as HTTP answers 413.
            options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)],
        )
        # Raw bytes in (no deserializer): the body is validated and stored as sent, like OTLP/HTTP.
        handler = grpc.unary_unary_rpc_method_handler(self._export, response_serializer=None)
        self._server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})])

    def start(self) -> int:
        """Bind and serve; returns the port (useful with port 0). Raises RuntimeError if it cannot bind."""
        try:
            port = self._server.add_insecure_port(self._address)
        except RuntimeError as error:
            raise RuntimeError(f"cannot listen for OTLP/gRPC on {self._address}: {error}") from None
        if not port:
            raise RuntimeError(f"cannot listen for OTLP/gRPC on {self._address}: the address is in use")
        self._server.start()
        return port

    def stop(self, grace: float = 10.0) -> None:
        """Finish the exports in progress (up to `grace` seconds), refuse new ones."""
        self._server.stop(grace).wait()

    def _export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        try:
            scope = self._services.projects.authenticate(metadata.get("authorization")).require_project_access()
            self._services.ingestion.accept_otel(scope, request, "application/x-protobuf")
        except OtlpDecodeError as error:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, error.message)
        except SpyglassError as error:
            code = next((code for kind, code in _CODES if isinstance(error, kind)), grpc.StatusCode.INTERNAL)
            _abort(context, code, error.message)
        return _OK


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable")  # pragma: no cover - abort raises
