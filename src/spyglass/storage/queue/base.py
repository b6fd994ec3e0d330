"""The queue port: at-least-once delivery of small work items (pointers, never payloads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class Job:
    id: str
    payload: bytes
    attempts: int = 0
    enqueued_at: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeadJob:
    id: str
    payload: bytes
    error: str
    died_at: float


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    in_flight: int
    oldest_age_seconds: float | None
    dead: int


class JobQueue(Protocol):
    def put(self, payload: bytes) -> str:
        """Enqueue; returns once the item is durable. Returns the job id."""

    def take(self, max_items: int, timeout: float) -> list[Job]:
        """Up to `max_items` ready jobs, waiting at most `timeout` seconds for the first."""

    def ack(self, jobs: list[Job]) -> None:
        """The jobs are done; they will never be delivered again."""

    def retry(self, job: Job, error: str, delay: float) -> None:
        """Deliver `job` again after `delay` seconds."""

    def dead_letter(self, job: Job, error: str) -> None:
        """Park `job` with its error; it is kept for inspection, not delivered again."""

    def list_dead(self) -> list[DeadJob]: ...

    def requeue_dead(self) -> int:
        """Deliver every dead-lettered job again; returns how many were moved back."""

    def stats(self) -> QueueStats: ...

    def contains(self, job_id: str) -> bool:
        """Whether the job is still waiting, in flight or delayed (not yet acked or dead-lettered)."""

    def close(self) -> None:
        """Wake every waiting `take` so consumers can stop."""
