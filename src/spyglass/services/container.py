"""The handle the web app and the CLI receive: every use case, already wired."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spyglass.ingestion.accept import Acceptor
from spyglass.services.datasets import DatasetService
from spyglass.services.experiments import ExperimentService
from spyglass.services.media import MediaService
from spyglass.services.metrics import MetricsService
from spyglass.services.models import ModelService
from spyglass.services.projects import ProjectDeletion, ProjectService
from spyglass.services.prompts import PromptService
from spyglass.services.tracing import TracingService


@dataclass(frozen=True, slots=True)
class Limits:
    ingestion_body_bytes: int
    otel_body_bytes: int
    json_body_bytes: int


@dataclass
class Services:
    projects: ProjectService
    models: ModelService
    prompts: PromptService
    datasets: DatasetService
    experiments: ExperimentService
    media: MediaService
    tracing: TracingService
    metrics: MetricsService
    ingestion: Acceptor
    project_deletion: ProjectDeletion
    limits: Limits
    version: str
    status: Callable[[], dict[str, Any]]
    ready: Callable[[], bool]
