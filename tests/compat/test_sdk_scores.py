"""Scores through the real `langfuse` Python SDK (4.x batches them to /ingestion, 5.x posts a list to /scores).

Each test creates scores with the SDK's public API, then reads them back where a user would:
inside GET /api/public/traces/{id} (`scores[]`, v1 shape), GET /api/public/v2/scores/{id}, and
the score reads of the installed SDK's generated client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from langfuse import Langfuse
from langfuse import __version__ as SDK_VERSION
from tests.support.server import SpyglassServer, wait_until

SDK_MAJOR = int(SDK_VERSION.split(".")[0])
# 5.x removed api.scores.get_by_id (v2); its api.scores.get_many reads /api/public/v3/scores.
LEGACY_READS = SDK_MAJOR < 5

ReadTrace = Callable[..., dict[str, Any]]

SCORE_KEYS = {
    "id", "projectId", "environment", "name", "value", "stringValue", "dataType", "source", "authorUserId",
    "comment", "metadata", "configId", "queueId", "executionTraceId", "timestamp", "createdAt", "updatedAt",
    "traceId", "observationId", "sessionId", "datasetRunId",
}


def new_id() -> str:
    return uuid.uuid4().hex


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def read_score(http: httpx.Client, score_id: str) -> dict[str, Any]:
    """Poll GET /api/public/v2/scores/{id} (all targets) until the score is readable."""
    def ready() -> dict[str, Any] | None:
        response = http.get(f"/api/public/v2/scores/{score_id}")
        return response.json() if response.status_code == 200 else None

    return wait_until(ready, 10)


def trace_scores(read_trace: ReadTrace, trace_id: str, count: int) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in read_trace(trace_id, scores=count)["scores"]}


@pytest.fixture
def scored_trace(langfuse: Langfuse, read_trace: ReadTrace) -> tuple[str, str]:
    """A stored trace (root span + child span) to attach scores to: (trace id, child observation id)."""
    with langfuse.start_as_current_observation(name="scored-root") as root:
        with langfuse.start_as_current_observation(name="scored-child") as child:
            child_id = child.id
        trace_id = root.trace_id
    langfuse.flush()
    read_trace(trace_id, observations=2)
    return trace_id, child_id


def test_numeric_score_on_trace(
    langfuse: Langfuse, scored_trace: tuple[str, str], read_trace: ReadTrace, http: httpx.Client,
    server: SpyglassServer,
) -> None:
    trace_id, _ = scored_trace
    score_id = new_id()
    langfuse.create_score(
        name="accuracy", value=0.9, trace_id=trace_id, score_id=score_id, comment="good answer",
        metadata={"judge": "unit-test", "round": 2},
    )
    langfuse.flush()

    score = trace_scores(read_trace, trace_id, 1)[score_id]
    assert set(score) >= SCORE_KEYS - {"sessionId", "datasetRunId"}
    assert score["name"] == "accuracy"
    assert score["value"] == 0.9
    assert score["stringValue"] is None
    assert score["dataType"] == "NUMERIC"
    assert score["source"] == "API"
    assert score["comment"] == "good answer"
    assert score["metadata"] == {"judge": "unit-test", "round": 2}
    assert score["traceId"] == trace_id
    assert score["observationId"] is None
    assert score["projectId"] == server.keys.project_id
    assert score["environment"] == "default"

    v2 = read_score(http, score_id)
    assert set(v2) >= SCORE_KEYS
    assert v2["value"] == 0.9 and v2["dataType"] == "NUMERIC" and v2["traceId"] == trace_id
    assert v2["sessionId"] is None and v2["datasetRunId"] is None
    if LEGACY_READS:
        model = langfuse.api.scores.get_by_id(score_id)
        assert model.id == score_id and model.value == 0.9 and model.data_type == "NUMERIC"
        assert model.trace_id == trace_id and model.comment == "good answer"


def test_boolean_scores(langfuse: Langfuse, scored_trace: tuple[str, str], read_trace: ReadTrace) -> None:
    trace_id, _ = scored_trace
    true_id, false_id = new_id(), new_id()
    langfuse.create_score(name="is-correct", value=1, data_type="BOOLEAN", trace_id=trace_id, score_id=true_id)
    langfuse.create_score(name="is-harmful", value=0, data_type="BOOLEAN", trace_id=trace_id, score_id=false_id)
    langfuse.flush()

    scores = trace_scores(read_trace, trace_id, 2)
    assert scores[true_id]["dataType"] == "BOOLEAN"
    assert scores[true_id]["value"] == 1
    assert scores[true_id]["stringValue"] == "True"
    assert scores[false_id]["value"] == 0
    assert scores[false_id]["stringValue"] == "False"


def test_categorical_scores(langfuse: Langfuse, scored_trace: tuple[str, str], read_trace: ReadTrace) -> None:
    trace_id, _ = scored_trace
    explicit_id, inferred_id = new_id(), new_id()
    langfuse.create_score(
        name="quality", value="high score", data_type="CATEGORICAL", trace_id=trace_id, score_id=explicit_id
    )
    langfuse.create_score(name="tone", value="friendly", trace_id=trace_id, score_id=inferred_id)
    langfuse.flush()

    scores = trace_scores(read_trace, trace_id, 2)
    assert scores[explicit_id]["dataType"] == "CATEGORICAL"
    assert scores[explicit_id]["stringValue"] == "high score"
    assert scores[explicit_id]["value"] == 0
    assert scores[inferred_id]["dataType"] == "CATEGORICAL"
    assert scores[inferred_id]["stringValue"] == "friendly"


def test_text_score(langfuse: Langfuse, scored_trace: tuple[str, str], read_trace: ReadTrace,
                    http: httpx.Client) -> None:
    trace_id, _ = scored_trace
    score_id = new_id()
    text = "The answer cites the right source but is too long."
    langfuse.create_score(name="review", value=text, data_type="TEXT", trace_id=trace_id, score_id=score_id)
    langfuse.flush()

    score = trace_scores(read_trace, trace_id, 1)[score_id]
    assert score["dataType"] == "TEXT"
    assert score["stringValue"] == text
    v2 = read_score(http, score_id)
    assert v2["dataType"] == "TEXT" and v2["stringValue"] == text


def test_score_on_observation(langfuse: Langfuse, scored_trace: tuple[str, str], read_trace: ReadTrace) -> None:
    trace_id, child_id = scored_trace
    score_id = new_id()
    langfuse.create_score(name="relevance", value=0.4, trace_id=trace_id, observation_id=child_id, score_id=score_id)
    langfuse.flush()

    score = trace_scores(read_trace, trace_id, 1)[score_id]
    assert score["observationId"] == child_id
    assert score["traceId"] == trace_id
    assert score["value"] == 0.4


def test_scores_from_spans(langfuse: Langfuse, read_trace: ReadTrace) -> None:
    with langfuse.start_as_current_observation(name="span-scores-root") as root:
        with langfuse.start_as_current_observation(name="span-scores-child") as child:
            child.score(name="child-score", value=0.25)
            child.score_trace(name="trace-score", value=0.75)
            child_id = child.id
        trace_id = root.trace_id
    langfuse.flush()

    scores = {s["name"]: s for s in read_trace(trace_id, observations=2, scores=2)["scores"]}
    assert scores["child-score"]["observationId"] == child_id
    assert scores["child-score"]["value"] == 0.25
    assert scores["trace-score"]["observationId"] is None
    assert scores["trace-score"]["value"] == 0.75


def test_session_score(langfuse: Langfuse, http: httpx.Client) -> None:
    session_id, score_id = f"session-{new_id()}", new_id()
    langfuse.create_score(name="session-quality", value=3.5, session_id=session_id, score_id=score_id)
    langfuse.flush()

    score = read_score(http, score_id)
    assert score["sessionId"] == session_id
    assert score["traceId"] is None and score["observationId"] is None
    assert score["dataType"] == "NUMERIC"
    assert score["value"] == 3.5
    if LEGACY_READS:
        model = langfuse.api.scores.get_by_id(score_id)
        assert model.session_id == session_id and model.data_type == "NUMERIC"


def test_custom_timestamp(langfuse: Langfuse, scored_trace: tuple[str, str], http: httpx.Client) -> None:
    trace_id, _ = scored_trace
    score_id = new_id()
    when = datetime.now(UTC) - timedelta(hours=2)
    langfuse.create_score(name="backfilled", value=1.0, trace_id=trace_id, score_id=score_id, timestamp=when)
    langfuse.flush()

    score = read_score(http, score_id)
    assert abs(parse_time(score["timestamp"]) - when) < timedelta(seconds=1)


def test_score_upsert_by_id(langfuse: Langfuse, scored_trace: tuple[str, str], http: httpx.Client) -> None:
    trace_id, _ = scored_trace
    score_id = new_id()
    langfuse.create_score(name="revised", value=0.1, trace_id=trace_id, score_id=score_id, comment="first")
    langfuse.flush()
    assert read_score(http, score_id)["value"] == 0.1

    langfuse.create_score(name="revised", value=0.7, trace_id=trace_id, score_id=score_id, comment="second")
    langfuse.flush()
    score = wait_until(lambda: (s := read_score(http, score_id))["comment"] == "second" and s, 10)
    assert score["value"] == 0.7
    assert score["traceId"] == trace_id
    ids = [s["id"] for s in http.get("/api/public/v2/scores", params={"traceId": trace_id}).json()["data"]]
    assert ids.count(score_id) == 1


def test_invalid_boolean_score_is_dropped_without_raising(
    langfuse: Langfuse, scored_trace: tuple[str, str], http: httpx.Client
) -> None:
    trace_id, _ = scored_trace
    invalid_id, valid_id = new_id(), new_id()
    # Neither call nor flush may raise: the SDK logs rejected scores.
    langfuse.create_score(name="bad-bool", value=-1, data_type="BOOLEAN", trace_id=trace_id, score_id=invalid_id)
    langfuse.create_score(name="good-bool", value=1, data_type="BOOLEAN", trace_id=trace_id, score_id=valid_id)
    langfuse.flush()

    assert read_score(http, valid_id)["stringValue"] == "True"
    response = http.get(f"/api/public/v2/scores/{invalid_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "LangfuseNotFoundError"


def test_scores_listed_through_sdk_client(
    langfuse: Langfuse, scored_trace: tuple[str, str], http: httpx.Client
) -> None:
    trace_id, child_id = scored_trace
    numeric_id, boolean_id = new_id(), new_id()
    langfuse.create_score(name="listed-numeric", value=0.5, trace_id=trace_id, score_id=numeric_id)
    langfuse.create_score(
        name="listed-bool", value=1, data_type="BOOLEAN", trace_id=trace_id, observation_id=child_id,
        score_id=boolean_id,
    )
    langfuse.flush()
    read_score(http, numeric_id)
    read_score(http, boolean_id)

    # 4.x: GET /api/public/v2/scores; 5.x: GET /api/public/v3/scores (polymorphic value, BOOLEAN → bool).
    listed = {s.id: s for s in langfuse.api.scores.get_many(trace_id=trace_id).data}
    assert set(listed) == {numeric_id, boolean_id}
    assert listed[numeric_id].value == 0.5
    if SDK_MAJOR >= 5:
        assert listed[boolean_id].value is True
    else:
        assert listed[boolean_id].value == 1 and listed[boolean_id].string_value == "True"
