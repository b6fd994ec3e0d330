"""The managed model price table shipped with Spyglass (`data/default-model-prices.json`).

The file is Langfuse's default price list, kept as data: a release that ships a new file
upgrades every installation at its next start (`ModelService.sync_defaults`), rewriting
only the models whose `updatedAt` changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from spyglass.domain.pricing import ModelDefinition, PricingTier

DEFAULT_MODELS_RESOURCE = "data/default-model-prices.json"


def load_default_models() -> list[ModelDefinition]:
    """Every managed model of the shipped table (`project_id` None), prices as exact Decimals."""
    text = resources.files("spyglass.storage.oltp").joinpath(DEFAULT_MODELS_RESOURCE).read_text("utf-8")
    return parse_default_models(json.loads(text))


def parse_default_models(entries: list[dict[str, Any]]) -> list[ModelDefinition]:
    return [_model(entry) for entry in entries]


def _model(entry: dict[str, Any]) -> ModelDefinition:
    try:
        return ModelDefinition(
            id=entry["id"],
            project_id=None,
            model_name=entry["modelName"],
            match_pattern=entry["matchPattern"],
            pricing_tiers=tuple(_tier(tier) for tier in entry["pricingTiers"]),
            start_date=_datetime(entry.get("startDate")),
            unit=entry.get("unit"),
            tokenizer_id=entry.get("tokenizerId"),
            tokenizer_config=entry.get("tokenizerConfig"),
            created_at=_datetime(entry.get("createdAt")),
            updated_at=_datetime(entry.get("updatedAt")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"bad entry {entry.get('id')!r} in the default model prices: {exc!r}") from exc


def _tier(tier: dict[str, Any]) -> PricingTier:
    return PricingTier(
        id=tier["id"],
        name=tier["name"],
        is_default=bool(tier["isDefault"]),
        priority=int(tier["priority"]),
        conditions=tuple(tier.get("conditions") or ()),
        # str() of the parsed float is its shortest repr, i.e. the literal in the file.
        prices={usage_type: Decimal(str(price)) for usage_type, price in tier["prices"].items()},
    )


def _datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)  # "…Z" is accepted since Python 3.11
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
