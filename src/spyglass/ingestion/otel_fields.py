"""Per-field resolution rules for OTel spans (reference §3.3–§3.5, §3.10, §3.11; types: `otel_types`).

Each function reads a decoded attribute dict and answers one field, covering the Langfuse
SDK keys, their compatibility aliases and the third-party conventions (OpenTelemetry GenAI,
OpenInference, Vercel AI SDK, Genkit, Flue, LiveKit) that Langfuse understands. None means
"the span says nothing about this field".
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Final

import orjson

from spyglass.domain.datasets import ExperimentLink
from spyglass.domain.values import datetime_from_micros, normalize_environment, parse_timestamp
from spyglass.ingestion.otel_attributes import (
    KeyGroups,
    as_text,
    first_truthy,
    is_truthy,
    js_string,
    parse_json,
    parse_json_object,
    to_number,
)
from spyglass.ingestion.otel_types import LIVEKIT_SCOPE

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
# Every attribute a non-root span's trace patch reads besides trace metadata: spans of one trace
# with equal values here (and equal trace metadata) produce equal trace patches.
TRACE_PATCH_INPUTS: Final = tuple(dict.fromkeys((
    *_TRACE_UPDATE_KEYS, *_USER_ID_KEYS, *_SESSION_ID_KEYS, *_TAG_KEYS, "langfuse.public", "langfuse.version",
    "langfuse.release",
)))
# Vercel AI SDK telemetry keys that are trace fields, not metadata.
_AI_TELEMETRY_NON_METADATA: Final = frozenset((
    "ai.telemetry.metadata.userId", "ai.telemetry.metadata.sessionId", "ai.telemetry.metadata.tags",
    "ai.telemetry.metadata.langfusePrompt",
))


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


def tags(attributes: dict[str, Any]) -> list[str] | None:
    """§3.5 tags: arrays as strings, `[…]` text as JSON, `a, b` split on commas, else `[text]`."""
    value = first_truthy(attributes, _TAG_KEYS)
    if value is None:
        return None
    if isinstance(value, list):
        return [tag if type(tag) is str else js_string(tag) for tag in value]
    if not isinstance(value, str):
        return None
    if value.strip().startswith("["):
        parsed = parse_json(value)
        if isinstance(parsed, list):
            return [tag if type(tag) is str else js_string(tag) for tag in parsed]
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
    shared_blob = "langfuse.metadata" in attributes
    trace = _blob(attributes, "langfuse.trace.metadata") if shared_blob or (
        "langfuse.trace.metadata" in attributes) else {}
    observation = _blob(attributes, "langfuse.observation.metadata") if shared_blob or (
        "langfuse.observation.metadata" in attributes) else {}
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
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
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


def experiment_link(attributes: dict[str, Any], project_id: str, span_id: str,
                    trace_id: str) -> ExperimentLink | None:
    """The experiment item an experiment's task span stands for (SDK 4.x and 5.x), or None.

    Only the task span declares it (`…item.root_observation_id` is its own id). Experiments
    over local data have no dataset id; their item id is a hash of the input.
    """
    if attributes.get("langfuse.experiment.item.root_observation_id") != span_id:
        return None
    run_id, name = attributes.get("langfuse.experiment.id"), attributes.get("langfuse.experiment.name")
    dataset_id = attributes.get("langfuse.experiment.dataset.id")
    item_id = attributes.get("langfuse.experiment.item.id")
    if not all(isinstance(value, str) and value for value in (run_id, name, item_id)):
        return None
    description = attributes.get("langfuse.experiment.description")
    version = parse_timestamp(attributes.get("langfuse.experiment.item.version"))
    return ExperimentLink(
        project_id=project_id, run_id=run_id, run_name=name,
        dataset_id=dataset_id if isinstance(dataset_id, str) and dataset_id else None, dataset_item_id=item_id,
        trace_id=trace_id, observation_id=span_id,
        description=description if isinstance(description, str) else None,
        metadata=parse_json_object(attributes.get("langfuse.experiment.metadata")) or None,
        item_version=datetime_from_micros(version),
        expected_output=_json_value(attributes.get("langfuse.experiment.item.expected_output")),
        item_metadata=parse_json_object(attributes.get("langfuse.experiment.item.metadata")) or None,
    )


def _json_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
