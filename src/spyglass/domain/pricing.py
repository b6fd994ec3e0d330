"""Model definitions, and how an observation's usage becomes its cost (Langfuse's rules).

Pure: the catalogue of models is handed in by a service; nothing here reads a store.
Matching: among the models whose pattern matches the observation's model name, a
project's own model beats a managed default, then the latest start date wins. Tier: the
first non-default tier (by priority) whose conditions all hold, else the default tier.
Cost: provided costs switch inference off entirely; otherwise each usage type with a
price in the tier costs price × units, and the total is the priced `total` or the sum.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

MAX_PATTERN_LENGTH: Final = 200
UNITS: Final = ("TOKENS", "CHARACTERS", "MILLISECONDS", "SECONDS", "REQUESTS", "IMAGES")
_COMPARISONS: Final = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
}


@dataclass(frozen=True, slots=True)
class PricingTier:
    id: str
    name: str
    is_default: bool
    priority: int
    conditions: tuple[Mapping[str, Any], ...] = ()
    prices: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelDefinition:
    id: str
    project_id: str | None  # None: a managed default from the shipped price table
    model_name: str
    match_pattern: str
    pricing_tiers: tuple[PricingTier, ...]
    start_date: datetime | None = None
    unit: str | None = None
    tokenizer_id: str | None = None
    tokenizer_config: Mapping[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def default_tier(self) -> PricingTier | None:
        return next((tier for tier in self.pricing_tiers if tier.is_default), None)


@dataclass(frozen=True, slots=True)
class Pricing:
    """What pricing added to an observation (all empty when no model matched)."""

    model_id: str | None = None
    usage_details: dict[str, int] = field(default_factory=dict)
    cost_details: dict[str, Decimal] = field(default_factory=dict)
    total_cost: Decimal | None = None
    tier_id: str | None = None
    tier_name: str | None = None


class InvalidPattern(ValueError):
    """A match pattern that is too long, not a regex, or prone to catastrophic backtracking."""


# Nested quantifiers such as `(a+)+` or `(.*)*` can take exponential time on a crafted model name.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regex of a match pattern; Langfuse's `(?i)` prefix works as in Python."""
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(f"matchPattern must be 1 to {MAX_PATTERN_LENGTH} characters")
    if _NESTED_QUANTIFIER.search(pattern):
        raise InvalidPattern("matchPattern has a nested quantifier (catastrophic backtracking)")
    return _compiled(pattern)


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidPattern(f"matchPattern is not a valid regular expression: {exc}") from None


def match_model(model_name: str | None, models: Iterable[ModelDefinition], project_id: str) -> ModelDefinition | None:
    """The model an observation's `model` name resolves to, or None."""
    if not model_name:
        return None
    best: ModelDefinition | None = None
    for model in models:
        if model.project_id not in (None, project_id):
            continue
        try:
            if not _compiled(model.match_pattern).search(model_name):
                continue
        except InvalidPattern:
            continue
        if best is None or _rank(model) > _rank(best):
            best = model
    return best


def _rank(model: ModelDefinition) -> tuple[bool, bool, float]:
    # Project-specific first, then start date descending with no start date last.
    start = model.start_date.timestamp() if model.start_date is not None else float("-inf")
    return (model.project_id is not None, model.start_date is not None, start)


def select_tier(model: ModelDefinition, usage: Mapping[str, int], model_parameters: Mapping[str, Any] | None,
                metadata: Mapping[str, Any] | None) -> PricingTier | None:
    for tier in sorted((t for t in model.pricing_tiers if not t.is_default), key=lambda t: t.priority):
        if tier.conditions and all(_holds(c, usage, model_parameters, metadata) for c in tier.conditions):
            return tier
    return model.default_tier


def _holds(condition: Mapping[str, Any], usage: Mapping[str, int], model_parameters: Mapping[str, Any] | None,
           metadata: Mapping[str, Any] | None) -> bool:
    if "usageDetailPattern" in condition:
        flags = 0 if condition.get("caseSensitive") else re.IGNORECASE
        try:
            pattern = re.compile(str(condition["usageDetailPattern"]), flags)
        except re.error:
            return False
        compare = _COMPARISONS.get(str(condition.get("operator")))
        if compare is None:
            return False
        total = sum(value for key, value in usage.items() if pattern.search(key))
        return bool(compare(total, condition.get("value", 0)))
    source = model_parameters if condition.get("source") == "model_parameters" else metadata
    key = condition.get("key")
    if condition.get("operator") != "in" or not source or key not in source:
        return False
    return _as_text(source[key]) in {_as_text(v) for v in condition.get("values") or ()}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def price_observation(model: ModelDefinition | None, usage: Mapping[str, int], provided_cost: Mapping[str, float],
                      model_parameters: Mapping[str, Any] | None = None,
                      metadata: Mapping[str, Any] | None = None) -> Pricing:
    """Usage with its total, and the cost: provided costs win, else usage × the tier's prices."""
    usage = with_total(usage)
    if provided_cost:
        cost = {key: Decimal(str(value)) for key, value in provided_cost.items()}
        if "total" not in cost and set(cost) <= {"input", "output"}:
            cost["total"] = sum(cost.values(), Decimal(0))
        return Pricing(model.id if model else None, dict(usage), cost, cost.get("total"))
    if model is None or not usage:
        return Pricing(model.id if model else None, dict(usage))
    tier = select_tier(model, usage, model_parameters, metadata)
    if tier is None:
        return Pricing(model.id, dict(usage))
    cost = {key: tier.prices[key] * units for key, units in usage.items() if key in tier.prices}
    if not cost:
        return Pricing(model.id, dict(usage), {}, None, tier.id, tier.name)
    if "total" not in cost:
        cost["total"] = sum(cost.values(), Decimal(0))
    return Pricing(model.id, dict(usage), cost, cost["total"], tier.id, tier.name)


def with_total(usage: Mapping[str, int]) -> dict[str, int]:
    """Provided usage without a `total` gets the sum of its values (Langfuse's rule)."""
    result = {key: int(value) for key, value in usage.items() if value is not None and value >= 0}
    if result and "total" not in result:
        result["total"] = sum(result.values())
    return result


def legacy_prices(model: ModelDefinition) -> dict[str, Decimal | None]:
    """The flat `inputPrice`/`outputPrice`/`totalPrice` of the default tier (Langfuse's legacy fields)."""
    prices = model.default_tier.prices if model.default_tier else {}
    return {name: prices.get(key) for name, key in
            (("inputPrice", "input"), ("outputPrice", "output"), ("totalPrice", "total"))}
