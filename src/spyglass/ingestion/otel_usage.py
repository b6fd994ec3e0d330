"""Model name, model parameters, token usage and cost of an OTel span (reference §3.8, §3.9).

Outputs are already in patch encoding: usage `dict[str, int]` (through the shared
`normalize_usage_details`), cost `dict[str, float]`, parameters as a plain dict the caller
JSON-encodes. Empty results mean "the span says nothing".
"""

from __future__ import annotations

import math
from typing import Any, Final

from spyglass.domain.values import normalize_cost_details, normalize_usage_details
from spyglass.ingestion.otel_attributes import (
    KeyGroups,
    as_text,
    is_truthy,
    js_number,
    js_string,
    parse_json,
    parse_json_object,
    to_number,
)

AI_SDK_SCOPE: Final = "ai"
MODEL_PARAMETERS_KEY: Final = "langfuse.observation.model.parameters"
USAGE_DETAILS_KEY: Final = "langfuse.observation.usage_details"
COST_DETAILS_KEY: Final = "langfuse.observation.cost_details"

# `embedding.model_name` (OpenInference embedding spans) is a Spyglass addition to §3.8: without
# it an embedding has no model, so no price and no cost.
_MODEL_NAME_KEYS: Final = (
    "langfuse.observation.model.name", "gen_ai.response.model", "ai.model.id", "gen_ai.request.model",
    "llm.response.model", "llm.model_name", "model", "embedding.model_name",
)
# AI SDK agent wrappers repeat their children's usage; counting both would double costs.
_AGENT_OPERATIONS: Final = frozenset(("invoke_agent", "agent_step"))


# Every key a model/parameter/usage/cost rule reads outside the grouped prefix families: a span
# with none of them (and no grouped usage/parameter keys) carries no model information at all.
MODEL_KEYS: Final = frozenset((
    *_MODEL_NAME_KEYS, MODEL_PARAMETERS_KEY, USAGE_DETAILS_KEY, COST_DETAILS_KEY, "genkit:input", "genkit:output",
    "genkit:metadata:subtype", "llm.invocation_parameters", "model_config", "gen_ai.usage.cost", "llm.cost.total",
    "ai.usage.tokens", "ai.usage.cachedInputTokens", "ai.usage.reasoningTokens", "ai.response.providerMetadata",
    "ai.settings.maxSteps", "ai.prompt.toolChoice", "gen_ai.response.finish_reasons", "gen_ai.finishReason",
    "gen_ai.system", "ai.model.provider", "ai.settings.maxRetries", "ai.settings.mode",
    "gcp.vertex.agent.llm_response",
))


def is_agent_wrapper(attributes: dict[str, Any]) -> bool:
    operation = attributes.get("gen_ai.operation.name")
    return isinstance(operation, str) and operation in _AGENT_OPERATIONS


def model_name(attributes: dict[str, Any]) -> str | None:
    for key in _MODEL_NAME_KEYS:
        value = attributes.get(key)
        if value is not None and is_truthy(value):
            return as_text(value)
    if attributes.get("genkit:metadata:subtype") == "model":
        value = attributes.get("genkit:name")
        if value is not None and is_truthy(value):
            return as_text(value)
    return None


def _sanitize_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Strings and numbers stay; everything else (bools, lists, objects, null) becomes JSON text."""
    return {
        str(key): value if isinstance(value, str | int) and not isinstance(value, bool)
        else js_number(value) if isinstance(value, float) and math.isfinite(value)
        else as_text(value)
        for key, value in parameters.items()
    }


def _text_or_none(attributes: dict[str, Any], key: str) -> str | None:
    """JavaScript `attributes[key]?.toString() ?? null`: `["stop"]` → "stop", `1.0` → "1"."""
    value = attributes.get(key)
    return None if value is None else js_string(value)


def _ai_sdk_parameters(attributes: dict[str, Any]) -> dict[str, Any]:
    provider = parse_json_object(attributes.get("ai.response.providerMetadata")) or {}
    openai = provider.get("openai")
    service_tier = openai.get("serviceTier") if isinstance(openai, dict) else None
    finish_key = "gen_ai.response.finish_reasons" if "gen_ai.response.finish_reasons" in attributes else (
        "gen_ai.finishReason"
    )
    system_key = "gen_ai.system" if "gen_ai.system" in attributes else "ai.model.provider"
    return {
        "maxSteps": _text_or_none(attributes, "ai.settings.maxSteps"),
        "toolChoice": _text_or_none(attributes, "ai.prompt.toolChoice"),
        "maxTokens": _text_or_none(attributes, "gen_ai.request.max_tokens"),
        "finishReason": _text_or_none(attributes, finish_key),
        "system": _text_or_none(attributes, system_key),
        "maxRetries": _text_or_none(attributes, "ai.settings.maxRetries"),
        "mode": _text_or_none(attributes, "ai.settings.mode"),
        "temperature": _text_or_none(attributes, "gen_ai.request.temperature"),
        "service_tier": service_tier
        if isinstance(service_tier, str)
        else _text_or_none(attributes, "gen_ai.request.service_tier"),
    }


def model_parameters(attributes: dict[str, Any], scope_name: str, groups: KeyGroups) -> dict[str, Any]:
    """§3.8 precedence: explicit Langfuse JSON > Genkit > AI SDK map > OpenInference > prefixed keys."""
    raw = attributes.get(MODEL_PARAMETERS_KEY)
    explicit = parse_json_object(raw) if raw is not None else None
    if explicit is not None:
        explicit = _sanitize_parameters(explicit)
        if scope_name != AI_SDK_SCOPE:
            return explicit
    if scope_name == "genkit-tracer":
        genkit_input = parse_json_object(attributes.get("genkit:input")) or {}
        genkit_output = parse_json_object(attributes.get("genkit:output")) or {}
        request = genkit_output.get("request")
        config = genkit_input.get("config") or (request.get("config") if isinstance(request, dict) else None)
        if isinstance(config, dict) and config:
            return _sanitize_parameters(config)
    if scope_name == AI_SDK_SCOPE:
        # Every AI SDK span gets the whole map, unknown settings as null (the reference does too).
        parameters = _ai_sdk_parameters(attributes)
        parameters.update(explicit or {})
        return parameters
    for key in ("llm.invocation_parameters", "model_config"):
        raw = attributes.get(key)
        blob = parse_json_object(raw) if raw is not None else None
        if blob is not None:
            return _sanitize_parameters(blob)
    if not groups.params:
        return {}
    collected: dict[str, Any] = {}
    for key in groups.params:
        name = key[15:] if key.startswith("gen_ai.request.") else key[26:]
        if name != "model":
            collected[name] = attributes[key]
    return _sanitize_parameters(collected)


def _count(value: Any) -> int | None:
    """JavaScript parseInt over a decoded attribute: leading integer digits, else None."""
    number = to_number(value)
    return None if number is None else int(number)


def _first_count(raw: dict[str, float | int], keys: tuple[str, ...]) -> float | int | None:
    for key in keys:
        if key in raw:
            return raw[key]
    return None


_INPUT_KEYS: Final = ("prompt_tokens", "input_tokens", "prompt")
_OUTPUT_KEYS: Final = ("completion_tokens", "output_tokens", "completion")
_TOTAL_KEYS: Final = ("total_tokens", "total")
_CACHE_READ_KEYS: Final = (
    "cache_read.input_tokens", "cache_read_input_tokens", "cache_read_tokens", "details.cache_read_tokens",
    "details.cache_read_input_tokens", "prompt_details.cache_read", "input_cached_tokens",
)
_CACHE_CREATION_KEYS: Final = (
    "cache_creation.input_tokens", "cache_creation_input_tokens", "cache_write_tokens",
    "details.cache_write_tokens", "details.cache_creation_input_tokens", "prompt_details.cache_write",
    "input_cache_creation",
)
_REASONING_KEYS: Final = ("reasoning.output_tokens", "completion_details.reasoning")
_AUDIO_KEY: Final = "completion_details.audio"
_CONSUMED_USAGE_KEYS: Final = frozenset((
    *_INPUT_KEYS, *_OUTPUT_KEYS, *_TOTAL_KEYS, *_CACHE_READ_KEYS, *_CACHE_CREATION_KEYS, *_REASONING_KEYS,
    _AUDIO_KEY,
))


def _generic_usage(attributes: dict[str, Any], groups: KeyGroups) -> dict[str, Any]:
    """Every `gen_ai.usage.*` / `llm.token_count.*` count, mapped onto Langfuse's usage keys."""
    raw: dict[str, float | int] = {}
    for key in groups.usage:
        number = to_number(attributes[key])
        if number is not None:
            raw[key[13:] if key.startswith("gen_ai.usage.") else key[16:]] = number
    if not raw:
        return {}
    usage: dict[str, Any] = {
        (key[8:] if key.startswith("details.") else key): value
        for key, value in raw.items()
        if key not in _CONSUMED_USAGE_KEYS
    }
    given = _first_count(raw, _INPUT_KEYS)
    produced = _first_count(raw, _OUTPUT_KEYS)
    total = _first_count(raw, _TOTAL_KEYS)
    cache_read = _first_count(raw, _CACHE_READ_KEYS)
    cache_creation = _first_count(raw, _CACHE_CREATION_KEYS)
    reasoning = _first_count(raw, _REASONING_KEYS)
    audio = raw.get(_AUDIO_KEY)
    # Providers report cached/reasoning tokens inside input/output; Langfuse stores them apart.
    if given is not None:
        usage["input"] = max(given - (cache_read or 0) - (cache_creation or 0), 0)
    if produced is not None:
        usage["output"] = max(produced - (reasoning or 0) - (audio or 0), 0)
    if total is not None:
        usage["total"] = total
    for name, value in (
        ("input_cached_tokens", cache_read),
        ("input_cache_creation", cache_creation),
        ("output_reasoning_tokens", reasoning),
        ("output_audio_tokens", audio),
    ):
        if value is not None:
            usage[name] = value
    return usage


def _genkit_usage(attributes: dict[str, Any]) -> dict[str, Any] | None:
    output = parse_json_object(attributes.get("genkit:output"))
    counts = output.get("usage") if output else None
    if not isinstance(counts, dict) or not counts:
        return None
    usage: dict[str, Any] = {}
    thoughts = counts.get("thoughtsTokens")
    if counts.get("inputTokens"):
        usage["input"] = counts["inputTokens"]
    if counts.get("outputTokens"):
        usage["output"] = max(counts["outputTokens"] - (thoughts or 0), 0)
    if counts.get("totalTokens"):
        usage["total"] = counts["totalTokens"]
    if thoughts:
        usage["output_reasoning"] = thoughts
    return usage


# Usage keys the AI SDK rule reads itself; any other `gen_ai.usage.*` count is kept as it is.
_AI_SDK_GEN_AI_USAGE_KEYS: Final = frozenset((
    "gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens", "gen_ai.usage.completion_tokens",
    "gen_ai.usage.output_tokens",
))


class _FallThrough(Exception):
    """The AI SDK usage attributes are malformed: the reference then uses the generic rule."""


def _embedded_count(value: Any) -> Any:
    """`ai.usage.cachedInputTokens` / `reasoningTokens`: a number, or JSON text of one (or of `{intValue}`)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = js_string(value)  # JSON.parse(String(value)), as the reference does
    parsed = parse_json(text)
    if parsed is None and text.strip() != "null":
        raise _FallThrough
    if isinstance(parsed, int | float) and not isinstance(parsed, bool):
        return parsed
    return parsed.get("intValue") if isinstance(parsed, dict) else None


def _provider_metadata(value: Any) -> dict[str, Any] | None:
    """`ai.response.providerMetadata`: its object; None when absent; unusable JSON falls through."""
    if value is None or not is_truthy(value):
        return None
    parsed = parse_json(value) if isinstance(value, str) else None
    if isinstance(parsed, dict):
        return parsed
    if isinstance(parsed, list):
        return None
    raise _FallThrough


def _ai_sdk_provider_usage(usage: dict[str, Any], provider: dict[str, Any]) -> None:
    def fill(key: str, value: Any) -> None:
        if usage.get(key) is None and value is not None:
            usage[key] = value

    openai = provider.get("openai")
    if isinstance(openai, dict):
        fill("input_cached_tokens", openai.get("cachedPromptTokens"))
        fill("accepted_prediction_tokens", openai.get("acceptedPredictionTokens"))
        fill("rejected_prediction_tokens", openai.get("rejectedPredictionTokens"))
        fill("output_reasoning_tokens", openai.get("reasoningTokens"))
    anthropic = provider.get("anthropic")
    counts = anthropic.get("usage") if isinstance(anthropic, dict) else None
    if isinstance(counts, dict):
        fill("input_cache_creation", counts.get("cache_creation_input_tokens"))
        fill("input_cached_tokens", counts.get("cache_read_input_tokens"))
        creation = counts.get("cache_creation")
        if isinstance(creation, dict):
            for source, target in (("ephemeral_5m_input_tokens", "input_cache_creation_5m"),
                                   ("ephemeral_1h_input_tokens", "input_cache_creation_1h")):
                if isinstance(creation.get(source), int | float):
                    fill(target, creation[source])
            usage["input_cache_creation"] = max(
                (usage.get("input_cache_creation") or 0)
                - (usage.get("input_cache_creation_5m") or 0)
                - (usage.get("input_cache_creation_1h") or 0),
                0,
            )
    bedrock = provider.get("bedrock")
    counts = bedrock.get("usage") if isinstance(bedrock, dict) else None
    if isinstance(counts, dict):
        fill("input_cache_read", counts.get("cacheReadInputTokens"))
        fill("input_cache_write", counts.get("cacheWriteInputTokens"))
        fill("input_cache_creation", counts.get("cacheCreationInputTokens"))


def _count_if_present(attributes: dict[str, Any], *keys: str) -> int | None:
    """The first of `keys` that is present, as JavaScript `parseInt(String(v ?? "0"))` (None if NaN)."""
    for key in keys:
        if key in attributes:
            value = attributes[key]
            return 0 if value is None else _count(value)
    return None


def _ai_sdk_usage(attributes: dict[str, Any]) -> dict[str, Any]:
    """Vercel AI SDK counts (scope `ai`, every span), with provider cache/reasoning details split out.

    Input and output are always present (0 when the span reports none), as in the reference.
    Raises `_FallThrough` when the token attributes cannot be parsed.
    """
    usage: dict[str, Any] = {
        "input": _count_if_present(attributes, "gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens"),
        "output": _count_if_present(attributes, "gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens"),
        "total": _count_if_present(attributes, "ai.usage.tokens"),
    }
    if "ai.usage.cachedInputTokens" in attributes:
        usage["input_cached_tokens"] = _embedded_count(attributes["ai.usage.cachedInputTokens"])
    if "ai.usage.reasoningTokens" in attributes:
        usage["output_reasoning_tokens"] = _embedded_count(attributes["ai.usage.reasoningTokens"])
    provider = _provider_metadata(attributes.get("ai.response.providerMetadata"))
    if provider:
        _ai_sdk_provider_usage(usage, provider)

    def amount(key: str) -> int | float:
        value = usage.get(key)
        return value if isinstance(value, int | float) and not isinstance(value, bool) else 0

    usage["input"] = max(
        amount("input") - amount("input_cached_tokens") - amount("input_cache_creation")
        - amount("input_cache_creation_5m") - amount("input_cache_creation_1h") - amount("input_cache_read"),
        0,
    )
    usage["output"] = max(amount("output") - amount("output_reasoning_tokens"), 0)
    return {key: value for key, value in usage.items() if value is not None}


def _with_other_gen_ai_counts(usage: dict[str, Any], attributes: dict[str, Any], groups: KeyGroups) -> dict[str, Any]:
    """Spyglass keeps every `gen_ai.usage.*` count the AI SDK rule does not read (named as the
    generic rule names unknown keys), where the reference would drop it; the counts the rule
    computes are left as they are."""
    for key in groups.usage:
        if key.startswith("gen_ai.usage.") and key not in _AI_SDK_GEN_AI_USAGE_KEYS:
            name = key[21:] if key.startswith("gen_ai.usage.details.") else key[13:]
            if name not in usage:
                number = to_number(attributes[key])
                if number is not None:
                    usage[name] = number
    return usage


def _vertex_usage(attributes: dict[str, Any], groups: KeyGroups) -> dict[str, Any]:
    usage = _generic_usage(attributes, groups)
    if "input_cached_tokens" not in usage:
        response = parse_json_object(attributes.get("gcp.vertex.agent.llm_response")) or {}
        metadata = response.get("usage_metadata")
        cached = metadata.get("cached_content_token_count") if isinstance(metadata, dict) else None
        if isinstance(cached, int | float) and not isinstance(cached, bool) and cached > 0:
            usage["input_cached_tokens"] = cached
            if "input" in usage:
                usage["input"] = max(usage["input"] - cached, 0)
    return usage


def _explicit_json_object(attributes: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A Langfuse JSON-object attribute: its object, {} when present but not an object, None when
    absent or not valid JSON (so that later sources may still apply)."""
    value = attributes.get(key)
    if value is None or not is_truthy(value):
        return None
    if not isinstance(value, str):
        return {}
    parsed = parse_json(value)
    if parsed is None and value.strip() != "null":
        return None
    return parsed if isinstance(parsed, dict) else {}


def _raw_usage(attributes: dict[str, Any], scope_name: str, groups: KeyGroups) -> Any:
    explicit = _explicit_json_object(attributes, USAGE_DETAILS_KEY)
    if explicit is not None:
        return explicit
    if scope_name == "genkit-tracer":
        genkit = _genkit_usage(attributes)
        if genkit is not None:
            return genkit
    if scope_name == AI_SDK_SCOPE:
        try:
            return _with_other_gen_ai_counts(_ai_sdk_usage(attributes), attributes, groups)
        except _FallThrough:
            pass
    if scope_name == "gcp.vertex.agent" and "gcp.vertex.agent.llm_response" in attributes:
        return _vertex_usage(attributes, groups)
    return _generic_usage(attributes, groups) if groups.usage else {}


def usage_details(attributes: dict[str, Any], scope_name: str, groups: KeyGroups) -> dict[str, int]:
    """§3.9 usage, validated like ingestion usage (§4.4)."""
    return normalize_usage_details(_raw_usage(attributes, scope_name, groups))


def cost_details(attributes: dict[str, Any]) -> dict[str, float]:
    """§3.9 cost: Langfuse JSON object > `gen_ai.usage.cost` > OpenInference `llm.cost.total`."""
    explicit = _explicit_json_object(attributes, COST_DETAILS_KEY)
    if explicit is not None:
        return normalize_cost_details(explicit)
    for key in ("gen_ai.usage.cost", "llm.cost.total"):
        value = attributes.get(key)
        if value is not None and value != "":
            return normalize_cost_details({"total": to_number(value)})
    return {}
