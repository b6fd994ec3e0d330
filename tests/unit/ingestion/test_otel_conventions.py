"""Third-party span conventions: OpenInference, OpenTelemetry GenAI (attributes and events),
TraceLoop, Vercel AI SDK, and the model/usage/cost rules they feed (reference §3.5–§3.9)."""

from __future__ import annotations

import json

import pytest
from tests.unit.ingestion.test_otel_factory import T0_NS, T0_US, make_span, map_one


def _decode(text: str | None) -> object:
    return None if text is None else json.loads(text)


def _io(observation: dict) -> tuple[object, object]:
    """Input and output as JSON values (every case here stores JSON text)."""
    return _decode(observation.get("input")), _decode(observation.get("output"))


def test_openinference_llm_span() -> None:
    span = make_span(name="ChatCompletion", attributes={
        "openinference.span.kind": "LLM",
        "input.value": '{"messages": [{"role": "user", "content": "hi"}]}',
        "output.value": "hello",
        "llm.model_name": "gpt-4o-mini",
        "llm.invocation_parameters": '{"temperature": 0.2, "stop": ["x"], "stream": false}',
        "llm.token_count.prompt": 12,
        "llm.token_count.completion": 3,
        "llm.token_count.total": 15,
        "llm.cost.total": 0.0042,
        "session.id": "s-oi",
    })
    observation = map_one(span, scope_name="openinference.instrumentation.openai", scope_version="0.1")
    assert observation["type"] == "GENERATION"
    assert observation["input"] == '{"messages": [{"role": "user", "content": "hi"}]}'
    assert observation["output"] == "hello"
    assert observation["provided_model_name"] == "gpt-4o-mini"
    assert json.loads(observation["model_parameters"]) == {"temperature": 0.2, "stop": '["x"]', "stream": "false"}
    assert observation["provided_usage_details"] == {"input": 12, "output": 3, "total": 15}
    assert observation["provided_cost_details"] == {"total": 0.0042}
    attributes = json.loads(observation["metadata"]["attributes"])
    assert "input.value" not in attributes and attributes["llm.model_name"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("CHAIN", "CHAIN"), ("RETRIEVER", "RETRIEVER"), ("EMBEDDING", "EMBEDDING"), ("AGENT", "AGENT"),
     ("TOOL", "TOOL"), ("GUARDRAIL", "GUARDRAIL"), ("EVALUATOR", "EVALUATOR"), ("RERANKER", "SPAN")],
)
def test_openinference_span_kinds(kind: str, expected: str) -> None:
    assert map_one(make_span(attributes={"openinference.span.kind": kind}), scope_name="oi")["type"] == expected


def test_openinference_flattened_messages_are_rebuilt() -> None:
    span = make_span(attributes={
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "be brief",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.contents.0.message_content.text": "hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "hello",
    })
    given, produced = _io(map_one(span, scope_name="oi"))
    assert given == [
        {"message": {"role": "system", "content": "be brief"}},
        {"message": {"role": "user", "contents": [{"message_content": {"text": "hi"}}]}},
    ]
    assert produced == [{"message": {"role": "assistant", "content": "hello"}}]


def test_gen_ai_semconv_span_with_usage_messages_and_system_instructions() -> None:
    span = make_span(name="chat gpt-4o", attributes={
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 20,
        "gen_ai.usage.reasoning.output_tokens": 10,
        "gen_ai.usage.cost": 0.01,
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.system_instructions": '[{"type": "text", "content": "be nice"}]',
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]',
    })
    observation = map_one(span, scope_name="opentelemetry.instrumentation.openai_v2")
    assert observation["type"] == "GENERATION"
    assert observation["provided_model_name"] == "gpt-4o-2024-08-06"
    assert json.loads(observation["model_parameters"]) == {"temperature": 0.5, "max_tokens": 100}
    assert observation["provided_usage_details"] == {
        "input": 100, "output": 20, "input_cached_tokens": 20, "output_reasoning_tokens": 10,
    }
    assert observation["provided_cost_details"] == {"total": 0.01}
    given, produced = _io(observation)
    assert given[0] == {"role": "system", "content": "be nice"}
    assert given[1]["role"] == "user" and produced[0]["role"] == "assistant"


def test_gen_ai_system_instructions_do_not_duplicate_a_system_message() -> None:
    messages = '[{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]'
    span = make_span(attributes={"gen_ai.input.messages": messages, "gen_ai.system_instructions": "other"})
    assert map_one(span, scope_name="x")["input"] == messages


def test_gen_ai_message_events() -> None:
    span = make_span(events=[
        ("gen_ai.system.message", {"content": "be brief"}),
        ("gen_ai.user.message", {"content": "hi"}),
        ("exception", {"exception.message": "ignored"}),
        ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": '{"content": "hello"}'}),
    ])
    given, produced = _io(map_one(span, scope_name="x"))
    assert given == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert produced == {"index": 0, "finish_reason": "stop", "message": '{"content": "hello"}'}
    two_choices = make_span(events=[("gen_ai.choice", {"index": 0}), ("gen_ai.choice", {"index": 1})])
    assert _io(map_one(two_choices, scope_name="x")) == (None, [{"index": 0}, {"index": 1}])


def test_gen_ai_operation_details_event() -> None:
    span = make_span(events=[("gen_ai.client.inference.operation.details", {
        "gen_ai.input.messages": '[{"role": "user", "content": "q"}]',
        "gen_ai.output.messages": '[{"role": "assistant", "content": "a"}]',
    })])
    assert _io(map_one(span, scope_name="x")) == ([{"role": "user", "content": "q"}],
                                                  [{"role": "assistant", "content": "a"}])


def test_semantic_kernel_content_events() -> None:
    # The event attributes go through the extraction again (§3.7 rule 7): `gen_ai.prompt` is the
    # TraceLoop rule's whole-payload key, so the prompt text itself is the input.
    span = make_span(events=[("gen_ai.content.prompt", {"gen_ai.prompt": "question"}),
                             ("gen_ai.content.completion", {"gen_ai.completion": "answer"})])
    observation = map_one(span, scope_name="x")
    assert (observation["input"], observation["output"]) == ("question", "answer")
    # Event attributes no rule understands are kept whole.
    other = make_span(events=[("gen_ai.content.prompt", {"content": "q"}),
                              ("gen_ai.content.completion", {"content": "a"})])
    assert _io(map_one(other, scope_name="x")) == ({"content": "q"}, {"content": "a"})


def test_traceloop_entity_and_flattened_prompts() -> None:
    entity = make_span(attributes={"traceloop.entity.input": '{"q": 1}', "traceloop.entity.output": "done"})
    observation = map_one(entity, scope_name="traceloop")
    assert (observation["input"], observation["output"]) == ('{"q": 1}', "done")
    flattened = make_span(attributes={
        "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "hi",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "hello",
        "gen_ai.completion.0.finish_reason": "stop", "llm.request.type": "chat",
    })
    observation = map_one(flattened, scope_name="opentelemetry.instrumentation.openai")
    assert _io(observation) == ([{"role": "user", "content": "hi"}],
                                [{"role": "assistant", "content": "hello", "finish_reason": "stop"}])
    assert json.loads(observation["metadata"]["attributes"]) == {"llm.request.type": "chat"}


def test_gen_ai_tool_span() -> None:
    span = make_span(name="execute_tool", attributes={
        "gen_ai.tool.name": "search", "gen_ai.tool.call.id": "call-1",
        "gen_ai.tool.call.arguments": '{"q": "x"}', "gen_ai.tool.call.result": "found",
    })
    observation = map_one(span, scope_name="x")
    assert (observation["type"], observation["name"]) == ("TOOL", "search")
    assert observation["input"] == '{"q": "x"}' and observation["output"] == "found"


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("chat", "GENERATION"), ("text_completion", "GENERATION"), ("embeddings", "EMBEDDING"),
     ("invoke_agent", "AGENT"), ("execute_tool", "TOOL"), ("unknown_op", "SPAN")],
)
def test_gen_ai_operation_types(operation: str, expected: str) -> None:
    assert map_one(make_span(attributes={"gen_ai.operation.name": operation}), scope_name="x")["type"] == expected


def test_model_attribute_alone_makes_a_generation() -> None:
    observation = map_one(make_span(attributes={"model": "llama3"}), scope_name="x")
    assert (observation["type"], observation["provided_model_name"]) == ("GENERATION", "llama3")


def test_agent_wrapper_spans_get_no_model_usage_or_cost() -> None:
    span = make_span(attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o",
                                 "gen_ai.usage.input_tokens": 10, "gen_ai.usage.cost": 1.0})
    observation = map_one(span, scope_name="x")
    assert observation["type"] == "AGENT"
    assert {"provided_model_name", "provided_usage_details", "provided_cost_details"}.isdisjoint(observation)


def test_vercel_ai_sdk_generation() -> None:
    span = make_span(name="ai.generateText.doGenerate", attributes={
        "operation.name": "ai.generateText.doGenerate my-fn",
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.telemetry.functionId": "my-fn",
        "ai.model.id": "gpt-4o",
        "ai.model.provider": "openai.chat",
        "ai.prompt.messages": '[{"role": "user", "content": "hi"}]',
        "ai.response.text": "hello",
        "ai.response.msToFirstChunk": 120.4,
        "gen_ai.usage.input_tokens": 50,
        "gen_ai.usage.output_tokens": 7,
        "ai.usage.tokens": 57,
        "ai.telemetry.metadata.userId": "u-ai",
        "ai.telemetry.metadata.tenant": "acme",
        "ai.telemetry.metadata.langfusePrompt": '{"name": "p", "version": 4}',
    })
    observation = map_one(span, scope_name="ai")
    assert (observation["type"], observation["name"]) == ("GENERATION", "my-fn:ai.generateText.doGenerate")
    assert (json.loads(observation["input"]), observation["output"]) == ([{"role": "user", "content": "hi"}], "hello")
    assert observation["provided_usage_details"] == {"input": 50, "output": 7, "total": 57}
    assert observation["completion_start_time"] == T0_US + 121_000
    assert json.loads(observation["model_parameters"])["system"] == "openai.chat"
    assert observation["metadata"]["tenant"] == "acme" and "userId" not in observation["metadata"]
    assert (observation["prompt_name"], observation["prompt_version"]) == ("p", 4)


def test_vercel_ai_sdk_tool_call_and_outer_span() -> None:
    tool = make_span(attributes={"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather",
                                 "ai.toolCall.args": '{"city": "Paris"}', "ai.toolCall.result": "sunny"})
    observation = map_one(tool, scope_name="ai")
    assert (observation["type"], observation["name"], observation["output"]) == ("TOOL", "weather", "sunny")
    outer = make_span(attributes={"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o"})
    assert map_one(outer, scope_name="ai")["type"] == "SPAN"


def test_vercel_ai_sdk_provider_cache_details() -> None:
    provider = {"anthropic": {"usage": {"cache_creation_input_tokens": 30, "cache_read_input_tokens": 20,
                                        "cache_creation": {"ephemeral_5m_input_tokens": 10}}}}
    span = make_span(attributes={
        "ai.operationId": "ai.streamText.doStream", "ai.model.id": "claude",
        "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 5,
        "ai.response.providerMetadata": json.dumps(provider),
    })
    assert map_one(span, scope_name="ai")["provided_usage_details"] == {
        "input": 50, "output": 5, "input_cache_creation": 20, "input_cached_tokens": 20,
        "input_cache_creation_5m": 10,
    }


def test_logfire_name_and_mlflow_io() -> None:
    span = make_span(name="raw", attributes={"logfire.msg": "agent run", "mlflow.spanInputs": '{"x": 1}',
                                             "mlflow.spanOutputs": '"y"'})
    observation = map_one(span, scope_name="x")
    assert (observation["name"], _io(observation)) == ("agent run", ({"x": 1}, "y"))


def test_timestamps_are_microseconds() -> None:
    observation = map_one(make_span(start_ns=T0_NS + 1_999, end_ns=T0_NS + 2_000_001))
    assert (observation["start_time"], observation["end_time"]) == (T0_US + 1, T0_US + 2000)


def _every_known_key() -> list[str]:
    """Every attribute key any mapping rule reads, harvested from the rule modules' key tables."""
    from spyglass.ingestion import otel_fields, otel_io, otel_types, otel_usage

    keys: set[str] = set()
    for module in (otel_fields, otel_io, otel_types, otel_usage):
        for value in vars(module).values():
            if isinstance(value, tuple | frozenset | dict) and all(isinstance(k, str) for k in value):
                keys.update(k for k in value if "." in k or ":" in k or k in ("input", "output", "model"))
    keys.update(("gen_ai.prompt.0.role", "gen_ai.completion.0.content", "llm.input_messages.0.message.role",
                 "llm.output_messages.0.message.content", "gen_ai.usage.input_tokens", "llm.token_count.total",
                 "gen_ai.request.top_p", "langfuse.observation.metadata.x", "langfuse.trace.metadata.y"))
    return sorted(keys)


@pytest.mark.parametrize("value", [["a", 1], [], "", "not json {", "{}", "[]", "null", 0, -1, 2.5, True, False,
                                   '{"messages": 1, "usage": {"inputTokens": "x"}}', '"2025-01-01T00:00:00Z"'])
@pytest.mark.parametrize("scope", ["", "langfuse-sdk", "ai", "genkit-tracer", "@flue/opentelemetry", "pydantic-ai",
                                   "gcp.vertex.agent", "livekit-agents"])
def test_odd_values_for_every_known_key_never_crash(value: object, scope: str) -> None:
    span = make_span(attributes=dict.fromkeys(_every_known_key(), value),
                     events=[("gen_ai.user.message", {"content": value}), ("gen_ai.choice", {"x": value}),
                             ("gen_ai.client.inference.operation.details", {"gen_ai.input.messages": value})])
    observation = map_one(span, scope_name=scope)
    assert observation["type"] in ("SPAN", "GENERATION", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER",
                                   "EVALUATOR", "EMBEDDING", "GUARDRAIL")
    assert all(isinstance(v, str) for v in observation["metadata"].values())
    for key in ("input", "output", "model_parameters"):
        assert isinstance(observation.get(key, ""), str)
    assert all(isinstance(v, int) for v in observation.get("provided_usage_details", {}).values())


@pytest.mark.parametrize("value", [["a", 1], "", "not json {", "{}", "[]", 0, -1, 2.5, True, '{"a": [1]}'])
def test_odd_values_for_each_known_key_alone_never_crash(value: object) -> None:
    for key in _every_known_key():
        for scope in ("x", "ai", "genkit-tracer", "@flue/opentelemetry", "pydantic-ai", "gcp.vertex.agent"):
            observation = map_one(make_span(span_id="ab" * 8, parent_id="cd" * 8, attributes={key: value}),
                                  scope_name=scope)
            assert observation["id"] == "ab" * 8
