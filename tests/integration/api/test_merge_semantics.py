"""Upsert/merge semantics of batch ingestion (LANGFUSE_COMPAT §4.5): create + update, immutable
fields, defaults and normalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.integration.api.builders import (
    api_ts,
    ingest_ok,
    iso,
    observation,
    score_create,
    trace_create,
    uid,
    wait_trace,
)


def test_create_then_update_merges(client: httpx.Client) -> None:
    trace_id, span_id = uid(), uid()
    start = datetime.now(tz=UTC) - timedelta(minutes=5)
    first = [
        trace_create(trace_id, timestamp=iso(start), name="first", userId="u-1", tags=["b", "a"],
                     metadata={"keep": "yes", "over": "old"}, input={"question": "q?"}, release="r1"),
        observation("span-create", span_id, trace_id, timestamp=iso(start), name="span-first",
                    startTime=iso(start), input="span-in", metadata={"k1": "v1", "k2": "old"}, level="DEBUG"),
    ]
    ingest_ok(client, first)
    wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    end = start + timedelta(seconds=3)
    second = [
        trace_create(trace_id, timestamp=iso(start, seconds=1), name="second", tags=["c", "a"],
                     metadata={"over": "new", "added": 1}, output={"answer": 42}),
        observation("span-update", span_id, trace_id, timestamp=iso(start, seconds=1), name="span-second",
                    endTime=iso(end), output="span-out", metadata={"k2": "new", "k3": "v3"},
                    statusMessage="ok"),
    ]
    ingest_ok(client, second)
    trace = wait_trace(client, trace_id, lambda t: t["name"] == "second" and t["observations"][0]["endTime"])
    assert trace["tags"] == ["a", "b", "c"]
    assert trace["metadata"] == {"keep": "yes", "over": "new", "added": 1}
    assert trace["input"] == {"question": "q?"}
    assert trace["output"] == {"answer": 42}
    assert trace["userId"] == "u-1"
    assert trace["release"] == "r1"
    assert trace["timestamp"] == api_ts(start)
    [span] = trace["observations"]
    assert span["name"] == "span-second"
    assert span["input"] == "span-in"
    assert span["output"] == "span-out"
    assert span["metadata"] == {"k1": "v1", "k2": "new", "k3": "v3"}
    assert span["startTime"] == api_ts(start)
    assert span["endTime"] == api_ts(end)
    assert span["latency"] == pytest.approx(3.0)
    assert span["level"] == "DEBUG"
    assert span["statusMessage"] == "ok"


def test_create_and_update_in_one_batch(client: httpx.Client) -> None:
    trace_id, gen_id = uid(), uid()
    start = datetime.now(tz=UTC) - timedelta(seconds=10)
    # The update is listed first: creates are applied before updates whatever the order.
    events = [
        observation("generation-update", gen_id, trace_id, timestamp=iso(start, seconds=2),
                    endTime=iso(start, seconds=2), output="out", metadata={"b": 2}),
        trace_create(trace_id, name="one-batch"),
        observation("generation-create", gen_id, trace_id, timestamp=iso(start), startTime=iso(start),
                    input="in", metadata={"a": 1}, model="m"),
    ]
    ingest_ok(client, events)
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    [gen] = trace["observations"]
    assert (gen["input"], gen["output"], gen["model"]) == ("in", "out", "m")
    assert gen["metadata"] == {"a": 1, "b": 2}
    assert gen["endTime"] == api_ts(start + timedelta(seconds=2))


def test_score_resend_updates_value_but_not_timestamp(client: httpx.Client) -> None:
    trace_id, score_id = uid(), uid()
    first_ts = datetime.now(tz=UTC) - timedelta(minutes=10)
    ingest_ok(client, [trace_create(trace_id), score_create(score_id, "q", 0.1, iso(first_ts), traceId=trace_id,
                                                             comment="first", metadata={"x": 1})])
    wait_trace(client, trace_id, lambda t: len(t["scores"]) == 1)
    ingest_ok(client, [score_create(score_id, "q", 0.9, iso(first_ts, minutes=5), traceId=trace_id,
                                    comment="second", metadata={"y": 2})])
    score = wait_trace(client, trace_id, lambda t: t["scores"][0]["value"] == 0.9)["scores"][0]
    assert (score["id"], score["value"], score["comment"]) == (score_id, 0.9, "second")
    assert score["metadata"] == {"x": 1, "y": 2}
    assert score["timestamp"] == api_ts(first_ts)
    assert client.get("/api/public/v2/scores", params={"traceId": trace_id}).json()["meta"]["totalItems"] == 1


def test_immutable_fields_keep_their_first_value(client: httpx.Client) -> None:
    trace_id, span_id = uid(), uid()
    start = datetime.now(tz=UTC) - timedelta(minutes=3)
    ingest_ok(client, [trace_create(trace_id, environment="production"),
                       observation("span-create", span_id, trace_id, startTime=iso(start), environment="production")])
    wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    ingest_ok(client, [trace_create(trace_id, environment="staging", name="renamed"),
                       observation("span-update", span_id, trace_id, environment="staging", name="renamed-span")])
    trace = wait_trace(client, trace_id, lambda t: t["name"] == "renamed"
                       and t["observations"][0]["name"] == "renamed-span")
    assert trace["environment"] == "production"
    [span] = trace["observations"]
    assert (span["environment"], span["startTime"]) == ("production", api_ts(start))


def test_observation_without_trace_gets_a_wrapper_trace(client: httpx.Client) -> None:
    span_id = uid()
    ingest_ok(client, [observation("span-create", span_id, None, name="orphan")])
    trace = wait_trace(client, span_id, lambda t: len(t["observations"]) == 1)
    assert trace["id"] == span_id
    assert [(o["id"], o["traceId"], o["name"]) for o in trace["observations"]] == [(span_id, span_id, "orphan")]


def test_end_before_start_is_clamped_to_start(client: httpx.Client) -> None:
    trace_id, span_id = uid(), uid()
    start = datetime.now(tz=UTC) - timedelta(minutes=1)
    ingest_ok(client, [trace_create(trace_id), observation("span-create", span_id, trace_id, startTime=iso(start),
                                                           endTime=iso(start, seconds=-5))])
    [span] = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)["observations"]
    assert (span["startTime"], span["endTime"], span["latency"]) == (api_ts(start), api_ts(start), 0)


def test_times_default_to_the_envelope_timestamp(client: httpx.Client) -> None:
    trace_id, span_id, score_id = uid(), uid(), uid()
    stamp = datetime.now(tz=UTC) - timedelta(hours=2)
    ingest_ok(client, [trace_create(trace_id, timestamp=iso(stamp)),
                       observation("span-create", span_id, trace_id, timestamp=iso(stamp, seconds=1)),
                       score_create(score_id, "s", 1.0, iso(stamp, seconds=2), traceId=trace_id)])
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1 and len(t["scores"]) == 1)
    assert trace["timestamp"] == api_ts(stamp)
    assert trace["observations"][0]["startTime"] == api_ts(stamp + timedelta(seconds=1))
    assert trace["scores"][0]["timestamp"] == api_ts(stamp + timedelta(seconds=2))
    assert (trace["observations"][0]["level"], trace["observations"][0]["environment"]) == ("DEFAULT", "default")


@pytest.mark.parametrize(("given", "stored"), [
    ("production", "production"), ("Production", "production"), ("langfuse-prod", "prod"),
    ("langfuse_langfuse-eval", "eval"), ("has space", "default"), ("", "default"), ("x" * 50, "x" * 40),
    ("dev.local", "default"), ("sdk-experiment", "sdk-experiment"),
])
def test_environment_normalisation(client: httpx.Client, given: str, stored: str) -> None:
    trace_id, span_id, score_id = uid(), uid(), uid()
    ingest_ok(client, [trace_create(trace_id, name=f"env-{trace_id}", environment=given),
                       observation("span-create", span_id, trace_id, environment=given),
                       score_create(score_id, "s", 1.0, traceId=trace_id, environment=given)])
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1 and len(t["scores"]) == 1)
    assert (trace["environment"], trace["observations"][0]["environment"], trace["scores"][0]["environment"]) == (
        stored, stored, stored)
    listed = client.get("/api/public/traces", params={"environment": stored, "name": f"env-{trace_id}"}).json()
    assert [t["id"] for t in listed["data"]] == [trace_id]


def test_trace_public_flag(client: httpx.Client) -> None:
    public_id, private_id = uid(), uid()
    ingest_ok(client, [trace_create(public_id, public=True), trace_create(private_id)])
    assert (wait_trace(client, public_id)["public"], wait_trace(client, public_id)["bookmarked"]) == (True, False)
    assert wait_trace(client, private_id)["public"] is False
