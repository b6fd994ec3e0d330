"""LangChain and LangGraph through the Langfuse SDK's `CallbackHandler`, against Spyglass and the fake provider.

A prompt | ChatOpenAI | parser chain (invoked and streamed) and a LangGraph agent (a StateGraph with a model
node and a ToolNode) run in this process; each trace is read back through the public API.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langfuse import Langfuse
from langfuse.langchain import CallbackHandler
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from tests.integrations.conftest import ReadTrace, by_name, client_env, find_trace, run_snippet, shape
from tests.support.fake_openai import FakeOpenAI
from tests.support.server import Keys, SpyglassServer

MODEL = "gpt-4o-mini"
PROMPT = ChatPromptTemplate.from_messages([("system", "You are terse."), ("human", "Tell me about {topic}")])
# LangChain reports OpenAI's token details under its own names; the handler sends them as usage details.
ZERO_DETAILS = {"input_audio": 0, "input_cache_read": 0, "output_audio": 0, "output_reasoning": 0}


def chat_model(fake: FakeOpenAI, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, temperature=0, base_url=fake.base_url, api_key="sk-test-not-a-real-key",
                      **options)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@tool
def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"Sunny in {city}, 21 C"


def test_prompt_model_parser_chain(langfuse: Langfuse, fake_openai: FakeOpenAI, read_trace: ReadTrace) -> None:
    session = f"session-{uuid.uuid4().hex[:8]}"
    handler = CallbackHandler()
    chain = PROMPT | chat_model(fake_openai) | StrOutputParser()
    answer = chain.invoke({"topic": "otters"}, config={"callbacks": [handler], "metadata": {
        "langfuse_user_id": "user-7", "langfuse_session_id": session, "langfuse_tags": ["chain", "docs"]}})
    langfuse.flush()
    assert answer == "Echo: Tell me about otters"

    trace = read_trace(handler.last_trace_id, observations=4)
    assert shape(trace) == [("CHAIN", "RunnableSequence", [
        ("CHAIN", "ChatPromptTemplate"), ("CHAIN", "StrOutputParser"), ("GENERATION", "ChatOpenAI")])]
    assert (trace["name"], trace["input"], trace["output"]) == ("RunnableSequence", {"topic": "otters"}, answer)
    assert (trace["userId"], trace["sessionId"], trace["tags"]) == ("user-7", session, ["chain", "docs"])

    generation = by_name(trace["observations"])["ChatOpenAI"]
    assert generation["model"] == MODEL
    assert generation["modelParameters"] == {"temperature": 0}
    assert generation["input"] == [{"role": "system", "content": "You are terse."},
                                   {"role": "user", "content": "Tell me about otters"}]
    assert generation["output"] == {"role": "assistant", "content": answer, "additional_kwargs": {"refusal": None}}
    # "You are terse." + "Tell me about otters" = 7 words in, "Echo: Tell me about otters" = 5 out.
    assert generation["usageDetails"] == {**ZERO_DETAILS, "input": 7, "output": 5, "total": 12}
    assert generation["calculatedTotalCost"] == pytest.approx(7 * 0.15e-6 + 5 * 0.6e-6)
    parser = by_name(trace["observations"])["StrOutputParser"]
    assert parser["output"] == answer


def test_streamed_chain_records_first_token(langfuse: Langfuse, fake_openai: FakeOpenAI,
                                            read_trace: ReadTrace) -> None:
    handler = CallbackHandler()
    chain = PROMPT | chat_model(fake_openai, stream_usage=True) | StrOutputParser()
    pieces = list(chain.stream({"topic": "lighthouses"}, config={"callbacks": [handler]}))
    langfuse.flush()
    assert [p for p in pieces if p] == ["Echo: ", "Tell ", "me ", "about ", "lighthouses"]

    trace = read_trace(handler.last_trace_id, observations=4)
    generation = by_name(trace["observations"])["ChatOpenAI"]
    assert generation["output"]["content"] == "Echo: Tell me about lighthouses"
    assert generation["usageDetails"] == {**ZERO_DETAILS, "input": 7, "output": 5, "total": 12}
    start, first_token, end = (parse_time(generation[k]) for k in ("startTime", "completionStartTime", "endTime"))
    assert start < first_token <= end
    assert trace["output"] == "Echo: Tell me about lighthouses"


def weather_agent(fake: FakeOpenAI) -> Any:
    """The smallest LangGraph tool agent: a model node and a ToolNode, looping until no tool is called."""
    model = chat_model(fake).bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def test_langgraph_agent_with_a_tool(langfuse: Langfuse, fake_openai: FakeOpenAI, read_trace: ReadTrace,
                                     http: httpx.Client) -> None:
    handler = CallbackHandler()
    result = weather_agent(fake_openai).invoke({"messages": [("user", "What is the weather in Paris?")]},
                                               config={"callbacks": [handler]})
    langfuse.flush()
    final = result["messages"][-1].content
    assert final == "Based on the tool: Sunny in Paris, 21 C"

    trace = read_trace(handler.last_trace_id, observations=9)
    turn = ("AGENT", "agent", [("CHAIN", "tools_condition"), ("GENERATION", "ChatOpenAI")])
    assert shape(trace) == [("CHAIN", "LangGraph", [turn, turn, ("CHAIN", "tools", [("TOOL", "get_weather")])])]
    assert trace["name"] == "LangGraph"
    assert trace["output"]["messages"][-1]["content"] == final

    generations = [o for o in trace["observations"] if o["type"] == "GENERATION"]
    (planned,) = [g for g in generations if g["output"].get("tool_calls")]
    (answered,) = [g for g in generations if g is not planned]
    (call,) = planned["output"]["tool_calls"]
    assert (call["name"], call["args"], call["type"]) == ("get_weather", {"city": "Paris"}, "tool_call")
    assert call["id"] == result["messages"][1].tool_calls[0]["id"]
    # The handler lists the bound tool definitions after the messages, as `tool` entries.
    tool_definition = {"role": "tool", "content": {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city.",
        "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}}}}
    assert planned["input"] == [{"role": "user", "content": "What is the weather in Paris?"}, tool_definition]
    assert planned["usageDetails"] == {**ZERO_DETAILS, "input": 6, "output": 3, "total": 9}
    assert answered["input"][2] == {"role": "tool", "content": "Sunny in Paris, 21 C", "tool_call_id": call["id"]}
    assert answered["output"]["content"] == final
    # 6 words asked + the call (name + 2 argument words) + 5 words of tool result; 9 words answered.
    assert answered["usageDetails"] == {**ZERO_DETAILS, "input": 14, "output": 9, "total": 23}
    assert (planned["model"], answered["model"]) == (MODEL, MODEL)

    (tool_run,) = (o for o in trace["observations"] if o["type"] == "TOOL")
    assert tool_run["input"] == {"city": "Paris"}
    assert (tool_run["output"]["content"], tool_run["output"]["tool_call_id"]) == ("Sunny in Paris, 21 C", call["id"])
    assert parse_time(planned["endTime"]) <= parse_time(tool_run["startTime"])
    assert parse_time(tool_run["endTime"]) <= parse_time(answered["startTime"])

    observations = http.get("/api/public/observations", params={"traceId": trace["id"], "type": "GENERATION"})
    assert sorted(o["id"] for o in observations.json()["data"]) == sorted([planned["id"], answered["id"]])


def test_readme_snippet(server: SpyglassServer, fake_openai: FakeOpenAI, read_trace: ReadTrace,
                        fresh_project: tuple[Keys, httpx.Client]) -> None:
    keys, client = fresh_project
    printed = run_snippet("langchain.py", client_env(server, fake_openai, keys))
    assert printed == "Based on the tool: Sunny in Paris, 21 C\n"

    trace = read_trace(find_trace(client, userId="user-1")["id"], observations=7, client=client)
    turn = ("CHAIN", "model", [("GENERATION", "ChatOpenAI")])
    assert shape(trace) == [("CHAIN", "LangGraph", [turn, turn, ("CHAIN", "tools", [("TOOL", "get_weather")])])]
    (tool_run,) = (o for o in trace["observations"] if o["type"] == "TOOL")
    assert tool_run["input"] == {"city": "Paris"}
    assert tool_run["output"]["content"] == "Sunny in Paris, 21 C"
    usages = sorted(o["usageDetails"]["total"] for o in trace["observations"] if o["type"] == "GENERATION")
    assert usages == [9, 23]
