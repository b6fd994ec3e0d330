"""Accept: validate, write the raw input durably, enqueue a pointer, answer.

Nothing is acknowledged before both the blob and the queue entry are durable; if either
store fails the whole request fails (503) and the client retries — nothing half-accepted.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Unavailable
from spyglass.domain.events import EventError, event_id, validate_event
from spyglass.domain.values import now_micros
from spyglass.ingestion.contracts import IngestJob, JobKind
from spyglass.ingestion.otel import count_spans, decode_export_request
from spyglass.storage.blob.base import BlobStore
from spyglass.storage.queue.base import JobQueue

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    successes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


class Acceptor:
    def __init__(self, blobs: BlobStore, queue: JobQueue) -> None:
        self.blobs = blobs
        self.queue = queue

    def accept_batch(self, scope: ProjectScope, batch: list[Any]) -> BatchResult:
        result = BatchResult()
        valid: list[dict[str, Any]] = []
        for raw in batch:
            try:
                envelope = validate_event(raw, scores_only=scope.access_level == "scores")
            except EventError as exc:
                entry = {"id": event_id(raw), "status": exc.status, "message": exc.message}
                if exc.error:
                    entry["error"] = exc.error
                result.errors.append(entry)
                continue
            if envelope.type != "sdk-log":
                valid.append(envelope.model_dump(exclude={"metadata"}))
            else:
                log.info("sdk-log from %s: %s", scope.public_key, str(envelope.body.get("log"))[:500])
            result.successes.append({"id": envelope.id, "status": 201})
        if valid:
            self._persist("batch", scope.project_id, orjson.dumps({"events": valid}), "json")
        return result

    def accept_otel(self, scope: ProjectScope, body: bytes, content_type: str, gzipped: bytes | None = None) -> int:
        """Validate an OTLP export (raises OtlpDecodeError) and persist it; returns the span count.

        `body` is the decompressed export; `gzipped` the body as sent when it came gzipped.
        """
        request = decode_export_request(body, content_type)
        spans = count_spans(request)
        if not spans:
            return 0
        # Stored as protobuf whatever the client sent, so the worker has one decoder. A
        # protobuf body was just parsed whole, so it is kept as sent: gzipped ones stay
        # compressed (about a third of the disk), the worker inflates them.
        if "application/x-protobuf" not in content_type:
            self._persist("otel", scope.project_id, request.SerializeToString(), "pb")
        elif gzipped is not None:
            self._persist("otel", scope.project_id, gzipped, "pb.gz")
        else:
            self._persist("otel", scope.project_id, body, "pb")
        return spans

    def enqueue_deletion(self, scope: ProjectScope, kind: JobKind, ids: list[str]) -> str:
        job = IngestJob(kind=kind, project_id=scope.project_id, ids=ids, received_at_us=now_micros())
        return self._enqueue(job)

    def enqueue_project_deletion(self, project_id: str) -> str:
        return self._enqueue(IngestJob(kind="delete-project", project_id=project_id, received_at_us=now_micros()))

    def _persist(self, kind: JobKind, project_id: str, data: bytes, ext: str) -> str:
        now = datetime.now(tz=UTC)
        key = f"ingest/{project_id}/{now:%Y/%m/%d/%H}/{uuid.uuid4().hex}.{kind}.{ext}"
        try:
            self.blobs.put(key, data)
        except Exception as exc:  # noqa: BLE001 - any storage failure means "not accepted"
            log.exception("blob store write failed")
            raise Unavailable("Could not store the events durably; nothing was accepted. Retry.") from exc
        job = IngestJob(kind=kind, project_id=project_id, blob_key=key, received_at_us=now_micros())
        return self._enqueue(job)

    def _enqueue(self, job: IngestJob) -> str:
        try:
            return self.queue.put(job.encode())
        except Exception as exc:  # noqa: BLE001
            log.exception("queue write failed")
            raise Unavailable("Could not enqueue the events; nothing was accepted. Retry.") from exc
