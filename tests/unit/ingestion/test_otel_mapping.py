"""request_to_patches for Langfuse SDK spans: Appendix A.1, trace roots, shallow traces, field rules."""

from __future__ import annotations

import json

import pytest
from tests.unit.ingestion.test_otel_factory import (
    CHILD_ID,
    PROJECT,
    RECEIVED_US,
    ROOT_ID,
    SDK_RESOURCE,
    T0_NS,
    T0_US,
    TRACE_ID,
    make_request,
    make_span,
    map_json,
    map_one,
    map_spans,
)

from spyglass.domain.merge import FILL
from spyglass.domain.values import json_text
from spyglass.ingestion.otel import decode_export_request, request_to_patches

A1 = {"resourceSpans": [{
    "resource": {"attributes": [
        {"key": "telemetry.sdk.language", "value": {"stringValue": "python"}},
        {"key": "telemetry.sdk.name", "value": {"stringValue": "opentelemetry"}},
        {"key": "service.name", "value": {"stringValue": "unknown_service"}},
        {"key": "langfuse.environment", "value": {"stringValue": "production"}},
        {"key": "langfuse.release", "value": {"stringValue": "v1.2.3"}}]},
    "scopeSpans": [{
        "scope": {"name": "langfuse-sdk", "version": "4.14.3",
                  "attributes": [{"key": "public_key", "value": {"stringValue": "pk-lf-..."}}]},
        "spans": [{
            "traceId": "5b8aa5a2d2c872e8321cf37308d69df2", "spanId": "051581bf3cb55c13",
            "parentSpanId": "", "name": "llm-call", "kind": 1,
            "startTimeUnixNano": "1735689600000000000", "endTimeUnixNano": "1735689601500000000",
            "status": {"code": 0},
            "attributes": [
                {"key": "langfuse.observation.type", "value": {"stringValue": "generation"}},
                {"key": "langfuse.environment", "value": {"stringValue": "production"}},
                {"key": "langfuse.release", "value": {"stringValue": "v1.2.3"}},
                {"key": "user.id", "value": {"stringValue": "u1"}},
                {"key": "session.id", "value": {"stringValue": "s1"}},
                {"key": "langfuse.trace.tags", "value": {"arrayValue": {"values": [{"stringValue": "t1"}]}}},
                {"key": "langfuse.trace.metadata.k", "value": {"stringValue": "v"}},
                {"key": "langfuse.observation.input",
                 "value": {"stringValue": "[{\"role\": \"user\", \"content\": \"hi\"}]"}},
                {"key": "langfuse.observation.output", "value": {"stringValue": "hello"}},
                {"key": "langfuse.observation.model.name", "value": {"stringValue": "gpt-4o"}},
                {"key": "langfuse.observation.model.parameters", "value": {"stringValue": "{\"temperature\": 0.7}"}},
                {"key": "langfuse.observation.usage_details",
                 "value": {"stringValue": "{\"input\": 10, \"output\": 5}"}},
                {"key": "langfuse.observation.completion_start_time",
                 "value": {"stringValue": "\"2025-01-01T00:00:00.300000+00:00\""}},
                {"key": "langfuse.observation.metadata.count", "value": {"intValue": "3"}},
                {"key": "langfuse.observation.metadata.nested", "value": {"stringValue": "{\"a\": 1}"}},
                {"key": "langfuse.observation.prompt.name", "value": {"stringValue": "my-prompt"}},
                {"key": "langfuse.observation.prompt.version", "value": {"intValue": "2"}},
                {"key": "langfuse.internal.is_app_root", "value": {"boolValue": True}}]}]}]}]}

A1_RESOURCE_JSON = json_text({**SDK_RESOURCE, "langfuse.environment": "production", "langfuse.release": "v1.2.3"})
A1_SCOPE_JSON = json_text({"name": "langfuse-sdk", "version": "4.14.3", "attributes": {"public_key": "pk-lf-..."}})
A1_INPUT = '[{"role": "user", "content": "hi"}]'


def test_appendix_a1_end_to_end() -> None:
    traces, observations = map_json(json.dumps(A1).encode())
    assert traces == [{
        "id": TRACE_ID,
        "project_id": PROJECT,
        "timestamp": T0_US,
        "environment": "production",
        FILL: {"name": "llm-call", "input": A1_INPUT, "output": "hello"},
        "metadata": {"k": "v", "count": "3", "nested": '{"a": 1}',
                     "resourceAttributes": A1_RESOURCE_JSON, "scope": A1_SCOPE_JSON},
        "release": "v1.2.3",
        "user_id": "u1",
        "session_id": "s1",
        "tags": ["t1"],
    }]
    assert observations == [{
        "id": ROOT_ID,
        "project_id": PROJECT,
        "trace_id": TRACE_ID,
        "parent_observation_id": None,
        "type": "GENERATION",
        "name": "llm-call",
        "start_time": T0_US,
        "end_time": T0_US + 1_500_000,
        "environment": "production",
        "level": "DEFAULT",
        "metadata": {"count": "3", "nested": '{"a": 1}',
                     "resourceAttributes": A1_RESOURCE_JSON, "scope": A1_SCOPE_JSON},
        "completion_start_time": T0_US + 300_000,
        "input": A1_INPUT,
        "output": "hello",
        "model_parameters": '{"temperature":0.7}',
        "provided_model_name": "gpt-4o",
        "provided_usage_details": {"input": 10, "output": 5},
        "prompt_name": "my-prompt",
        "prompt_version": 2,
    }]


def test_appendix_a1_as_protobuf_gives_identical_patches() -> None:
    request = decode_export_request(json.dumps(A1).encode(), "application/json")
    body = request.SerializeToString()
    from_protobuf = request_to_patches(decode_export_request(body, "application/x-protobuf"), PROJECT, RECEIVED_US)
    assert from_protobuf == map_json(json.dumps(A1).encode())


def test_child_before_parent_creates_one_shallow_trace_with_the_earliest_start() -> None:
    later = make_span(span_id=CHILD_ID, parent_id=ROOT_ID, start_ns=T0_NS + 5_000_000)
    earlier = make_span(span_id="2222222222222222", parent_id=ROOT_ID, start_ns=T0_NS + 1_000_000,
                        attributes={"langfuse.environment": "staging"})
    traces, observations = map_spans([later, earlier])
    assert traces == [{"id": TRACE_ID, "project_id": PROJECT, "timestamp": T0_US + 1_000, "environment": "default"}]
    assert [o["parent_observation_id"] for o in observations] == [ROOT_ID, ROOT_ID]


def test_no_shallow_trace_when_the_root_is_in_the_same_request() -> None:
    traces, _ = map_spans([make_span(span_id=CHILD_ID, parent_id=ROOT_ID), make_span(name="root")])
    assert len(traces) == 1
    assert traces[0][FILL]["name"] == "root"


def test_propagated_attributes_on_a_child_update_the_trace_without_root_fallbacks() -> None:
    child = make_span(span_id=CHILD_ID, parent_id=ROOT_ID, name="child", attributes={
        "langfuse.trace.name": "my-trace", "user.id": "u1", "langfuse.trace.metadata.k": "v",
        "langfuse.observation.input": "obs-in", "langfuse.trace.output": '{"answer": 42}',
        "langfuse.observation.metadata.only_obs": "x", "langfuse.version": "1.0",
    })
    traces, observations = map_spans([child])
    trace = traces[0]
    assert FILL not in trace
    assert trace["name"] == "my-trace" and trace["user_id"] == "u1" and trace["version"] == "1.0"
    assert trace["output"] == '{"answer": 42}' and "input" not in trace
    assert set(trace["metadata"]) == {"k", "resourceAttributes", "scope"}
    assert observations[0]["input"] == "obs-in" and observations[0]["metadata"]["only_obs"] == "x"


@pytest.mark.parametrize("flag", [True, "true"])
def test_as_root_span_defines_the_trace_but_keeps_its_parent(flag: object) -> None:
    span = make_span(parent_id="9999999999999999", name="remote-child",
                     attributes={"langfuse.internal.as_root": flag})
    traces, observations = map_spans([span])
    assert traces[0][FILL] == {"name": "remote-child"}
    assert observations[0]["parent_observation_id"] == "9999999999999999"


def test_root_trace_prefers_explicit_trace_io_and_name() -> None:
    span = make_span(name="root", attributes={
        "langfuse.trace.name": "named", "langfuse.trace.input": "trace-in", "langfuse.observation.input": "obs-in",
        "langfuse.observation.output": "obs-out",
    })
    trace = map_spans([span])[0][0]
    assert (trace["name"], trace["input"]) == ("named", "trace-in")
    assert trace[FILL] == {"output": "obs-out"}


@pytest.mark.parametrize(
    "declared",
    ["span", "generation", "event", "agent", "tool", "chain", "retriever", "evaluator", "guardrail", "embedding"],
)
def test_every_langfuse_observation_type(declared: str) -> None:
    assert map_one(make_span(attributes={"langfuse.observation.type": declared}))["type"] == declared.upper()


def test_untyped_span_is_a_span_and_legacy_sdk_generations_are_repaired() -> None:
    assert map_one(make_span())["type"] == "SPAN"
    legacy = make_span(attributes={"langfuse.observation.type": "span", "langfuse.observation.model.name": "m"})
    assert map_one(legacy, scope_version="3.3.0")["type"] == "GENERATION"
    assert map_one(legacy, scope_version="4.14.3")["type"] == "SPAN"


def test_prompt_link_only_on_generations_and_lenient_about_string_versions() -> None:
    prompt = {"langfuse.observation.prompt.name": "p", "langfuse.observation.prompt.version": "3"}
    generation = map_one(make_span(attributes={"langfuse.observation.type": "generation", **prompt}))
    assert (generation["prompt_name"], generation["prompt_version"]) == ("p", 3)
    assert "prompt_name" not in map_one(make_span(attributes={"langfuse.observation.type": "span", **prompt}))
    alias = {"langfuse.observation.type": "generation", "langfuse.prompt.name": "q", "langfuse.prompt.version": 1}
    assert map_one(make_span(attributes=alias))["prompt_name"] == "q"
    no_version = {"langfuse.observation.type": "generation", "langfuse.observation.prompt.name": "p"}
    assert "prompt_name" not in map_one(make_span(attributes=no_version))


def test_level_from_langfuse_attribute_aliases_then_status_code() -> None:
    failed = map_one(make_span(status_code=2, status_message="boom"))
    assert (failed["level"], failed["status_message"]) == ("ERROR", "boom")
    assert map_one(make_span(status_code=1))["level"] == "DEFAULT"
    assert "status_message" not in map_one(make_span())
    for declared, level in [("warn", "WARNING"), (" Fatal ", "ERROR"), ("info", "DEFAULT"), ("TRACE", "DEBUG")]:
        assert map_one(make_span(attributes={"langfuse.observation.level": declared}))["level"] == level
    unknown = make_span(status_code=2, attributes={"langfuse.observation.level": "loud",
                                                   "langfuse.observation.status_message": "explicit"})
    assert (map_one(unknown)["level"], map_one(unknown)["status_message"]) == ("ERROR", "explicit")


@pytest.mark.parametrize(
    ("span_attributes", "resource", "expected"),
    [
        ({"langfuse.environment": "Production"}, {}, "production"),
        ({"langfuse.environment": "langfuse-langfuse_staging"}, {}, "staging"),
        ({}, {"langfuse.environment": "from-resource"}, "from-resource"),
        ({"deployment.environment.name": "dev"}, {"langfuse.environment": "resource-wins-per-key"},
         "resource-wins-per-key"),
        ({}, {"deployment.environment": "qa"}, "qa"),
        ({"langfuse.environment": "has space"}, {}, "default"),
        ({"langfuse.environment": "langfuse"}, {}, "default"),
        ({"langfuse.environment": "x" * 50}, {}, "x" * 40),
        ({}, {}, "default"),
    ],
)
def test_environment_resolution_and_normalisation(
    span_attributes: dict[str, str], resource: dict[str, str], expected: str
) -> None:
    traces, observations = map_spans([make_span(attributes=span_attributes)], resource=resource)
    assert observations[0]["environment"] == expected == traces[0]["environment"]


def test_missing_timestamps_fall_back_to_each_other_then_to_receipt() -> None:
    no_start = map_one(make_span(start_ns=None, end_ns=T0_NS))
    assert (no_start["start_time"], no_start["end_time"]) == (T0_US, T0_US)
    no_end = map_one(make_span(start_ns=T0_NS, end_ns=None))
    assert (no_end["start_time"], no_end["end_time"]) == (T0_US, T0_US)
    neither = map_one(make_span(start_ns=None, end_ns=None))
    assert (neither["start_time"], neither["end_time"]) == (RECEIVED_US, RECEIVED_US)


def test_metadata_keys_stay_flat_and_blobs_must_be_objects() -> None:
    span = make_span(attributes={
        "langfuse.observation.metadata": '{"from_blob": 1, "flag": true}',
        "langfuse.observation.metadata.a.b": "dotted",
        "langfuse.observation.metadata.flag": False,
        "langfuse.metadata.shared": [1, 2],
        "ai.telemetry.metadata.userId": "not-metadata",
    })
    metadata = map_one(span)["metadata"]
    assert {k: v for k, v in metadata.items() if k not in ("resourceAttributes", "scope")} == {
        "from_blob": "1", "flag": "false", "a.b": "dotted", "shared": "[1,2]",
    }
    not_an_object = map_one(make_span(attributes={"langfuse.observation.metadata": "[1, 2]"}))["metadata"]
    assert set(not_an_object) == {"resourceAttributes", "scope"}


def test_root_trace_metadata_includes_resource_trace_metadata_and_observation_metadata() -> None:
    span = make_span(attributes={"langfuse.observation.metadata.experiment_name": "exp",
                                 "langfuse.trace.metadata.k": "span"})
    resource = {**SDK_RESOURCE, "langfuse.trace.metadata.k": "resource", "langfuse.trace.metadata.r": "r"}
    traces, observations = map_spans([span], resource=resource)
    assert traces[0]["metadata"]["experiment_name"] == "exp"
    assert (traces[0]["metadata"]["k"], traces[0]["metadata"]["r"]) == ("span", "r")
    # Observations carry the resource's trace metadata, but not the span's trace metadata.
    assert (observations[0]["metadata"]["k"], observations[0]["metadata"]["r"]) == ("resource", "r")


def test_third_party_scopes_keep_unconsumed_attributes_in_metadata() -> None:
    span = make_span(attributes={"http.method": "GET", "retries": 2, "input.value": "q", "output.value": "a",
                                 "langfuse.observation.metadata.m": "x"})
    observation = map_one(span, scope_name="my-instrumentation", scope_version="")
    assert json.loads(observation["metadata"]["attributes"]) == {"http.method": "GET", "retries": "2"}
    assert (observation["input"], observation["output"], observation["metadata"]["m"]) == ("q", "a", "x")
    assert json.loads(observation["metadata"]["scope"]) == {"name": "my-instrumentation", "version": "",
                                                            "attributes": {}}
    assert "attributes" not in map_one(span)["metadata"]  # the Langfuse SDK scope


@pytest.mark.parametrize(
    ("value", "expected"),
    [(["b", "a"], ["b", "a"]), ('["x", 1]', ["x", "1"]), ("a, b ,c", ["a", "b", "c"]), ("solo", ["solo"])],
)
def test_tag_parsing(value: object, expected: list[str]) -> None:
    assert map_spans([make_span(attributes={"langfuse.trace.tags": value})])[0][0]["tags"] == expected


def test_trace_field_aliases() -> None:
    span = make_span(span_id=CHILD_ID, parent_id=ROOT_ID, attributes={
        "langfuse.user.id": "u", "langfuse.observation.metadata.langfuse_session_id": "s",
        "langfuse.tags": "t", "langfuse.public": "true",
    })
    trace = map_spans([span])[0][0]
    assert (trace["user_id"], trace["session_id"], trace["tags"], trace["public"]) == ("u", "s", ["t"], True)
    public = map_spans([make_span(attributes={"langfuse.trace.public": True})])[0][0]
    assert public["public"] is True


def test_version_and_release_fall_back_to_resource() -> None:
    resource = {**SDK_RESOURCE, "service.version": "9.9", "langfuse.release": "r1"}
    traces, observations = map_spans([make_span()], resource=resource)
    assert (traces[0]["version"], traces[0]["release"], observations[0]["version"]) == ("9.9", "r1", "9.9")
    own = make_span(attributes={"langfuse.version": "1.0", "langfuse.release": "r2"})
    traces, observations = map_spans([own], resource=resource)
    assert (traces[0]["version"], traces[0]["release"], observations[0]["version"]) == ("1.0", "r2", "1.0")


@pytest.mark.parametrize(
    "value", ['"2025-01-01T00:00:00.300000+00:00"', "2025-01-01T00:00:00.300Z"],
)
def test_completion_start_time_raw_or_double_encoded(value: str) -> None:
    span = make_span(attributes={"langfuse.observation.completion_start_time": value})
    assert map_one(span)["completion_start_time"] == T0_US + 300_000


def test_usage_and_cost_details() -> None:
    span = make_span(attributes={
        "langfuse.observation.type": "generation",
        "langfuse.observation.usage_details": '{"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 500}',
        "langfuse.observation.cost_details": '{"input": 0.5, "output": 1, "bad": -1}',
    })
    observation = map_one(span)
    assert observation["provided_usage_details"] == {"input": 100, "output": 200, "total": 500}
    assert observation["provided_cost_details"] == {"input": 0.5, "output": 1.0}
    not_object = map_one(make_span(attributes={"langfuse.observation.usage_details": "[1]"}))
    assert "provided_usage_details" not in not_object


def test_spans_without_model_information_get_no_model_keys() -> None:
    observation = map_one(make_span(attributes={"langfuse.observation.type": "agent",
                                                "langfuse.observation.input": "x"}))
    absent = {"provided_model_name", "model_parameters", "provided_usage_details", "provided_cost_details",
              "completion_start_time", "prompt_name", "output", "version"}
    assert absent.isdisjoint(observation)


def test_several_resources_and_scopes_in_one_request() -> None:
    request = make_request([make_span()])
    extra = request.resource_spans.add()
    extra.resource.attributes.add(key="langfuse.environment").value.string_value = "other"
    scope_spans = extra.scope_spans.add()
    scope_spans.scope.name = "third-party"
    scope_spans.spans.append(make_span(trace_id="ab" * 16, span_id=CHILD_ID))
    traces, observations = request_to_patches(request, PROJECT, RECEIVED_US)
    assert [o["environment"] for o in observations] == ["default", "other"]
    assert [t["id"] for t in traces] == [TRACE_ID, "ab" * 16]


def test_identical_propagated_updates_of_a_trace_collapse_into_the_earliest() -> None:
    propagated = {"user.id": "u1", "session.id": "s1", "langfuse.trace.metadata.k": "v"}
    spans = [
        make_span(span_id="1111111111111111", parent_id=ROOT_ID, start_ns=T0_NS + 5_000, attributes=propagated),
        make_span(span_id="2222222222222222", parent_id=ROOT_ID, start_ns=T0_NS + 2_000, attributes=propagated),
        make_span(span_id="3333333333333333", parent_id=ROOT_ID, attributes={**propagated, "user.id": "u2"}),
        make_span(span_id="4444444444444444", parent_id=ROOT_ID, attributes={**propagated, "user.id": "u2"}),
        make_span(name="root", attributes=propagated),
        make_span(span_id="5555555555555555", parent_id=ROOT_ID, attributes={**propagated, "user.id": "u2"}),
    ]
    traces, observations = map_spans(spans)
    assert len(observations) == 6
    assert [(t["user_id"], FILL in t) for t in traces] == [("u1", False), ("u2", False), ("u1", True), ("u2", False)]
    assert traces[0]["timestamp"] == T0_US + 2
