"""Real span attribute sets of third-party instrumentations, mapped per the reference (§3.5–§3.10).

The fixtures in `tests/fixtures/otel/` are OTLP/JSON exports written after what each library
emits, read from its own source and tests:

* `openinference.json`: OpenInference (Arize-ai/openinference) LlamaIndex CHAIN/AGENT/TOOL/
  RETRIEVER/EMBEDDING spans and OpenAI LLM spans (`input.value` plus flattened
  `llm.input_messages`/`llm.output_messages`, tool calls, `llm.token_count.*` with prompt/completion
  details, `llm.invocation_parameters`), an LLM span carrying only the flattened messages, and the
  context attributes `session.id`, `user.id`, `tag.tags`, `metadata`.
* `openllmetry.json`: Traceloop SDK workflow/tool spans (`traceloop.span.kind`,
  `traceloop.entity.input/output`, association properties), opentelemetry-instrumentation-openai
  and -anthropic 0.40 (`gen_ai.prompt.N.*`, `gen_ai.completion.N.*` with tool calls,
  `gen_ai.usage.prompt_tokens`/`completion_tokens`/`cache_read_input_tokens`, `llm.request.type`),
  and instrumentation-openai 0.62 after its GenAI semconv migration (`gen_ai.usage.reasoning_tokens`).
* `vercel_ai.json`: AI SDK 5/6 `ai.generateText` with `doGenerate` steps, a tool call and
  `ai.toolCall`, and `ai.streamText`/`doStream` with Anthropic cache provider metadata,
  `ai.response.msToFirstChunk` and a Langfuse prompt in `ai.telemetry.metadata.langfusePrompt`.
* `pydantic_logfire.json`: pydantic-ai 1.x agent run (`invoke_agent`, `pydantic_ai.all_messages`,
  `final_result`, `gen_ai.system_instructions`), chat and `execute_tool` spans; pydantic-ai 0.4
  (`events` JSON array, `all_messages_events`, `tool_arguments`/`tool_response`); Logfire's
  `instrument_openai` span.
* `genai_semconv.json`: OpenTelemetry GenAI semantic conventions 1.37+ (`invoke_agent`, chat with
  `gen_ai.input.messages`/`gen_ai.output.messages`/`gen_ai.system_instructions` attributes, chat
  with the `gen_ai.client.inference.operation.details` event, `execute_tool`, `embeddings`), the
  older per-message events (`gen_ai.system.message`, `gen_ai.user.message`, `gen_ai.choice`), and
  an OpenLIT span (`gen_ai.usage.cost`, `gen_ai.content.prompt`/`completion` events).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from tests.unit.ingestion.test_otel_factory import PROJECT, RECEIVED_US, make_span, map_one

from spyglass.domain.merge import FILL
from spyglass.domain.records import Patch
from spyglass.domain.values import decode_value
from spyglass.ingestion.otel import decode_export_request, request_to_patches

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "otel"
T0_US = 1_748_772_000_000_000  # 2025-06-01T10:00:00Z, the fixtures' time origin


class Mapped:
    """One fixture's patches: observations by span id, the full trace patch of each root."""

    def __init__(self, traces: list[Patch], observations: list[Patch]) -> None:
        self.observations = {patch["id"]: patch for patch in observations}
        assert len(self.observations) == len(observations)
        self.roots = {patch["id"]: patch for patch in traces if FILL in patch}

    def __getitem__(self, span_id: str) -> Patch:
        return self.observations[span_id]


@cache
def fixture_body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


@cache
def mapped(name: str, content_type: str = "application/json") -> Mapped:
    body = fixture_body(name)
    if content_type == "application/x-protobuf":
        body = decode_export_request(body, "application/json").SerializeToString()
    traces, observations = request_to_patches(decode_export_request(body, content_type), PROJECT, RECEIVED_US)
    return Mapped(traces, observations)


def io(patch: Patch) -> tuple[Any, Any]:
    """Input and output as the read API returns them."""
    return decode_value(patch.get("input")), decode_value(patch.get("output"))


def params(patch: Patch) -> Any:
    return json.loads(patch["model_parameters"]) if "model_parameters" in patch else None


def left_attributes(patch: Patch) -> dict[str, str]:
    """`metadata.attributes`: what the mapping did not consume."""
    return json.loads(patch["metadata"]["attributes"])


def own_metadata(patch: Patch) -> dict[str, Any]:
    """Metadata keys besides the instrumentation context every third-party span carries."""
    return {k: decode_value(v) for k, v in patch["metadata"].items()
            if k not in ("attributes", "resourceAttributes", "scope")}


def model_fields(patch: Patch) -> tuple[Any, ...]:
    return (patch.get("provided_model_name"), patch.get("provided_usage_details"),
            patch.get("provided_cost_details"))


@pytest.mark.parametrize("name", ["openinference", "openllmetry", "vercel_ai", "pydantic_logfire", "genai_semconv"])
def test_protobuf_and_json_exports_map_identically(name: str) -> None:
    json_patches = mapped(name)
    protobuf_patches = mapped(name, "application/x-protobuf")
    assert protobuf_patches.observations == json_patches.observations
    assert protobuf_patches.roots == json_patches.roots


# --- OpenInference --------------------------------------------------------------------------------

OI_CONTEXT_LEFT = {"session.id": "sess-7f3a", "user.id": "user-42", "tag.tags": '["travel","rag"]',
                   "metadata": '{"tenant": "acme", "experiment": "prompt-v2"}'}
OI_QUESTION = "What's the weather in Paris, and what does our policy say about umbrellas?"
OI_ANSWER = "It is sunny and 21°C in Paris. Our policy: umbrellas are provided at the front desk."


def test_openinference_trace_fields_come_from_the_context_attributes() -> None:
    trace = mapped("openinference").roots["4bf92f3577b34da6a3ce929d0e0e4736"]
    assert (trace["user_id"], trace["session_id"], trace["tags"]) == ("user-42", "sess-7f3a", ["travel", "rag"])
    assert trace["environment"] == "staging"  # resource deployment.environment.name
    assert trace[FILL] == {"name": "AgentWorkflow.run", "input": OI_QUESTION, "output": OI_ANSWER}


@pytest.mark.parametrize(("span_id", "kind", "name"), [
    ("a1a1a1a1a1a1a1a1", "CHAIN", "AgentWorkflow.run"),
    ("a2a2a2a2a2a2a2a2", "AGENT", "FunctionAgent.run"),
    ("a4a4a4a4a4a4a4a4", "TOOL", "FunctionTool.acall"),
    ("a5a5a5a5a5a5a5a5", "RETRIEVER", "VectorIndexRetriever.aretrieve"),
    ("a6a6a6a6a6a6a6a6", "EMBEDDING", "OpenAIEmbedding.aget_query_embedding"),
    ("a3a3a3a3a3a3a3a3", "GENERATION", "ChatCompletion"),
    ("a8a8a8a8a8a8a8a8", "GENERATION", "Anthropic.messages"),
])
def test_openinference_span_kinds_and_names(span_id: str, kind: str, name: str) -> None:
    observation = mapped("openinference")[span_id]
    assert (observation["type"], observation["name"], observation["environment"]) == (kind, name, "staging")


def test_openinference_chain_agent_tool_retriever_embedding_io_and_metadata() -> None:
    spans = mapped("openinference")
    assert io(spans["a2a2a2a2a2a2a2a2"]) == (OI_QUESTION, OI_ANSWER)
    assert io(spans["a4a4a4a4a4a4a4a4"]) == ({"city": "Paris"}, "Sunny, 21°C")
    assert io(spans["a5a5a5a5a5a5a5a5"]) == ("umbrella policy", None)
    assert io(spans["a6a6a6a6a6a6a6a6"]) == ({"query": "umbrella policy"}, None)
    for span_id in ("a1a1a1a1a1a1a1a1", "a2a2a2a2a2a2a2a2", "a4a4a4a4a4a4a4a4", "a5a5a5a5a5a5a5a5",
                    "a6a6a6a6a6a6a6a6"):
        observation = spans[span_id]
        # Spyglass reads `embedding.model_name` too (not in §3.8), so an embedding can be priced.
        model = "text-embedding-3-small" if span_id == "a6a6a6a6a6a6a6a6" else None
        assert model_fields(observation) == (model, None, None)
        assert "model_parameters" not in observation
        assert own_metadata(observation) == {}  # OpenInference `metadata` is no Langfuse metadata key
    assert left_attributes(spans["a4a4a4a4a4a4a4a4"]) == {
        "openinference.span.kind": "TOOL", "tool.name": "get_weather", "tool.description": "Current weather for a city",
        "tool.parameters": '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}',
        "input.mime_type": "application/json", "output.mime_type": "text/plain", **OI_CONTEXT_LEFT,
    }
    retriever = left_attributes(spans["a5a5a5a5a5a5a5a5"])
    assert retriever["retrieval.documents.0.document.score"] == "0.8731"
    assert retriever["retrieval.documents.1.document.content"] == "Lost umbrellas are kept for 30 days."
    embedding = left_attributes(spans["a6a6a6a6a6a6a6a6"])
    assert embedding["embedding.model_name"] == "text-embedding-3-small"  # read, and still shown
    assert embedding["embedding.embeddings.0.embedding.vector"] == "[0.0123,-0.0456,0.0789,0.25]"


def test_openinference_llm_span_with_tool_call() -> None:
    observation = mapped("openinference")["a3a3a3a3a3a3a3a3"]
    given, produced = io(observation)
    # Spyglass deviation: on LLM spans the structured messages win over `input.value` / `output.value`
    # (rule 19 before rule 14), as OpenAI-style chat messages with typed tool calls.
    assert given == [
        {"role": "system", "content": "You are a travel assistant. Use the tools when needed."},
        {"role": "user", "content": OI_QUESTION},
    ]
    weather = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert produced == {"role": "assistant", "content": None,
                        "tool_calls": [{"id": "call_Qx1Wb", "type": "function", "function": weather}]}
    assert observation["provided_model_name"] == "gpt-4o-mini-2024-07-18"
    # llm.invocation_parameters as it is (model included), null JSON-stringified.
    assert params(observation) == {"model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": "null"}
    # prompt 156 includes 128 cached tokens; detail keys nobody maps are kept under their own name.
    assert observation["provided_usage_details"] == {
        "input": 28, "output": 18, "total": 174, "input_cached_tokens": 128, "output_reasoning_tokens": 0,
        "output_audio_tokens": 0, "prompt_details.audio": 0,
    }
    assert "provided_cost_details" not in observation
    # Every message key and every IO key is consumed; token counts and the rest stay visible.
    assert left_attributes(observation) == {
        "openinference.span.kind": "LLM", "llm.system": "openai", "llm.provider": "openai",
        "llm.invocation_parameters": '{"model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": null}',
        "input.mime_type": "application/json", "output.mime_type": "application/json",
        "llm.tools.0.tool.json_schema": json.dumps({"type": "function", "function": {
            "name": "get_weather", "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
        "llm.model_name": "gpt-4o-mini-2024-07-18", "llm.finish_reason": "tool_calls",
        "llm.token_count.total": "174", "llm.token_count.prompt": "156", "llm.token_count.completion": "18",
        "llm.token_count.prompt_details.cache_read": "128", "llm.token_count.prompt_details.audio": "0",
        "llm.token_count.completion_details.reasoning": "0", "llm.token_count.completion_details.audio": "0",
        **OI_CONTEXT_LEFT,
    }


def test_openinference_second_llm_call_replays_the_tool_result() -> None:
    observation = mapped("openinference")["a7a7a7a7a7a7a7a7"]
    given, produced = io(observation)
    assert [m["role"] for m in given] == ["system", "user", "assistant", "tool", "user"]
    assert given[2]["tool_calls"][0]["id"] == "call_Qx1Wb"
    assert given[3] == {"role": "tool", "tool_call_id": "call_Qx1Wb", "content": "Sunny, 21°C"}
    assert produced == {"role": "assistant", "content": OI_ANSWER}
    assert observation["provided_usage_details"] == {"input": 212, "output": 41, "total": 253}


def test_openinference_flattened_messages_without_input_value() -> None:
    observation = mapped("openinference")["a8a8a8a8a8a8a8a8"]
    assert io(observation) == (
        [{"role": "system", "content": "Summarise for the user."},
         {"role": "assistant", "content": None, "tool_calls": [{
             "id": "toolu_01A9", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
         {"role": "tool", "tool_call_id": "toolu_01A9", "content": "Sunny, 21°C"},
         {"role": "user", "content": [{"type": "text", "text": OI_ANSWER}]}],
        {"role": "assistant", "content": "Sunny, 21°C; umbrellas at the front desk."},
    )
    assert observation["provided_model_name"] == "claude-3-5-haiku-20241022"
    assert params(observation) == {"max_tokens": 512, "temperature": 0}
    # cache read and cache write are both part of the 1290 prompt tokens.
    assert observation["provided_usage_details"] == {
        "input": 66, "output": 14, "total": 1304, "input_cached_tokens": 1024, "input_cache_creation": 200,
    }
    assert not any(key.startswith(("llm.input_messages", "llm.output_messages"))
                   for key in left_attributes(observation))


# --- OpenLLMetry / Traceloop ------------------------------------------------------------------------

TRACELOOP_CONTEXT = {"traceloop.workflow.name": "answer_ticket",
                     "traceloop.association.properties.user_id": "u-991",
                     "traceloop.association.properties.chat_id": "chat-5"}


def test_traceloop_workflow_and_tool_spans() -> None:
    spans = mapped("openllmetry")
    workflow, tool = spans["b1b1b1b1b1b1b1b1"], spans["b2b2b2b2b2b2b2b2"]
    # traceloop.span.kind maps to nothing in the reference: both are spans.
    assert (workflow["type"], workflow["name"], tool["type"], tool["name"]) == (
        "SPAN", "answer_ticket.workflow", "SPAN", "lookup_order.tool")
    assert io(workflow) == ({"args": ["My order #1234 has not arrived yet."], "kwargs": {}},
                            "Your order #1234 ships tomorrow.")  # JSON text, read back parsed
    assert io(tool) == ({"args": [], "kwargs": {"order_id": "1234"}}, {"status": "shipped", "eta": "tomorrow"})
    assert left_attributes(tool) == {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup_order",
                                     "traceloop.entity.path": "lookup_order", **TRACELOOP_CONTEXT}
    trace = spans.roots["0af7651916cd43dd8448eb211c80319c"]
    # Association properties are not user/session attributes; the environment is the resource's
    # plain `deployment.environment`.
    assert {"user_id", "session_id", "tags"}.isdisjoint(trace)
    assert (trace["environment"], workflow["environment"]) == ("production", "production")
    assert trace[FILL]["name"] == "answer_ticket.workflow"


def test_traceloop_openai_chat_with_tool_call() -> None:
    observation = mapped("openllmetry")["b3b3b3b3b3b3b3b3"]
    assert (observation["type"], observation["name"]) == ("GENERATION", "openai.chat")
    assert io(observation) == (
        [{"role": "system", "content": "You are a support agent for an online shop."},
         {"role": "user", "content": "My order #1234 has not arrived yet."}],
        [{"finish_reason": "tool_calls", "role": "assistant",
          "tool_calls": [{"id": "call_7cPq", "name": "lookup_order", "arguments": '{"order_id":"1234"}'}]}],
    )
    assert observation["provided_model_name"] == "gpt-4o-2024-08-06"
    assert params(observation) == {"max_tokens": 256, "temperature": 0.2}
    # llm.usage.total_tokens is no usage key; the total is summed when the usage is stored.
    assert observation["provided_usage_details"] == {"input": 81, "output": 17, "input_cached_tokens": 0}
    assert left_attributes(observation) == {
        "llm.request.type": "chat", "gen_ai.system": "OpenAI", "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.max_tokens": "256", "gen_ai.request.temperature": "0.2", "llm.headers": "None",
        "llm.is_streaming": "false", "gen_ai.openai.api_base": "https://api.openai.com/v1/", **TRACELOOP_CONTEXT,
        "llm.request.functions.0.name": "lookup_order",
        "llm.request.functions.0.description": "Look up an order by id",
        "llm.request.functions.0.parameters":
            '{"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}',
        "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-AzT81",
        "gen_ai.openai.system_fingerprint": "fp_50cad350e4", "llm.usage.total_tokens": "98",
        "gen_ai.usage.completion_tokens": "17", "gen_ai.usage.prompt_tokens": "81",
        "gen_ai.usage.cache_read_input_tokens": "0",
    }


def test_traceloop_anthropic_chat_subtracts_cache_tokens() -> None:
    observation = mapped("openllmetry")["b4b4b4b4b4b4b4b4"]
    given, produced = io(observation)
    assert given[0]["role"] == "user" and json.loads(given[0]["content"])[1]["text"].startswith("Order 1234")
    assert produced == [{"finish_reason": "end_turn", "role": "assistant",
                         "content": "Your order #1234 ships tomorrow."}]
    assert observation["provided_model_name"] == "claude-3-5-sonnet-20241022"
    assert params(observation) == {"max_tokens": 1024, "temperature": 1}  # a double 1.0, printed as 1
    assert observation["provided_usage_details"] == {
        "input": 50, "output": 60, "input_cached_tokens": 2000, "input_cache_creation": 100}
    assert left_attributes(observation)["gen_ai.request.temperature"] == "1"


def test_openllmetry_semconv_era_span_keeps_its_own_reasoning_count() -> None:
    observation = mapped("openllmetry")["b5b5b5b5b5b5b5b5"]
    assert (observation["type"], observation["provided_model_name"]) == ("GENERATION", "o4-mini-2025-04-16")
    assert io(observation) == ([{"role": "user", "parts": [{"content": "Rate the reply 1-5.", "type": "text"}]}],
                               [{"role": "assistant", "parts": [{"content": "5", "type": "text"}],
                                 "finish_reason": "stop"}])
    # gen_ai.usage.reasoning_tokens is not a reference key: kept as it is, never dropped.
    assert observation["provided_usage_details"] == {
        "input": 20, "output": 400, "total": 420, "input_cached_tokens": 0, "reasoning_tokens": 384}
    assert "model_parameters" not in observation  # gen_ai.request.model is the only request key


# --- Vercel AI SDK ------------------------------------------------------------------------------------

AI_NULL_PARAMS = dict.fromkeys(("maxSteps", "toolChoice", "maxTokens", "finishReason", "system", "maxRetries", "mode",
                                "temperature", "service_tier"))
AI_TOOL_CALLS = [{"type": "tool-call", "toolCallId": "call_w1", "toolName": "getWeather", "input": {"city": "Berlin"}}]


def test_ai_sdk_trace_fields_come_from_telemetry_metadata() -> None:
    spans = mapped("vercel_ai")
    trace = spans.roots["5b8efff798038103d269b633813fc60c"]
    assert (trace["user_id"], trace["session_id"], trace["tags"]) == ("user-123", "session-abc", ["weather", "nextjs"])
    assert trace["environment"] == "preview"
    assert trace[FILL] == {
        "name": "weather-agent:ai.generateText",
        "input": '{"system":"You are a weather assistant.","prompt":"What is the weather in Berlin?"}',
        "output": "It is 18°C and cloudy in Berlin."}
    assert trace["metadata"]["tenant"] == "acme"
    # userId/sessionId/tags are trace fields, the other telemetry metadata is metadata.
    for span_id in ("c1c1c1c1c1c1c1c1", "c2c2c2c2c2c2c2c2", "c4c4c4c4c4c4c4c4"):
        assert own_metadata(spans[span_id]) == {"tenant": "acme"}
        assert not any(key.startswith("ai.telemetry.metadata") for key in left_attributes(spans[span_id]))


def test_ai_sdk_outer_generate_text_span() -> None:
    observation = mapped("vercel_ai")["c1c1c1c1c1c1c1c1"]
    assert (observation["type"], observation["name"]) == ("SPAN", "weather-agent:ai.generateText")
    assert io(observation) == ({"system": "You are a weather assistant.", "prompt": "What is the weather in Berlin?"},
                               "It is 18°C and cloudy in Berlin.")
    assert observation["provided_model_name"] == "gpt-4o-mini"
    assert params(observation) == {**AI_NULL_PARAMS, "system": "openai.chat", "maxRetries": "2"}
    # No gen_ai.usage on the outer span: input/output are 0, provider details still count.
    assert observation["provided_usage_details"] == {
        "input": 0, "output": 0, "input_cached_tokens": 64, "output_reasoning_tokens": 0}


def test_ai_sdk_do_generate_with_tool_call() -> None:
    observation = mapped("vercel_ai")["c2c2c2c2c2c2c2c2"]
    assert (observation["type"], observation["name"]) == ("GENERATION", "weather-agent:ai.generateText.doGenerate")
    given, produced = io(observation)
    assert given == [{"role": "system", "content": "You are a weather assistant."},
                     {"role": "user", "content": [{"type": "text", "text": "What is the weather in Berlin?"}]}]
    # Text and tool calls together: one assistant message (tool calls kept as the SDK's JSON text).
    assert produced == {"role": "assistant", "content": "", "tool_calls": json.dumps(AI_TOOL_CALLS,
                                                                                     separators=(",", ":"))}
    assert observation["provided_model_name"] == "gpt-4o-mini-2024-07-18"  # gen_ai.response.model first
    assert params(observation) == {**AI_NULL_PARAMS, "toolChoice": '{"type":"auto"}', "finishReason": "tool-calls",
                                   "system": "openai.chat", "maxRetries": "2", "temperature": "0.3"}
    # 120 input tokens of which 64 cached (ai.usage.cachedInputTokens).
    assert observation["provided_usage_details"] == {
        "input": 56, "output": 15, "input_cached_tokens": 64, "output_reasoning_tokens": 0}
    assert "completion_start_time" not in observation
    left = left_attributes(observation)
    assert {"ai.prompt.messages", "ai.response.text", "ai.response.toolCalls"}.isdisjoint(left)
    assert left["ai.prompt.tools"].startswith('["{\\"type\\":\\"function\\",\\"name\\":\\"getWeather\\"')
    assert left["gen_ai.response.finish_reasons"] == '["tool-calls"]'


def test_ai_sdk_tool_call_span() -> None:
    observation = mapped("vercel_ai")["c3c3c3c3c3c3c3c3"]
    assert (observation["type"], observation["name"]) == ("TOOL", "getWeather")
    assert io(observation) == ({"city": "Berlin"}, {"temperature": 18, "condition": "cloudy"})
    # The AI SDK rules apply to every `ai` span: a parameter map of nulls and zero usage.
    assert params(observation) == AI_NULL_PARAMS
    assert model_fields(observation) == (None, {"input": 0, "output": 0}, None)
    assert left_attributes(observation) == {
        "operation.name": "ai.toolCall weather-agent", "resource.name": "weather-agent",
        "ai.operationId": "ai.toolCall", "ai.telemetry.functionId": "weather-agent",
        "ai.toolCall.name": "getWeather", "ai.toolCall.id": "call_w1"}


def test_ai_sdk_final_step() -> None:
    observation = mapped("vercel_ai")["c4c4c4c4c4c4c4c4"]
    given, produced = io(observation)
    assert [m["role"] for m in given] == ["system", "user", "assistant", "tool"]
    assert produced == "It is 18°C and cloudy in Berlin."
    assert params(observation)["finishReason"] == "stop"
    assert observation["provided_usage_details"] == {
        "input": 100, "output": 20, "input_cached_tokens": 0, "output_reasoning_tokens": 0}


def test_ai_sdk_stream_with_anthropic_cache_first_chunk_and_prompt_link() -> None:
    spans = mapped("vercel_ai")
    observation = spans["c6c6c6c6c6c6c6c6"]
    assert (observation["type"], observation["name"]) == ("GENERATION", "summarize:ai.streamText.doStream")
    assert io(observation) == ([{"role": "user", "content": [
        {"type": "text", "text": "Summarise the article in one paragraph."}]}], "The article argues that…")
    # Span start + ceil(412.7 ms).
    assert observation["completion_start_time"] == T0_US + 5_000 + 413_000
    assert observation["provided_model_name"] == "claude-3-5-sonnet-20241022"
    assert params(observation) == {**AI_NULL_PARAMS, "maxTokens": "1024", "finishReason": "stop",
                                   "system": "anthropic.messages", "maxRetries": "2"}
    # 2112 = 12 fresh + 1800 read + 300 written (all 5-minute TTL, so the generic creation count is 0).
    assert observation["provided_usage_details"] == {
        "input": 12, "output": 85, "input_cached_tokens": 1800, "input_cache_creation": 0,
        "input_cache_creation_5m": 300, "input_cache_creation_1h": 0}
    assert (observation["prompt_name"], observation["prompt_version"]) == ("summarize-article", 3)
    outer = spans["c5c5c5c5c5c5c5c5"]
    assert outer["type"] == "SPAN" and "prompt_name" not in outer  # prompts link to generations only
    assert "langfusePrompt" not in own_metadata(observation)
    trace = spans.roots["6e0c63257de34c92bf9efcd03927272e"]
    assert (trace["user_id"], trace.get("session_id"), trace.get("tags")) == ("user-123", None, None)


# --- Pydantic AI / Logfire ---------------------------------------------------------------------------

PYD_SYSTEM = {"role": "system", "content": "Be concise. Use get_weather for weather questions."}
PYD_USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
PYD_CALL = {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_pyd1", "name": "get_weather",
                                            "arguments": {"city": "Paris"}}]}
PYD_RESULT = {"role": "user", "parts": [{"type": "tool_call_response", "id": "call_pyd1", "name": "get_weather",
                                         "result": "sunny, 24°C"}]}
PYD_FINAL = {"role": "assistant", "parts": [{"type": "text", "content": "Sunny and 24°C in Paris."}],
             "finish_reason": "stop"}


def test_pydantic_ai_agent_run() -> None:
    spans = mapped("pydantic_logfire")
    observation = spans["d1d1d1d1d1d1d1d1"]
    assert (observation["type"], observation["name"]) == ("AGENT", "weather_agent run")  # logfire.msg
    # pydantic_ai.all_messages with the system instructions put first, final_result as output.
    assert io(observation) == ([PYD_SYSTEM, PYD_USER, PYD_CALL, PYD_RESULT, PYD_FINAL], "Sunny and 24°C in Paris.")
    # invoke_agent: no model, usage or cost (its aggregated usage repeats the chat spans').
    assert model_fields(observation) == (None, None, None)
    assert "model_parameters" not in observation
    assert observation["version"] == "1.4.0"  # resource service.version
    trace = spans.roots["7d6f3e2a1b0c4d5e8f9a0b1c2d3e4f50"]
    assert (trace["session_id"], trace["environment"], trace["version"]) == ("conv-0f1e2d", "production", "1.4.0")
    assert trace[FILL]["name"] == "weather_agent run"
    left = left_attributes(observation)
    assert {"pydantic_ai.all_messages", "final_result", "gen_ai.system_instructions"}.isdisjoint(left)
    assert left["gen_ai.aggregated_usage.input_tokens"] == "190"


def test_pydantic_ai_chat_spans() -> None:
    spans = mapped("pydantic_logfire")
    first, second = spans["d2d2d2d2d2d2d2d2"], spans["d4d4d4d4d4d4d4d4"]
    assert (first["type"], first["name"], first["provided_model_name"]) == (
        "GENERATION", "chat gpt-4o", "gpt-4o-2024-08-06")
    assert io(first) == ([PYD_SYSTEM, PYD_USER], [{**PYD_CALL, "finish_reason": "tool_call"}])
    assert params(first) == {"temperature": 0.2}
    assert first["provided_usage_details"] == {
        "input": 90, "output": 15, "accepted_prediction_tokens": 0, "audio_tokens": 0, "reasoning_tokens": 0,
        "rejected_prediction_tokens": 0}
    assert io(second) == ([PYD_SYSTEM, PYD_USER, PYD_CALL, PYD_RESULT], [PYD_FINAL])
    # cache_read.input_tokens and its backwards-compatible details.cache_read_tokens count once.
    assert second["provided_usage_details"] == {
        "input": 36, "output": 20, "input_cached_tokens": 64, "accepted_prediction_tokens": 0, "audio_tokens": 0,
        "reasoning_tokens": 0, "rejected_prediction_tokens": 0}
    # Logfire's own cost estimate is no reference cost attribute.
    assert "provided_cost_details" not in second
    assert left_attributes(second)["operation.cost"] == "0.000725"


def test_pydantic_ai_execute_tool() -> None:
    observation = mapped("pydantic_logfire")["d3d3d3d3d3d3d3d3"]
    # gen_ai.tool.name names the observation before logfire.msg.
    assert (observation["type"], observation["name"]) == ("TOOL", "get_weather")
    assert io(observation) == ({"city": "Paris"}, "sunny, 24°C")
    assert model_fields(observation) == (None, None, None)
    assert left_attributes(observation)["logfire.msg"] == "running tool: get_weather"


def test_pydantic_ai_version_1_events_attributes() -> None:
    spans = mapped("pydantic_logfire")
    run, chat, tool = spans["e1e1e1e1e1e1e1e1"], spans["e2e2e2e2e2e2e2e2"], spans["e3e3e3e3e3e3e3e3"]
    # No operation name and no model key: a span; all_messages_events is its output (rule 9).
    assert (run["type"], run["name"]) == ("SPAN", "weather_agent run")
    given, produced = io(run)
    assert given is None and [m["event.name"] for m in produced] == [
        "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message", "gen_ai.assistant.message"]
    assert run["provided_usage_details"] == {"input": 103, "output": 12}
    # The `events` JSON array: the choice is the output, every other entry the input (rule 11).
    assert io(chat) == (
        [{"content": "Weather in Paris?", "role": "user", "gen_ai.system": "openai", "gen_ai.message.index": 0,
          "event.name": "gen_ai.user.message"}],
        {"index": 0, "message": {"role": "assistant", "tool_calls": [{
            "id": "call_old1", "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
         "gen_ai.system": "openai", "event.name": "gen_ai.choice"},
    )
    assert (chat["type"], chat["provided_model_name"], chat["provided_usage_details"]) == (
        "GENERATION", "gpt-4o-2024-08-06", {"input": 51, "output": 4})
    assert (tool["type"], tool["name"]) == ("TOOL", "get_weather")
    assert io(tool) == ({"city": "Paris"}, "sunny, 24°C")  # tool_arguments / tool_response
    assert {"tool_arguments", "tool_response", "events"}.isdisjoint(left_attributes(tool) | left_attributes(chat))


def test_logfire_openai_span() -> None:
    observation = mapped("pydantic_logfire")["f1f1f1f1f1f1f1f1"]
    assert (observation["type"], observation["name"]) == ("GENERATION", "Chat Completion with 'gpt-4'")
    assert io(observation) == (
        [{"role": "system", "parts": [{"type": "text", "content": "You are a helpful assistant."}]},
         {"role": "user", "parts": [{"type": "text", "content": "What is four plus five?"}]}],
        [{"role": "assistant", "parts": [{"type": "text", "content": "Nine"}], "finish_reason": "stop"}],
    )
    # gen_ai.usage.raw is a JSON object, not a count: ignored.
    assert model_fields(observation) == ("gpt-4-0613", {"input": 23, "output": 1}, None)
    left = left_attributes(observation)
    assert (left["logfire.tags"], left["async"], left["code.lineno"]) == ('["LLM"]', "false", "41")
    assert "request_data" in left and "gen_ai.input.messages" not in left


# --- OpenTelemetry GenAI semantic conventions --------------------------------------------------------

GENAI_SYSTEM = {"role": "system", "content": "You are a travel agent. Answer briefly."}
GENAI_USER = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
GENAI_CALL = {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_VSPygqKTWdrhaFErNvMV18Yl",
                                              "name": "get_weather", "arguments": {"location": "Paris"}}]}
GENAI_FINAL = {"role": "assistant", "parts": [{"type": "text", "content": "The weather in Paris is rainy, 57°F."}],
               "finish_reason": "stop"}


def test_genai_invoke_agent_gets_no_model_usage_or_cost() -> None:
    spans = mapped("genai_semconv")
    agent = spans["1a1a1a1a1a1a1a1a"]
    assert (agent["type"], agent["name"]) == ("AGENT", "invoke_agent Travel Agent")
    assert model_fields(agent) == (None, None, None)
    assert "model_parameters" not in agent  # gen_ai.request.model is no parameter
    assert io(agent) == ([GENAI_SYSTEM, GENAI_USER], [GENAI_FINAL])
    left = left_attributes(agent)
    assert (left["gen_ai.usage.input_tokens"], left["gen_ai.request.model"]) == ("1144", "gpt-4.1")
    trace = spans.roots["a0b1c2d3e4f5061728394a5b6c7d8e9f"]
    # gen_ai.conversation.id is the session; "Production" normalises to "production".
    assert (trace["session_id"], trace["environment"]) == ("conv_5j66UpCpwteGg4YSxUnt7lPY", "production")


def test_genai_chat_with_messages_as_attributes() -> None:
    observation = mapped("genai_semconv")["1b1b1b1b1b1b1b1b"]
    assert (observation["type"], observation["name"]) == ("GENERATION", "chat gpt-4.1")
    # gen_ai.system_instructions prepended as a system message.
    assert io(observation) == ([GENAI_SYSTEM, GENAI_USER], [{**GENAI_CALL, "finish_reason": "tool_call"}])
    assert observation["provided_model_name"] == "gpt-4.1-2025-04-14"
    assert params(observation) == {"max_tokens": 200, "top_p": 1, "temperature": 0.2}
    assert observation["provided_usage_details"] == {"input": 23, "output": 17, "input_cached_tokens": 1024}
    left = left_attributes(observation)
    assert {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}.isdisjoint(left)
    assert left["gen_ai.request.top_p"] == "1"  # a double 1.0, written the way JavaScript does
    assert json.loads(left["gen_ai.tool.definitions"])[0]["name"] == "get_weather"


def test_genai_chat_with_operation_details_event() -> None:
    observation = mapped("genai_semconv")["1d1d1d1d1d1d1d1d"]
    tool_result = {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_VSPygqKTWdrhaFErNvMV18Yl",
                                              "response": "rainy, 57°F"}]}
    assert io(observation) == ([GENAI_SYSTEM, GENAI_USER, GENAI_CALL, tool_result], [GENAI_FINAL])
    assert model_fields(observation) == ("gpt-4.1-2025-04-14", {"input": 97, "output": 52}, None)


def test_genai_execute_tool_and_embeddings() -> None:
    spans = mapped("genai_semconv")
    tool, embedding = spans["1c1c1c1c1c1c1c1c"], spans["1e1e1e1e1e1e1e1e"]
    assert (tool["type"], tool["name"]) == ("TOOL", "get_weather")
    assert io(tool) == ({"location": "Paris"}, "rainy, 57°F")
    assert model_fields(tool) == (None, None, None)
    assert left_attributes(tool) == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_VSPygqKTWdrhaFErNvMV18Yl", "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Weather for a location"}
    assert (embedding["type"], embedding["name"]) == ("EMBEDDING", "embeddings text-embedding-3-small")
    assert model_fields(embedding) == ("text-embedding-3-small", {"input": 8}, None)
    assert params(embedding) == {"encoding_formats": '["float"]'}
    assert io(embedding) == (None, None)


def test_genai_per_message_events() -> None:
    spans = mapped("genai_semconv")
    observation = spans["2a2a2a2a2a2a2a2a"]
    assert io(observation) == (
        [{"role": "system", "gen_ai.system": "openai", "content": "You are a helpful assistant."},
         {"role": "user", "gen_ai.system": "openai", "content": "What is the capital of France?"}],
        {"gen_ai.system": "openai", "index": 0, "finish_reason": "stop",
         "message": '{"role": "assistant", "content": "Paris."}'},
    )
    assert model_fields(observation) == ("gpt-4o-mini-2024-07-18", {"input": 28, "output": 9}, None)
    assert params(observation) == {"max_tokens": 100}
    trace = spans.roots["b1c2d3e4f5a6071829304a5b6c7d8e90"]
    assert trace[FILL]["name"] == "chat gpt-4o-mini"


def test_openlit_cost_and_content_events() -> None:
    observation = mapped("genai_semconv")["3a3a3a3a3a3a3a3a"]
    assert (observation["type"], observation["environment"]) == ("GENERATION", "default")
    assert io(observation) == ("user: What is LLM Observability?",
                               "LLM Observability is the practice of tracing LLM calls.")
    assert model_fields(observation) == ("gpt-3.5-turbo", {"input": 14, "output": 96, "total": 110},
                                         {"total": 0.000151})
    assert params(observation) == {"top_p": 1, "max_tokens": -1, "user": "", "temperature": 1, "presence_penalty": 0,
                                   "frequency_penalty": 0, "seed": "", "is_stream": "false"}
    assert left_attributes(observation)["gen_ai.usage.cost"] == "0.000151"


# --- Usage keys nobody knows yet ----------------------------------------------------------------------

@pytest.mark.parametrize("scope", ["opentelemetry.instrumentation.openai_v2", "pydantic-ai", "ai"])
def test_unknown_gen_ai_usage_keys_are_kept(scope: str) -> None:
    span = make_span(attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.some_new_tokens": 7, "gen_ai.usage.image.input_tokens": "3", "gen_ai.usage.cost": 0.5,
        "gen_ai.usage.details.video_tokens": 2, "gen_ai.usage.raw": '{"not": "a count"}',
    })
    observation = map_one(span, scope_name=scope)
    assert observation["provided_usage_details"] == {
        "input": 10, "output": 4, "some_new_tokens": 7, "image.input_tokens": 3, "video_tokens": 2}
    assert observation["provided_cost_details"] == {"total": 0.5}


def test_ai_sdk_unparsable_provider_metadata_falls_back_to_the_generic_rule() -> None:
    span = make_span(attributes={
        "ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "m", "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4, "gen_ai.usage.cache_read.input_tokens": 6,
        "ai.response.providerMetadata": "{not json",
    })
    # The reference's AI SDK branch throws on the JSON and the generic rule applies instead.
    assert map_one(span, scope_name="ai")["provided_usage_details"] == {
        "input": 4, "output": 4, "input_cached_tokens": 6}


def test_ai_sdk_finish_reasons_and_numbers_are_written_the_javascript_way() -> None:
    span = make_span(attributes={
        "ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "m",
        "gen_ai.response.finish_reasons": ["stop", "length"], "gen_ai.request.temperature": 1.0,
        "ai.settings.maxSteps": 5, "ai.settings.mode": True,
    })
    parameters = json.loads(map_one(span, scope_name="ai")["model_parameters"])
    assert (parameters["finishReason"], parameters["temperature"], parameters["maxSteps"], parameters["mode"]) == (
        "stop,length", "1", "5", "true")


@pytest.mark.parametrize("key", ["ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"])
def test_ai_sdk_first_chunk_delay_sets_the_completion_start(key: str) -> None:
    span = make_span(start_ns=T0_US * 1000, attributes={
        "ai.operationId": "ai.streamText.doStream", "ai.model.id": "m", key: 99.2})
    assert map_one(span, scope_name="ai")["completion_start_time"] == T0_US + 100_000
