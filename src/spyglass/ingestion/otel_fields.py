"""Per-field resolution rules for OTel spans (reference §3.3–§3.6, §3.10, §3.11).

Each function reads a decoded attribute dict and answers one field, covering the Langfuse
SDK keys, their compatibility aliases and the third-party conventions (OpenTelemetry GenAI,
OpenInference, Vercel AI SDK, Genkit, Flue, LiveKit) that Langfuse understands. None means
"the span says nothing about this field".
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Final

from spyglass.domain.values import normalize_environment, parse_timestamp
from spyglass.ingestion.otel_attributes import (
    KeyGroups,
    as_text,
    first_truthy,
    has_meaningful_value,
    is_truthy,
    parse_json,
    parse_json_object,
    to_number,
)

OBSERVATION_TYPE_KEY: Final = "langfuse.observation.type"
LIVEKIT_SCOPE: Final = "livekit-agents"

_LEVEL_ALIASES: Final = {
    "DEBUG": "DEBUG", "TRACE": "DEBUG", "VERBOSE": "DEBUG",
    "DEFAULT": "DEFAULT", "INFO": "DEFAULT", "LOG": "DEFAULT", "NOTICE": "DEFAULT", "OK": "DEFAULT",
    "SUCCESS": "DEFAULT",
    "WARNING": "WARNING", "WARN": "WARNING",
    "ERROR": "ERROR", "FATAL": "ERROR", "CRITICAL": "ERROR",
}
# LiveKit marks its plumbing spans only by name; Langfuse files them under DEBUG.
_LIVEKIT_DEBUG_SPANS: Final = frozenset((
    "user_speaking", "eou_detection", "llm_request_run", "tts_node", "tts_request", "tts_request_run",
    "tts_stream_adapter", "agent_speaking", "drain_agent_activity", "on_exit", "on_enter",
    "llm_fallback_adapter", "tts_fallback_adapter", "start_agent_activity",
))

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

_NAME_KEYS: Final = frozenset(
    ("gen_ai.tool.name", "genkit:name", "logfire.msg", "ai.toolCall.name", "ai.operationId")
)
_ENVIRONMENT_KEYS: Final = ("langfuse.environment", "deployment.environment.name", "deployment.environment")
_USER_ID_KEYS: Final = (
    "langfuse.user.id", "user.id", "langfuse.observation.metadata.langfuse_user_id",
    "langfuse.trace.metadata.langfuse_user_id", "ai.telemetry.metadata.userId",
)
_SESSION_ID_KEYS: Final = (
    "langfuse.session.id", "session.id", "gen_ai.conversation.id",
    "langfuse.observation.metadata.langfuse_session_id", "langfuse.trace.metadata.langfuse_session_id",
    "ai.telemetry.metadata.sessionId",
)
_TAG_KEYS: Final = (
    "langfuse.trace.tags", "langfuse.tags", "langfuse.observation.metadata.langfuse_tags",
    "langfuse.trace.metadata.langfuse_tags", "ai.telemetry.metadata.tags", "tag.tags",
)
_TRACE_UPDATE_KEYS: Final = (
    "langfuse.trace.name", "langfuse.trace.input", "langfuse.trace.output", "langfuse.trace.metadata",
    "user.id", "session.id", "langfuse.trace.public", "langfuse.trace.tags", "langfuse.user.id",
    "langfuse.session.id", "langfuse.observation.metadata.langfuse_user_id",
    "langfuse.observation.metadata.langfuse_session_id", "langfuse.observation.metadata.langfuse_tags",
    "langfuse.trace.metadata.langfuse_session_id", "langfuse.trace.metadata.langfuse_user_id",
    "langfuse.trace.metadata.langfuse_tags", "ai.telemetry.metadata.sessionId",
    "ai.telemetry.metadata.userId", "ai.telemetry.metadata.tags", "tag.tags",
)
# Vercel AI SDK telemetry keys that are trace fields, not metadata.
_AI_TELEMETRY_NON_METADATA: Final = frozenset((
    "ai.telemetry.metadata.userId", "ai.telemetry.metadata.sessionId", "ai.telemetry.metadata.tags",
    "ai.telemetry.metadata.langfusePrompt",
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


def _third_party_type(attributes: dict[str, Any], scope_name: str, span_name: str) -> str | None:
    """§3.6 priorities 2–10 (OpenInference, GenAI, Genkit, AI SDK, tools, Flue, LiveKit, model)."""
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
    if declared is not None and declared != "span" and declared in _LANGFUSE_TYPES:
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
    mapped = _third_party_type(attributes, scope_name, span_name)
    if mapped:
        return mapped
    if livekit:
        return livekit
    if any(has_meaningful_value(attributes.get(key)) for key in _MODEL_TYPE_KEYS):
        return "GENERATION"
    return "SPAN"


def observation_name(span_name: str, attributes: dict[str, Any]) -> str:
    """§3.5: tool name > Genkit name > Logfire message > AI SDK tool/operation > span name."""
    if attributes.keys().isdisjoint(_NAME_KEYS):
        return span_name
    tool_name = attributes.get("gen_ai.tool.name")
    if tool_name is not None and is_truthy(tool_name):
        return as_text(tool_name)
    if "genkit:name" in attributes:
        return as_text(attributes["genkit:name"])
    message = attributes.get("logfire.msg")
    if message is not None and is_truthy(message):
        return as_text(message)
    if "ai.toolCall.name" in attributes:
        return as_text(attributes["ai.toolCall.name"])
    if "ai.operationId" in attributes:
        function_id = attributes.get("ai.telemetry.functionId")
        prefix = f"{as_text(function_id)}:" if function_id is not None and is_truthy(function_id) else ""
        return prefix + as_text(attributes["ai.operationId"])
    return span_name


def observation_level(attributes: dict[str, Any], status_code: int, scope_name: str, span_name: str) -> str:
    declared = attributes.get("langfuse.observation.level")
    if isinstance(declared, str):
        level = _LEVEL_ALIASES.get(declared.strip().upper())
        if level:
            return level
    if status_code == 2:
        return "ERROR"
    if scope_name == LIVEKIT_SCOPE and span_name in _LIVEKIT_DEBUG_SPANS:
        return "DEBUG"
    return "DEFAULT"


@lru_cache(maxsize=256)
def _normalized_environment(value: str) -> str:
    return normalize_environment(value)


def environment(attributes: dict[str, Any], resource: dict[str, Any]) -> str:
    """§3.10: per key, the span attribute then the resource attribute; first truthy wins."""
    for key in _ENVIRONMENT_KEYS:
        value = attributes.get(key)
        if value is None or not is_truthy(value):
            value = resource.get(key)
            if value is None or not is_truthy(value):
                continue
        return _normalized_environment(value) if isinstance(value, str) else "default"
    return "default"


def user_id(attributes: dict[str, Any]) -> str | None:
    value = first_truthy(attributes, _USER_ID_KEYS)
    return None if value is None else as_text(value)


def session_id(attributes: dict[str, Any]) -> str | None:
    value = first_truthy(attributes, _SESSION_ID_KEYS)
    return None if value is None else as_text(value)


def _tag_text(tag: Any) -> str:
    # JavaScript String(tag): true → "true", 1.0 → "1".
    if isinstance(tag, bool):
        return "true" if tag else "false"
    if isinstance(tag, float) and tag.is_integer():
        return str(int(tag))
    return as_text(tag) if not isinstance(tag, int | float) else str(tag)


def tags(attributes: dict[str, Any]) -> list[str] | None:
    """§3.5 tags: arrays as strings, `[…]` text as JSON, `a, b` split on commas, else `[text]`."""
    value = first_truthy(attributes, _TAG_KEYS)
    if value is None:
        return None
    if isinstance(value, list):
        return [tag if type(tag) is str else _tag_text(tag) for tag in value]
    if not isinstance(value, str):
        return None
    if value.strip().startswith("["):
        parsed = parse_json(value)
        if isinstance(parsed, list):
            return [tag if type(tag) is str else _tag_text(tag) for tag in parsed]
    if "," in value:
        return [tag.strip() for tag in value.split(",")]
    return [value]


def is_public(attributes: dict[str, Any]) -> bool | None:
    value = attributes.get("langfuse.trace.public")
    if value is None:
        value = attributes.get("langfuse.public")
    if value is None:
        return None
    return value is True or value == "true"


def has_trace_updates(attributes: dict[str, Any], groups: KeyGroups) -> bool:
    """§3.3 step 2: does this span carry trace-level fields (propagated to any span)?"""
    return groups.trace_metadata or first_truthy(attributes, _TRACE_UPDATE_KEYS) is not None


def _metadata_blob(value: Any) -> dict[str, Any]:
    """A whole-metadata attribute must hold a JSON object; anything else is dropped."""
    if isinstance(value, str):
        return parse_json_object(value) or {}
    return {}


def _blob(attributes: dict[str, Any], key: str) -> dict[str, Any]:
    blob = attributes.get(key)
    if blob is None or not is_truthy(blob):
        blob = attributes.get("langfuse.metadata")
    return _metadata_blob(blob) if blob is not None else {}


def metadata(attributes: dict[str, Any], groups: KeyGroups) -> tuple[dict[str, Any], dict[str, Any]]:
    """§3.11 (traceMetadata, observationMetadata), built in one pass over the metadata keys.

    Each is its domain's JSON blob, then every `<domain prefix>.<key>`, `langfuse.metadata.<key>`
    and `ai.telemetry.metadata.<key>` attribute in attribute order. Dotted sub-keys stay flat
    (`…metadata.a.b` → key `a.b`), like the reference.
    """
    if not groups.metadata:
        return {}, {}
    trace = _blob(attributes, "langfuse.trace.metadata")
    observation = _blob(attributes, "langfuse.observation.metadata")
    for key in groups.metadata:
        if key.startswith("langfuse.observation.metadata."):
            if len(key) > 30:
                observation[key[30:]] = attributes[key]
            continue
        if key.startswith("langfuse.trace.metadata."):
            if len(key) > 24:
                trace[key[24:]] = attributes[key]
            continue
        if key.startswith("langfuse.metadata."):
            name = key[18:]
        elif key.startswith("ai.telemetry.metadata.") and key not in _AI_TELEMETRY_NON_METADATA:
            name = key[22:]
        else:
            continue
        if name:
            trace[name] = observation[name] = attributes[key]
    return trace, observation


def completion_start_time(attributes: dict[str, Any], start_time: int) -> int | None:
    """§3.5: ISO text, or the Python SDK's double-JSON-encoded ISO text, or AI SDK ms-to-first-chunk."""
    value = attributes.get("langfuse.observation.completion_start_time")
    if isinstance(value, str):
        if value.startswith('"'):
            # The Python SDK JSON-encodes the ISO text, quotes included.
            inner = parse_json(value)
            value = inner if isinstance(inner, str) else value
        parsed = parse_timestamp(value)
        if parsed is not None:
            return parsed
    delay = attributes.get("ai.response.msToFirstChunk")
    if delay is None:
        delay = attributes.get("ai.stream.msToFirstChunk")
    if delay is not None and is_truthy(delay):
        milliseconds = to_number(delay)
        if milliseconds is not None:
            return start_time + math.ceil(milliseconds) * 1000
    return None


def _prompt_version(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def prompt_reference(attributes: dict[str, Any]) -> tuple[str, int] | None:
    """§3.5 prompt link (caller applies it to GENERATIONs only); both name and version or nothing."""
    name = attributes.get("langfuse.observation.prompt.name")
    if name is None:
        name = attributes.get("langfuse.prompt.name")
    version = attributes.get("langfuse.observation.prompt.version")
    if version is None:
        version = attributes.get("langfuse.prompt.version")
    if name is None or version is None:
        ai_prompt = parse_json_object(attributes.get("ai.telemetry.metadata.langfusePrompt"))
        if ai_prompt:
            name = ai_prompt.get("name") if name is None else name
            version = ai_prompt.get("version") if version is None else version
    number = _prompt_version(version)
    if not isinstance(name, str) or not name or number is None:
        return None
    return name, number
