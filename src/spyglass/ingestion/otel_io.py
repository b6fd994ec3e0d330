"""Observation input/output from span attributes and span events (reference §3.7).

The rules are tried in the reference's order and the first one that yields a value wins.
Values are returned raw (decoded attribute values or rebuilt objects); the caller encodes
them for storage. `unconsumed_attributes` is the `metadata.attributes` map of third-party
spans: everything not used as input/output or metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from spyglass.domain.values import json_text
from spyglass.ingestion.otel_attributes import (
    KeyGroups,
    as_text,
    attributes_to_dict,
    group_keys,
    is_truthy,
    parse_json,
    rebuild_flattened,
)

IO = tuple[Any, Any]
_NOTHING: Final[IO] = (None, None)

OBSERVATION_INPUT: Final = "langfuse.observation.input"
OBSERVATION_OUTPUT: Final = "langfuse.observation.output"
TRACE_INPUT: Final = "langfuse.trace.input"
TRACE_OUTPUT: Final = "langfuse.trace.output"

# Every key any rule may read; they never reach `metadata.attributes`.
IO_KEYS: Final = frozenset((
    TRACE_INPUT, TRACE_OUTPUT, OBSERVATION_INPUT, OBSERVATION_OUTPUT,
    "ai.prompt.messages", "ai.prompt", "ai.toolCall.args", "ai.response.text", "ai.result.text",
    "ai.toolCall.result", "ai.response.object", "ai.result.object", "ai.response.toolCalls",
    "ai.result.toolCalls",
    "gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response", "gcp.vertex.agent.tool_call_args",
    "gcp.vertex.agent.tool_response",
    "prompt", "all_messages_events", "events",
    "lk.input_text", "lk.user_transcript", "lk.chat_ctx", "lk.user_input", "lk.function_tool.output",
    "lk.response.text",
    "mlflow.spanInputs", "mlflow.spanOutputs",
    "traceloop.entity.input", "traceloop.entity.output",
    "input.value", "output.value",
    "final_result", "pydantic_ai.all_messages",
    "gen_ai.system_instructions",
    "input", "output",
    "gen_ai.input.messages", "gen_ai.output.messages",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result",
    "genkit:input", "genkit:output",
    "flue.turn.input", "flue.turn.output", "flue.tool.arguments", "flue.tool.result", "flue.task.prompt",
    "flue.task.result", "flue.operation.result", "flue.workflow.payload", "flue.workflow.result",
    "tool_arguments", "tool_response",
))
_UNCONSUMED_EXCLUDED_PREFIXES: Final = (
    "gen_ai.prompt", "gen_ai.completion", "llm.input_messages", "llm.output_messages",
    "langfuse.trace.metadata", "langfuse.observation.metadata", "ai.telemetry.metadata",
)
_SPECIAL_SCOPES: Final = frozenset(("genkit-tracer", "ai", "@flue/opentelemetry", "pydantic-ai"))
_MESSAGE_EVENTS: Final = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_OPERATION_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
_GEN_AI_EVENT_NAMES: Final = frozenset((
    *_MESSAGE_EVENTS, "gen_ai.choice", _OPERATION_DETAILS_EVENT, "gen_ai.content.prompt",
    "gen_ai.content.completion",
))


def unconsumed_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    return {
        key: as_text(value)
        for key, value in attributes.items()
        if key not in IO_KEYS and not key.startswith(_UNCONSUMED_EXCLUDED_PREFIXES)
    }


def _first_present(attributes: dict[str, Any], keys: Sequence[str]) -> Any:
    """JavaScript `a ?? b ?? c` over attributes: the first that is not missing/null."""
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _any_truthy(*values: Any) -> bool:
    return any(value is not None and is_truthy(value) for value in values)


def _system_text(instructions: Any) -> str:
    parsed = parse_json(instructions) if isinstance(instructions, str) else instructions
    if parsed is None:
        return as_text(instructions)
    if isinstance(parsed, list):
        return "\n".join(
            as_text(part["content"]) if isinstance(part, dict) and part.get("content") else as_text(part)
            for part in parsed
        )
    return as_text(parsed)


def prepend_system_instructions(messages: Any, instructions: Any) -> Any:
    """Put `gen_ai.system_instructions` first as a system message unless one is already there."""
    parsed = parse_json(messages) if isinstance(messages, str) else messages
    if not isinstance(parsed, list):
        return messages
    if any(isinstance(message, dict) and message.get("role") == "system" for message in parsed):
        return messages
    merged = [{"role": "system", "content": _system_text(instructions)}, *parsed]
    return json_text(merged) if isinstance(messages, str) else merged


def gen_ai_io(attributes: dict[str, Any]) -> IO | None:
    """OpenTelemetry GenAI semantic-convention attributes (rule 20): messages, else tool call."""
    given = attributes.get("gen_ai.input.messages")
    produced = attributes.get("gen_ai.output.messages")
    if given is not None and is_truthy(given):
        instructions = attributes.get("gen_ai.system_instructions")
        if instructions is not None and is_truthy(instructions):
            given = prepend_system_instructions(given, instructions)
    if _any_truthy(given, produced):
        return given, produced
    given = attributes.get("gen_ai.tool.call.arguments")
    produced = attributes.get("gen_ai.tool.call.result")
    if _any_truthy(given, produced):
        return given, produced
    return None


def _genkit_io(attributes: dict[str, Any]) -> IO:
    raw_in, raw_out = attributes.get("genkit:input"), attributes.get("genkit:output")
    given = parse_json(raw_in)
    produced = parse_json(raw_out)
    given = raw_in if given is None else given
    produced = raw_out if produced is None else produced
    if given is None and produced is None:
        return _NOTHING
    if isinstance(given, dict) and given.get("messages") is not None:
        given = given["messages"]
    if isinstance(produced, dict) and produced.get("message") is not None:
        produced = produced["message"]
    return given, produced


_AI_SDK_INPUT_KEYS: Final = ("ai.prompt.messages", "ai.prompt", "ai.toolCall.args")
_AI_SDK_OUTPUT_KEYS: Final = (
    "ai.result.text", "ai.toolCall.result", "ai.response.object", "ai.result.object",
    "ai.response.toolCalls", "ai.result.toolCalls",
)


def _ai_sdk_io(attributes: dict[str, Any]) -> IO:
    """Vercel AI SDK (scope `ai`): ends the rule chain even when it finds nothing."""
    given = next((attributes[key] for key in _AI_SDK_INPUT_KEYS if key in attributes), None)
    if "ai.response.text" in attributes and "ai.response.toolCalls" in attributes:
        produced: Any = json_text({
            "role": "assistant",
            "content": attributes["ai.response.text"],
            "tool_calls": attributes["ai.response.toolCalls"],
        })
    elif _any_truthy(attributes.get("ai.response.text")):
        produced = attributes["ai.response.text"]
    else:
        produced = next((attributes[key] for key in _AI_SDK_OUTPUT_KEYS if key in attributes), None)
    if given is None or produced is None:
        fallback = gen_ai_io(attributes) or _NOTHING
        given = fallback[0] if given is None else given
        produced = fallback[1] if produced is None else produced
    return given, produced


_FLUE_INPUT_KEYS: Final = (
    "flue.turn.input", "flue.tool.arguments", "flue.task.prompt", "flue.workflow.payload",
)
_FLUE_OUTPUT_KEYS: Final = (
    "flue.turn.output", "flue.tool.result", "flue.task.result", "flue.operation.result",
    "flue.workflow.result",
)


def _flue_io(attributes: dict[str, Any]) -> IO | None:
    given = _first_present(attributes, _FLUE_INPUT_KEYS)
    produced = _first_present(attributes, _FLUE_OUTPUT_KEYS)
    if given is None and produced is None:
        return None
    parsed_in, parsed_out = parse_json(given), parse_json(produced)
    return (given if parsed_in is None else parsed_in, produced if parsed_out is None else parsed_out)


def _events_io(events: Sequence[Any], scope_name: str) -> IO | None:
    """GenAI span events (rules 5–7): operation details, per-message events, Semantic Kernel."""
    named = [(event.name, event) for event in events if event.name in _GEN_AI_EVENT_NAMES]
    if not named:
        return None
    for name, event in named:
        if name == _OPERATION_DETAILS_EVENT:
            found = gen_ai_io(attributes_to_dict(event.attributes))
            if found:
                return found
    messages = [
        {"role": _MESSAGE_EVENTS[name], **attributes_to_dict(event.attributes)}
        for name, event in named
        if name in _MESSAGE_EVENTS
    ]
    choices = [attributes_to_dict(event.attributes) for name, event in named if name == "gen_ai.choice"]
    if messages or choices:
        produced = (choices[0] if len(choices) == 1 else choices) if choices else None
        return (messages or None), produced
    prompt = next((event for name, event in named if name == "gen_ai.content.prompt"), None)
    completion = next((event for name, event in named if name == "gen_ai.content.completion"), None)
    if prompt is None and completion is None:
        return None
    # Semantic Kernel nests the payload in the event attributes: extract again from those.
    prompt_attributes = attributes_to_dict(prompt.attributes) if prompt is not None else {}
    completion_attributes = attributes_to_dict(completion.attributes) if completion is not None else {}
    given = extract_io(prompt_attributes, (), scope_name, group_keys(prompt_attributes))[0]
    produced = extract_io(completion_attributes, (), scope_name, group_keys(completion_attributes))[1]
    return (
        given if _any_truthy(given) else prompt_attributes,
        produced if _any_truthy(produced) else completion_attributes,
    )


def _is_choice(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("event.name") == "gen_ai.choice"


def _logfire_events_io(value: Any) -> IO | None:
    entries = parse_json(value) if isinstance(value, str) else value
    if not isinstance(entries, list):
        return None
    choice = next((entry for entry in entries if _is_choice(entry)), None)
    given = [entry for entry in entries if not _is_choice(entry)]
    if choice is None and not given:
        return None
    return (given or None), choice


_SIMPLE_PAIRS: Final = (
    ("mlflow.spanInputs", "mlflow.spanOutputs"),
    ("traceloop.entity.input", "traceloop.entity.output"),
    ("input.value", "output.value"),
    ("input", "output"),
)


def _attribute_io(attributes: dict[str, Any], scope_name: str) -> IO | None:
    """Rules 8–17: one vendor's pair of attributes each."""
    get = attributes.get
    given, produced = get("gcp.vertex.agent.llm_request"), get("gcp.vertex.agent.llm_response")
    if given == "{}" or not _any_truthy(given):
        given = get("gcp.vertex.agent.tool_call_args")
    if produced == "{}" or not _any_truthy(produced):
        produced = get("gcp.vertex.agent.tool_response")
    if _any_truthy(given, produced):
        return given, produced
    given, produced = get("prompt"), get("all_messages_events")
    if _any_truthy(given, produced):
        return given, produced
    given = _first_present(attributes, ("lk.input_text", "lk.user_transcript", "lk.chat_ctx"))
    produced = get("lk.function_tool.output")
    if not _any_truthy(produced):
        produced = get("lk.response.text")
    if _any_truthy(given, produced):
        return given, produced
    if isinstance(get("events"), str | list):
        found = _logfire_events_io(get("events"))
        if found:
            return found
    for input_key, output_key in _SIMPLE_PAIRS:
        given, produced = get(input_key), get(output_key)
        if _any_truthy(given, produced):
            return given, produced
    if scope_name == "pydantic-ai":
        given, produced = get("pydantic_ai.all_messages"), get("final_result")
        instructions = get("gen_ai.system_instructions")
        if _any_truthy(given) and _any_truthy(instructions):
            given = prepend_system_instructions(given, instructions)
        if _any_truthy(given, produced):
            return given, produced
    given, produced = get("tool_arguments"), get("tool_response")
    if _any_truthy(given, produced):
        return given, produced
    return None


def extract_io(attributes: dict[str, Any], events: Sequence[Any], scope_name: str, groups: KeyGroups) -> IO:
    """The observation's (input, output) per §3.7; (None, None) when the span carries neither."""
    given, produced = attributes.get(OBSERVATION_INPUT), attributes.get(OBSERVATION_OUTPUT)
    if given is not None or produced is not None:
        return given, produced
    special_scope = scope_name in _SPECIAL_SCOPES
    flattened = groups.prompt or groups.completion or groups.llm_input or groups.llm_output
    if not (events or special_scope or flattened) and attributes.keys().isdisjoint(IO_KEYS):
        return _NOTHING
    if scope_name == "genkit-tracer":
        return _genkit_io(attributes)
    if scope_name == "ai":
        return _ai_sdk_io(attributes)
    if scope_name == "@flue/opentelemetry":
        found = _flue_io(attributes)
        if found:
            return found
    if (groups.llm_input or groups.llm_output) and _is_openinference_llm(attributes):
        return _openinference_chat_io(attributes, groups)
    found = (_events_io(events, scope_name) if events else None) or _attribute_io(attributes, scope_name)
    if found:
        return found
    if groups.prompt or groups.completion:
        return (
            rebuild_flattened(attributes, groups.prompt, "gen_ai.prompt"),
            rebuild_flattened(attributes, groups.completion, "gen_ai.completion"),
        )
    if groups.llm_input or groups.llm_output:
        return (
            rebuild_flattened(attributes, groups.llm_input, "llm.input_messages"),
            rebuild_flattened(attributes, groups.llm_output, "llm.output_messages"),
        )
    return gen_ai_io(attributes) or _NOTHING


def _is_openinference_llm(attributes: dict[str, Any]) -> bool:
    kind = attributes.get("openinference.span.kind")
    return isinstance(kind, str) and kind.upper() == "LLM"


def _openinference_chat_io(attributes: dict[str, Any], groups: KeyGroups) -> IO:
    """OpenInference LLM spans as chat messages (a Spyglass deviation from §3.7).

    The reference takes `input.value` / `output.value` first (rule 14), which for LlamaIndex are
    the library's own renderings (`"assistant: None"` for a tool call) while the structured
    `llm.input_messages.*` / `llm.output_messages.*` (rule 19) are removed from the metadata:
    the messages and tool calls would be nowhere. Here they become OpenAI-style messages.
    """
    given = _chat_messages(rebuild_flattened(attributes, groups.llm_input, "llm.input_messages"))
    produced = _chat_messages(rebuild_flattened(attributes, groups.llm_output, "llm.output_messages"))
    if isinstance(produced, list) and len(produced) == 1:
        produced = produced[0]  # one choice: the message itself, as the OpenAI integrations store it
    return given, produced


def _chat_messages(rebuilt: Any) -> Any:
    if not isinstance(rebuilt, list):
        return rebuilt
    return [_chat_message(entry.get("message", entry)) if isinstance(entry, dict) else entry for entry in rebuilt]


def _chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """`{role, content, contents[], tool_calls[].tool_call{id, function{name, arguments}}, tool_call_id, name}`."""
    out: dict[str, Any] = {"role": message.get("role")}
    parts = message.get("contents")
    if isinstance(parts, list) and parts:
        out["content"] = [_content_part(part.get("message_content", part)) for part in parts if isinstance(part, dict)]
    else:
        out["content"] = message.get("content")
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        out["tool_calls"] = [_tool_call(call.get("tool_call", call)) for call in calls if isinstance(call, dict)]
    for key in ("tool_call_id", "name"):
        if message.get(key) is not None:
            out[key] = message[key]
    return out


def _content_part(part: dict[str, Any]) -> dict[str, Any]:
    if part.get("type") == "image":
        image = part.get("image")
        url = image.get("image", {}).get("url") if isinstance(image, dict) else None
        return {"type": "image_url", "image_url": {"url": url}}
    return {"type": part.get("type") or "text", "text": part.get("text")}


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return {"id": call.get("id"), "type": "function",
            "function": {"name": function.get("name"), "arguments": function.get("arguments")}}


def trace_io(attributes: dict[str, Any], observation_io: IO) -> IO:
    """A root span's trace IO: `langfuse.trace.*` first, then the observation's own IO (§3.7 rule 1)."""
    given, produced = attributes.get(TRACE_INPUT), attributes.get(TRACE_OUTPUT)
    if not _any_truthy(given):
        given = attributes.get(OBSERVATION_INPUT)
    if not _any_truthy(produced):
        produced = attributes.get(OBSERVATION_OUTPUT)
    if given is not None or produced is not None:
        return given, produced
    return observation_io
