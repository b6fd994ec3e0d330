import pytest

from spyglass.domain.values import decode_value, format_timestamp, normalize_environment, parse_timestamp


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Production", "production"), ("langfuse-langfuse_prod", "prod"), (None, "default"), ("bad env!", "default"),
     ("x" * 50, "x" * 40), ("langfuse", "default")],
)
def test_environment_normalisation(raw, expected):
    assert normalize_environment(raw) == expected


def test_timestamps_round_trip_with_millisecond_z_format():
    micros = parse_timestamp("2025-01-01T00:00:00.123456+02:00")
    assert micros == 1735682400123456
    assert format_timestamp(micros) == "2024-12-31T22:00:00.123Z"
    assert parse_timestamp("2025-01-01T00:00:00") == parse_timestamp("2025-01-01T00:00:00Z")
    assert parse_timestamp("not a date") is None


def test_stored_text_decodes_to_json_when_it_is_json():
    assert decode_value('{"a": 1}') == {"a": 1}
    assert decode_value("123") == 123
    assert decode_value("hello") == "hello"
    assert decode_value("{broken") == "{broken"
