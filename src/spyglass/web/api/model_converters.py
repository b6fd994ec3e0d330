"""Model price definitions → Langfuse's `Model` JSON (every schema key present, nulls explicit)."""

from __future__ import annotations

from typing import Any

from spyglass.domain.pricing import ModelDefinition, PricingTier, legacy_prices
from spyglass.web.api.converters import iso


def model_to_api(model: ModelDefinition) -> dict[str, Any]:
    """The `Model` schema: the flat prices and `prices` come from the default tier."""
    default = model.default_tier
    legacy = legacy_prices(model)
    return {
        "id": model.id,
        "modelName": model.model_name,
        "matchPattern": model.match_pattern,
        "startDate": iso(model.start_date),
        "unit": model.unit,
        "inputPrice": _number(legacy["inputPrice"]),
        "outputPrice": _number(legacy["outputPrice"]),
        "totalPrice": _number(legacy["totalPrice"]),
        "tokenizerId": model.tokenizer_id,
        "tokenizerConfig": model.tokenizer_config,
        "isLangfuseManaged": model.project_id is None,
        "createdAt": iso(model.created_at),
        "prices": {usage: {"price": float(price)} for usage, price in (default.prices if default else {}).items()},
        "pricingTiers": [_tier(tier) for tier in sorted(model.pricing_tiers, key=lambda tier: tier.priority)],
    }


def _tier(tier: PricingTier) -> dict[str, Any]:
    return {
        "id": tier.id,
        "name": tier.name,
        "isDefault": tier.is_default,
        "priority": tier.priority,
        "conditions": [dict(condition) for condition in tier.conditions],
        "prices": {usage: float(price) for usage, price in tier.prices.items()},
    }


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
