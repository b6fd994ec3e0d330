"""Records → Langfuse JSON shapes. Every schema key is always present, nulls explicit
(the SDKs and their tests index response dicts directly)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from spyglass.domain.records import Record
from spyglass.domain.values import decode_metadata, decode_value, parse_timestamp
from spyglass.domain.values import format_timestamp as ts


def _seconds(start: int | None, end: int | None) -> float | None:
    return None if start is None or end is None else (end - start) / 1e6


def trace_to_api(trace: Record) -> dict[str, Any]:
    return {
        "id": trace["id"],
        "externalId": None,
        "timestamp": ts(trace["timestamp"]),
        "name": trace["name"] or None,
        "input": decode_value(trace["input"]),
        "output": decode_value(trace["output"]),
        "sessionId": trace["session_id"],
        "release": trace["release"],
        "version": trace["version"],
        "userId": trace["user_id"],
        "metadata": decode_metadata(trace["metadata"]),
        "tags": trace["tags"],
        "public": trace["public"],
        "bookmarked": trace["bookmarked"],
        "environment": trace["environment"],
        "projectId": trace["project_id"],
        "createdAt": ts(trace["created_at"]),
        "updatedAt": ts(trace["updated_at"]),
        "htmlPath": f"/project/{trace['project_id']}/traces/{trace['id']}",
    }


def trace_list_item(trace: Record, rollup: dict[str, Any]) -> dict[str, Any]:
    return {
        **trace_to_api(trace),
        "observations": rollup["observations"],
        "scores": rollup["scores"],
        "totalCost": rollup["total_cost"],
        "latency": rollup["latency"],
    }


def trace_detail(trace: Record, observations: list[Record], scores: list[Record]) -> dict[str, Any]:
    starts = [o["start_time"] for o in observations]
    ends = [max(o["end_time"] or o["start_time"], o["start_time"]) for o in observations]
    views = [observation_to_api(o, missing_price=0) for o in observations]
    return {
        **trace_to_api(trace),
        "latency": (max(ends) - min(starts)) / 1e6 if observations else 0,
        "totalCost": sum(v["calculatedTotalCost"] or 0 for v in views),
        "observations": views,
        "scores": [score_to_api(s) for s in scores],
    }


def _price(value: Any, missing: int | None) -> float | int | None:
    return missing if value is None else float(value)


def _sum_keys(values: dict[str, Any], needle: str) -> float:
    return sum(v for k, v in values.items() if needle in k)


def observation_to_api(obs: Record, missing_price: int | None = None) -> dict[str, Any]:
    usage, cost = obs["usage_details"], obs["cost_details"]
    prices = obs.get("model_prices") or {}
    usage_in, usage_out = int(_sum_keys(usage, "input")), int(_sum_keys(usage, "output"))
    usage_total = int(usage.get("total", 0))
    return {
        "id": obs["id"],
        "traceId": obs["trace_id"],
        "projectId": obs["project_id"],
        "type": obs["type"],
        "name": obs["name"] or None,
        "startTime": ts(obs["start_time"]),
        "endTime": ts(obs["end_time"]),
        "completionStartTime": ts(obs["completion_start_time"]),
        "model": obs["provided_model_name"],
        "modelParameters": decode_value(obs["model_parameters"]) if obs["model_parameters"] else {},
        "input": decode_value(obs["input"]),
        "output": decode_value(obs["output"]),
        "version": obs["version"],
        "metadata": decode_metadata(obs["metadata"]),
        "level": obs["level"],
        "statusMessage": obs["status_message"],
        "parentObservationId": obs["parent_observation_id"],
        "environment": obs["environment"],
        "promptId": obs["prompt_id"],
        "promptName": obs["prompt_name"],
        "promptVersion": obs["prompt_version"],
        "usage": {"input": usage_in, "output": usage_out, "total": usage_total, "unit": "TOKENS"},
        "unit": "TOKENS",
        "promptTokens": usage_in,
        "completionTokens": usage_out,
        "totalTokens": usage_total,
        "usageDetails": usage,
        "costDetails": cost,
        "usagePricingTierId": obs["usage_pricing_tier_id"],
        "usagePricingTierName": obs["usage_pricing_tier_name"],
        "modelId": obs["internal_model_id"],
        "inputPrice": _price(prices.get("inputPrice"), missing_price),
        "outputPrice": _price(prices.get("outputPrice"), missing_price),
        "totalPrice": _price(prices.get("totalPrice"), missing_price),
        "calculatedInputCost": _sum_keys(cost, "input") if cost else None,
        "calculatedOutputCost": _sum_keys(cost, "output") if cost else None,
        "calculatedTotalCost": float(cost["total"]) if "total" in cost else None,
        "latency": _seconds(obs["start_time"], obs["end_time"]),
        "timeToFirstToken": _seconds(obs["start_time"], obs["completion_start_time"]),
        "createdAt": ts(obs["created_at"]),
        "updatedAt": ts(obs["updated_at"]),
    }


V2_FIELD_GROUPS = ("core", "basic", "time", "io", "metadata", "model", "usage", "prompt", "metrics", "trace_context")


def observation_to_v2(
    obs: Record, groups: set[str], trace: Record | None, expand_metadata: set[str]
) -> dict[str, Any]:
    """The v2 observation shape: only the requested field groups; IO as raw strings."""
    out: dict[str, Any] = {
        "id": obs["id"], "traceId": obs["trace_id"], "startTime": ts(obs["start_time"]),
        "endTime": ts(obs["end_time"]), "projectId": obs["project_id"],
        "parentObservationId": obs["parent_observation_id"], "type": obs["type"],
    }
    trace = trace or {}
    if "basic" in groups:
        out.update(name=obs["name"], level=obs["level"], statusMessage=obs["status_message"],
                   version=obs["version"], environment=obs["environment"],
                   bookmarked=trace.get("bookmarked", False), public=trace.get("public", False),
                   userId=trace.get("user_id"), sessionId=trace.get("session_id"),
                   isRootObservation=obs["parent_observation_id"] is None)
    if "time" in groups:
        out.update(completionStartTime=ts(obs["completion_start_time"]), createdAt=ts(obs["created_at"]),
                   updatedAt=ts(obs["updated_at"]))
    if "io" in groups:
        out.update(input=obs["input"], output=obs["output"])
    if "metadata" in groups:
        out["metadata"] = {k: v if k in expand_metadata or len(v) <= 200 else v[:200]
                           for k, v in obs["metadata"].items()}
    if "model" in groups:
        # `model` is what SDK 5.x reads, `providedModelName` what older clients read.
        out.update(model=obs["provided_model_name"], providedModelName=obs["provided_model_name"],
                   internalModelId=obs["internal_model_id"],
                   modelParameters=decode_value(obs["model_parameters"]) if obs["model_parameters"] else None)
    if "usage" in groups:
        out.update(usageDetails=obs["usage_details"], costDetails=obs["cost_details"],
                   totalCost=obs["total_cost"], usagePricingTierName=obs["usage_pricing_tier_name"])
    if "prompt" in groups:
        out.update(promptId=obs["prompt_id"], promptName=obs["prompt_name"], promptVersion=obs["prompt_version"])
    if "metrics" in groups:
        out.update(latency=_seconds(obs["start_time"], obs["end_time"]),
                   timeToFirstToken=_seconds(obs["start_time"], obs["completion_start_time"]))
    if "trace_context" in groups:
        out.update(tags=trace.get("tags", []), release=trace.get("release"), traceName=trace.get("name"))
    return out


def score_to_api(score: Record, trace: Record | None = None, with_trace: bool = False) -> dict[str, Any]:
    data_type = score["data_type"]
    string_value = score["long_string_value"] if data_type == "CORRECTION" else score["string_value"]
    out = {
        "id": score["id"],
        "projectId": score["project_id"],
        "environment": score["environment"],
        "name": score["name"],
        "value": score["value"],
        "stringValue": string_value,
        "dataType": data_type,
        "source": score["source"],
        "authorUserId": score["author_user_id"],
        "comment": score["comment"],
        "metadata": decode_metadata(score["metadata"]),
        "configId": score["config_id"],
        "queueId": score["queue_id"],
        "executionTraceId": score["execution_trace_id"],
        "timestamp": ts(score["timestamp"]),
        "createdAt": ts(score["created_at"]),
        "updatedAt": ts(score["updated_at"]),
        "traceId": score["trace_id"],
        "observationId": score["observation_id"],
        "sessionId": score["session_id"],
        "datasetRunId": score["dataset_run_id"],
    }
    if with_trace:
        out["trace"] = None if trace is None else {
            "userId": trace["user_id"], "tags": trace["tags"], "environment": trace["environment"],
            "sessionId": trace["session_id"],
        }
    return out


def session_to_api(session: dict[str, Any], project_id: str) -> dict[str, Any]:
    return {"id": session["id"], "createdAt": ts(session["created_at"]), "projectId": project_id,
            "environment": session["environment"]}


def page_meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "totalItems": total, "totalPages": -(-total // limit) if total else 0}


def iso(value: datetime | None) -> str | None:
    """A stored datetime as the wire shows it (milliseconds, `Z`)."""
    return None if value is None else ts(parse_timestamp(value))
