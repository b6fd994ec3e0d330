"""Use cases over traces, observations, sessions and scores (reads, deletes, score writes)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import InvalidInput, NotFound
from spyglass.domain.queries import ObservationQuery, Page, ScoreQuery, SessionQuery, TraceQuery
from spyglass.domain.records import Record
from spyglass.domain.values import now_micros
from spyglass.ingestion.accept import Acceptor
from spyglass.storage.olap.queries import TraceQueries

WaitFor = Callable[[str, float], bool]
# (project id, model ids) → each model's flat inputPrice/outputPrice/totalPrice (Langfuse's legacy fields).
ModelPrices = Callable[[str, set[str]], dict[str, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class TraceDetail:
    trace: Record
    observations: list[Record]
    scores: list[Record]


@dataclass(frozen=True, slots=True)
class TraceList:
    traces: list[Record]
    total: int
    rollups: dict[str, dict[str, Any]]


class TracingService:
    def __init__(self, queries: TraceQueries, acceptor: Acceptor, wait_for: WaitFor,
                 model_prices: ModelPrices | None = None) -> None:
        self.queries = queries
        self.acceptor = acceptor
        self.wait_for = wait_for
        self.model_prices = model_prices

    def _with_prices(self, project_id: str, observations: list[Record]) -> list[Record]:
        """Attach the matched model's prices (read-time, as Langfuse joins its models table)."""
        ids = {o["internal_model_id"] for o in observations if o["internal_model_id"]}
        if ids and self.model_prices is not None:
            prices = self.model_prices(project_id, ids)
            for observation in observations:
                observation["model_prices"] = prices.get(observation["internal_model_id"] or "")
        return observations

    # -- traces ------------------------------------------------------------------------
    def list_traces(self, scope: ProjectScope, query: TraceQuery, page: Page) -> TraceList:
        with self.queries.consistent():
            traces, total = self.queries.list_traces(scope.project_id, query, page)
            rollups = self.queries.trace_rollups(scope.project_id, [t["id"] for t in traces])
        return TraceList(traces, total, rollups)

    def get_trace(self, scope: ProjectScope, trace_id: str) -> TraceDetail:
        trace, observations, scores = self.queries.trace_detail(scope.project_id, trace_id)
        if trace is None:
            raise NotFound(f"Trace {trace_id} not found within authorized project")
        return TraceDetail(trace, self._with_prices(scope.project_id, observations), scores)

    def delete_traces(self, scope: ProjectScope, trace_ids: list[str]) -> None:
        if not trace_ids:
            raise InvalidInput("traceIds must contain at least one id")
        if len(trace_ids) > 1000:
            raise InvalidInput("At most 1000 traces can be deleted at once")
        self._enqueue_and_wait(scope, "delete-traces", trace_ids)

    def has_recent_events(self, window_seconds: int = 180) -> bool:
        """Liveness of ingestion: a trace or observation was ingested within the window (health check)."""
        return self.queries.has_events_since(now_micros() - window_seconds * 1_000_000)

    # -- observations ------------------------------------------------------------------
    def list_observations(self, scope: ProjectScope, query: ObservationQuery, page: Page) -> tuple[list[Record], int]:
        rows, total = self.queries.list_observations(scope.project_id, query, page)
        return self._with_prices(scope.project_id, rows), total

    def list_observations_after(
        self, scope: ProjectScope, query: ObservationQuery, limit: int, after: tuple[int, str, str] | None
    ) -> list[Record]:
        return self.queries.list_observations_after(scope.project_id, query, limit, after)

    def trace_of_observation(self, scope: ProjectScope, observation_id: str) -> str | None:
        observation = self.queries.find("observation", scope.project_id, observation_id)
        return None if observation is None else observation["trace_id"]

    def get_observation(self, scope: ProjectScope, observation_id: str) -> Record:
        observation = self.queries.find("observation", scope.project_id, observation_id)
        if observation is None:
            raise NotFound(f"Observation {observation_id} not found within authorized project")
        return self._with_prices(scope.project_id, [observation])[0]

    # -- sessions ----------------------------------------------------------------------
    def list_sessions(self, scope: ProjectScope, query: SessionQuery, page: Page) -> tuple[list[dict[str, Any]], int]:
        return self.queries.list_sessions(scope.project_id, query, page)

    def get_session(self, scope: ProjectScope, session_id: str) -> tuple[dict[str, Any], list[Record]]:
        traces = self.queries.session_traces(scope.project_id, session_id)
        if not traces:
            raise NotFound(f"Session {session_id} not found within authorized project")
        session = {"id": session_id, "created_at": min(t["timestamp"] for t in traces),
                   "environment": traces[0]["environment"]}
        return session, traces

    # -- scores ------------------------------------------------------------------------
    def list_scores(self, scope: ProjectScope, query: ScoreQuery, page: Page) -> tuple[list[Record], int]:
        return self.queries.list_scores(scope.project_id, query, page)

    def trace_context(self, scope: ProjectScope, trace_ids: list[str]) -> dict[str, Record]:
        """Trace fields that observation and score lists embed, for the given traces."""
        return self.queries.trace_context(scope.project_id, sorted(set(trace_ids)))

    def list_scores_after(
        self, scope: ProjectScope, query: ScoreQuery, limit: int, after: tuple[int, str] | None
    ) -> list[Record]:
        return self.queries.list_scores_after(scope.project_id, query, limit, after)

    def get_score(self, scope: ProjectScope, score_id: str) -> Record:
        score = self.queries.find("score", scope.project_id, score_id)
        if score is None:
            raise NotFound(f"Score {score_id} not found within authorized project")
        return score

    def create_score(self, scope: ProjectScope, body: dict[str, Any]) -> str:
        """`POST /scores` with one score: through the same durable pipeline as batches."""
        event = _score_event(body)
        result = self.acceptor.accept_batch(scope, [event])
        if result.errors:
            error = result.errors[0]
            raise InvalidInput(f"{error['message']}: {error.get('error', '')}".rstrip(": "))
        return event["body"]["id"]

    def create_scores(self, scope: ProjectScope, bodies: list[Any]) -> tuple[int, list[str]]:
        """`POST /scores` with a list (SDK 5.x): returns (accepted, error messages); valid ones are kept."""
        events, errors = [], []
        for index, body in enumerate(bodies):
            try:
                events.append(_score_event(body))
            except InvalidInput as exc:
                errors.append(f"score {index}: {exc.message}")
        result = self.acceptor.accept_batch(scope, events) if events else None
        if result is not None:
            errors += [f"score {e['id']}: {e['message']}: {e.get('error', '')}" for e in result.errors]
        return (len(result.successes) if result else 0), errors

    def delete_score(self, scope: ProjectScope, score_id: str) -> None:
        self.get_score(scope, score_id)
        self._enqueue_and_wait(scope, "delete-scores", [score_id])

    def _enqueue_and_wait(self, scope: ProjectScope, kind: Any, ids: list[str]) -> None:
        # The deletion is durable once queued; waiting only gives callers read-your-deletes.
        job_id = self.acceptor.enqueue_deletion(scope, kind, ids)
        self.wait_for(job_id, 10.0)


def _score_event(body: Any) -> dict[str, Any]:
    """A `POST /scores` body as a score-create event (its own `timestamp` wins, as in the SDK)."""
    if not isinstance(body, dict):
        raise InvalidInput("a score must be a JSON object")
    if body.get("source") == "EVAL":
        raise InvalidInput("source EVAL is reserved for evaluators; use API or ANNOTATION")
    if body.get("source") == "ANNOTATION" and not body.get("configId") and body.get("dataType") != "CORRECTION":
        raise InvalidInput("ANNOTATION scores require a configId")
    body = {**body, "id": body.get("id") or str(uuid.uuid4())}
    timestamp = body.pop("timestamp", None) or datetime.now(tz=UTC).isoformat()
    return {"id": uuid.uuid4().hex, "type": "score-create", "timestamp": timestamp, "body": body}
