"""The worker's pricing step on merged observation records, with the real offline tokenizer."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from spyglass.domain.merge import new_record
from spyglass.domain.pricing import ModelDefinition, PricingTier
from spyglass.ingestion.pricing import Pricer
from spyglass.llm.tokenizer import Tokenizers

STANDARD = PricingTier("std", "Standard", True, 0, (), {"input": Decimal("0.0000025"), "output": Decimal("0.00001")})
FAST = PricingTier("fast", "Fast mode", False, 1,
                   ({"source": "model_parameters", "key": "service_tier", "operator": "in", "values": ["priority"]},),
                   {"input": Decimal("0.000005"), "output": Decimal("0.00002")})
GPT4O = ModelDefinition("m-gpt-4o", None, "gpt-4o", r"(?i)^(openai/)?(gpt-4o)$", (STANDARD, FAST),
                        tokenizer_id="openai",
                        tokenizer_config={"tokenizerModel": "gpt-4o", "tokensPerMessage": 3, "tokensPerName": 1})
CLAUDE = ModelDefinition("m-claude", None, "claude", r"(?i)^claude", (STANDARD,), tokenizer_id="claude")


@pytest.fixture
def pricer(tmp_path: Path) -> Pricer:
    return Pricer(lambda project_id: [GPT4O, CLAUDE], Tokenizers(tmp_path / "tiktoken"))


def generation(**fields) -> dict:  # noqa: ANN003
    return new_record("observation", {"id": "o", "project_id": "p", "trace_id": "t", "type": "GENERATION",
                                      "start_time": 1, **fields}, now_us=1)


def test_provided_usage_is_priced_with_the_matched_model(pricer: Pricer):
    record = generation(provided_model_name="openai/GPT-4o", provided_usage_details={"input": 1000, "output": 500})
    pricer.price(record)
    assert record["internal_model_id"] == "m-gpt-4o" and record["usage_pricing_tier_name"] == "Standard"
    assert record["usage_details"] == {"input": 1000, "output": 500, "total": 1500}
    assert record["cost_details"] == pytest.approx({"input": 0.0025, "output": 0.005, "total": 0.0075})
    assert record["total_cost"] == pytest.approx(0.0075)


def test_a_tier_condition_on_model_parameters_selects_its_prices(pricer: Pricer):
    record = generation(provided_model_name="gpt-4o", provided_usage_details={"input": 1000},
                        model_parameters=orjson.dumps({"service_tier": "priority"}).decode())
    pricer.price(record)
    assert record["usage_pricing_tier_id"] == "fast" and record["total_cost"] == pytest.approx(0.005)


def test_missing_usage_is_counted_with_the_models_tokenizer(pricer: Pricer):
    record = generation(provided_model_name="gpt-4o", input=orjson.dumps("hello world").decode(), output="hello world")
    pricer.price(record)
    assert record["usage_details"] == {"input": 2, "output": 2, "total": 4}
    assert record["total_cost"] == pytest.approx(2 * 2.5e-6 + 2 * 1e-5)


@pytest.mark.parametrize("fields", [
    {"provided_model_name": "claude-3-opus", "input": '"hi"'},  # no offline tokenizer: no usage rather than a guess
    {"provided_model_name": "gpt-4o", "input": '"hi"', "level": "ERROR"},
    {"provided_model_name": "gpt-4o", "input": '"hi"', "provided_cost_details": {"total": 1.0}},
    {"provided_model_name": "unknown-model", "input": '"hi"'},
])
def test_no_tokens_are_counted_when_langfuse_would_not(pricer: Pricer, fields: dict):
    record = generation(**fields)
    pricer.price(record)
    assert record["usage_details"] == {}


def test_provided_cost_wins_and_no_model_means_no_inferred_cost(pricer: Pricer):
    record = generation(provided_model_name="gpt-4o", provided_usage_details={"input": 10},
                        provided_cost_details={"input": 1.5, "output": 0.5})
    pricer.price(record)
    assert record["cost_details"] == {"input": 1.5, "output": 0.5, "total": 2.0} and record["total_cost"] == 2.0
    plain = generation(provided_usage_details={"input": 10})
    pricer.price(plain)
    assert plain["internal_model_id"] is None and plain["cost_details"] == {} and plain["total_cost"] is None
    assert plain["usage_details"] == {"input": 10, "total": 10}


def test_a_new_catalogue_is_matched_again(tmp_path: Path):
    catalogues = {"p": [CLAUDE]}
    pricer = Pricer(lambda project_id: catalogues[project_id])
    record = generation(provided_model_name="gpt-4o", provided_usage_details={"input": 1})
    pricer.price(record)
    assert record["internal_model_id"] is None
    catalogues["p"] = [GPT4O]  # a model was created: the service hands out a new list
    pricer.price(record)
    assert record["internal_model_id"] == "m-gpt-4o"
