"""LlamaIndex through OpenInference's instrumentation, exported by a plain OpenTelemetry SDK over OTLP/HTTP
(no Langfuse SDK) to Spyglass, with the fake provider as the LLM and embedding model.

Each case tags its spans with OpenInference's `using_attributes(session_id=…)`, finds its trace by session,
and reads it back through the public API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.llms import ChatMessage
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI
from openinference.instrumentation import using_attributes
from openinference.instrumentation.llama_index import LlamaIndexInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from tests.integration.api.builders import OTEL_TRACES, basic_auth
from tests.integrations.conftest import ReadTrace, by_name, client_env, find_trace, run_snippet, shape
from tests.support.fake_openai import FakeOpenAI, count_words, prompt_tokens
from tests.support.server import Keys, SpyglassServer

MODEL = "gpt-4o-mini"
API_KEY = "sk-test-not-a-real-key"
# llama-index's own description of the model, sent as `llm.invocation_parameters` (booleans kept as strings).
INVOCATION_PARAMETERS = {"context_window": 128000, "num_output": -1, "is_chat_model": "true",
                         "is_function_calling_model": "true", "model_name": MODEL, "system_role": "system"}
# OpenInference's `llm.token_count.*` details for an OpenAI reply without cached, reasoning or audio tokens.
ZERO_DETAILS = {"input_cached_tokens": 0, "output_reasoning_tokens": 0, "output_audio_tokens": 0,
                "prompt_details.audio": 0}


@pytest.fixture(scope="module")
def instrumented(server: SpyglassServer) -> Iterator[TracerProvider]:
    """OpenInference instruments llama-index onto a provider that exports each span as it ends."""
    exporter = OTLPSpanExporter(endpoint=f"{server.base_url}{OTEL_TRACES}",
                                headers={"Authorization": basic_auth(*server.keys.auth)})
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = LlamaIndexInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield provider
    instrumentor.uninstrument()
    provider.shutdown()


@pytest.fixture
def llm(instrumented: TracerProvider, fake_openai: FakeOpenAI) -> OpenAI:
    return OpenAI(model=MODEL, temperature=0.1, api_base=fake_openai.base_url, api_key=API_KEY)


def session() -> str:
    return f"session-{uuid.uuid4().hex[:10]}"


def test_chat_is_a_generation(llm: OpenAI, http: httpx.Client, read_trace: ReadTrace) -> None:
    session_id = session()
    with using_attributes(session_id=session_id, user_id="user-9", tags=["llamaindex", "chat"]):
        reply = llm.chat([ChatMessage(role="system", content="Be brief."),
                          ChatMessage(role="user", content="Hello llama friend")])
    assert reply.message.content == "Echo: Hello llama friend"

    trace = read_trace(find_trace(http, sessionId=session_id)["id"], observations=1)
    (generation,) = trace["observations"]
    assert (generation["type"], generation["name"], generation["parentObservationId"]) == (
        "GENERATION", "OpenAI.chat", None)
    assert (trace["name"], trace["userId"], trace["sessionId"]) == ("OpenAI.chat", "user-9", session_id)
    assert trace["tags"] == ["chat", "llamaindex"]
    assert generation["model"] == MODEL
    assert generation["modelParameters"] == INVOCATION_PARAMETERS
    # From llm.token_count.prompt / completion / total: 5 words in, "Echo: Hello llama friend" out.
    assert generation["usageDetails"] == {**ZERO_DETAILS, "input": 5, "output": 4, "total": 9}
    assert generation["calculatedTotalCost"] == pytest.approx(5 * 0.15e-6 + 4 * 0.6e-6)
    # The structured llm.input_messages.* / llm.output_messages.* as chat messages, not
    # llama-index's own renderings in input.value / output.value (a Spyglass deviation, README).
    assert generation["input"] == [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Hello llama friend"}]
    assert generation["output"] == {"role": "assistant", "content": "Echo: Hello llama friend"}
    attributes = generation["metadata"]["attributes"]
    assert (attributes["llm.provider"], attributes["llm.finish_reason"]) == ("openai", "stop")
    assert not [key for key in attributes if key.startswith(("llm.input_messages", "llm.output_messages"))]
    assert generation["metadata"]["scope"]["name"] == "openinference.instrumentation.llama_index"


def test_query_over_an_in_memory_index(llm: OpenAI, fake_openai: FakeOpenAI, http: httpx.Client,
                                       read_trace: ReadTrace) -> None:
    embed_model = OpenAIEmbedding(model="text-embedding-3-small", api_base=fake_openai.base_url, api_key=API_KEY)
    index = VectorStoreIndex.from_documents(
        [Document(text="Paris is the capital of France."), Document(text="Otters hold hands while sleeping.")],
        embed_model=embed_model)
    session_id = session()
    with using_attributes(session_id=session_id):
        answer = str(index.as_query_engine(llm=llm, similarity_top_k=1).query("What do otters do?"))

    trace = read_trace(find_trace(http, sessionId=session_id)["id"], observations=14)
    split = ("CHAIN", "TokenTextSplitter.split_text")
    assert shape(trace) == [("CHAIN", "RetrieverQueryEngine.query", [("CHAIN", "RetrieverQueryEngine._query", [
        ("CHAIN", "CompactAndRefine.synthesize", [("CHAIN", "CompactAndRefine.get_response", [
            ("CHAIN", "CompactAndRefine.get_response", [
                ("CHAIN", "DefaultRefineProgram.__call__", [("GENERATION", "OpenAI.predict", [
                    ("GENERATION", "OpenAI.chat")])]),
                split]),
            split])]),
        ("RETRIEVER", "VectorIndexRetriever.retrieve", [("RETRIEVER", "VectorIndexRetriever._retrieve", [
            ("EMBEDDING", "OpenAIEmbedding.get_query_embedding", [
                ("EMBEDDING", "OpenAIEmbedding._get_query_embedding")])])])])])]
    assert (trace["name"], trace["input"], trace["output"]) == ("RetrieverQueryEngine.query", "What do otters do?",
                                                                answer)

    observations = by_name([o for o in trace["observations"] if o["type"] != "CHAIN"])
    retrieve = observations["VectorIndexRetriever.retrieve"]
    assert retrieve["input"] == "What do otters do?"
    # The nearest document (the fake's embeddings are bags of words) is the one about otters.
    assert retrieve["metadata"]["attributes"]["retrieval.documents.0.document.content"] == (
        "Otters hold hands while sleeping.")
    assert observations["OpenAIEmbedding.get_query_embedding"]["input"] == {"query": "What do otters do?"}

    chat = observations["OpenAI.chat"]
    (request,) = [body for body in fake_openai.chat_requests()
                  if "Query: What do otters do?" in body["messages"][-1]["content"]]
    assert chat["model"] == MODEL
    assert answer == "Echo: " + request["messages"][-1]["content"]
    # Exactly what the provider reported for that request.
    used = {"input": prompt_tokens(request["messages"]), "output": count_words(answer)}
    assert chat["usageDetails"] == {**ZERO_DETAILS, **used, "total": used["input"] + used["output"]}
    # The wrapping `predict` span is an LLM span too, without token counts: Spyglass tokenizes its input and
    # output (reference §10.3), so its cost adds to the chat's. Its input renders a function address, so only
    # the output's count is stable.
    predict = observations["OpenAI.predict"]
    assert predict["model"] == MODEL
    assert predict["output"] == answer
    assert predict["usageDetails"]["output"] == 42 and predict["usageDetails"]["input"] > 0
    assert predict["usageDetails"]["total"] == predict["usageDetails"]["input"] + 42


def weather(city: str) -> str:
    """Current weather of a city."""
    return f"Sunny in {city}"


def test_tool_call_reaches_the_generation(llm: OpenAI, http: httpx.Client, read_trace: ReadTrace) -> None:
    session_id = session()
    with using_attributes(session_id=session_id):
        response = llm.chat_with_tools([FunctionTool.from_defaults(fn=weather)],
                                       user_msg="What is the weather in Paris?")
    (selection,) = llm.get_tool_calls_from_response(response)
    assert (selection.tool_name, selection.tool_kwargs) == ("weather", {"city": "Paris"})

    trace = read_trace(find_trace(http, sessionId=session_id, name="OpenAI.chat")["id"], observations=1)
    (generation,) = trace["observations"]
    assert generation["usageDetails"] == {**ZERO_DETAILS, "input": 6, "output": 3, "total": 9}
    assert generation["input"] == [{"role": "user", "content": "What is the weather in Paris?"}]
    assert generation["output"] == {"role": "assistant", "content": None, "tool_calls": [{
        "id": selection.tool_id, "type": "function",
        "function": {"name": "weather", "arguments": json.dumps({"city": "Paris"})}}]}


def test_readme_snippet(server: SpyglassServer, fake_openai: FakeOpenAI, read_trace: ReadTrace,
                        fresh_project: tuple[Keys, httpx.Client]) -> None:
    keys, client = fresh_project
    env = client_env(server, fake_openai, keys)
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"{server.base_url}/api/public/otel",
               OTEL_EXPORTER_OTLP_HEADERS="Authorization=" + basic_auth(*keys.auth).replace(" ", "%20"),
               OPENAI_API_BASE=fake_openai.base_url)  # llama-index's name for the provider's URL
    printed = run_snippet("llamaindex.py", env)
    assert printed.startswith("Echo: Context information is below.")

    trace = read_trace(find_trace(client, name="RetrieverQueryEngine.query")["id"], observations=14, client=client)
    assert (trace["input"], trace["output"]) == ("What do otters do while they sleep?", printed.removesuffix("\n"))
    observations = by_name([o for o in trace["observations"] if o["type"] != "CHAIN"])
    retrieved = observations["VectorIndexRetriever.retrieve"]["metadata"]["attributes"]
    assert retrieved["retrieval.documents.0.document.content"] == "Sea otters hold hands while they sleep."
    chat = observations["OpenAI.chat"]
    assert (chat["type"], chat["model"]) == ("GENERATION", MODEL)
    assert chat["usageDetails"]["output"] == len(printed.split())
    # Building the index made two more traces: splitting the documents and embedding them.
    names = sorted(t["name"] for t in client.get("/api/public/traces").json()["data"] if t["name"] != "barrier")
    assert names == ["OpenAIEmbedding.get_text_embedding_batch", "RetrieverQueryEngine.query",
                     "SentenceSplitter.__call__"]
