"""POST /api/public/ingestion: the 207 contract, every event type, merge rules, per-event
validation, idempotency, usage/cost normalisation, score types and atomic visibility."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from tests.integration.api.builders import (
    INGESTION,
    barrier,
    event,
    ingest,
    ingest_ok,
    iso,
    observation,
    score_create,
    trace_create,
    uid,
    wait_trace,
)


def _by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


def test_207_shape(client: httpx.Client) -> None:
    trace_id = uid()
    events = [trace_create(trace_id, name="shape"), score_create(uid(), "s", 1.0, traceId=trace_id)]
    response = client.post(INGESTION, json={"batch": events, "metadata": {"sdk_name": "python"}})
    assert response.status_code == 207
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"successes": [{"id": e["id"], "status": 201} for e in events], "errors": []}


def test_empty_batch_is_207_with_nothing(client: httpx.Client) -> None:
    assert ingest(client, []) == {"successes": [], "errors": []}


def test_every_event_type_is_stored_with_its_observation_type(client: httpx.Client) -> None:
    trace_id = uid()
    typed = {kind: uid() for kind in ("agent", "tool", "chain", "retriever", "evaluator", "embedding", "guardrail")}
    span_id, gen_id, event_id, legacy_id = uid(), uid(), uid(), uid()
    score_id = uid()
    events = [
        trace_create(trace_id, name="all-types"),
        observation("span-create", span_id, trace_id, name="span"),
        observation("generation-create", gen_id, trace_id, name="gen", model="gpt-4o"),
        observation("generation-update", gen_id, trace_id, output="done"),
        observation("event-create", event_id, trace_id, name="evt"),
        *[observation(f"{kind}-create", obs_id, trace_id, name=kind, parentObservationId=span_id)
          for kind, obs_id in typed.items()],
        observation("observation-create", legacy_id, trace_id, type="GENERATION", name="legacy", model="m1"),
        observation("observation-update", legacy_id, trace_id, type="GENERATION", output="legacy-out"),
        score_create(score_id, "quality", 0.5, traceId=trace_id),
        event("sdk-log", {"log": {"message": "hello from the sdk"}}),
    ]
    ingest_ok(client, events)
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 11 and len(t["scores"]) == 1)
    observations = _by_id(trace["observations"])
    expected_types = {span_id: "SPAN", gen_id: "GENERATION", event_id: "EVENT", legacy_id: "GENERATION",
                      **{obs_id: kind.upper() for kind, obs_id in typed.items()}}
    assert {i: o["type"] for i, o in observations.items()} == expected_types
    assert observations[gen_id]["output"] == "done"
    assert observations[gen_id]["model"] == "gpt-4o"
    assert observations[legacy_id]["output"] == "legacy-out"
    assert observations[legacy_id]["model"] == "m1"
    assert all(observations[i]["parentObservationId"] == span_id for i in typed.values())
    assert [s["id"] for s in trace["scores"]] == [score_id]
    # sdk-log is acknowledged but stores nothing: still exactly the 11 observations.
    listed = client.get("/api/public/observations", params={"traceId": trace_id}).json()
    assert listed["meta"]["totalItems"] == 11


BAD_EVENTS = {
    "bad-timestamp": lambda: event("trace-create", {"id": uid()}, timestamp="not-a-date"),
    "name-is-a-number": lambda: event("trace-create", {"id": uid(), "name": 5}),
    "tags-not-strings": lambda: event("trace-create", {"id": uid(), "tags": [1, 2]}),
    "public-not-bool": lambda: event("trace-create", {"id": uid(), "public": "yes"}),
    "unknown-type": lambda: event("trace-explode", {"id": uid()}),
    "missing-observation-id": lambda: event("span-create", {"name": "no id"}),
    "bad-level": lambda: event("span-create", {"id": uid(), "level": "LOUD"}),
    "bad-start-time": lambda: event("span-create", {"id": uid(), "startTime": "yesterday"}),
    "missing-body": lambda: {"id": uid(), "type": "trace-create", "timestamp": iso()},
    "missing-timestamp": lambda: {"id": uid(), "type": "trace-create", "body": {"id": uid()}},
    "legacy-without-type": lambda: event("observation-create", {"id": uid()}),
}


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
def test_one_invalid_event_does_not_cost_its_neighbours(client: httpx.Client, case: str) -> None:
    trace_id, span_id, score_id = uid(), uid(), uid()
    bad = BAD_EVENTS[case]()
    good = [trace_create(trace_id, name=f"neighbours-{case}"), observation("span-create", span_id, trace_id),
            score_create(score_id, "s", 1.0, traceId=trace_id)]
    batch = [good[0], bad, good[1], good[2]]
    body = ingest(client, batch)
    assert body["successes"] == [{"id": e["id"], "status": 201} for e in good]
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["id"] == bad["id"]
    assert error["status"] == 400
    assert error["message"] == "Invalid request data"
    assert isinstance(error["error"], str) and error["error"]
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1 and len(t["scores"]) == 1)
    assert trace["observations"][0]["id"] == span_id
    assert trace["scores"][0]["id"] == score_id


def test_non_string_envelope_id_is_reported_as_unknown(client: httpx.Client) -> None:
    body = ingest(client, [{"id": 12, "type": "trace-create", "timestamp": iso(), "body": {"id": uid()}}])
    assert body["successes"] == []
    assert [(e["id"], e["status"]) for e in body["errors"]] == [("unknown", 400)]


def test_resending_the_same_batch_is_idempotent(client: httpx.Client) -> None:
    trace_id, span_id, gen_id, score_id = uid(), uid(), uid(), uid()
    name = f"idem-{trace_id}"
    events = [trace_create(trace_id, name=name, tags=["t"]), observation("span-create", span_id, trace_id),
              observation("generation-create", gen_id, trace_id, parentObservationId=span_id),
              score_create(score_id, "s", 0.25, traceId=trace_id)]
    for _ in range(3):
        ingest_ok(client, events)
    barrier(client)
    traces = client.get("/api/public/traces", params={"name": name}).json()
    assert traces["meta"]["totalItems"] == 1
    assert [t["id"] for t in traces["data"]] == [trace_id]
    assert sorted(traces["data"][0]["observations"]) == sorted([span_id, gen_id])
    assert traces["data"][0]["scores"] == [score_id]
    observations = client.get("/api/public/observations", params={"traceId": trace_id}).json()
    assert observations["meta"]["totalItems"] == 2
    assert sorted(o["id"] for o in observations["data"]) == sorted([span_id, gen_id])
    scores = client.get("/api/public/v2/scores", params={"traceId": trace_id}).json()
    assert scores["meta"]["totalItems"] == 1
    assert [s["id"] for s in scores["data"]] == [score_id]
    assert scores["data"][0]["value"] == 0.25
    assert wait_trace(client, trace_id)["tags"] == ["t"]


def test_unknown_fields_are_ignored(client: httpx.Client) -> None:
    trace_id, span_id = uid(), uid()
    events = [
        {**trace_create(trace_id, name="extra", surprise={"x": 1}), "envelopeExtra": True},
        observation("span-create", span_id, trace_id, name="s", notAField=[1, 2, 3]),
    ]
    ingest_ok(client, events)
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    assert "surprise" not in trace and trace["metadata"] == {}
    assert "notAField" not in trace["observations"][0]
    assert trace["observations"][0]["metadata"] == {}


USAGE_CASES = {
    "openai-chat": (
        {"usageDetails": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
                          "prompt_tokens_details": {"cached_tokens": 4},
                          "completion_tokens_details": {"reasoning_tokens": 5}}},
        {"input": 6, "output": 15, "total": 30, "input_cached_tokens": 4, "output_reasoning_tokens": 5},
        (10, 20, 30),
    ),
    "openai-responses": (
        {"usageDetails": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10,
                          "input_tokens_details": {"cached_tokens": 2}}},
        {"input": 5, "output": 3, "total": 10, "input_cached_tokens": 2},
        (7, 3, 10),
    ),
    "legacy-usage": ({"usage": {"input": 5, "output": 6, "unit": "TOKENS"}}, {"input": 5, "output": 6, "total": 11},
                     (5, 6, 11)),
    "legacy-openai-usage": ({"usage": {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7}},
                            {"input": 3, "output": 4, "total": 7}, (3, 4, 7)),
    "custom-keys-get-a-total": ({"usageDetails": {"prompt_tokens": 10, "completion_tokens": 20}},
                                {"prompt_tokens": 10, "completion_tokens": 20, "total": 30}, (0, 0, 30)),
    "plain-map": ({"usageDetails": {"input": 8, "output": 2, "cache_read": 1, "junk": "x", "neg": -3}},
                  {"input": 8, "output": 2, "cache_read": 1, "total": 11}, (8, 2, 11)),
}


@pytest.mark.parametrize("case", sorted(USAGE_CASES))
def test_usage_normalisation(client: httpx.Client, case: str) -> None:
    fields, expected, (prompt, completion, total) = USAGE_CASES[case]
    trace_id, gen_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id), observation("generation-create", gen_id, trace_id, **fields)])
    gen = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)["observations"][0]
    assert gen["usageDetails"] == expected
    assert (gen["promptTokens"], gen["completionTokens"], gen["totalTokens"]) == (prompt, completion, total)
    assert gen["usage"] == {"input": prompt, "output": completion, "total": total, "unit": "TOKENS"}
    direct = client.get(f"/api/public/observations/{gen_id}").json()
    assert direct["usageDetails"] == expected


def test_cost_details_become_calculated_costs(client: httpx.Client) -> None:
    trace_id, a, b, c = uid(), uid(), uid(), uid()
    ingest_ok(client, [
        trace_create(trace_id),
        observation("generation-create", a, trace_id, costDetails={"input": 0.25, "output": 0.5}),
        observation("generation-create", b, trace_id, costDetails={"input": 1.0, "total": 2.0}),
        observation("generation-create", c, trace_id,
                    usage={"input": 1, "output": 1, "inputCost": 0.125, "outputCost": 0.375, "totalCost": 0.5}),
    ])
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 3)
    obs = _by_id(trace["observations"])
    assert obs[a]["costDetails"] == {"input": 0.25, "output": 0.5, "total": 0.75}
    assert (obs[a]["calculatedInputCost"], obs[a]["calculatedOutputCost"], obs[a]["calculatedTotalCost"]) == (
        0.25, 0.5, 0.75)
    assert obs[b]["costDetails"] == {"input": 1.0, "total": 2.0}
    assert obs[b]["calculatedTotalCost"] == 2.0
    assert obs[c]["costDetails"] == {"input": 0.125, "output": 0.375, "total": 0.5}
    assert obs[c]["calculatedTotalCost"] == 0.5
    assert trace["totalCost"] == pytest.approx(3.25)


SCORE_CASES = {
    "numeric": ({"value": 0.75, "dataType": "NUMERIC"}, ("NUMERIC", 0.75, None)),
    "numeric-inferred": ({"value": 3}, ("NUMERIC", 3, None)),
    "boolean-true": ({"value": 1, "dataType": "BOOLEAN"}, ("BOOLEAN", 1, "True")),
    "boolean-false": ({"value": 0, "dataType": "BOOLEAN"}, ("BOOLEAN", 0, "False")),
    "categorical": ({"value": "good", "dataType": "CATEGORICAL"}, ("CATEGORICAL", 0, "good")),
    "categorical-inferred": ({"value": "bad"}, ("CATEGORICAL", 0, "bad")),
    "text": ({"value": "free text", "dataType": "TEXT"}, ("TEXT", 0, "free text")),
}


@pytest.mark.parametrize("case", sorted(SCORE_CASES))
def test_score_types(client: httpx.Client, case: str) -> None:
    fields, (data_type, value, string_value) = SCORE_CASES[case]
    trace_id, score_id = uid(), uid()
    ingest_ok(client, [trace_create(trace_id), score_create(score_id, f"score-{case}", traceId=trace_id,
                                                             comment="c", **fields)])
    trace = wait_trace(client, trace_id, lambda t: len(t["scores"]) == 1)
    got = client.get(f"/api/public/v2/scores/{score_id}").json()
    for score in (trace["scores"][0], got):
        assert (score["dataType"], score["value"], score["stringValue"]) == (data_type, value, string_value)
        assert (score["name"], score["comment"], score["source"]) == (f"score-{case}", "c", "API")
        assert (score["traceId"], score["sessionId"], score["observationId"]) == (trace_id, None, None)


INVALID_SCORES = {
    "two-targets": {"value": 1.0, "traceId": "t", "sessionId": "s"},
    "three-targets": {"value": 1.0, "traceId": "t", "sessionId": "s", "datasetRunId": "d"},
    "no-target": {"value": 1.0},
    "observation-without-trace": {"value": 1.0, "observationId": "o", "sessionId": "s"},
    "boolean-out-of-range": {"value": 2, "dataType": "BOOLEAN", "traceId": "t"},
    "numeric-string": {"value": "high", "dataType": "NUMERIC", "traceId": "t"},
    "categorical-number": {"value": 1.0, "dataType": "CATEGORICAL", "traceId": "t"},
    "text-too-long": {"value": "x" * 501, "dataType": "TEXT", "traceId": "t"},
    "unknown-data-type": {"value": 1.0, "dataType": "PERCENT", "traceId": "t"},
    "empty-name": {"value": 1.0, "traceId": "t", "name": ""},
}


@pytest.mark.parametrize("case", sorted(INVALID_SCORES))
def test_invalid_scores_are_rejected_per_event(client: httpx.Client, case: str) -> None:
    trace_id, good_id, bad_id = uid(), uid(), uid()
    fields = {"name": "n", **INVALID_SCORES[case]}
    bad = event("score-create", {"id": bad_id, **fields})
    good = score_create(good_id, "ok", 1.0, traceId=trace_id)
    body = ingest(client, [bad, good])
    assert body["successes"] == [{"id": good["id"], "status": 201}]
    assert [(e["id"], e["status"], e["message"]) for e in body["errors"]] == [(bad["id"], 400, "Invalid request data")]
    barrier(client)
    assert client.get(f"/api/public/v2/scores/{bad_id}").status_code == 404
    assert client.get(f"/api/public/v2/scores/{good_id}").status_code == 200


def test_events_of_one_request_become_visible_together(client: httpx.Client) -> None:
    for _ in range(5):
        trace_id = uid()
        obs_ids = [uid() for _ in range(6)]
        score_ids = [uid() for _ in range(3)]
        events = [trace_create(trace_id, name="atomic")]
        events += [observation("span-create", o, trace_id, name=f"s{i}") for i, o in enumerate(obs_ids)]
        events += [score_create(s, f"n{i}", float(i), traceId=trace_id) for i, s in enumerate(score_ids)]
        first_seen: list[dict] = []
        stop = threading.Event()

        def watch(trace_id: str = trace_id, first_seen: list[dict] = first_seen, stop: threading.Event = stop) -> None:
            with httpx.Client(base_url=str(client.base_url), auth=client.auth, timeout=30) as watcher:
                deadline = time.monotonic() + 15
                while not stop.is_set() and time.monotonic() < deadline:
                    response = watcher.get(f"/api/public/traces/{trace_id}")
                    if response.status_code == 200:
                        first_seen.append(response.json())
                        return

        thread = threading.Thread(target=watch)
        thread.start()
        try:
            ingest_ok(client, events)
            thread.join(20)
        finally:
            stop.set()
            thread.join()
        assert first_seen, "the trace never became visible"
        seen = first_seen[0]
        assert sorted(o["id"] for o in seen["observations"]) == sorted(obs_ids)
        assert sorted(s["id"] for s in seen["scores"]) == sorted(score_ids)


def test_updates_of_one_request_become_visible_together(client: httpx.Client) -> None:
    """A request that updates an existing trace and adds children to it: no reader ever sees the new
    children with the old trace fields, or the new trace fields without the new children."""
    trace_id, rounds = uid(), 12
    ingest_ok(client, [trace_create(trace_id, name="v0"), observation("span-create", uid(), trace_id)])
    wait_trace(client, trace_id, lambda t: len(t["observations"]) == 1)
    snapshots: list[dict] = []
    stop = threading.Event()

    def watch() -> None:
        with httpx.Client(base_url=str(client.base_url), auth=client.auth, timeout=30) as watcher:
            while not stop.is_set():
                response = watcher.get(f"/api/public/traces/{trace_id}")
                assert response.status_code == 200
                snapshots.append(response.json())

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        for k in range(1, rounds + 1):
            events = [trace_create(trace_id, name=f"v{k}")]
            events += [observation("span-create", uid(), trace_id, name=f"r{k}") for _ in range(3)]
            events.append(score_create(uid(), f"r{k}", float(k), traceId=trace_id))
            ingest_ok(client, events)
            wait_trace(client, trace_id, lambda t, k=k: t["name"] == f"v{k}" and len(t["observations"]) == 1 + 3 * k)
    finally:
        stop.set()
        thread.join()
    torn = [(s["name"], len(s["observations"]), len(s["scores"])) for s in snapshots
            if (len(s["observations"]) - 1) / 3 != int(s["name"][1:]) or len(s["scores"]) != int(s["name"][1:])]
    assert len(snapshots) > rounds
    assert torn == [], f"{len(torn)} of {len(snapshots)} reads saw a half-applied request, e.g. {torn[:5]}"
