"""The metrics query's SQL: every whitelisted name has SQL, and client values only ever become parameters."""

from __future__ import annotations

import json

import pytest

from spyglass.domain.metrics_query import parse_metrics_query
from spyglass.domain.metrics_views import VIEWS
from spyglass.storage.olap.metrics_fields import VIEW_SQL
from spyglass.storage.olap.metrics_query import build_sql

WINDOW = {"fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-01-31T00:00:00Z"}


@pytest.mark.parametrize(("version", "view"), [(v, name) for v, views in VIEWS.items() for name in views])
def test_every_field_of_every_view_has_sql(version: str, view: str) -> None:
    declared, sql = VIEWS[version][view], VIEW_SQL[(version, view)]
    assert set(declared.dimensions) <= set(sql.dimensions)
    assert set(declared.measures) <= set(sql.measures)
    assert not declared.unsupported & (set(declared.dimensions) | set(declared.measures))
    for field in [*sql.dimensions.values(), *sql.measures.values()]:
        assert set(field.joins) <= set(sql.joins)


def test_client_values_are_parameters_never_sql() -> None:
    hostile = "x' OR 1=1) --"
    query = parse_metrics_query(json.dumps({
        **WINDOW, "view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],
        "filters": [{"type": "string", "column": "name", "operator": "=", "value": hostile},
                    {"type": "stringObject", "column": "metadata", "key": hostile, "operator": "=", "value": "v"}],
        "config": {"row_limit": 5},
    }), "v2")
    sql, params = build_sql("project' --", query)
    assert hostile not in sql and "project' --" not in sql
    assert hostile in params.values() and "project' --" in params.values() and 5 in params.values()
    assert all(f"{{{name}:" in sql for name in params)  # every parameter is used, none is left over


def test_only_the_joins_a_query_needs() -> None:
    def sql_of(view: str, **fields: object) -> str:
        body = {**WINDOW, "view": view, "metrics": [{"measure": "count", "aggregation": "count"}], **fields}
        return build_sql("p", parse_metrics_query(json.dumps(body), "v1"))[0]

    assert "JOIN" not in sql_of("observations", dimensions=[{"field": "name"}])
    assert sql_of("observations", dimensions=[{"field": "traceName"}]).count("LEFT JOIN") == 1
    assert "AS sc ON" in sql_of("observations", metrics=[{"measure": "countScores", "aggregation": "sum"}])
    traced = sql_of("scores-numeric", filters=[{"type": "arrayOptions", "column": "tags", "operator": "any of",
                                                "value": ["a"]}])
    assert "AS t ON" in traced and "AS o ON" not in traced
    assert "FROM traces FINAL" in sql_of("traces") and "JOIN" not in sql_of("traces")
