"""OTLP value decoding (§3.2) and flattened-key reconstruction (§3.7 rules 18–19)."""

from __future__ import annotations

import json
import math

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from tests.unit.ingestion.test_otel_factory import make_span, map_one, set_value

from spyglass.ingestion.otel_attributes import (
    MAX_ARRAY_SLOTS,
    attributes_to_dict,
    decode_any_value,
    rebuild_flattened,
)


def _decoded(value: object) -> object:
    message = AnyValue()
    set_value(message, value)
    return decode_any_value(message)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("s", "s"), ("", ""), (True, True), (False, False), (-7, -7), (2**62, 2**62), (0.25, 0.25),
     (["a", 1, [True]], ["a", 1, [True]]), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
)
def test_decode_scalar_and_array_values(value: object, expected: object) -> None:
    assert _decoded(value) == expected


def test_decode_nan_kvlist_bytes_and_empty_values() -> None:
    assert _decoded(math.nan) == "NaN"
    assert json.loads(_decoded({"k": "v", "n": 1})) == {
        "kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}},
                                   {"key": "n", "value": {"intValue": "1"}}]}
    }
    assert json.loads(_decoded(b"\x00\xff")) == {"bytesValue": "AP8="}
    assert decode_any_value(AnyValue()) is None


def test_attributes_to_dict_keeps_last_duplicate_and_empty_strings() -> None:
    attributes = [
        KeyValue(key="a", value=AnyValue(string_value="1")),
        KeyValue(key="e", value=AnyValue(string_value="")),
        KeyValue(key="a", value=AnyValue(int_value=2)),
    ]
    assert attributes_to_dict(attributes) == {"a": 2, "e": ""}


def _rebuild(attributes: dict[str, object], prefix: str = "p") -> object:
    return rebuild_flattened(attributes, [key for key in attributes if key.startswith(prefix)], prefix)


def test_rebuild_lists_objects_and_sparse_indices() -> None:
    assert _rebuild({"p.0.role": "user", "p.0.content": "hi", "p.2.role": "assistant"}) == [
        {"role": "user", "content": "hi"}, None, {"role": "assistant"},
    ]
    assert _rebuild({"p.model": "m", "p.args.0": "x", "p.args.1": "y"}) == {"model": "m", "args": ["x", "y"]}


def test_rebuild_prefers_a_whole_payload_attribute() -> None:
    assert _rebuild({"p": '[{"role": "user"}]', "p.0.role": "ignored"}) == '[{"role": "user"}]'


def test_rebuild_drops_unsafe_segments_and_paths_over_the_slot_budget() -> None:
    assert _rebuild({"p.0.__proto__.x": 1, "p.0.constructor": 2, "p.0.ok": 3}) == [{"ok": 3}]
    assert _rebuild({"p.0.a": 1, f"p.{MAX_ARRAY_SLOTS}.a": 2}) == [{"a": 1}]
    assert _rebuild({f"p.{MAX_ARRAY_SLOTS - 1}.a": 1}) is not None
    assert _rebuild({"p.99999999999999999999.a": 1}) is None


def test_rebuild_tolerates_conflicting_paths() -> None:
    assert _rebuild({"p.0.content": "text", "p.0.content.0.text": "nested"}) == [{"content": "text"}]


def test_flattened_prompts_over_budget_still_map() -> None:
    span = make_span(attributes={"gen_ai.prompt.0.content": "a", "gen_ai.prompt.5000000.content": "b"})
    assert json.loads(map_one(span, scope_name="x")["input"]) == [{"content": "a"}]
