"""Observation type of an OTel span (reference §3.6).

Mappers are tried in the reference's priority order and the first that yields a type wins:
the Langfuse SDK's own `langfuse.observation.type` (with the repair for Python SDK ≤ 3.3
generations typed `span`), then OpenInference, OpenTelemetry GenAI, Genkit, the Vercel AI SDK,
GenAI/Flue tool and task attributes, LiveKit span names, and finally "has a model → GENERATION".
"""

from __future__ import annotations

import math
from typing import Any, Final

from spyglass.ingestion.otel_attributes import has_meaningful_value

OBSERVATION_TYPE_KEY: Final = "langfuse.observation.type"
LIVEKIT_SCOPE: Final = "livekit-agents"

_LANGFUSE_TYPES: Final = {
    "span": "SPAN", "generation": "GENERATION", "event": "EVENT", "embedding": "EMBEDDING",
    "agent": "AGENT", "tool": "TOOL", "chain": "CHAIN", "retriever": "RETRIEVER",
    "guardrail": "GUARDRAIL", "evaluator": "EVALUATOR",
}
_OPENINFERENCE_TYPES: Final = {
    "CHAIN": "CHAIN", "RETRIEVER": "RETRIEVER", "LLM": "GENERATION", "EMBEDDING": "EMBEDDING",
    "AGENT": "AGENT", "TOOL": "TOOL", "GUARDRAIL": "GUARDRAIL", "EVALUATOR": "EVALUATOR",
}
_GEN_AI_OPERATION_TYPES: Final = {
    "chat": "GENERATION", "completion": "GENERATION", "text_completion": "GENERATION",
    "generate_content": "GENERATION", "generate": "GENERATION", "embeddings": "EMBEDDING",
    "invoke_agent": "AGENT", "create_agent": "AGENT", "execute_tool": "TOOL",
}
_GENKIT_TYPES: Final = {
    "background-model": "GENERATION", "model": "GENERATION", "embedder": "EMBEDDING", "tool": "TOOL",
    "tool.v2": "TOOL", "retriever": "RETRIEVER", "evaluator": "EVALUATOR",
}
_AI_SDK_GENERATION_OPS: Final = (
    "ai.generateText.doGenerate", "ai.streamText.doStream", "ai.generateObject.doGenerate",
    "ai.streamObject.doStream",
)
_AI_SDK_EMBEDDING_OPS: Final = ("ai.embedMany.doEmbed", "ai.embed.doEmbed")
_AI_SDK_MODEL_KEYS: Final = (
    "langfuse.observation.model.name", "ai.model.id", "gen_ai.request.model", "gen_ai.response.model",
)
_MODEL_TYPE_KEYS: Final = (
    "langfuse.observation.model.name", "gen_ai.request.model", "gen_ai.response.model", "llm.model_name",
    "model",
)
# Attributes whose presence on a `span`-typed SDK ≤ 3.3 span means it really was a generation.
_LEGACY_GENERATION_KEYS: Final = (
    "langfuse.observation.model.name", "langfuse.observation.cost_details",
    "langfuse.observation.usage_details", "langfuse.observation.completion_start_time",
    "langfuse.observation.model.parameters", "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version",
)
# The cheap pre-check: a span carrying none of these keys is a SPAN unless LiveKit names it.
_TYPE_KEYS: Final = frozenset((
    OBSERVATION_TYPE_KEY, "openinference.span.kind", "gen_ai.operation.name", "genkit:metadata:subtype",
    "operation.name", "ai.operationId", "gen_ai.tool.name", "gen_ai.tool.call.id", "flue.tool.name",
    "flue.tool.call_id", "flue.task.id", "flue.task.agent", *_MODEL_TYPE_KEYS,
))


def _legacy_sdk_generation(
    attributes: dict[str, Any], resource: dict[str, Any], scope_name: str, scope_version: str
) -> bool:
    """Python SDK ≤ 3.3 exported generations typed `span`; Langfuse repairs them (§3.6 prio 0)."""
    if not (
        attributes.get(OBSERVATION_TYPE_KEY) == "span"
        and scope_name == "langfuse-sdk"
        and resource.get("telemetry.sdk.language") == "python"
    ):
        return False
    if scope_version:
        parts = scope_version.split(".")
        try:
            major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else math.nan
        except ValueError:
            major, minor = math.nan, math.nan
        if major > 3 or (major == 3 and minor > 3):
            return False
    return any(key in attributes for key in _LEGACY_GENERATION_KEYS)


def _ai_sdk_operation(attributes: dict[str, Any], operations: tuple[str, ...]) -> bool:
    name = attributes.get("operation.name")
    if isinstance(name, str) and name.startswith(operations):
        return True
    operation_id = attributes.get("ai.operationId")
    return isinstance(operation_id, str) and operation_id in operations


def _lookup(table: dict[str, str], value: Any) -> str | None:
    return table.get(value) if isinstance(value, str) else None


def _third_party_type(attributes: dict[str, Any]) -> str | None:
    """§3.6 priorities 2–8: OpenInference, GenAI operation, Genkit, AI SDK, GenAI tools, Flue."""
    mapped = (
        _lookup(_OPENINFERENCE_TYPES, attributes.get("openinference.span.kind"))
        or _lookup(_GEN_AI_OPERATION_TYPES, attributes.get("gen_ai.operation.name"))
        or _lookup(_GENKIT_TYPES, attributes.get("genkit:metadata:subtype"))
    )
    if mapped:
        return mapped
    if any(has_meaningful_value(attributes.get(key)) for key in _AI_SDK_MODEL_KEYS):
        if _ai_sdk_operation(attributes, _AI_SDK_GENERATION_OPS):
            return "GENERATION"
        if _ai_sdk_operation(attributes, _AI_SDK_EMBEDDING_OPS):
            return "EMBEDDING"
    if _ai_sdk_operation(attributes, ("ai.toolCall",)):
        return "TOOL"
    if has_meaningful_value(attributes.get("gen_ai.tool.name")) or has_meaningful_value(
        attributes.get("gen_ai.tool.call.id")
    ):
        return "TOOL"
    if has_meaningful_value(attributes.get("flue.tool.name")) or has_meaningful_value(
        attributes.get("flue.tool.call_id")
    ):
        return "TOOL"
    if has_meaningful_value(attributes.get("flue.task.id")) or has_meaningful_value(
        attributes.get("flue.task.agent")
    ):
        return "AGENT"
    return None


def observation_type(
    attributes: dict[str, Any],
    resource: dict[str, Any],
    scope_name: str,
    scope_version: str,
    span_name: str,
) -> str:
    """§3.6: the first mapper that yields a type wins; SPAN otherwise."""
    declared = attributes.get(OBSERVATION_TYPE_KEY)
    if isinstance(declared, str) and declared != "span" and declared in _LANGFUSE_TYPES:
        # The Langfuse SDK's own type (priority 1) is decisive unless it is the legacy `span` case.
        return _LANGFUSE_TYPES[declared]
    if scope_name == LIVEKIT_SCOPE:
        if span_name in ("agent_turn", "start_agent_activity"):
            livekit: str | None = "AGENT"
        else:
            livekit = "TOOL" if span_name == "function_tool" else None
    else:
        livekit = None
    if livekit is None and attributes.keys().isdisjoint(_TYPE_KEYS):
        return "SPAN"
    if _legacy_sdk_generation(attributes, resource, scope_name, scope_version):
        return "GENERATION"
    if isinstance(declared, str):
        mapped = _LANGFUSE_TYPES.get(declared) or _LANGFUSE_TYPES.get(declared.lower())
        if mapped:
            return mapped
    mapped = _third_party_type(attributes)
    if mapped:
        return mapped
    if livekit:
        return livekit
    if any(has_meaningful_value(attributes.get(key)) for key in _MODEL_TYPE_KEYS):
        return "GENERATION"
    return "SPAN"
