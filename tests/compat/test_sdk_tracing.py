"""Tracing through the real `langfuse` Python SDK (4.x and 5.x), read back the way a user would.

Every test drives the SDK's public tracing API (OTLP export to the server), then reads the
result through the SDK's generated API client where the installed major still has the method,
and through raw HTTP where exact JSON keys matter (and where 5.x removed the legacy reads).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from langfuse import Langfuse, observe, propagate_attributes
from langfuse import __version__ as SDK_VERSION
from langfuse.api import NotFoundError, UnauthorizedError
from tests.support.server import Keys, SpyglassServer, wait_until

SDK_MAJOR = int(SDK_VERSION.split(".")[0])
# 5.x removed api.trace.get/list, api.sessions.* and the trace IO setters; these reads go through
# raw HTTP there and the trace IO comes from the root observation.
LEGACY_READS = SDK_MAJOR < 5

ReadTrace = Callable[..., dict[str, Any]]


def by_name(observations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in observations}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def sdk_observations(langfuse: Langfuse, trace_id: str, fields: str = "core,basic") -> dict[str, Any]:
    """Observations of a trace via the generated client (`GET /api/public/v2/observations`), by name."""
    response = langfuse.api.observations.get_many(trace_id=trace_id, fields=fields, limit=100)
    assert all(o.trace_id == trace_id for o in response.data)
    return {o.name: o for o in response.data}


def raw_io(value: Any) -> Any:
    """v2 observations return input/output as the raw stored string; decode it for comparison."""
    return json.loads(value) if isinstance(value, str) else value


# --------------------------------------------------------------------------------------------
# Auth and URLs


def test_auth_check_and_trace_url(langfuse: Langfuse, server: SpyglassServer) -> None:
    assert langfuse.auth_check() is True
    trace_id = langfuse.create_trace_id()
    assert langfuse.get_trace_url(trace_id=trace_id) == (
        f"{server.base_url}/project/{server.keys.project_id}/traces/{trace_id}"
    )


def test_auth_check_with_wrong_secret_raises(make_langfuse: Callable[..., Langfuse], server: SpyglassServer) -> None:
    wrong = Keys(server.keys.project_id, server.keys.public_key, "sk-lf-not-the-secret")
    with pytest.raises(UnauthorizedError):
        make_langfuse(wrong).auth_check()


# --------------------------------------------------------------------------------------------
# Nested observations of every type


def test_nested_observation_types_and_parents(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    with langfuse.start_as_current_observation(name="root", input="start") as root:
        with langfuse.start_as_current_observation(name="agent", as_type="agent"):
            with langfuse.start_as_current_observation(name="chain", as_type="chain"):
                retriever = langfuse.start_observation(name="retriever", as_type="retriever", input={"query": "q"})
                retriever.update(output=[{"doc": 1}])
                retriever.end()
                with langfuse.start_as_current_observation(
                    name="embedding", as_type="embedding", model="text-embedding-3-small"
                ):
                    pass
            with langfuse.start_as_current_observation(name="generation", as_type="generation", model="gpt-4o") as gen:
                tool = gen.start_observation(name="tool", as_type="tool", input={"x": 1})
                tool.update(output={"y": 2})
                tool.end()
                gen.update(output="done")
        root.start_observation(name="guardrail", as_type="guardrail", output={"allowed": True}).end()
        with root.start_as_current_observation(name="evaluator", as_type="evaluator"):
            pass
        langfuse.create_event(name="event", input="something happened")
        root.update(output="finished")
        trace_id, root_id = root.trace_id, root.id
    langfuse.flush()

    trace = read_trace(trace_id, observations=10)
    obs = by_name(trace["observations"])
    expected_types = {
        "root": "SPAN", "agent": "AGENT", "chain": "CHAIN", "retriever": "RETRIEVER", "embedding": "EMBEDDING",
        "generation": "GENERATION", "tool": "TOOL", "guardrail": "GUARDRAIL", "evaluator": "EVALUATOR",
        "event": "EVENT",
    }
    assert {name: o["type"] for name, o in obs.items()} == expected_types
    ids = {name: o["id"] for name, o in obs.items()}
    expected_parents = {
        "root": None, "agent": "root", "chain": "agent", "retriever": "chain", "embedding": "chain",
        "generation": "agent", "tool": "generation", "guardrail": "root", "evaluator": "root", "event": "root",
    }
    assert {name: o["parentObservationId"] for name, o in obs.items()} == {
        name: (ids[parent] if parent else None) for name, parent in expected_parents.items()
    }
    assert ids["root"] == root_id
    assert all(o["traceId"] == trace_id for o in trace["observations"])
    assert obs["embedding"]["model"] == "text-embedding-3-small"
    assert obs["retriever"]["input"] == {"query": "q"} and obs["retriever"]["output"] == [{"doc": 1}]
    assert obs["tool"]["input"] == {"x": 1} and obs["tool"]["output"] == {"y": 2}
    assert obs["event"]["input"] == "something happened"
    # Trace name and IO fall back to the root observation.
    assert trace["name"] == "root"
    assert trace["input"] == "start" and trace["output"] == "finished"

    v2 = sdk_observations(langfuse, trace_id)
    assert {name: o.type for name, o in v2.items()} == expected_types
    assert {name: o.parent_observation_id for name, o in v2.items()} == {
        name: o["parentObservationId"] for name, o in obs.items()
    }
    if LEGACY_READS:
        model = langfuse.api.trace.get(trace_id)
        assert model.id == trace_id and model.name == "root"
        assert {o.name: (o.type, o.parent_observation_id) for o in model.observations} == {
            name: (o["type"], o["parentObservationId"]) for name, o in obs.items()
        }


# --------------------------------------------------------------------------------------------
# Generation fields


def test_generation_fields_round_trip(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    completion_start = datetime(2024, 1, 1, 12, 3, 4, 567000, tzinfo=UTC)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    with langfuse.start_as_current_observation(name="gen-root") as root:
        generation = root.start_observation(
            name="llm-call",
            as_type="generation",
            model="gpt-4o",
            model_parameters={"temperature": 0.7, "max_tokens": 256, "response_format": "json"},
            input=messages,
            output={"role": "assistant", "content": "hello"},
            metadata={"count": 3, "interface": "whatsapp", "nested": {"deep": {"flag": True}, "items": [1, 2]},
                      "ratio": 0.25},
            usage_details={"input": 51, "output": 0, "total": 100},
            cost_details={"input": 111, "output": 222, "total": 444},
            completion_start_time=completion_start,
            version="gen-v1",
            level="ERROR",
            status_message="rate limited",
        )
        generation.end()
        trace_id, generation_id = root.trace_id, generation.id
    langfuse.flush()

    trace = read_trace(trace_id, observations=2)
    gen = by_name(trace["observations"])["llm-call"]
    assert gen["id"] == generation_id
    assert gen["type"] == "GENERATION"
    assert gen["model"] == "gpt-4o"
    assert gen["modelParameters"] == {"temperature": 0.7, "max_tokens": 256, "response_format": "json"}
    assert gen["input"] == messages
    assert gen["output"] == {"role": "assistant", "content": "hello"}
    assert gen["metadata"]["count"] == 3
    assert gen["metadata"]["interface"] == "whatsapp"
    assert gen["metadata"]["nested"] == {"deep": {"flag": True}, "items": [1, 2]}
    assert gen["metadata"]["ratio"] == 0.25
    assert gen["usageDetails"] == {"input": 51, "output": 0, "total": 100}
    assert gen["usage"] == {"input": 51, "output": 0, "total": 100, "unit": "TOKENS"}
    assert gen["costDetails"] == {"input": 111, "output": 222, "total": 444}
    assert gen["calculatedInputCost"] == 111
    assert gen["calculatedOutputCost"] == 222
    assert gen["calculatedTotalCost"] == 444
    assert trace["totalCost"] == 444
    assert parse_time(gen["completionStartTime"]) == completion_start
    assert gen["version"] == "gen-v1"
    assert gen["level"] == "ERROR"
    assert gen["statusMessage"] == "rate limited"

    v2 = sdk_observations(langfuse, trace_id, "core,basic,time,io,metadata,model,usage")["llm-call"]
    assert v2.type == "GENERATION" and v2.level == "ERROR" and v2.status_message == "rate limited"
    assert v2.version == "gen-v1"
    assert v2.completion_start_time == completion_start
    assert v2.usage_details == {"input": 51, "output": 0, "total": 100}
    assert v2.cost_details == {"input": 111, "output": 222, "total": 444}
    assert v2.model_parameters == {"temperature": 0.7, "max_tokens": 256, "response_format": "json"}
    assert raw_io(v2.input) == messages

    if LEGACY_READS:
        model = next(o for o in langfuse.api.trace.get(trace_id).observations if o.name == "llm-call")
        assert model.completion_start_time == completion_start
        assert model.usage_details == {"input": 51, "output": 0, "total": 100}
        assert model.calculated_input_cost == 111
        assert model.calculated_output_cost == 222
        assert model.calculated_total_cost == 444
        assert model.model_parameters == {"temperature": 0.7, "max_tokens": 256, "response_format": "json"}
        assert model.metadata["count"] == 3 and model.metadata["nested"]["deep"] == {"flag": True}
        assert model.level == "ERROR" and model.status_message == "rate limited"


def test_v2_observation_model_name_through_sdk(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    with langfuse.start_as_current_observation(name="model-root") as root:
        root.start_observation(name="model-gen", as_type="generation", model="gpt-4o-mini").end()
        trace_id = root.trace_id
    langfuse.flush()
    read_trace(trace_id, observations=2)

    gen = sdk_observations(langfuse, trace_id, "core,basic,model")["model-gen"]
    # The generated model calls the field `providedModelName` in 4.x and `model` in 5.x.
    assert (gen.model if SDK_MAJOR >= 5 else gen.provided_model_name) == "gpt-4o-mini"


def test_usage_details_normalisation(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    with langfuse.start_as_current_observation(name="usage-root") as root:
        root.start_observation(
            name="partial-openai", as_type="generation", usage_details={"prompt_tokens": 10, "completion_tokens": 20}
        ).end()
        root.start_observation(
            name="openai-chat", as_type="generation",
            usage_details={"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 500},
        ).end()
        trace_id = root.trace_id
    langfuse.flush()

    obs = by_name(read_trace(trace_id, observations=3)["observations"])
    # Arbitrary keys are kept verbatim and a missing total is the sum of the provided values.
    assert obs["partial-openai"]["usageDetails"] == {"prompt_tokens": 10, "completion_tokens": 20, "total": 30}
    # Exactly the OpenAI chat-completion keys are converted to input/output/total.
    assert obs["openai-chat"]["usageDetails"] == {"input": 100, "output": 200, "total": 500}
    assert obs["openai-chat"]["usage"] == {"input": 100, "output": 200, "total": 500, "unit": "TOKENS"}

    if LEGACY_READS:
        models = {o.name: o for o in langfuse.api.trace.get(trace_id).observations}
        assert models["partial-openai"].usage_details == {"prompt_tokens": 10, "completion_tokens": 20, "total": 30}
        usage = models["openai-chat"].usage
        assert (usage.input, usage.output, usage.total, usage.unit) == (100, 200, 500, "TOKENS")


def test_cost_inferred_from_default_model_prices(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    with langfuse.start_as_current_observation(name="cost-root") as root:
        root.start_observation(
            name="priced-gpt-4o", as_type="generation", model="gpt-4o", usage_details={"input": 1000, "output": 500}
        ).end()
        root.start_observation(
            name="priced-gpt-35", as_type="generation", model="gpt-3.5-turbo",
            usage_details={"input": 150, "output": 50, "total": 300},
        ).end()
        trace_id = root.trace_id
    langfuse.flush()

    trace = read_trace(trace_id, observations=3)
    obs = by_name(trace["observations"])
    # Default model prices: gpt-4o input 2.5e-6 / output 1e-5, gpt-3.5-turbo 5e-7 / 1.5e-6 USD per token.
    gpt4o = obs["priced-gpt-4o"]
    assert gpt4o["usageDetails"] == {"input": 1000, "output": 500, "total": 1500}
    assert gpt4o["modelId"] is not None
    assert gpt4o["inputPrice"] == pytest.approx(2.5e-6) and gpt4o["outputPrice"] == pytest.approx(1e-5)
    assert gpt4o["costDetails"]["input"] == pytest.approx(0.0025)
    assert gpt4o["costDetails"]["output"] == pytest.approx(0.005)
    assert gpt4o["calculatedTotalCost"] == pytest.approx(0.0075)
    assert obs["priced-gpt-35"]["calculatedTotalCost"] == pytest.approx(150 * 5e-7 + 50 * 1.5e-6)
    assert trace["totalCost"] == pytest.approx(0.0075 + 150 * 5e-7 + 50 * 1.5e-6)

    if LEGACY_READS:
        models = {o.name: o for o in langfuse.api.trace.get(trace_id).observations}
        assert models["priced-gpt-35"].calculated_total_cost > 0


def test_input_output_round_trip(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    cases = {
        "dict": ({"question": "why?", "n": 2, "nested": {"ok": True, "none": None}}, {"answer": [1, 2.5, "x"]}),
        "list": ([{"role": "user", "content": "hi"}, "two", 3], ["a", {"b": None}]),
        "string": ("plain text, not JSON", "héllo wörld ✓"),
    }
    with langfuse.start_as_current_observation(name="io-root") as root:
        for name, (value_in, value_out) in cases.items():
            with langfuse.start_as_current_observation(name=name, input=value_in) as span:
                span.update(output=value_out)
        trace_id = root.trace_id
    langfuse.flush()

    obs = by_name(read_trace(trace_id, observations=4)["observations"])
    for name, (value_in, value_out) in cases.items():
        assert obs[name]["input"] == value_in, name
        assert obs[name]["output"] == value_out, name

    v2 = sdk_observations(langfuse, trace_id, "core,basic,io")
    for name, (value_in, value_out) in cases.items():
        # v2 returns the stored string: a plain string as is, anything else JSON-encoded.
        assert (v2[name].input if isinstance(value_in, str) else raw_io(v2[name].input)) == value_in, name
        assert (v2[name].output if isinstance(value_out, str) else raw_io(v2[name].output)) == value_out, name


# --------------------------------------------------------------------------------------------
# Trace-level attributes


def test_propagate_attributes_from_child_span(langfuse: Langfuse, read_trace: ReadTrace, http: httpx.Client) -> None:
    trace_name, session_id = unique("propagated-trace"), unique("session")
    with langfuse.start_as_current_observation(name="outer-span") as root:
        with propagate_attributes(tags=["zeta", "alpha"]):
            with langfuse.start_as_current_observation(name="child"):
                with propagate_attributes(
                    user_id="user-1", session_id=session_id, tags=["beta", "alpha"],
                    metadata={"tenant": "acme", "experiment": "e1"}, version="1.0", trace_name=trace_name,
                ):
                    with langfuse.start_as_current_observation(name="grandchild", as_type="generation"):
                        pass
        trace_id = root.trace_id
    langfuse.flush()

    trace = read_trace(trace_id, observations=3)
    assert trace["name"] == trace_name  # set on a child, not overwritten by the later root span
    assert trace["userId"] == "user-1"
    assert trace["sessionId"] == session_id
    assert trace["version"] == "1.0"
    assert trace["tags"] == ["alpha", "beta", "zeta"]
    assert trace["metadata"]["tenant"] == "acme"
    assert trace["metadata"]["experiment"] == "e1"
    assert trace["externalId"] is None
    assert trace["public"] is False
    obs = by_name(trace["observations"])
    assert obs["grandchild"]["version"] == "1.0"

    session = http.get(f"/api/public/sessions/{session_id}")
    assert session.status_code == 200, session.text
    assert [t["id"] for t in session.json()["traces"]] == [trace_id]

    if LEGACY_READS:
        model = langfuse.api.trace.get(trace_id)
        assert model.name == trace_name and model.user_id == "user-1" and model.session_id == session_id
        assert model.tags == ["alpha", "beta", "zeta"] and model.version == "1.0"
        assert model.metadata["tenant"] == "acme"


@pytest.mark.filterwarnings("ignore:Trace-level input/output is deprecated:DeprecationWarning")
def test_trace_input_output(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    with langfuse.start_as_current_observation(name="trace-io-root", input="root-input") as root:
        with langfuse.start_as_current_observation(name="child", input="child-input"):
            if SDK_MAJOR < 5:
                langfuse.set_current_trace_io(input={"key": "value"}, output="output-value")
        if SDK_MAJOR >= 5:  # 5.x removed the setters: trace IO is the root observation's IO
            root.update(input={"key": "value"}, output="output-value")
        trace_id = root.trace_id
    langfuse.flush()

    trace = read_trace(trace_id, observations=2)
    assert trace["input"] == {"key": "value"}
    assert trace["output"] == "output-value"
    if LEGACY_READS:
        model = langfuse.api.trace.get(trace_id)
        assert model.input == {"key": "value"} and model.output == "output-value"


def test_update_current_span_and_generation(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    completion_start = datetime(2025, 6, 1, 8, 0, 0, 250000, tzinfo=UTC)
    with langfuse.start_as_current_observation(name="span-initial") as root:
        langfuse.update_current_span(
            name="span-renamed", input={"step": 1}, output="span-out", metadata={"attempt": 2, "phase": "plan"},
            version="span-v2", level="WARNING", status_message="slow",
        )
        with langfuse.start_as_current_observation(name="gen", as_type="generation"):
            langfuse.update_current_generation(
                model="gpt-4o-mini", model_parameters={"temperature": 0}, input=[{"role": "user", "content": "q"}],
                output={"answer": 42}, usage_details={"input": 5, "output": 7}, cost_details={"total": 0.5},
                completion_start_time=completion_start, metadata={"retries": 1}, version="gen-v3",
            )
        trace_id = root.trace_id
    langfuse.flush()

    trace = read_trace(trace_id, observations=2)
    obs = by_name(trace["observations"])
    span = obs["span-renamed"]
    assert span["input"] == {"step": 1} and span["output"] == "span-out"
    assert span["metadata"]["attempt"] == 2 and span["metadata"]["phase"] == "plan"
    assert span["version"] == "span-v2"
    assert span["level"] == "WARNING" and span["statusMessage"] == "slow"
    assert trace["name"] == "span-renamed"
    gen = obs["gen"]
    assert gen["type"] == "GENERATION"
    assert gen["model"] == "gpt-4o-mini"
    assert gen["modelParameters"] == {"temperature": 0}
    assert gen["input"] == [{"role": "user", "content": "q"}] and gen["output"] == {"answer": 42}
    assert gen["usageDetails"] == {"input": 5, "output": 7, "total": 12}
    assert gen["costDetails"] == {"total": 0.5}
    assert gen["calculatedTotalCost"] == 0.5
    assert parse_time(gen["completionStartTime"]) == completion_start
    assert gen["metadata"]["retries"] == 1
    assert gen["version"] == "gen-v3"
    assert gen["parentObservationId"] == span["id"]


# --------------------------------------------------------------------------------------------
# @observe


def test_observe_nesting_and_forced_trace_id(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    @observe(name="level-3", as_type="tool")
    def level_3(x: int) -> int:
        return x * 2

    @observe()
    def level_2(x: int) -> int:
        return level_3(x) + 1

    @observe(name="level-1")
    def level_1(x: int) -> dict[str, int]:
        return {"result": level_2(x)}

    trace_id = langfuse.create_trace_id()
    assert level_1(5, langfuse_trace_id=trace_id) == {"result": 11}
    langfuse.flush()

    obs = by_name(read_trace(trace_id, observations=3)["observations"])
    assert set(obs) == {"level-1", "level_2", "level-3"}
    # A forced trace id makes the SDK start a root with a made-up remote parent span id (upstream
    # keeps it too), so the root's parent is not an observation of the trace.
    assert obs["level-1"]["parentObservationId"] not in {o["id"] for o in obs.values()}
    assert obs["level_2"]["parentObservationId"] == obs["level-1"]["id"]
    assert obs["level-3"]["parentObservationId"] == obs["level_2"]["id"]
    assert obs["level-3"]["type"] == "TOOL"
    assert obs["level-1"]["input"] == {"args": [5], "kwargs": {}}
    assert obs["level-1"]["output"] == {"result": 11}
    assert obs["level-3"]["output"] == 10


def test_observe_exception_sets_error_level(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    @observe(name="failing")
    def failing() -> None:
        raise ValueError("boom: something broke")

    @observe(name="outer")
    def outer() -> str:
        with pytest.raises(ValueError):
            failing()
        return "recovered"

    trace_id = langfuse.create_trace_id()
    assert outer(langfuse_trace_id=trace_id) == "recovered"
    langfuse.flush()

    obs = by_name(read_trace(trace_id, observations=2)["observations"])
    assert obs["failing"]["level"] == "ERROR"
    assert obs["failing"]["statusMessage"] == "boom: something broke"
    assert obs["outer"]["level"] == "DEFAULT"
    assert obs["outer"]["statusMessage"] is None
    assert obs["outer"]["output"] == "recovered"


def test_observe_generator_output(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    @observe(name="stream")
    def stream() -> Any:
        yield from ["Hel", "lo", " world"]

    @observe(name="consumer")
    def consumer() -> str:
        return "".join(stream())

    trace_id = langfuse.create_trace_id()
    assert consumer(langfuse_trace_id=trace_id) == "Hello world"
    langfuse.flush()

    obs = by_name(read_trace(trace_id, observations=2)["observations"])
    assert obs["stream"]["output"] == "Hello world"
    assert obs["stream"]["parentObservationId"] == obs["consumer"]["id"]


# --------------------------------------------------------------------------------------------
# Lists and pagination


def test_trace_list_by_name_with_pagination(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("listed")
    trace_ids = set()
    for i in range(3):
        with langfuse.start_as_current_observation(name=name, input={"i": i}) as span:
            trace_ids.add(span.trace_id)
    langfuse.flush()

    wait_until(lambda: http.get("/api/public/traces", params={"name": name}).json()["meta"]["totalItems"] == 3)
    listed = http.get("/api/public/traces", params={"name": name, "limit": 10}).json()
    assert {t["id"] for t in listed["data"]} == trace_ids
    assert listed["meta"] == {"page": 1, "limit": 10, "totalItems": 3, "totalPages": 1}
    paged = []
    for page in (1, 2, 3):
        body = http.get("/api/public/traces", params={"name": name, "limit": 1, "page": page}).json()
        assert body["meta"] == {"page": page, "limit": 1, "totalItems": 3, "totalPages": 3}
        paged += [t["id"] for t in body["data"]]
    assert len(paged) == 3 and set(paged) == trace_ids
    empty = http.get("/api/public/traces", params={"name": unique("no-such-trace")}).json()
    assert empty["data"] == [] and empty["meta"]["totalItems"] == 0

    if LEGACY_READS:
        assert {t.id for t in langfuse.api.trace.list(name=name, limit=10).data} == trace_ids
        sdk_paged = [t.id for page in (1, 2, 3) for t in langfuse.api.trace.list(name=name, limit=1, page=page).data]
        assert sorted(sdk_paged) == sorted(trace_ids)
        none = langfuse.api.trace.list(name=unique("no-such-trace"))
        assert none.data == [] and none.meta.total_items == 0


def test_observations_get_many_by_trace(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    with langfuse.start_as_current_observation(name="obs-root", input={"q": "x"}) as root:
        with langfuse.start_as_current_observation(name="obs-gen", as_type="generation", model="gpt-4o"):
            pass
        root.start_observation(name="obs-tool", as_type="tool").end()
        trace_id = root.trace_id
    # An unrelated trace that must not show up in the filtered list.
    with langfuse.start_as_current_observation(name="obs-other"):
        pass
    langfuse.flush()
    read_trace(trace_id, observations=3)

    response = langfuse.api.observations.get_many(trace_id=trace_id, fields="core,basic,io,model")
    obs = {o.name: o for o in response.data}
    assert set(obs) == {"obs-root", "obs-gen", "obs-tool"}
    assert {o.trace_id for o in response.data} == {trace_id}
    assert obs["obs-root"].parent_observation_id is None
    assert obs["obs-gen"].parent_observation_id == obs["obs-root"].id
    assert obs["obs-tool"].type == "TOOL"
    assert raw_io(obs["obs-root"].input) == {"q": "x"}

    seen, cursor = [], None
    for _ in range(5):
        page = langfuse.api.observations.get_many(trace_id=trace_id, limit=1, cursor=cursor)
        seen += [o.id for o in page.data]
        cursor = page.meta.cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(o.id for o in response.data)


def test_sessions_list_with_pagination(
    make_langfuse: Callable[..., Langfuse], server: SpyglassServer
) -> None:
    keys = server.create_project(unique("sessions-project"))  # a fresh project: exact counts
    langfuse = make_langfuse(keys)
    session_ids = {unique("session") for _ in range(3)}
    for session_id in sorted(session_ids):
        with langfuse.start_as_current_observation(name="session-turn"):
            with propagate_attributes(session_id=session_id):
                with langfuse.start_as_current_observation(name="inner"):
                    pass
    langfuse.flush()

    with server.client(keys) as http:
        wait_until(lambda: http.get("/api/public/sessions").json()["meta"]["totalItems"] == 3)
        listed = http.get("/api/public/sessions").json()
        assert {s["id"] for s in listed["data"]} == session_ids
        assert listed["meta"] == {"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1}
        for session in listed["data"]:
            assert session["projectId"] == keys.project_id
            assert session["environment"] == "default"
            assert "createdAt" in session
        paged = []
        for page in (1, 2, 3):
            body = http.get("/api/public/sessions", params={"limit": 1, "page": page}).json()
            assert len(body["data"]) == 1
            assert body["meta"] == {"page": page, "limit": 1, "totalItems": 3, "totalPages": 3}
            paged += [s["id"] for s in body["data"]]
        assert set(paged) == session_ids

    if LEGACY_READS:
        sessions = langfuse.api.sessions.list()
        assert {s.id for s in sessions.data} == session_ids and sessions.meta.total_items == 3
        second = langfuse.api.sessions.list(limit=1, page=2)
        assert len(second.data) == 1 and second.meta.page == 2 and second.meta.total_pages == 3


# --------------------------------------------------------------------------------------------
# Not found


def test_trace_not_found(langfuse: Langfuse, http: httpx.Client) -> None:
    trace_id = langfuse.create_trace_id()
    response = http.get(f"/api/public/traces/{trace_id}")
    assert response.status_code == 404
    assert response.json() == {
        "message": f"Trace {trace_id} not found within authorized project",
        "error": "LangfuseNotFoundError",
    }
    if LEGACY_READS:
        with pytest.raises(NotFoundError):
            langfuse.api.trace.get(trace_id)
    # Listing the observations of an unknown trace is an empty result, not an error.
    assert langfuse.api.observations.get_many(trace_id=trace_id).data == []
