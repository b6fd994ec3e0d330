"""The Langfuse JS/TS SDKs from npm against a live server, read back through the public API.

Each test runs a real Node 20 script from tests/js (`langfuse` v3: batch ingestion;
`@langfuse/tracing` + `@langfuse/otel` + `@langfuse/client` v5: OTLP/JSON and the REST client)
with the server's keys in the environment and a fresh run id, then asserts what a user reads back.
The scripts also report every HTTP exchange the SDK made, so a status the SDK would only log
(it never raises on a failed export) still fails the test. The copy-paste snippets of
docs/integrations/ run unchanged, from where they are.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.api.builders import uid
from tests.support.server import wait_until

JS_DIR = Path(__file__).resolve().parents[1] / "js"
V3 = JS_DIR / "langfuse_v3.mjs"
V5 = JS_DIR / "langfuse_v5.mjs"
DOCS = JS_DIR.parents[1] / "docs" / "integrations"
READ_TIMEOUT = 30.0
INGESTION = "/api/public/ingestion"
OTLP = "/api/public/otel/v1/traces"

# What the scripts send (tests/js/*.mjs), to compare with what comes back.
QUESTION = [
    {"role": "system", "content": "You answer in one word."},
    {"role": "user", "content": "Capital of France?"},
]
MESSAGES = [
    {"role": "system", "content": "You are a weather assistant."},
    {"role": "user", "content": "Weather in Paris?"},
]
TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature_c":18}'}


# --------------------------------------------------------------------------------------------
# Helpers


def exchanges(out: dict[str, Any]) -> Counter[tuple[str, str, int | None]]:
    """(method, path, status) of every request the SDK made, counted; no transport error, no rejected event."""
    assert all(e["error"] is None for e in out["exchanges"]), out["exchanges"]
    assert out["rejected"] == [], out["rejected"]
    return Counter((e["method"], e["path"], e["status"]) for e in out["exchanges"])


def read_trace(http: httpx.Client, trace_id: str, observations: int, scores: int = 0) -> dict[str, Any]:
    """Poll GET /api/public/traces/{id} until it has this many observations and scores."""
    last: dict[str, Any] = {}

    def ready() -> dict[str, Any] | None:
        response = http.get(f"/api/public/traces/{trace_id}")
        if response.status_code != 200:
            return None
        last["body"] = body = response.json()
        return body if (len(body["observations"]), len(body["scores"])) == (observations, scores) else None

    try:
        return wait_until(ready, READ_TIMEOUT)
    except AssertionError:
        raise AssertionError(f"trace {trace_id}: want {observations} observations / {scores} scores, "
                             f"last read: {last.get('body')}") from None


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def create_prompts(http: httpx.Client, run: str) -> dict[str, dict[str, Any]]:
    """text-<run> v1 (production) and v2 (staging), chat-<run> v1 (production), through the REST API."""
    bodies = {
        "text-1": {"name": f"text-{run}", "type": "text", "prompt": "What is the capital of {{city}}?",
                   "labels": ["production"], "config": {"temperature": 0.1}, "tags": ["geo"]},
        "text-2": {"name": f"text-{run}", "type": "text", "prompt": "Name the capital near {{city}}.",
                   "labels": ["staging"]},
        "chat-1": {"name": f"chat-{run}", "type": "chat", "labels": ["production"],
                   "prompt": [{"role": "system", "content": "You are a guide."},
                              {"role": "user", "content": "Tell me about {{city}}."}]},
    }
    created = {}
    for key, body in bodies.items():
        response = http.post("/api/public/v2/prompts", json=body)
        assert response.status_code == 201, response.text
        created[key] = response.json()
    return created


def assert_fetched_prompts(out: dict[str, Any], run: str) -> None:
    """What getPrompt returned (by label, by version, chat) and what compile() made of it."""
    text_v2 = {"name": f"text-{run}", "version": 2, "prompt": "Name the capital near {{city}}.", "config": {},
               "labels": ["staging", "latest"], "tags": ["geo"], "isFallback": False,
               "compiled": "Name the capital near Paris."}
    assert out["production"] == {
        "name": f"text-{run}", "version": 1, "prompt": "What is the capital of {{city}}?",
        "config": {"temperature": 0.1}, "labels": ["production"], "tags": ["geo"], "isFallback": False,
        "compiled": "What is the capital of Paris?",
    }
    assert out["staging"] == text_v2
    assert out["second"] == text_v2
    # The SDKs mark plain chat messages as {"type": "chatmessage"} on their side.
    assert out["chat"] == {
        "name": f"chat-{run}", "version": 1,
        "prompt": [{"type": "chatmessage", "role": "system", "content": "You are a guide."},
                   {"type": "chatmessage", "role": "user", "content": "Tell me about {{city}}."}],
        "config": {}, "labels": ["production", "latest"], "tags": [], "isFallback": False,
        "compiled": [{"role": "system", "content": "You are a guide."},
                     {"role": "user", "content": "Tell me about Lyon."}],
    }


def prompt_gets(run: str) -> Counter[tuple[str, str, int | None]]:
    return Counter({
        ("GET", f"/api/public/v2/prompts/text-{run}", 200): 1,
        ("GET", f"/api/public/v2/prompts/text-{run}?label=staging", 200): 1,
        ("GET", f"/api/public/v2/prompts/text-{run}?version=2", 200): 1,
        ("GET", f"/api/public/v2/prompts/chat-{run}", 200): 1,
    })


def assert_prompt_link(http: httpx.Client, out: dict[str, Any], observations: int, run: str, prompt_id: str) -> None:
    """The generation that was given the fetched chat prompt is linked to that prompt version."""
    trace = read_trace(http, out["traceId"], observations=observations)
    generation = by_id(trace["observations"])[out["generationId"]]
    assert (generation["type"], generation["promptName"], generation["promptVersion"], generation["promptId"]) == (
        "GENERATION", f"chat-{run}", 1, prompt_id)
    assert generation["input"] == [{"role": "system", "content": "You are a guide."},
                                   {"role": "user", "content": "Tell me about Lyon."}]
    assert generation["output"] == "Lyon is in France."


def item(item_id: str, dataset: str, country: str, capital: str, metadata: Any = None) -> dict[str, Any]:
    return {"id": item_id, "datasetName": dataset, "input": {"country": country},
            "expectedOutput": {"capital": capital}, "metadata": metadata, "status": "ACTIVE"}


def assert_dataset(http: httpx.Client, out: dict[str, Any], name: str, run: str) -> None:
    """The dataset as the REST API returns it matches what the SDK created and read back."""
    dataset = http.get(f"/api/public/v2/datasets/{name}").json()
    assert (dataset["id"], dataset["name"], dataset["description"], dataset["metadata"]) == (
        out["createdId"], name, "capitals", {"run": run})
    assert {k: out["dataset"][k] for k in ("id", "name", "description", "metadata")} == {
        "id": out["createdId"], "name": name, "description": "capitals", "metadata": {"run": run}}


# --------------------------------------------------------------------------------------------
# langfuse v3: batch ingestion


def test_v3_trace_with_nested_generations_event_and_scores(run_node, http: httpx.Client) -> None:
    run = uid()
    out = run_node(V3, "trace", env={"SPYGLASS_RUN_ID": run})
    assert exchanges(out) == Counter({("POST", INGESTION, 207): 1})
    trace = read_trace(http, out["traceId"], observations=4, scores=2)

    assert {k: trace[k] for k in ("id", "name", "userId", "sessionId", "tags", "release", "version",
                                  "environment", "input", "output", "metadata")} == {
        "id": f"v3-trace-{run}", "name": f"js-v3-{run}", "userId": f"user-{run}", "sessionId": f"session-{run}",
        "tags": ["js", "v3"], "release": "r-7", "version": "v-3", "environment": "default",
        "input": {"question": "Capital of France?"}, "output": {"answer": "Paris"},
        "metadata": {"run": run, "sdk": "langfuse-v3"},
    }
    observations = by_id(trace["observations"])
    span, draft, answer, event = (observations[out[k]] for k in ("spanId", "draftId", "answerId", "eventId"))
    assert (span["type"], span["name"], span["parentObservationId"]) == ("SPAN", "retrieve", None)
    assert (span["input"], span["output"]) == ({"query": "france capital"}, {"documents": 2})
    for generation in (draft, answer):
        assert (generation["type"], generation["parentObservationId"], generation["input"]) == (
            "GENERATION", span["id"], QUESTION)
    assert (draft["name"], draft["model"], draft["modelParameters"]) == (
        "draft", "gpt-4o-mini", {"temperature": 0.2, "max_tokens": 64})
    assert draft["output"] == {"role": "assistant", "content": "Paris?"}
    # OpenAI-style `usage` becomes input/output/total.
    assert draft["usageDetails"] == {"input": 21, "output": 3, "total": 24}
    assert (draft["promptTokens"], draft["completionTokens"], draft["totalTokens"]) == (21, 3, 24)
    assert (answer["name"], answer["model"], answer["output"]) == (
        "answer", "gpt-4o", {"role": "assistant", "content": "Paris"})
    assert answer["usageDetails"] == {"input": 30, "output": 2, "total": 32, "input_cached_tokens": 8}
    assert answer["completionStartTime"] == out["firstToken"]
    assert (event["type"], event["name"], event["parentObservationId"], event["level"], event["input"]) == (
        "EVENT", "cache-miss", span["id"], "WARNING", {"key": "france"})

    scores = by_id(trace["scores"])
    quality, tone = scores[out["scoreIds"]["quality"]], scores[out["scoreIds"]["tone"]]
    assert {k: quality[k] for k in ("name", "value", "stringValue", "dataType", "comment", "observationId")} == {
        "name": "quality", "value": 0.9, "stringValue": None, "dataType": "NUMERIC", "comment": "good",
        "observationId": None}
    assert {k: tone[k] for k in ("name", "stringValue", "dataType", "traceId", "observationId")} == {
        "name": "tone", "stringValue": "neutral", "dataType": "CATEGORICAL", "traceId": trace["id"],
        "observationId": answer["id"]}


def test_v3_get_prompt_text_and_chat_with_compile_and_prompt_link(run_node, http: httpx.Client) -> None:
    run = uid()
    created = create_prompts(http, run)
    out = run_node(V3, "prompts", env={"SPYGLASS_RUN_ID": run})
    assert exchanges(out) == prompt_gets(run) + Counter({("POST", INGESTION, 207): 1})
    assert_fetched_prompts(out, run)
    assert_prompt_link(http, out, 1, run, created["chat-1"]["id"])


def test_v3_dataset_items_created_read_back_and_linked_to_a_run(run_node, http: httpx.Client) -> None:
    run = uid()
    name = f"js-v3-dataset-{run}"
    out = run_node(V3, "datasets", env={"SPYGLASS_RUN_ID": run})
    assert exchanges(out) == Counter({
        ("POST", "/api/public/datasets", 200): 1,
        ("POST", "/api/public/dataset-items", 200): 2,
        ("GET", f"/api/public/v2/datasets/{name}", 200): 1,
        ("GET", f"/api/public/dataset-items?datasetName={name}&limit=50&page=1", 200): 1,
        ("POST", INGESTION, 207): 1,  # link() flushes the task trace first
        ("POST", "/api/public/dataset-run-items", 200): 1,
    })
    assert_dataset(http, out, name, run)
    # getDataset lists the ACTIVE items only; the archived one is still readable by id.
    assert out["dataset"]["items"] == [item(f"v3-item-a-{run}", name, "France", "Paris", {"difficulty": "easy"})]
    archived = http.get(f"/api/public/dataset-items/v3-item-b-{run}").json()
    assert (archived["status"], archived["input"], archived["datasetName"]) == ("ARCHIVED", {"country": "Peru"}, name)

    linked_trace = f"v3-run-v3-item-a-{run}"
    assert out["linked"] == [{"itemId": f"v3-item-a-{run}", "traceId": linked_trace}]
    dataset_run = http.get(f"/api/public/datasets/{name}/runs/{out['runName']}").json()
    assert (dataset_run["name"], dataset_run["description"], dataset_run["datasetId"]) == (
        out["runName"], "v3 run", out["createdId"])
    assert [(i["datasetItemId"], i["traceId"], i["observationId"]) for i in dataset_run["datasetRunItems"]] == [
        (f"v3-item-a-{run}", linked_trace, None)]
    task = read_trace(http, linked_trace, observations=0)
    assert (task["name"], task["input"], task["output"]) == (
        "capital-task", {"country": "France"}, {"capital": "Paris"})


# --------------------------------------------------------------------------------------------
# @langfuse/tracing + @langfuse/otel + @langfuse/client v5: OTLP/JSON


def assert_v5_observations(observations: dict[str, dict[str, Any]], out: dict[str, Any]) -> dict[str, Any]:
    """The v5 trace scenario's five observations: types, nesting, IO, model, usage. Returns the first generation."""
    root, plan, generation, tool, answer = (observations[out[k]] for k in ("root", "plan", "generation", "tool",
                                                                           "answer"))
    assert all(re.fullmatch(r"[0-9a-f]{16}", o["id"]) for o in observations.values())
    assert {o["environment"] for o in observations.values()} == {"staging"}
    assert {(o["name"], o["type"], o["parentObservationId"]) for o in observations.values()} == {
        ("agent-run", "SPAN", None), ("plan", "SPAN", root["id"]), ("llm-call", "GENERATION", plan["id"]),
        ("get_weather", "TOOL", root["id"]), ("answer", "GENERATION", root["id"])}
    assert (root["input"], root["output"]) == ({"question": "Weather in Paris?"}, {"answer": "18°C and clear."})
    assert (plan["input"], plan["output"]) == ({"goal": "weather"}, {"steps": 1})
    # One OTel attribute per top-level key, each a string on the wire; read back with its JSON type.
    assert {k: v for k, v in plan["metadata"].items() if k not in ("resourceAttributes", "scope")} == {
        "source": "api", "attempt": 2, "nested": {"a": 1}}
    assert (generation["model"], generation["modelParameters"]) == (
        "gpt-4o-mini", {"temperature": 0, "max_tokens": 128})
    assert (generation["input"], generation["output"]) == (MESSAGES, TOOL_CALL)
    assert generation["usageDetails"] == {"input": 31, "output": 9, "total": 40}
    assert (tool["input"], tool["output"]) == ({"city": "Paris"}, {"temperature_c": 18, "sky": "clear"})
    assert (tool["level"], tool["statusMessage"]) == ("WARNING", "slow upstream")
    assert answer["model"] == "gpt-4o"
    assert answer["input"] == [*MESSAGES, TOOL_CALL, TOOL_RESULT]
    assert answer["output"] == {"role": "assistant", "content": "18°C and clear."}
    assert answer["usageDetails"] == {"input": 52, "output": 7, "total": 59, "input_cached_tokens": 16}
    assert answer["completionStartTime"] == out["firstToken"]
    return generation


def test_v5_nested_observations_trace_attributes_and_scores(run_node, http: httpx.Client) -> None:
    run = uid()
    out = run_node(V5, "trace", env={"SPYGLASS_RUN_ID": run, "LANGFUSE_TRACING_ENVIRONMENT": "staging",
                                     "LANGFUSE_RELEASE": "rel-5"})
    calls = exchanges(out)
    assert calls[("POST", INGESTION, 207)] == 1  # the three scores, one batch
    assert {status for (_, path, status) in calls if path == OTLP} == {200}, calls
    assert re.fullmatch(r"[0-9a-f]{32}", out["traceId"])
    trace = read_trace(http, out["traceId"], observations=5, scores=3)

    assert {k: trace[k] for k in ("name", "userId", "sessionId", "tags", "release", "version", "environment",
                                  "input", "output")} == {
        "name": f"js-v5-{run}", "userId": f"user-{run}", "sessionId": f"session-{run}", "tags": ["js", "v5"],
        "release": "rel-5", "version": "v-5", "environment": "staging",
        "input": {"question": "Weather in Paris?"}, "output": {"answer": "18°C and clear."},
    }
    assert trace["metadata"]["run"] == run
    generation = assert_v5_observations(by_id(trace["observations"]), out)

    scores = {s["name"]: s for s in trace["scores"]}
    fields = ("value", "stringValue", "dataType", "observationId", "environment", "comment")
    assert {name: tuple(s[k] for k in fields) for name, s in scores.items()} == {
        "accuracy": (0.75, None, "NUMERIC", generation["id"], "staging", "ok"),
        "verdict": (0, "correct", "CATEGORICAL", None, "staging", None),
        "helpful": (1, "True", "BOOLEAN", None, "staging", None),
    }


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_v5_many_spans_are_exported_in_several_requests(run_node, http: httpx.Client, compression: str) -> None:
    run, children, flush_at = uid(), 24, 5
    out = run_node(V5, "chunked", env={"SPYGLASS_RUN_ID": run, "LANGFUSE_FLUSH_AT": str(flush_at),
                                       "SPYGLASS_SPAN_COUNT": str(children),
                                       "OTEL_EXPORTER_OTLP_COMPRESSION": compression})
    calls = exchanges(out)
    assert set(calls) == {("POST", OTLP, 200)}, calls
    # At most LANGFUSE_FLUSH_AT spans per request; the root ends last, so it comes in a later request
    # than most of its children.
    assert calls[("POST", OTLP, 200)] >= math.ceil((children + 1) / flush_at)
    trace = read_trace(http, out["traceId"], observations=children + 1)
    assert trace["name"] == f"js-v5-chunked-{run}"
    observations = by_id(trace["observations"])
    assert observations[out["root"]]["parentObservationId"] is None
    assert sorted(out["children"]) == sorted(set(observations) - {out["root"]})
    for index, child_id in enumerate(out["children"]):
        child = observations[child_id]
        assert (child["name"], child["type"], child["parentObservationId"]) == (f"step-{index}", "SPAN", out["root"])
        assert (child["input"], child["output"]) == ({"i": index}, {"square": index * index})


def test_v5_prompts_get_compile_create_and_link(run_node, http: httpx.Client) -> None:
    run = uid()
    created = create_prompts(http, run)
    out = run_node(V5, "prompts", env={"SPYGLASS_RUN_ID": run})
    calls = exchanges(out)
    assert {k: v for k, v in calls.items() if k[1] != OTLP} == prompt_gets(run) + Counter({
        ("POST", "/api/public/v2/prompts", 201): 1, ("GET", f"/api/public/v2/prompts/placeholder-{run}", 200): 1})
    assert {status for (_, path, status) in calls if path == OTLP} == {200}, calls
    assert_fetched_prompts(out, run)
    assert_prompt_link(http, out, 2, run, created["chat-1"]["id"])  # under a root span

    # A chat prompt with a placeholder, created through the SDK.
    assert out["createdVersion"] == 1
    stored = http.get(f"/api/public/v2/prompts/placeholder-{run}").json()
    assert (stored["prompt"], stored["config"], stored["labels"]) == (
        [{"role": "system", "content": "Answer about {{topic}}."}, {"type": "placeholder", "name": "history"}],
        {"model": "gpt-4o"}, ["production", "latest"])
    assert out["placeholder"]["compiled"] == [{"role": "system", "content": "Answer about weather."},
                                              {"role": "user", "content": "And in winter?"}]


def test_v5_dataset_items_created_and_read_back_page_by_page(run_node, http: httpx.Client) -> None:
    run = uid()
    name = f"js-v5-dataset-{run}"
    out = run_node(V5, "datasets", env={"SPYGLASS_RUN_ID": run})
    assert exchanges(out) == Counter({
        ("POST", "/api/public/v2/datasets", 200): 1,
        ("POST", "/api/public/dataset-items", 200): 3,
        ("GET", f"/api/public/v2/datasets/{name}", 200): 1,
        # fetchItemsPageSize 1 and two ACTIVE items: two pages.
        ("GET", f"/api/public/dataset-items?datasetName={name}&page=1&limit=1", 200): 1,
        ("GET", f"/api/public/dataset-items?datasetName={name}&page=2&limit=1", 200): 1,
    })
    assert_dataset(http, out, name, run)
    assert sorted(out["dataset"]["items"], key=lambda i: i["id"]) == [
        item(f"v5-item-a-{run}", name, "Japan", "Tokyo", {"difficulty": "easy"}),
        item(f"v5-item-b-{run}", name, "Chile", "Santiago"),
    ]
    listed = http.get("/api/public/dataset-items", params={"datasetName": name}).json()
    assert sorted(i["id"] for i in listed["data"]) == [f"v5-item-a-{run}", f"v5-item-b-{run}"]
    archived = http.get(f"/api/public/dataset-items/v5-item-c-{run}").json()
    assert (archived["status"], archived["expectedOutput"]) == ("ARCHIVED", {"capital": "Bamako"})


# --------------------------------------------------------------------------------------------
# The README snippets (docs/integrations/js-v*.mjs), run unchanged


@pytest.mark.parametrize(("snippet", "endpoint", "status"), [("js-v3.mjs", INGESTION, 207), ("js-v5.mjs", OTLP, 200)])
def test_readme_snippet_runs_unchanged(run_node, http: httpx.Client, snippet: str, endpoint: str,
                                       status: int) -> None:
    out = run_node(DOCS / snippet, preload=True)
    assert exchanges(out) == Counter({("POST", endpoint, status): 1})
    printed = re.search(r"^trace (\S+)$", out["stdout"], re.MULTILINE)
    assert printed, out["stdout"]
    name = snippet.removesuffix(".mjs") + "-quickstart"
    trace = read_trace(http, printed.group(1), observations=1 if snippet == "js-v3.mjs" else 2)
    assert trace["name"] == name
    generation = next(o for o in trace["observations"] if o["type"] == "GENERATION")
    assert (generation["name"], generation["model"], generation["usageDetails"]) == (
        "llm-call", "gpt-4o-mini", {"input": 14, "output": 1, "total": 15})
    assert generation["input"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert generation["output"] == {"role": "assistant", "content": "Paris"}
    if snippet == "js-v5.mjs":
        root = next(o for o in trace["observations"] if o["type"] == "SPAN")
        assert generation["parentObservationId"] == root["id"]
        assert (trace["input"], trace["output"]) == ("What is the capital of France?", "Paris")
