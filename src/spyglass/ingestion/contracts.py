"""Queue payloads: the contract between the accepting edge and the worker (versioned)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

JobKind = Literal["batch", "otel", "delete-traces", "delete-scores", "delete-project"]


class IngestJob(BaseModel):
    """A pointer to durable input, never the input itself (that lives in the blob store)."""

    v: Literal[1] = 1
    kind: JobKind
    project_id: str
    blob_key: str | None = None
    ids: list[str] = []
    received_at_us: int

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_defaults=False).encode()

    @classmethod
    def decode(cls, payload: bytes) -> IngestJob:
        return cls.model_validate_json(payload)
