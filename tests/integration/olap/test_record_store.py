"""The OLAP record store on a real chDB: versions, tombstones on key changes, project scoping."""

import pytest

from spyglass.domain.merge import merge, new_record
from spyglass.domain.queries import Page, TraceQuery
from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.migrate import migrate
from spyglass.storage.olap.queries import TraceQueries
from spyglass.storage.olap.records import RecordStore

DAY = 86_400 * 1_000_000
T0 = 1_735_689_600_000_000  # 2025-01-01


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    olap = OlapClient(f"chdb://{tmp_path_factory.mktemp('olap')}", pool_size=2)
    assert migrate(olap) == [
        "0001_traces.sql", "0002_observations.sql", "0003_scores.sql", "0004_observations_by_trace.sql"
    ]
    assert migrate(olap) == []  # idempotent
    yield olap
    olap.close()


def trace(project, ident, **fields):
    return new_record("trace", {"id": ident, "project_id": project, "timestamp": T0, **fields}, now_us=T0)


def test_newest_version_wins_and_old_key_is_tombstoned(client):
    store, queries = RecordStore(client), TraceQueries(client)
    first = trace("p1", "t1", name="first")
    store.write({"trace": [first]}, {}, event_ts=T0 + 1)
    # The child-first arrival moves the trace's start to the previous day: a new sort key.
    moved = merge("trace", first, {"id": "t1", "project_id": "p1", "timestamp": T0 - DAY, "name": "second"}, T0)
    store.write({"trace": [moved]}, {"trace": [first]}, event_ts=T0 + 2)
    rows, total = queries.list_traces("p1", TraceQuery(), Page(1, 50))
    assert total == 1 and rows[0]["name"] == "second" and rows[0]["timestamp"] == T0 - DAY
    assert store.find_current("trace", "p1", ["t1"])["t1"]["name"] == "second"


def test_reads_are_scoped_by_project(client):
    store, queries = RecordStore(client), TraceQueries(client)
    store.write({"trace": [trace("p2", "shared-id", name="mine")]}, {}, event_ts=T0 + 1)
    assert queries.find("trace", "p3", "shared-id") is None
    assert store.find_current("trace", "p3", ["shared-id"]) == {}
    assert queries.find("trace", "p2", "shared-id")["name"] == "mine"


def test_timestamps_before_2001_round_trip(client):
    store, queries = RecordStore(client), TraceQueries(client)
    old = new_record("trace", {"id": "old", "project_id": "p4", "timestamp": 123_456}, now_us=T0)
    store.write({"trace": [old]}, {}, event_ts=T0 + 1)
    assert queries.find("trace", "p4", "old")["timestamp"] == 123_456


def test_deleted_traces_take_their_observations_and_scores(client):
    store, queries = RecordStore(client), TraceQueries(client)
    obs = new_record("observation", {"id": "o1", "project_id": "p5", "trace_id": "t5", "start_time": T0}, T0)
    score = new_record("score", {"id": "s1", "project_id": "p5", "trace_id": "t5", "timestamp": T0, "name": "q"}, T0)
    store.write({"trace": [trace("p5", "t5")], "observation": [obs], "score": [score]}, {}, event_ts=T0 + 1)
    store.delete_traces("p5", ["t5"])
    assert queries.find("trace", "p5", "t5") is None
    assert queries.observations_of_trace("p5", "t5") == []
    assert queries.scores_of_traces("p5", ["t5"]) == []


def test_observation_rebuild_keeps_rows_and_clusters_by_trace(client):
    """0004 re-sorts observations by trace; applying it again (as after a crash) loses nothing."""
    store, queries = RecordStore(client), TraceQueries(client)
    spans = [new_record("observation", {"id": f"o{i}", "project_id": "p6", "trace_id": f"t{i % 2}",
                                        "start_time": T0 + i, "name": f"n{i}"}, T0) for i in range(6)]  # fmt: skip
    store.write({"observation": spans}, {}, event_ts=T0 + 1)
    client.command("DELETE FROM schema_migrations WHERE version = 4")
    assert migrate(client) == ["0004_observations_by_trace.sql"]
    assert [o["id"] for o in queries.observations_of_trace("p6", "t1")] == ["o1", "o3", "o5"]
    assert client.scalar("SELECT sorting_key FROM system.tables WHERE name = 'observations'") == (
        "project_id, toDate(start_time), trace_id, id"
    )
    assert client.scalar("SELECT count() FROM system.tables WHERE name LIKE 'observations_by%'") == 0
