"""`GET /api/public/v3/scores`: cursor pages, polymorphic values and a score's subject (SDK 5.x)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from spyglass.domain.errors import InvalidInput
from spyglass.domain.queries import ScoreQuery
from spyglass.domain.records import SCORE_DATA_TYPES, Record
from spyglass.domain.values import decode_metadata
from spyglass.domain.values import format_timestamp as ts
from spyglass.web.api.cursors import decode_cursor, encode_cursor
from spyglass.web.api.params import csv_values, timestamp_param
from spyglass.web.deps import ProjectScopeDep, ServicesDep
from spyglass.web.responses import json_response

router = APIRouter()

_PARAMS = {"limit", "cursor", "fields", "id", "name", "source", "dataType", "environment", "configId", "queueId",
           "authorUserId", "value", "valueMin", "valueMax", "traceId", "sessionId", "observationId",
           "experimentId", "fromTimestamp", "toTimestamp", "userId", "traceTags"}
_FIELD_GROUPS = {"core", "details", "subject", "annotation"}


def _subject(score: Record) -> dict[str, Any] | None:
    if score["observation_id"]:
        return {"kind": "observation", "id": score["observation_id"], "traceId": score["trace_id"]}
    if score["trace_id"]:
        return {"kind": "trace", "id": score["trace_id"]}
    if score["session_id"]:
        return {"kind": "session", "id": score["session_id"]}
    if score["dataset_run_id"]:
        return {"kind": "experiment", "id": score["dataset_run_id"]}
    return None


def score_to_v3(score: Record) -> dict[str, Any]:
    data_type = score["data_type"]
    value: Any = score["value"]
    if data_type == "BOOLEAN":
        value = score["value"] == 1.0
    elif data_type in ("CATEGORICAL", "TEXT"):
        value = score["string_value"]
    elif data_type == "CORRECTION":
        value = score["long_string_value"]
    return {
        "id": score["id"], "projectId": score["project_id"], "name": score["name"], "dataType": data_type,
        "value": value, "source": score["source"], "timestamp": ts(score["timestamp"]),
        "environment": score["environment"], "comment": score["comment"],
        "metadata": decode_metadata(score["metadata"]), "createdAt": ts(score["created_at"]),
        "updatedAt": ts(score["updated_at"]), "configId": score["config_id"],
        "authorUserId": score["author_user_id"], "queueId": score["queue_id"], "subject": _subject(score),
    }


def _query(params: dict[str, str]) -> ScoreQuery:
    unknown = set(params) - _PARAMS
    if unknown:
        raise InvalidInput(f"Unknown query parameter(s): {', '.join(sorted(unknown))}")
    data_types = csv_values([params["dataType"]] if params.get("dataType") else None)
    if any(t not in SCORE_DATA_TYPES for t in data_types):
        raise InvalidInput(f"dataType must be one of {', '.join(SCORE_DATA_TYPES)}")
    trace_ids, session_ids, observation_ids, experiment_ids = (
        csv_values([params[k]] if params.get(k) else None)
        for k in ("traceId", "sessionId", "observationId", "experimentId")
    )
    if observation_ids and not trace_ids:
        raise InvalidInput("observationId requires traceId")
    if sum(bool(x) for x in (trace_ids, session_ids, experiment_ids)) > 1:
        raise InvalidInput("traceId, sessionId and experimentId are mutually exclusive")
    values, string_values = _values(params.get("value"), data_types)
    value_min, value_max = (_number(params, k, data_types) for k in ("valueMin", "valueMax"))
    single = lambda key: csv_values([params[key]] if params.get(key) else None)  # noqa: E731
    return ScoreQuery(
        score_ids=single("id"), names=single("name"), sources=single("source"), data_types=data_types,
        environments=single("environment"), config_ids=single("configId"), queue_ids=single("queueId"),
        author_user_ids=single("authorUserId"), values=values, string_values=string_values,
        value_min=value_min, value_max=value_max, trace_ids=trace_ids, session_ids=session_ids,
        observation_ids=observation_ids, dataset_run_ids=experiment_ids,
        from_ts=timestamp_param("fromTimestamp", params.get("fromTimestamp")),
        to_ts=timestamp_param("toTimestamp", params.get("toTimestamp")),
        user_id=params.get("userId"), trace_tags=single("traceTags"),
    )


def _values(raw: str | None, data_types: list[str]) -> tuple[list[float], list[str]]:
    if not raw:
        return [], []
    if len(data_types) != 1 or data_types[0] not in ("NUMERIC", "BOOLEAN", "CATEGORICAL"):
        raise InvalidInput("value requires exactly one dataType of NUMERIC, BOOLEAN or CATEGORICAL")
    items = csv_values([raw])
    if data_types[0] == "CATEGORICAL":
        return [], items
    if data_types[0] == "BOOLEAN":
        if any(i not in ("true", "false") for i in items):
            raise InvalidInput('BOOLEAN values must be "true" or "false"')
        return [1.0 if i == "true" else 0.0 for i in items], []
    try:
        return [float(i) for i in items], []
    except ValueError:
        raise InvalidInput("NUMERIC values must be numbers") from None


def _number(params: dict[str, str], key: str, data_types: list[str]) -> float | None:
    if params.get(key) is None:
        return None
    if data_types != ["NUMERIC"]:
        raise InvalidInput(f"{key} requires dataType=NUMERIC")
    try:
        return float(params[key])
    except ValueError:
        raise InvalidInput(f"{key} must be a number") from None


@router.get("/api/public/v3/scores")
def list_scores_v3(
    request: Request,
    services: ServicesDep,
    scope: ProjectScopeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: str | None = None,
    fields: str | None = None,
) -> Response:
    groups = set(csv_values([fields] if fields else None)) or {"core"}
    if groups - _FIELD_GROUPS:
        raise InvalidInput(f"Unknown field group(s): {', '.join(sorted(groups - _FIELD_GROUPS))}")
    query = _query(dict(request.query_params))
    after = decode_cursor(cursor, ("lastTimestamp", "lastId"))
    rows = services.tracing.list_scores_after(scope, query, limit + 1, after)
    more, rows = len(rows) > limit, rows[:limit]
    meta: dict[str, Any] = {"limit": limit}
    if more:
        meta["cursor"] = encode_cursor({"lastTimestamp": rows[-1]["timestamp"], "lastId": rows[-1]["id"]})
    return json_response({"data": [score_to_v3(s) for s in rows], "meta": meta})
