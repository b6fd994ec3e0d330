"""Langfuse batch-ingestion events: validation and conversion to patches.

Each event is validated on its own so one bad event never costs its neighbours
(LANGFUSE_COMPAT §4). `event_to_patches` turns a valid event into the patches of
`domain.records`; it is pure, so the web edge can validate and the worker can convert.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from spyglass.domain.records import OBSERVATION_TYPES, Patch
from spyglass.domain.values import (
    encode_io,
    encode_metadata,
    json_text,
    legacy_usage,
    normalize_cost_details,
    normalize_environment,
    normalize_usage_details,
    parse_timestamp,
)

TRACE_EVENTS: Final = frozenset({"trace-create"})
SCORE_EVENTS: Final = frozenset({"score-create"})
OBSERVATION_EVENTS: Final[dict[str, str]] = {
    "span-create": "SPAN",
    "span-update": "SPAN",
    "generation-create": "GENERATION",
    "generation-update": "GENERATION",
    "event-create": "EVENT",
    **{f"{t.lower()}-create": t for t in OBSERVATION_TYPES if t not in ("SPAN", "GENERATION", "EVENT")},
}
LEGACY_OBSERVATION_EVENTS: Final = frozenset({"observation-create", "observation-update"})
SDK_LOG_EVENTS: Final = frozenset({"sdk-log"})
KNOWN_EVENTS: Final = TRACE_EVENTS | SCORE_EVENTS | set(OBSERVATION_EVENTS) | LEGACY_OBSERVATION_EVENTS | SDK_LOG_EVENTS
SCORE_ONLY_EVENTS: Final = SCORE_EVENTS | SDK_LOG_EVENTS


class EventError(Exception):
    """A single event is invalid; `status` and `message` go into its 207 entry."""

    def __init__(self, status: int, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


Timestamp = Annotated[str | None, Field(default=None)]


class Envelope(_Body):
    id: Annotated[str, Field(min_length=1, max_length=800, pattern=r"^[^\r]*$")]
    type: str
    timestamp: str
    body: dict[str, Any]
    metadata: Any = None

    @field_validator("timestamp")
    @classmethod
    def _iso(cls, value: str) -> str:
        if parse_timestamp(value) is None:
            raise ValueError("timestamp must be an ISO 8601 date-time")
        return value


class TraceBody(_Body):
    id: str | None = None
    timestamp: Timestamp
    name: Annotated[str | None, Field(default=None, max_length=1000)]
    externalId: str | None = None
    input: Any = None
    output: Any = None
    sessionId: str | None = None
    userId: str | None = None
    environment: str | None = None
    metadata: Any = None
    release: str | None = None
    version: str | None = None
    public: StrictBool | None = None
    tags: list[str] | None = None


Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]
ParamValue = str | int | float | bool | list[str] | dict[str, Any] | None


class ObservationBody(_Body):
    id: Annotated[str, Field(min_length=1)]
    traceId: str | None = None
    environment: str | None = None
    name: str | None = None
    startTime: Timestamp
    endTime: Timestamp
    completionStartTime: Timestamp
    metadata: Any = None
    input: Any = None
    output: Any = None
    level: Level | None = None
    statusMessage: str | None = None
    parentObservationId: str | None = None
    version: str | None = None
    model: str | None = None
    modelParameters: dict[str, ParamValue] | None = None
    usage: dict[str, Any] | None = None
    usageDetails: dict[str, Any] | None = None
    costDetails: dict[str, Any] | None = None
    promptName: str | None = None
    promptVersion: int | None = None
    # legacy generation fields
    prompt: Any = None
    completion: Any = None

    @field_validator("startTime", "endTime", "completionStartTime")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and parse_timestamp(value) is None:
            raise ValueError("must be an ISO 8601 date-time")
        return value


class LegacyObservationBody(ObservationBody):
    type: Literal["GENERATION", "SPAN", "EVENT"]


class ScoreBody(_Body):
    id: str | None = None
    name: Annotated[str, Field(min_length=1)]
    value: float | str
    dataType: Literal["NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION"] | None = None
    traceId: str | None = None
    observationId: str | None = None
    sessionId: str | None = None
    datasetRunId: str | None = None
    environment: str | None = None
    comment: str | None = None
    metadata: Any = None
    source: Literal["API", "EVAL", "ANNOTATION"] = "API"
    configId: str | None = None
    queueId: str | None = None
    executionTraceId: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ScoreBody:
        targets = [t for t in (self.traceId, self.sessionId, self.datasetRunId) if t]
        if len(targets) != 1:
            raise ValueError("a score needs exactly one of traceId, sessionId or datasetRunId")
        if self.observationId and not self.traceId:
            raise ValueError("observationId requires traceId")
        data_type = self.dataType or ("NUMERIC" if isinstance(self.value, float) else "CATEGORICAL")
        if data_type == "NUMERIC" and not isinstance(self.value, float):
            raise ValueError("NUMERIC scores need a numeric value")
        if data_type == "BOOLEAN" and self.value not in (0.0, 1.0):
            raise ValueError("BOOLEAN scores need the value 0 or 1")
        if data_type in ("CATEGORICAL", "TEXT", "CORRECTION") and not isinstance(self.value, str):
            raise ValueError(f"{data_type} scores need a string value")
        if data_type == "TEXT" and not 1 <= len(str(self.value)) <= 500:
            raise ValueError("TEXT scores need 1 to 500 characters")
        if data_type == "CORRECTION" and self.configId:
            raise ValueError("CORRECTION scores cannot have a configId")
        if data_type == "CORRECTION" and not self.traceId:
            raise ValueError("CORRECTION scores must target a trace")
        self.dataType = data_type
        return self


class SdkLogBody(_Body):
    log: Any = None


def _describe(exc: ValidationError) -> str:
    parts = []
    for issue in exc.errors(include_url=False):
        where = ".".join(str(p) for p in issue["loc"]) or "body"
        parts.append(f"{where}: {issue['msg']}")
    return "; ".join(parts)


def validate_event(raw: Any, scores_only: bool = False) -> Envelope:
    """Validate one batch entry; raises EventError with the per-event status."""
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise EventError(400, "Invalid request data", _describe(exc)) from None
    kind = envelope.type
    if kind not in KNOWN_EVENTS:
        raise EventError(400, "Invalid request data", f"type: unknown event type '{kind}'")
    if scores_only and kind not in SCORE_ONLY_EVENTS:
        raise EventError(401, "Authentication error", "Access Scope Denied")
    try:
        body = _body_model(kind).model_validate(envelope.body)
    except ValidationError as exc:
        raise EventError(400, "Invalid request data", _describe(exc)) from None
    envelope.body = body.model_dump(exclude_unset=True)
    if isinstance(body, ScoreBody):
        envelope.body["dataType"] = body.dataType  # inferred when the client left it out
    if isinstance(body, ScoreBody | TraceBody) and not envelope.body.get("id"):
        # Assigned once, before the event is stored, so that replays upsert the same entity.
        envelope.body["id"] = str(uuid.uuid4())
    return envelope


def _body_model(kind: str) -> type[_Body]:
    if kind in TRACE_EVENTS:
        return TraceBody
    if kind in SCORE_EVENTS:
        return ScoreBody
    if kind in LEGACY_OBSERVATION_EVENTS:
        return LegacyObservationBody
    if kind in SDK_LOG_EVENTS:
        return SdkLogBody
    return ObservationBody


def event_id(raw: Any) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else "unknown"


def sort_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Creates before updates, each group by envelope timestamp (upstream's order)."""
    return sorted(
        events, key=lambda e: (e["type"].endswith("-update"), parse_timestamp(e["timestamp"]) or 0)
    )


def event_to_patches(event: dict[str, Any], project_id: str) -> list[tuple[str, Patch]]:
    """A validated event (as a dict: id, type, timestamp, body) → (entity kind, patch) pairs."""
    kind, body = event["type"], event["body"]
    envelope_ts = parse_timestamp(event["timestamp"])
    if kind in TRACE_EVENTS:
        return [("trace", _trace_patch(body, project_id, envelope_ts))]
    if kind in SCORE_EVENTS:
        return [("score", _score_patch(body, project_id, envelope_ts))]
    if kind in SDK_LOG_EVENTS:
        return []
    obs_type = body.get("type") if kind in LEGACY_OBSERVATION_EVENTS else OBSERVATION_EVENTS[kind]
    patch = _observation_patch(body, project_id, envelope_ts, obs_type, is_create=kind.endswith("-create"))
    out: list[tuple[str, Patch]] = []
    if "trace_id" not in patch and kind.endswith("-create"):
        # SDKs before v2 sent observations without a trace; Langfuse wraps them in one.
        patch["trace_id"] = patch["id"]
        out.append(("trace", {"id": patch["id"], "project_id": project_id, "timestamp": patch["start_time"],
                              "environment": patch.get("environment", "default")}))
    out.append(("observation", patch))
    return out


def _trace_patch(body: dict[str, Any], project_id: str, envelope_ts: int | None) -> Patch:
    patch: Patch = {"id": body["id"], "project_id": project_id}
    patch["timestamp"] = parse_timestamp(body.get("timestamp")) or envelope_ts
    patch["environment"] = normalize_environment(body.get("environment"))
    patch["public"] = bool(body.get("public"))
    simple = {"name": "name", "userId": "user_id", "sessionId": "session_id", "release": "release",
              "version": "version", "tags": "tags"}
    for src, dst in simple.items():
        if src in body:
            patch[dst] = body[src]
    if body.get("tags") is None:
        patch.pop("tags", None)
    for field in ("input", "output"):
        if field in body:
            patch[field] = encode_io(body[field])
    if body.get("metadata") is not None:
        patch["metadata"] = encode_metadata(body["metadata"])
    return patch


def _observation_patch(
    body: dict[str, Any], project_id: str, envelope_ts: int | None, obs_type: str, is_create: bool
) -> Patch:
    patch: Patch = {"id": body["id"], "project_id": project_id}
    if is_create or "type" in body:
        patch["type"] = obs_type
    if body.get("traceId"):
        patch["trace_id"] = body["traceId"]
    start = parse_timestamp(body.get("startTime"))
    if start is not None or is_create:
        patch["start_time"] = start or envelope_ts
    if is_create or "environment" in body:
        patch["environment"] = normalize_environment(body.get("environment"))
    for src, dst in (("endTime", "end_time"), ("completionStartTime", "completion_start_time")):
        if src in body:
            patch[dst] = parse_timestamp(body[src])
    simple = {"name": "name", "level": "level", "statusMessage": "status_message",
              "parentObservationId": "parent_observation_id", "version": "version", "model": "provided_model_name"}
    for src, dst in simple.items():
        if src in body:
            patch[dst] = body[src]
    if patch.get("level") is None:
        patch.pop("level", None)
    inp = body.get("input", body.get("prompt"))
    out = body.get("output", body.get("completion"))
    if inp is not None:
        patch["input"] = encode_io(inp)
    if out is not None:
        patch["output"] = encode_io(out)
    if body.get("metadata") is not None:
        patch["metadata"] = encode_metadata(body["metadata"])
    if body.get("modelParameters") is not None:
        patch["model_parameters"] = json_text(body["modelParameters"])
    usage, cost = legacy_usage(body.get("usage"))
    usage.update(normalize_usage_details(body.get("usageDetails")))
    cost.update(normalize_cost_details(body.get("costDetails")))
    if usage:
        patch["provided_usage_details"] = usage
    if cost:
        patch["provided_cost_details"] = cost
    if body.get("promptName") and body.get("promptVersion") is not None:
        patch["prompt_name"] = body["promptName"]
        patch["prompt_version"] = body["promptVersion"]
    return patch


def _score_patch(body: dict[str, Any], project_id: str, envelope_ts: int | None) -> Patch:
    data_type = body["dataType"]
    value = body["value"]
    patch: Patch = {
        "id": body["id"],
        "project_id": project_id,
        "timestamp": envelope_ts,
        "name": "output" if data_type == "CORRECTION" else body["name"],
        "data_type": data_type,
        "source": body.get("source", "API"),
        "environment": normalize_environment(body.get("environment")),
    }
    if data_type == "NUMERIC":
        patch["value"], patch["string_value"] = float(value), None
    elif data_type == "BOOLEAN":
        patch["value"], patch["string_value"] = float(value), "True" if float(value) == 1.0 else "False"
    elif data_type == "CORRECTION":
        patch["value"], patch["string_value"], patch["long_string_value"] = 0.0, None, str(value)
    else:
        patch["value"], patch["string_value"] = 0.0, str(value)
    for src, dst in (("traceId", "trace_id"), ("observationId", "observation_id"), ("sessionId", "session_id"),
                     ("datasetRunId", "dataset_run_id"), ("comment", "comment"), ("configId", "config_id"),
                     ("queueId", "queue_id"), ("executionTraceId", "execution_trace_id")):
        if src in body:
            patch[dst] = body[src]
    if body.get("metadata") is not None:
        patch["metadata"] = encode_metadata(body["metadata"])
    return patch
