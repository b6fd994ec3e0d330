"""The pricing step of the worker: usage and cost of each merged observation.

Runs after the merge, on the complete record, so an update that adds usage or changes the
model re-prices the observation. Counts tokens only when a matched model has a tokenizer,
the client sent neither usage nor cost, and the observation is not an error (Langfuse).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from spyglass.domain.pricing import ModelDefinition, match_model, price_observation
from spyglass.domain.records import Record

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 10_000
ModelsFor = Callable[[str], list[ModelDefinition]]


class TokenCounter(Protocol):
    def count(self, tokenizer_id: str | None, tokenizer_config: Any, value: Any) -> int | None: ...


class Pricer:
    def __init__(self, models_for: ModelsFor, tokens: TokenCounter | None = None) -> None:
        self._models_for = models_for
        self._tokens = tokens
        # Matching tries every pattern (~170 defaults): remember each name's answer for as long
        # as the catalogue handed out for its project is the same list.
        self._catalogues: dict[str, list[ModelDefinition]] = {}
        self._matches: dict[tuple[str, str], ModelDefinition | None] = {}

    def price(self, record: Record) -> None:
        """Set usage_details, cost_details, total_cost, the matched model and tier on an observation."""
        model = self._match(record["project_id"], record["provided_model_name"])
        usage = record["provided_usage_details"]  # price_observation completes its total
        provided_cost = record["provided_cost_details"]
        if not usage and model is not None and not provided_cost and record["level"] != "ERROR":
            usage = self._count(model, record)
        pricing = price_observation(model, usage, provided_cost, _object(record["model_parameters"]),
                                    record["metadata"])
        record["internal_model_id"] = pricing.model_id
        record["usage_details"] = pricing.usage_details
        record["cost_details"] = {key: float(value) for key, value in pricing.cost_details.items()}
        record["total_cost"] = None if pricing.total_cost is None else float(pricing.total_cost)
        record["usage_pricing_tier_id"] = pricing.tier_id
        record["usage_pricing_tier_name"] = pricing.tier_name

    def _match(self, project_id: str, model_name: str | None) -> ModelDefinition | None:
        if not model_name:
            return None
        catalogue = self._models_for(project_id)
        if self._catalogues.get(project_id) is not catalogue:
            self._catalogues[project_id] = catalogue
            self._matches = {key: found for key, found in self._matches.items() if key[0] != project_id}
        key = (project_id, model_name)
        if key not in self._matches:
            if len(self._matches) > _MAX_REMEMBERED:
                self._matches.clear()
            self._matches[key] = match_model(model_name, catalogue, project_id)
        return self._matches[key]

    def _count(self, model: ModelDefinition, record: Record) -> dict[str, int]:
        if self._tokens is None or model.tokenizer_id is None:
            return {}
        try:
            counted = {part: self._tokens.count(model.tokenizer_id, model.tokenizer_config, record[part])
                       for part in ("input", "output")}
        except Exception:  # noqa: BLE001 - a tokenizer failure means "no usage", never a failed job
            log.warning("could not count tokens for model %s", model.model_name, exc_info=True)
            return {}
        usage = {part: count for part, count in counted.items() if count}
        if not usage:
            return {}
        return {"input": usage.get("input", 0), "output": usage.get("output", 0),
                "total": usage.get("input", 0) + usage.get("output", 0)}


def _object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
