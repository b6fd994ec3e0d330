import pytest

from spyglass.domain.errors import InvalidInput
from spyglass.domain.filters import parse_filter
from spyglass.storage.olap.where import TRACE_COLUMNS, TRACE_DISPLAY_NAMES, Where


def compile_filter(text):
    where = Where()
    where.conditions(parse_filter(text), TRACE_COLUMNS, TRACE_DISPLAY_NAMES)
    return where


def test_client_text_only_ever_becomes_a_parameter():
    evil = "x'); DROP TABLE traces; --"
    where = compile_filter(f'[{{"type":"string","column":"name","operator":"=","value":"{evil}"}}]')
    assert evil not in where.sql
    assert evil in where.params.values()


def test_display_names_and_array_filters():
    where = compile_filter('[{"type":"arrayOptions","column":"tags","operator":"all of","value":["a","b"]},'
                           '{"type":"datetime","column":"Timestamp","operator":">","value":"2025-01-01T00:00:00Z"}]')
    assert where.sql.startswith("hasAll(tags, ")
    assert "timestamp > fromUnixTimestamp64Micro(" in where.sql


@pytest.mark.parametrize(
    "text",
    ['{"type":"string"}', "not json", '[{"type":"string","column":"nope","operator":"=","value":"x"}]',
     '[{"type":"string","column":"name","operator":"like","value":"x"}]',
     '[{"type":"number","column":"name","operator":"=","value":1}]',
     '[{"type":"stringOptions","column":"name","operator":"any of","value":[]}]'],
)
def test_bad_filters_are_rejected(text):
    with pytest.raises(InvalidInput):
        compile_filter(text)
