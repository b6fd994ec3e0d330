"""Model matching, tier selection and cost, by Langfuse's rules (LANGFUSE_COMPAT §10)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from spyglass.domain.pricing import (
    InvalidPattern,
    ModelDefinition,
    PricingTier,
    compile_pattern,
    legacy_prices,
    match_model,
    price_observation,
    select_tier,
    with_total,
)


def tier(prices: dict[str, str], *, id: str = "std", default: bool = True, priority: int = 0,  # noqa: A002
         conditions: tuple = ()) -> PricingTier:
    return PricingTier(id, id.title(), default, priority, conditions, {k: Decimal(v) for k, v in prices.items()})


def model(id: str, pattern: str, *tiers: PricingTier, project: str | None = None,  # noqa: A002
          start: datetime | None = None) -> ModelDefinition:
    return ModelDefinition(id, project, id, pattern, tiers or (tier({"input": "1", "output": "2"}),), start_date=start)


GPT4O = model("gpt-4o", r"(?i)^(openai/)?(gpt-4o)$", tier({"input": "0.0000025", "output": "0.00001"}))


def test_the_pattern_is_anchored_and_case_insensitive_as_written():
    assert match_model("GPT-4o", [GPT4O], "p") is GPT4O
    assert match_model("openai/gpt-4o", [GPT4O], "p") is GPT4O
    assert match_model("gpt-4o-mini", [GPT4O], "p") is None
    assert match_model(None, [GPT4O], "p") is None and match_model("", [GPT4O], "p") is None


def test_a_projects_own_model_beats_the_default_and_the_latest_start_date_wins():
    old = model("mine-old", r"(?i)^gpt-4o$", project="p", start=datetime(2024, 1, 1, tzinfo=UTC))
    new = model("mine-new", r"(?i)^gpt-4o$", project="p", start=datetime(2025, 1, 1, tzinfo=UTC))
    undated = model("mine-undated", r"(?i)^gpt-4o$", project="p")
    other_project = model("theirs", r"(?i)^gpt-4o$", project="q", start=datetime(2026, 1, 1, tzinfo=UTC))
    assert match_model("gpt-4o", [GPT4O, undated, old, new, other_project], "p").id == "mine-new"
    assert match_model("gpt-4o", [GPT4O, undated], "p").id == "mine-undated"
    assert match_model("gpt-4o", [GPT4O, other_project], "p") is GPT4O  # another project's model never applies


def test_tiers_are_tried_by_priority_and_all_conditions_must_hold():
    large = tier({"input": "2"}, id="large", default=False, priority=1,
                 conditions=({"usageDetailPattern": "(input|prompt|cached)", "operator": "gt", "value": 200_000},))
    fast = tier({"input": "3"}, id="fast", default=False, priority=2,
                conditions=({"source": "model_parameters", "key": "service_tier", "operator": "in",
                             "values": ["fast", "priority"]},))
    both = model("m", "^m$", tier({"input": "1"}), fast, large)
    assert select_tier(both, {"input": 10}, None, None).id == "std"
    assert select_tier(both, {"input": 150_000, "input_cached_tokens": 60_000}, None, None).id == "large"
    assert select_tier(both, {"input": 10}, {"service_tier": "priority"}, None).id == "fast"
    assert select_tier(both, {"input": 300_000}, {"service_tier": "fast"}, None).id == "large"  # lower priority first
    assert select_tier(both, {"input": 10}, {"service_tier": "auto"}, None).id == "std"
    assert select_tier(both, {"input": 10}, None, {"service_tier": "fast"}).id == "std"  # metadata is another source


def test_cost_is_usage_times_price_with_a_total():
    pricing = price_observation(GPT4O, {"input": 1000, "output": 500}, {})
    assert pricing.model_id == "gpt-4o" and pricing.tier_id == "std"
    assert pricing.usage_details == {"input": 1000, "output": 500, "total": 1500}
    assert pricing.cost_details == {"input": Decimal("0.0025"), "output": Decimal("0.005"), "total": Decimal("0.0075")}
    assert pricing.total_cost == Decimal("0.0075")


def test_usage_types_without_a_price_cost_nothing_and_a_priced_total_wins():
    priced_total = model("t", "^t$", tier({"total": "0.5", "input": "1"}))
    pricing = price_observation(priced_total, {"input": 2, "output": 3}, {})
    assert pricing.cost_details == {"input": Decimal(2), "total": Decimal("2.5")}
    assert pricing.total_cost == Decimal("2.5")
    assert price_observation(GPT4O, {"images": 3}, {}).cost_details == {}


def test_provided_costs_switch_inference_off():
    pricing = price_observation(GPT4O, {"input": 1000}, {"input": 0.1, "output": 0.2})
    assert pricing.cost_details == {"input": Decimal("0.1"), "output": Decimal("0.2"), "total": Decimal("0.3")}
    assert pricing.total_cost == Decimal("0.3") and pricing.tier_id is None
    assert price_observation(GPT4O, {}, {"total": 2.0}).total_cost == Decimal("2.0")
    # Only input/output add up to a total; any other key leaves it to the client.
    assert price_observation(None, {}, {"input": 1.0, "cache": 0.5}).total_cost is None


def test_usage_total_is_the_sum_when_not_provided():
    assert with_total({"prompt_tokens": 10, "completion_tokens": 20}) == {"prompt_tokens": 10, "completion_tokens": 20,
                                                                          "total": 30}
    assert with_total({"input": 1, "total": 9}) == {"input": 1, "total": 9}
    assert with_total({}) == {}


def test_no_model_no_usage_no_cost():
    assert price_observation(None, {"input": 5}, {}).cost_details == {}
    assert price_observation(GPT4O, {}, {}).cost_details == {}


@pytest.mark.parametrize("pattern", ["", "x" * 201, "(unclosed", "(a+)+$", "(.*)*"])
def test_bad_patterns_are_refused(pattern: str):
    with pytest.raises(InvalidPattern):
        compile_pattern(pattern)


def test_legacy_flat_prices_come_from_the_default_tier():
    assert legacy_prices(GPT4O) == {"inputPrice": Decimal("0.0000025"), "outputPrice": Decimal("0.00001"),
                                    "totalPrice": None}
