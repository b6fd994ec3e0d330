import pytest

from spyglass.domain.events import EventError, event_to_patches, sort_events, validate_event

TS = "2025-01-01T00:00:00.000Z"


def event(kind, body, **extra):
    return {"id": "e1", "type": kind, "timestamp": TS, "body": body, **extra}


@pytest.mark.parametrize(
    ("raw", "status", "fragment"),
    [
        ({"id": "e", "type": "trace-create", "timestamp": "yesterday", "body": {}}, 400, "timestamp"),
        ({"id": "e", "type": "nope-create", "timestamp": TS, "body": {}}, 400, "unknown event type"),
        ({"id": 5, "type": "trace-create", "timestamp": TS, "body": {}}, 400, "id"),
        (event("trace-create", {"name": 5}), 400, "name"),
        (event("span-create", {"name": "no id"}), 400, "id"),
        (event("score-create", {"name": "s", "value": 1}), 400, "exactly one"),
        (event("score-create", {"name": "s", "value": 1, "traceId": "t", "sessionId": "s"}), 400, "exactly one"),
        (event("score-create", {"name": "s", "value": -1, "traceId": "t", "dataType": "BOOLEAN"}), 400, "0 or 1"),
        (event("score-create", {"name": "s", "value": "x", "traceId": "t", "dataType": "NUMERIC"}), 400, "numeric"),
        (event("score-create", {"name": "s", "value": 1, "observationId": "o", "sessionId": "s"}), 400, "requires"),
        (event("observation-create", {"id": "o", "type": "WIDGET"}), 400, "type"),
    ],
)
def test_invalid_events_get_a_per_event_error(raw, status, fragment):
    with pytest.raises(EventError) as info:
        validate_event(raw)
    assert info.value.status == status
    assert fragment in (info.value.error or info.value.message)


def test_scores_only_access_rejects_other_event_types():
    with pytest.raises(EventError) as info:
        validate_event(event("trace-create", {"id": "t"}), scores_only=True)
    assert (info.value.status, info.value.error) == (401, "Access Scope Denied")
    validate_event(event("score-create", {"name": "s", "value": 1, "traceId": "t"}), scores_only=True)


def test_ids_are_assigned_before_storage_so_replays_upsert():
    envelope = validate_event(event("score-create", {"name": "s", "value": 0.5, "traceId": "t"}))
    first = event_to_patches(envelope.model_dump(), "p")
    second = event_to_patches(envelope.model_dump(), "p")
    assert first == second and first[0][1]["id"]


@pytest.mark.parametrize(
    ("data_type", "value", "expected"),
    [("BOOLEAN", 1, (1.0, "True")), ("CATEGORICAL", "high", (0.0, "high")), ("NUMERIC", 0.25, (0.25, None)),
     (None, "inferred", (0.0, "inferred")), ("TEXT", "fine", (0.0, "fine"))],
)
def test_score_values(data_type, value, expected):
    body = {"id": "s", "name": "q", "value": value, "traceId": "t"} | ({"dataType": data_type} if data_type else {})
    patch = event_to_patches(validate_event(event("score-create", body)).model_dump(), "p")[0][1]
    assert (patch["value"], patch["string_value"]) == expected


def test_generation_fields_and_usage_normalisation():
    body = {"id": "g", "traceId": "t", "model": "gpt-4o", "input": {"q": 1}, "output": "plain", "metadata": [1, 2],
            "usageDetails": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
                             "prompt_tokens_details": {"cached_tokens": 4}},
            "costDetails": {"input": 0.1, "bad": -1}, "modelParameters": {"temperature": 0.2}, "unknown": "ignored"}
    patch = event_to_patches(validate_event(event("generation-create", body)).model_dump(), "p")[0][1]
    assert patch["provided_usage_details"] == {"input": 6, "output": 20, "total": 30, "input_cached_tokens": 4}
    assert patch["provided_cost_details"] == {"input": 0.1}
    assert (patch["input"], patch["output"]) == ('{"q":1}', "plain")
    assert patch["metadata"] == {"metadata": "[1,2]"}
    assert patch["type"] == "GENERATION" and patch["start_time"] == 1735689600000000


def test_observation_without_trace_gets_a_wrapper_trace():
    patches = event_to_patches(validate_event(event("span-create", {"id": "lonely"})).model_dump(), "p")
    assert [kind for kind, _ in patches] == ["trace", "observation"]
    assert patches[0][1]["id"] == patches[1][1]["trace_id"] == "lonely"


def test_updates_sort_after_creates():
    events = [{"type": "span-update", "timestamp": "2025-01-01T00:00:00Z"},
              {"type": "span-create", "timestamp": "2025-01-01T00:00:05Z"}]
    assert [e["type"] for e in sort_events(events)] == ["span-create", "span-update"]
