"""Prompt versions and listings → Langfuse's `Prompt` and `PromptMeta` JSON."""

from __future__ import annotations

from typing import Any

from spyglass.domain.prompts import PRODUCTION, PromptSummary, PromptVersion
from spyglass.services.prompts import ResolvedPrompt
from spyglass.web.api.converters import iso


def prompt_to_api(version: PromptVersion, *, content: Any = None, graph: dict[str, Any] | None = None,
                  with_graph: bool = True) -> dict[str, Any]:
    body = {
        "id": version.id,
        "projectId": version.project_id,
        "createdBy": version.created_by,
        "createdAt": iso(version.created_at),
        "updatedAt": iso(version.updated_at),
        "name": version.name,
        "version": version.version,
        "type": version.type,
        "prompt": version.prompt if content is None else content,
        "config": version.config,
        "labels": list(version.labels),
        "tags": list(version.tags),
        "commitMessage": version.commit_message,
        "isActive": PRODUCTION in version.labels,
    }
    if with_graph:
        body["resolutionGraph"] = graph
    return body


def resolved_to_api(found: ResolvedPrompt) -> dict[str, Any]:
    return prompt_to_api(found.version, content=found.prompt, graph=found.resolution_graph)


def summary_to_api(summary: PromptSummary) -> dict[str, Any]:
    return {
        "name": summary.name,
        "type": summary.type,
        "versions": list(summary.versions),
        "labels": list(summary.labels),
        "tags": list(summary.tags),
        "lastUpdatedAt": iso(summary.last_updated_at),
        "lastConfig": summary.last_config,
    }
