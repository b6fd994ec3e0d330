"""The Langfuse SDK's OpenAI drop-in (`from langfuse.openai import openai`) against Spyglass.

The drop-in patches the openai package for the whole process, so the app runs in a child process
(`python -m tests.integrations.test_openai_dropin TAG`, the `main()` at the bottom): sync, async, streamed
(sync and async), tool-call, reasoning-model, embedding, failing and `@observe`-nested calls against the fake
provider, each generation named `<case>-TAG`. It prints what the app itself got back; the tests read each
trace through the public API and compare it with that and with what the provider was sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from tests.integrations.conftest import (
    ReadTrace,
    by_name,
    children,
    client_env,
    find_trace,
    run_client,
    run_snippet,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.server import Keys, SpyglassServer

MODEL = "gpt-4o-mini"
CHAT = [{"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "What is the capital of France?"}]
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TOOL_RESULT = "Sunny, 21 C"
# What the drop-in records as model parameters when the call sets none of them.
DEFAULT_PARAMETERS = {"temperature": 1, "max_tokens": "Infinity", "top_p": 1, "frequency_penalty": 0,
                      "presence_penalty": 0, "service_tier": "default"}
ZERO_DETAILS = {"input_cached_tokens": 0, "input_audio_tokens": 0, "output_reasoning_tokens": 0,
                "output_audio_tokens": 0, "output_accepted_prediction_tokens": 0,
                "output_rejected_prediction_tokens": 0}


def usage(input: int, output: int, total: int | None = None, **details: int) -> dict[str, int]:  # noqa: A002
    """The usageDetails Spyglass stores for an OpenAI `usage` object: the details are subtracted from
    prompt/completion tokens into `input`/`output`; `total` is the provider's total_tokens."""
    return {**ZERO_DETAILS, **details, "input": input, "output": output,
            "total": input + output if total is None else total}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def app(server: SpyglassServer, fake_openai: FakeOpenAI) -> dict[str, Any]:
    """Run the drop-in app once for the module: its tag and what each case returned to the app."""
    tag = uuid.uuid4().hex[:10]
    out = run_client(["-m", "tests.integrations.test_openai_dropin", tag], client_env(server, fake_openai))
    return {"tag": tag, **json.loads(out.strip().splitlines()[-1])}


def generation_trace(http: httpx.Client, read_trace: ReadTrace, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trace made of one root generation named `name` (so is the trace); (trace, generation)."""
    trace = read_trace(find_trace(http, name=name)["id"], observations=1)
    (generation,) = trace["observations"]
    assert (generation["name"], generation["parentObservationId"]) == (name, None)
    return trace, generation


def sent(fake: FakeOpenAI, **match: Any) -> list[dict[str, Any]]:
    """The chat requests the provider received whose fields equal `match`."""
    return [body for body in fake.chat_requests() if all(body.get(k) == v for k, v in match.items())]


def test_sync_chat_completion(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace,
                              fake_openai: FakeOpenAI) -> None:
    trace, generation = generation_trace(http, read_trace, f"sync-{app['tag']}")
    assert app["sync"] == "Echo: What is the capital of France?"
    assert generation["type"] == "GENERATION"
    assert generation["model"] == MODEL
    assert generation["modelParameters"] == {**DEFAULT_PARAMETERS, "temperature": 0.2, "max_tokens": 50}
    assert generation["input"] == CHAT
    assert generation["output"] == {"role": "assistant", "content": app["sync"]}
    assert generation["usageDetails"] == usage(10, 7)
    assert (generation["promptTokens"], generation["completionTokens"], generation["totalTokens"]) == (10, 7, 17)
    assert generation["metadata"]["feature"] == "support"
    assert generation["completionStartTime"] is None
    assert generation["level"] == "DEFAULT"
    # gpt-4o-mini's shipped price: $0.15 / $0.60 per million tokens.
    assert generation["costDetails"]["input"] == pytest.approx(10 * 0.15e-6)
    assert generation["costDetails"]["output"] == pytest.approx(7 * 0.6e-6)
    assert trace["input"] == CHAT and trace["output"] == generation["output"]
    # The Langfuse-only arguments (name, metadata) never reach the provider.
    (body,) = sent(fake_openai, messages=CHAT, temperature=0.2)
    assert body == {"model": MODEL, "messages": CHAT, "temperature": 0.2, "max_tokens": 50}


def test_async_chat_with_a_reasoning_model(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace) -> None:
    _, generation = generation_trace(http, read_trace, f"async-{app['tag']}")
    assert app["async"] == {"content": "Echo: What is the capital of France?", "reasoning_tokens": 6}
    assert generation["model"] == "o4-mini"
    assert generation["modelParameters"] == {
        "temperature": 1, "max_completion_tokens": 100, "top_p": 1, "frequency_penalty": 0, "presence_penalty": 0,
        "service_tier": "default"}
    assert generation["input"] == CHAT[1:]
    assert generation["output"] == {"role": "assistant", "content": app["async"]["content"]}
    # 13 completion tokens, 6 of them reasoning: output counts only the visible 7.
    assert generation["usageDetails"] == usage(6, 7, 19, output_reasoning_tokens=6)


def test_streamed_chat_completion(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace,
                                  fake_openai: FakeOpenAI) -> None:
    _, generation = generation_trace(http, read_trace, f"stream-{app['tag']}")
    # A role chunk, one per word, the finish chunk and the usage chunk.
    assert app["stream"] == {"text": "Echo: What is the capital of France?", "chunks": 10}
    assert generation["model"] == MODEL
    assert generation["modelParameters"] == DEFAULT_PARAMETERS
    assert generation["input"] == CHAT
    assert generation["output"] == app["stream"]["text"]
    assert generation["usageDetails"] == usage(10, 7)
    assert generation["metadata"]["finish_reason"] == "stop"
    start, first_token, end = (parse_time(generation[k]) for k in ("startTime", "completionStartTime", "endTime"))
    assert start < first_token <= end
    assert generation["timeToFirstToken"] == pytest.approx((first_token - start).total_seconds(), abs=0.002)
    (body,) = sent(fake_openai, messages=CHAT, stream=True)
    assert body["stream_options"] == {"include_usage": True}


def test_async_stream_of_a_tool_call(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace) -> None:
    _, generation = generation_trace(http, read_trace, f"astream-tools-{app['tag']}")
    call = app["astream_tools"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    assert generation["input"] == {"tools": [WEATHER_TOOL], "messages": QUESTION}
    # The arguments arrived in four deltas; the stored call is the reassembled one.
    assert generation["output"] == {"role": "assistant", "tool_calls": [
        {"id": call["id"], "type": "function", "function": {"name": "get_weather", "arguments": call["arguments"]}}]}
    assert generation["metadata"]["finish_reason"] == "tool_calls"
    assert generation["usageDetails"] == usage(6, 3)
    assert generation["completionStartTime"] is not None
    # The v2 read (what SDK 5.x uses) returns the same generation, its IO as the stored JSON text.
    (v2,) = http.get("/api/public/v2/observations", params={
        "traceId": generation["traceId"], "fields": "core,basic,time,io,model,usage"}).json()["data"]
    assert (v2["id"], v2["model"], v2["usageDetails"]) == (generation["id"], MODEL, generation["usageDetails"])
    assert (json.loads(v2["input"]), json.loads(v2["output"])) == (generation["input"], generation["output"])
    assert v2["completionStartTime"] == generation["completionStartTime"]


def test_tool_call_then_tool_result(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace) -> None:
    _, planned = generation_trace(http, read_trace, f"tools-plan-{app['tag']}")
    _, answered = generation_trace(http, read_trace, f"tools-answer-{app['tag']}")
    call = {"id": app["tools"]["call"]["id"], "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert planned["output"] == {"role": "assistant", "content": None, "tool_calls": [call]}
    assert planned["usageDetails"] == usage(6, 3)
    assert answered["input"] == {"tools": [WEATHER_TOOL], "messages": [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": TOOL_RESULT}]}
    assert answered["output"] == {"role": "assistant", "content": "Based on the tool: Sunny, 21 C"}
    assert app["tools"]["answer"] == "Based on the tool: Sunny, 21 C"
    assert answered["usageDetails"] == usage(12, 7)


def test_embeddings(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace) -> None:
    _, embedding = generation_trace(http, read_trace, f"embed-{app['tag']}")
    assert app["embed"] == {"count": 2, "dimensions": 16}
    assert embedding["type"] == "EMBEDDING"
    assert embedding["model"] == "text-embedding-3-small"
    assert embedding["input"] == ["Paris is in France", "Otters sleep"]
    assert embedding["output"] == {"dimensions": 16, "count": 2}
    assert embedding["usageDetails"] == {"input": 6, "total": 6}


def test_failed_call_is_an_error_generation(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace) -> None:
    _, generation = generation_trace(http, read_trace, f"failed-{app['tag']}")
    assert app["failed"].startswith("BadRequestError")
    assert generation["level"] == "ERROR"
    assert generation["statusMessage"] == (
        "Error code: 400 - {'error': {'message': 'you must provide a model parameter', "
        "'type': 'invalid_request_error', 'param': 'model', 'code': None}}")
    assert generation["output"] is None and generation["model"] is None


def test_nested_under_observe(app: dict[str, Any], http: httpx.Client, read_trace: ReadTrace) -> None:
    name = f"answer-{app['tag']}"
    trace = read_trace(find_trace(http, name=name)["id"], observations=3)
    (root,) = children(trace, None)
    assert (root["name"], root["type"]) == (name, "SPAN")
    named = by_name(children(trace, root))
    assert {name: o["type"] for name, o in named.items()} == {"plan": "GENERATION", "respond": "GENERATION"}
    plan, respond = named["plan"], named["respond"]
    assert parse_time(plan["endTime"]) <= parse_time(respond["startTime"])
    assert plan["output"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert respond["output"] == {"role": "assistant", "content": app["observed"]}
    for child in (plan, respond):
        assert parse_time(root["startTime"]) <= parse_time(child["startTime"])
        assert parse_time(child["endTime"]) <= parse_time(root["endTime"])
    assert (trace["userId"], trace["sessionId"], trace["tags"]) == ("user-42", f"session-{app['tag']}", ["dropin"])
    assert trace["input"] == {"args": ["What is the weather in Paris?"], "kwargs": {}}
    assert trace["output"] == app["observed"] == "Based on the tool: Sunny, 21 C"


def test_readme_snippet(server: SpyglassServer, fake_openai: FakeOpenAI, read_trace: ReadTrace,
                        fresh_project: tuple[Keys, httpx.Client]) -> None:
    keys, client = fresh_project
    printed = run_snippet("openai.py", client_env(server, fake_openai, keys))
    assert printed == "Echo: What is the capital of France?\n"

    trace = read_trace(find_trace(client, name="answer")["id"], observations=2, client=client)
    (root,) = children(trace, None)
    (generation,) = children(trace, root)
    assert (root["type"], root["name"], generation["type"], generation["name"]) == (
        "SPAN", "answer", "GENERATION", "OpenAI-generation")
    assert trace["input"] == {"args": ["What is the capital of France?"], "kwargs": {}}
    assert trace["output"] == root["output"] == generation["output"] == "Echo: What is the capital of France?"
    assert generation["input"] == [{"role": "system", "content": "Answer in one sentence."},
                                   {"role": "user", "content": "What is the capital of France?"}]
    assert generation["model"] == MODEL
    assert generation["usageDetails"] == usage(10, 7)
    assert generation["completionStartTime"] is not None


# ------------------------------------------------------------------------------------------------
# The app (child process only)


def main(tag: str) -> dict[str, Any]:
    # Imported here, never at module level: the drop-in patches openai for the whole process.
    from langfuse import get_client, observe, propagate_attributes
    from langfuse.openai import openai

    client, async_client = openai.OpenAI(), openai.AsyncOpenAI()
    out: dict[str, Any] = {}

    reply = client.chat.completions.create(name=f"sync-{tag}", metadata={"feature": "support"}, model=MODEL,
                                           messages=CHAT, temperature=0.2, max_tokens=50)
    out["sync"] = reply.choices[0].message.content

    async def reasoning() -> dict[str, Any]:
        answer = await async_client.chat.completions.create(name=f"async-{tag}", model="o4-mini", messages=CHAT[1:],
                                                            max_completion_tokens=100)
        return {"content": answer.choices[0].message.content,
                "reasoning_tokens": answer.usage.completion_tokens_details.reasoning_tokens}

    out["async"] = asyncio.run(reasoning())

    chunks = list(client.chat.completions.create(name=f"stream-{tag}", model=MODEL, messages=CHAT, stream=True,
                                                 stream_options={"include_usage": True}))
    out["stream"] = {"text": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
                     "chunks": len(chunks)}

    async def streamed_tool_call() -> dict[str, Any]:
        stream = await async_client.chat.completions.create(name=f"astream-tools-{tag}", model=MODEL,
                                                            messages=QUESTION, tools=[WEATHER_TOOL], stream=True,
                                                            stream_options={"include_usage": True})
        call: dict[str, Any] = {"arguments": ""}
        async for chunk in stream:
            for delta in (d for c in chunk.choices for d in c.delta.tool_calls or []):
                call["id"] = delta.id or call.get("id")
                call["name"] = delta.function.name or call.get("name")
                call["arguments"] += delta.function.arguments or ""
        return call

    out["astream_tools"] = asyncio.run(streamed_tool_call())

    def weather_round_trip(first_name: str | None, second_name: str | None) -> tuple[Any, str]:
        first = client.chat.completions.create(name=first_name, model=MODEL, messages=QUESTION, tools=[WEATHER_TOOL])
        call = first.choices[0].message.tool_calls[0]
        messages = [*QUESTION,
                    {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                    {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT}]
        second = client.chat.completions.create(name=second_name, model=MODEL, messages=messages, tools=[WEATHER_TOOL])
        return call, second.choices[0].message.content

    call, answer = weather_round_trip(f"tools-plan-{tag}", f"tools-answer-{tag}")
    out["tools"] = {"call": {"id": call.id}, "answer": answer}

    vectors = client.embeddings.create(name=f"embed-{tag}", model="text-embedding-3-small",
                                       input=["Paris is in France", "Otters sleep"])
    out["embed"] = {"count": len(vectors.data), "dimensions": len(vectors.data[0].embedding)}

    try:
        client.chat.completions.create(name=f"failed-{tag}", model="", messages=CHAT)
    except openai.BadRequestError as error:
        out["failed"] = f"{type(error).__name__}: {error}"

    @observe(name=f"answer-{tag}")
    def answer_question(question: str) -> str:
        with propagate_attributes(user_id="user-42", session_id=f"session-{tag}", tags=["dropin"]):
            return weather_round_trip("plan", "respond")[1]

    out["observed"] = answer_question(QUESTION[0]["content"])
    get_client().flush()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
