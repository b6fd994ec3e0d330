"""Third-party instrumentation spans over OTLP/HTTP, read back through the public API.

Each fixture of `tests/fixtures/otel/` (OpenInference, OpenLLMetry/Traceloop, Vercel AI SDK,
Pydantic AI/Logfire, OpenTelemetry GenAI conventions; see the unit test of the same name for
their sources) is posted as OTLP/JSON and as protobuf, with fresh trace and span ids and its
times moved to now, then the important fields of each convention are checked on
`GET /api/public/traces/{id}`.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.integration.api.builders import OTEL_TRACES, api_ts, uid, wait_trace

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "otel"
FIXTURE_T0_NS = 1_748_772_000_000_000_000  # the fixtures' time origin
JSON, PROTOBUF = "application/json", "application/x-protobuf"


class Posted:
    """One fixture as sent: the new id of every fixture trace/span id, and the new time origin."""

    def __init__(self, document: dict[str, Any], t0_ns: int) -> None:
        self.document = document
        self.t0_ns = t0_ns
        self.ids: dict[str, str] = {}
        self.span_counts: dict[str, int] = {}

    def new_id(self, old: str, length: int) -> str:
        if old not in self.ids:
            self.ids[old] = uid()[:length]
        return self.ids[old]

    def at(self, offset_ms: float) -> str:
        """The API rendering of fixture time origin + `offset_ms`."""
        return api_ts(datetime.fromtimestamp(self.t0_ns / 1e9 + offset_ms / 1000, tz=UTC))


def _renumber(name: str) -> Posted:
    """The fixture with fresh ids (so JSON and protobuf runs do not merge) and times shifted to now."""
    document = json.loads((FIXTURES / f"{name}.json").read_text())
    t0_ns = (time.time_ns() // 1_000_000) * 1_000_000  # whole milliseconds, like the API renders
    posted = Posted(document, t0_ns)
    shift = t0_ns - FIXTURE_T0_NS
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                span["traceId"] = posted.new_id(span["traceId"], 32)
                posted.span_counts[span["traceId"]] = posted.span_counts.get(span["traceId"], 0) + 1
                span["spanId"] = posted.new_id(span["spanId"], 16)
                if span["parentSpanId"]:
                    span["parentSpanId"] = posted.new_id(span["parentSpanId"], 16)
                for key in ("startTimeUnixNano", "endTimeUnixNano"):
                    span[key] = str(int(span[key]) + shift)
                for event in span["events"]:
                    event["timeUnixNano"] = str(int(event["timeUnixNano"]) + shift)
    return posted


def _protobuf(document: dict[str, Any]) -> bytes:
    """OTLP/JSON → protobuf through the proto3 JSON mapping (ids are base64 there, hex in OTLP/JSON)."""
    proto_json = copy.deepcopy(document)
    for resource_spans in proto_json["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return ParseDict(proto_json, ExportTraceServiceRequest()).SerializeToString()


class Sent:
    """A posted fixture read back: `trace(old_trace_id)` and `obs(old_span_id)` by fixture ids."""

    def __init__(self, client: httpx.Client, posted: Posted) -> None:
        self.posted = posted
        self.traces: dict[str, dict[str, Any]] = {}
        self.observations: dict[str, dict[str, Any]] = {}
        for trace_id, count in posted.span_counts.items():
            trace = wait_trace(client, trace_id, lambda t, n=count: len(t["observations"]) == n and t["name"])
            self.traces[trace_id] = trace
            self.observations.update({o["id"]: o for o in trace["observations"]})

    def trace(self, fixture_trace_id: str) -> dict[str, Any]:
        return self.traces[self.posted.ids[fixture_trace_id]]

    def obs(self, fixture_span_id: str) -> dict[str, Any]:
        return self.observations[self.posted.ids[fixture_span_id]]


def send(client: httpx.Client, name: str, content_type: str) -> Sent:
    posted = _renumber(name)
    body = json.dumps(posted.document).encode() if content_type == JSON else _protobuf(posted.document)
    response = client.post(OTEL_TRACES, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    return Sent(client, posted)


def _summary(observation: dict[str, Any]) -> tuple[Any, ...]:
    return observation["type"], observation["name"], observation["model"]


def check_openinference(sent: Sent) -> None:
    trace = sent.trace("4bf92f3577b34da6a3ce929d0e0e4736")
    assert (trace["name"], trace["userId"], trace["sessionId"], trace["tags"], trace["environment"]) == (
        "AgentWorkflow.run", "user-42", "sess-7f3a", ["rag", "travel"], "staging")
    assert [_summary(sent.obs(s)) for s in ("a1a1a1a1a1a1a1a1", "a2a2a2a2a2a2a2a2", "a4a4a4a4a4a4a4a4",
                                             "a5a5a5a5a5a5a5a5", "a6a6a6a6a6a6a6a6")] == [
        ("CHAIN", "AgentWorkflow.run", None), ("AGENT", "FunctionAgent.run", None),
        ("TOOL", "FunctionTool.acall", None), ("RETRIEVER", "VectorIndexRetriever.aretrieve", None),
        ("EMBEDDING", "OpenAIEmbedding.aget_query_embedding", "text-embedding-3-small")]
    llm = sent.obs("a3a3a3a3a3a3a3a3")
    assert (llm["type"], llm["model"], llm["parentObservationId"]) == (
        "GENERATION", "gpt-4o-mini-2024-07-18", sent.posted.ids["a2a2a2a2a2a2a2a2"])
    assert llm["modelParameters"] == {"model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": "null"}
    assert llm["usageDetails"] == {"input": 28, "output": 18, "total": 174, "input_cached_tokens": 128,
                                   "output_reasoning_tokens": 0, "output_audio_tokens": 0, "prompt_details.audio": 0}
    # LLM spans: the structured llm.*_messages as chat messages (a Spyglass deviation, README).
    assert [message["role"] for message in llm["input"]] == ["system", "user"]
    assert llm["output"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert llm["environment"] == "staging"
    attributes = llm["metadata"]["attributes"]
    assert attributes["llm.token_count.prompt"] == "156" and "input.value" not in attributes
    assert not any(key.startswith("llm.input_messages") for key in attributes)
    flattened = sent.obs("a8a8a8a8a8a8a8a8")
    assert flattened["input"][0] == {"role": "system", "content": "Summarise for the user."}
    assert flattened["input"][1]["tool_calls"][0] == {
        "id": "toolu_01A9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert flattened["usageDetails"] == {"input": 66, "output": 14, "total": 1304, "input_cached_tokens": 1024,
                                         "input_cache_creation": 200}
    assert sent.obs("a4a4a4a4a4a4a4a4")["input"] == {"city": "Paris"}


def check_openllmetry(sent: Sent) -> None:
    trace = sent.trace("0af7651916cd43dd8448eb211c80319c")
    assert (trace["name"], trace["environment"], trace["userId"], trace["sessionId"]) == (
        "answer_ticket.workflow", "production", None, None)
    assert trace["input"] == {"args": ["My order #1234 has not arrived yet."], "kwargs": {}}
    assert trace["output"] == "Your order #1234 ships tomorrow."
    workflow, tool = sent.obs("b1b1b1b1b1b1b1b1"), sent.obs("b2b2b2b2b2b2b2b2")
    assert (_summary(workflow), _summary(tool)) == (("SPAN", "answer_ticket.workflow", None),
                                                    ("SPAN", "lookup_order.tool", None))
    assert workflow["metadata"]["attributes"]["traceloop.span.kind"] == "workflow"
    chat = sent.obs("b3b3b3b3b3b3b3b3")
    assert _summary(chat) == ("GENERATION", "openai.chat", "gpt-4o-2024-08-06")
    assert chat["input"][1] == {"role": "user", "content": "My order #1234 has not arrived yet."}
    assert chat["output"] == [{"finish_reason": "tool_calls", "role": "assistant", "tool_calls": [
        {"id": "call_7cPq", "name": "lookup_order", "arguments": '{"order_id":"1234"}'}]}]
    assert chat["modelParameters"] == {"max_tokens": 256, "temperature": 0.2}
    # No total in the span: stored as the sum of the provided counts (§4.4).
    assert chat["usageDetails"] == {"input": 81, "output": 17, "input_cached_tokens": 0, "total": 98}
    anthropic = sent.obs("b4b4b4b4b4b4b4b4")
    assert anthropic["usageDetails"] == {"input": 50, "output": 60, "input_cached_tokens": 2000,
                                         "input_cache_creation": 100, "total": 2210}
    assert anthropic["modelParameters"] == {"max_tokens": 1024, "temperature": 1}
    assert sent.obs("b5b5b5b5b5b5b5b5")["usageDetails"] == {
        "input": 20, "output": 400, "total": 420, "input_cached_tokens": 0, "reasoning_tokens": 384}


def check_vercel_ai(sent: Sent) -> None:
    trace = sent.trace("5b8efff798038103d269b633813fc60c")
    assert (trace["name"], trace["userId"], trace["sessionId"], trace["tags"], trace["environment"]) == (
        "weather-agent:ai.generateText", "user-123", "session-abc", ["nextjs", "weather"], "preview")
    assert trace["metadata"]["tenant"] == "acme"
    step = sent.obs("c2c2c2c2c2c2c2c2")
    assert _summary(step) == ("GENERATION", "weather-agent:ai.generateText.doGenerate", "gpt-4o-mini-2024-07-18")
    assert step["output"]["tool_calls"].startswith('[{"type":"tool-call","toolCallId":"call_w1"')
    assert step["modelParameters"] == {"maxSteps": None, "toolChoice": '{"type":"auto"}', "maxTokens": None,
                                       "finishReason": "tool-calls", "system": "openai.chat", "maxRetries": "2",
                                       "mode": None, "temperature": "0.3", "service_tier": None}
    assert step["usageDetails"] == {"input": 56, "output": 15, "input_cached_tokens": 64,
                                    "output_reasoning_tokens": 0, "total": 135}
    assert step["metadata"]["tenant"] == "acme"
    tool = sent.obs("c3c3c3c3c3c3c3c3")
    assert (_summary(tool), tool["input"], tool["output"]) == (
        ("TOOL", "getWeather", None), {"city": "Berlin"}, {"temperature": 18, "condition": "cloudy"})
    assert tool["usageDetails"] == {"input": 0, "output": 0, "total": 0}
    stream = sent.obs("c6c6c6c6c6c6c6c6")
    assert _summary(stream) == ("GENERATION", "summarize:ai.streamText.doStream", "claude-3-5-sonnet-20241022")
    assert stream["completionStartTime"] == sent.posted.at(5 + 413)
    assert stream["usageDetails"] == {"input": 12, "output": 85, "input_cached_tokens": 1800,
                                      "input_cache_creation": 0, "input_cache_creation_5m": 300,
                                      "input_cache_creation_1h": 0, "total": 2197}
    assert (stream["promptName"], stream["promptVersion"]) == ("summarize-article", 3)
    assert sent.trace("6e0c63257de34c92bf9efcd03927272e")["userId"] == "user-123"


def check_pydantic_logfire(sent: Sent) -> None:
    trace = sent.trace("7d6f3e2a1b0c4d5e8f9a0b1c2d3e4f50")
    assert (trace["name"], trace["sessionId"], trace["environment"], trace["version"]) == (
        "weather_agent run", "conv-0f1e2d", "production", "1.4.0")
    agent = sent.obs("d1d1d1d1d1d1d1d1")
    assert (_summary(agent), agent["usageDetails"], agent["costDetails"]) == (
        ("AGENT", "weather_agent run", None), {}, {})
    assert agent["input"][0] == {"role": "system", "content": "Be concise. Use get_weather for weather questions."}
    assert agent["output"] == "Sunny and 24°C in Paris."
    chat = sent.obs("d4d4d4d4d4d4d4d4")
    assert _summary(chat) == ("GENERATION", "chat gpt-4o", "gpt-4o-2024-08-06")
    assert chat["usageDetails"] == {"input": 36, "output": 20, "input_cached_tokens": 64,
                                    "accepted_prediction_tokens": 0, "audio_tokens": 0, "reasoning_tokens": 0,
                                    "rejected_prediction_tokens": 0, "total": 120}
    assert chat["output"][0]["parts"][0]["content"] == "Sunny and 24°C in Paris."
    tool = sent.obs("d3d3d3d3d3d3d3d3")
    assert (_summary(tool), tool["input"], tool["output"]) == (
        ("TOOL", "get_weather", None), {"city": "Paris"}, "sunny, 24°C")
    legacy_chat = sent.obs("e2e2e2e2e2e2e2e2")
    assert legacy_chat["output"]["event.name"] == "gen_ai.choice"
    assert legacy_chat["input"][0]["content"] == "Weather in Paris?"
    legacy_tool = sent.obs("e3e3e3e3e3e3e3e3")
    assert (legacy_tool["type"], legacy_tool["input"], legacy_tool["output"]) == ("TOOL", {"city": "Paris"},
                                                                                 "sunny, 24°C")
    logfire = sent.obs("f1f1f1f1f1f1f1f1")
    assert _summary(logfire) == ("GENERATION", "Chat Completion with 'gpt-4'", "gpt-4-0613")
    assert logfire["usageDetails"] == {"input": 23, "output": 1, "total": 24}
    assert logfire["metadata"]["attributes"]["logfire.tags"] == '["LLM"]'


def check_genai_semconv(sent: Sent) -> None:
    trace = sent.trace("a0b1c2d3e4f5061728394a5b6c7d8e9f")
    assert (trace["name"], trace["sessionId"], trace["environment"]) == (
        "invoke_agent Travel Agent", "conv_5j66UpCpwteGg4YSxUnt7lPY", "production")
    agent = sent.obs("1a1a1a1a1a1a1a1a")
    assert (_summary(agent), agent["usageDetails"], agent["costDetails"]) == (
        ("AGENT", "invoke_agent Travel Agent", None), {}, {})
    chat = sent.obs("1b1b1b1b1b1b1b1b")
    assert _summary(chat) == ("GENERATION", "chat gpt-4.1", "gpt-4.1-2025-04-14")
    assert chat["input"][0] == {"role": "system", "content": "You are a travel agent. Answer briefly."}
    assert chat["output"][0]["parts"][0]["type"] == "tool_call"
    assert chat["modelParameters"] == {"max_tokens": 200, "top_p": 1, "temperature": 0.2}
    assert chat["usageDetails"] == {"input": 23, "output": 17, "input_cached_tokens": 1024, "total": 1064}
    assert chat["metadata"]["attributes"]["gen_ai.request.top_p"] == "1"
    details = sent.obs("1d1d1d1d1d1d1d1d")
    assert [m["role"] for m in details["input"]] == ["system", "user", "assistant", "tool"]
    assert details["output"][0]["finish_reason"] == "stop"
    tool = sent.obs("1c1c1c1c1c1c1c1c")
    assert (_summary(tool), tool["input"], tool["output"]) == (
        ("TOOL", "get_weather", None), {"location": "Paris"}, "rainy, 57°F")
    assert _summary(sent.obs("1e1e1e1e1e1e1e1e")) == (
        "EMBEDDING", "embeddings text-embedding-3-small", "text-embedding-3-small")
    events = sent.obs("2a2a2a2a2a2a2a2a")
    assert [m["role"] for m in events["input"]] == ["system", "user"]
    assert events["output"]["finish_reason"] == "stop"
    openlit = sent.obs("3a3a3a3a3a3a3a3a")
    assert (openlit["input"], openlit["costDetails"], openlit["environment"]) == (
        "user: What is LLM Observability?", {"total": 0.000151}, "default")


@pytest.fixture(scope="module")
def linked_prompt(client: httpx.Client) -> str:
    """Version 3 of the prompt the AI SDK fixture names in `ai.telemetry.metadata.langfusePrompt`;
    links are made to existing prompt versions only."""
    for text in ("Summarise: {{article}}", "Summarise briefly: {{article}}", "Summarise in one paragraph."):
        response = client.post("/api/public/v2/prompts", json={"name": "summarize-article", "prompt": text})
        assert response.status_code == 201, response.text
    version = response.json()
    assert version["version"] == 3
    return version["id"]


CHECKS: dict[str, Callable[[Sent], None]] = {
    "openinference": check_openinference,
    "openllmetry": check_openllmetry,
    "vercel_ai": check_vercel_ai,
    "pydantic_logfire": check_pydantic_logfire,
    "genai_semconv": check_genai_semconv,
}


@pytest.mark.parametrize("content_type", [JSON, PROTOBUF], ids=["json", "protobuf"])
@pytest.mark.parametrize("name", list(CHECKS))
def test_third_party_fixture_round_trip(client: httpx.Client, linked_prompt: str, name: str,
                                       content_type: str) -> None:
    sent = send(client, name, content_type)
    CHECKS[name](sent)
    if name == "vercel_ai":
        assert sent.obs("c6c6c6c6c6c6c6c6")["promptId"] == linked_prompt
