"""Daily metrics SQL on a real chDB: day buckets, versions, tombstones, join bounds, paging, scoping."""

import pytest

from spyglass.domain.merge import merge, new_record
from spyglass.domain.queries import DailyMetricsQuery, Page
from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.metrics import MetricsQueries
from spyglass.storage.olap.migrate import migrate
from spyglass.storage.olap.records import RecordStore

HOUR = 3_600 * 1_000_000
DAY = 24 * HOUR
T0 = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    olap = OlapClient(f"chdb://{tmp_path_factory.mktemp('olap')}", pool_size=2)
    migrate(olap)
    yield olap
    olap.close()


@pytest.fixture(scope="module")
def store(client):
    return RecordStore(client)


@pytest.fixture(scope="module")
def queries(client):
    return MetricsQueries(client)


def trace(project, ident, ts, **fields):
    return new_record("trace", {"id": ident, "project_id": project, "timestamp": ts, **fields}, now_us=T0)


def obs(project, ident, trace_id, start, **fields):
    patch = {"id": ident, "project_id": project, "trace_id": trace_id, "start_time": start, **fields}
    return new_record("observation", patch, now_us=T0)


def generation(project, ident, trace_id, start, model, usage, cost):
    return obs(
        project,
        ident,
        trace_id,
        start,
        type="GENERATION",
        provided_model_name=model,
        provided_usage_details=usage,
        provided_cost_details=cost,
    )


def usage_entry(model, inp, out, total, cost, observations, traces):
    return {
        "model": model,
        "input_usage": inp,
        "output_usage": out,
        "total_usage": total,
        "total_cost": cost,
        "count_observations": observations,
        "count_traces": traces,
    }


def test_usage_is_summed_per_model_on_the_trace_day(store, queries):
    p = "p-sum"
    store.write(
        {
            "trace": [trace(p, "t1", T0 + 10 * HOUR), trace(p, "t2", T0 + 23 * HOUR), trace(p, "t3", T0 + DAY + HOUR)],
            "observation": [
                obs(p, "s1", "t1", T0 + 10 * HOUR),
                generation(p, "g1", "t1", T0 + 10 * HOUR, "gpt-4o", {"input": 100, "output": 20}, {"total": 0.5}),
                # keys *containing* input/output count (case-insensitive); total is completed on write
                generation(
                    p,
                    "g2",
                    "t1",
                    T0 + 11 * HOUR,
                    "gpt-4o",
                    {"input": 5, "Input_Cached": 2, "output_reasoning": 1},
                    {"input": 0.25, "output": 0.125},
                ),
                # starts after midnight, yet belongs to its trace's day
                generation(p, "g3", "t2", T0 + DAY + 30 * 60 * 1_000_000, "claude", {"input": 7, "output": 3}, {}),
            ],
        },
        {},
        event_ts=T0,
    )
    rows, total = queries.daily_metrics(p, DailyMetricsQuery(), Page(1, 50))
    assert total == 2
    assert rows == [
        {"date": "2025-01-02", "count_traces": 1, "count_observations": 0, "total_cost": 0.0, "usage": []},
        {
            "date": "2025-01-01",
            "count_traces": 2,
            "count_observations": 4,
            "total_cost": 0.875,
            "usage": [
                usage_entry("claude", 7, 3, 10, 0.0, 1, 1),
                usage_entry("gpt-4o", 107, 21, 128, 0.875, 2, 1),
                usage_entry(None, 0, 0, 0, 0.0, 1, 1),
            ],
        },
    ]


def test_newest_version_and_moved_trace_count_once(store, queries):
    p = "p-versions"
    first = trace(p, "t1", T0 + DAY, user_id="u1")
    gen = generation(p, "g1", "t1", T0 + DAY, "m", {"input": 1}, {"total": 1.0})
    store.write({"trace": [first], "observation": [gen]}, {}, event_ts=T0 + 1)
    updated = merge(
        "observation",
        gen,
        {"id": "g1", "project_id": p, "provided_usage_details": {"input": 9}, "provided_cost_details": {"total": 2.0}},
        T0,
    )
    store.write({"observation": [updated]}, {}, event_ts=T0 + 2)
    # A child seen later moves the trace a day earlier: the old sort key gets a tombstone.
    moved = merge("trace", first, {"id": "t1", "project_id": p, "timestamp": T0 + 12 * HOUR}, T0)
    store.write({"trace": [moved]}, {"trace": [first]}, event_ts=T0 + 3)
    for query in (DailyMetricsQuery(), DailyMetricsQuery(user_id="u1")):  # with a filter, a PREWHERE precedes FINAL
        rows, total = queries.daily_metrics(p, query, Page(1, 50))
        assert total == 1
        assert rows == [
            {
                "date": "2025-01-01",
                "count_traces": 1,
                "count_observations": 1,
                "total_cost": 2.0,
                "usage": [usage_entry("m", 9, 0, 9, 2.0, 1, 1)],
            }
        ]


def test_observations_are_joined_within_langfuse_bounds(store, queries):
    p = "p-bounds"
    start = T0 + 5 * DAY + 12 * HOUR
    store.write(
        {
            "trace": [trace(p, "t1", start)],
            "observation": [
                obs(p, "early-ok", "t1", start - 59 * 60 * 1_000_000),
                obs(p, "late-ok", "t1", start + 2 * DAY - 1),
                obs(p, "too-early", "t1", start - HOUR - 1),
                obs(p, "too-late", "t1", start + 2 * DAY),
            ],
        },
        {},
        event_ts=T0,
    )
    window = DailyMetricsQuery(from_ts=start, to_ts=start + 1)
    for query in (DailyMetricsQuery(), window):
        rows, _ = queries.daily_metrics(p, query, Page(1, 50))
        assert [(r["date"], r["count_traces"], r["count_observations"]) for r in rows] == [("2025-01-06", 1, 2)]


def test_filters_paging_and_project_scope(store, queries):
    p = "p-filters"
    store.write(
        {
            "trace": [
                trace(
                    p,
                    f"t{day}",
                    T0 + day * DAY + HOUR,
                    name="chat" if day % 2 else "batch",
                    user_id=f"u{day % 3}",
                    tags=["a", "b"] if day < 3 else ["a"],
                    environment="prod" if day else "dev",
                )
                for day in range(6)
            ]
            + [trace("p-elsewhere", "t0", T0 + HOUR)],
            "observation": [
                obs(p, f"o{day}", f"t{day}", T0 + day * DAY + HOUR, environment="prod" if day else "dev")
                for day in range(6)
            ]
            + [obs(p, "o0-prod", "t0", T0 + HOUR, environment="prod")]
            # same trace id in another project: never joined to this project's trace
            + [obs("p-elsewhere", "x1", "t1", T0 + DAY + HOUR)],
        },
        {},
        event_ts=T0,
    )

    def days(page=None, **filters):
        rows, total = queries.daily_metrics(p, DailyMetricsQuery(**filters), page or Page(1, 50))
        return [r["date"][-2:] for r in rows], total

    assert days() == (["06", "05", "04", "03", "02", "01"], 6)
    assert days(Page(2, 4)) == (["02", "01"], 6)
    assert days(Page(3, 4)) == ([], 6)
    assert days(trace_name="chat") == (["06", "04", "02"], 3)
    assert days(user_id="u0") == (["04", "01"], 2)
    assert days(tags=["b", "a"]) == (["03", "02", "01"], 3)
    assert days(from_ts=T0 + 2 * DAY + HOUR, to_ts=T0 + 4 * DAY + HOUR) == (["04", "03"], 2)
    rows, _ = queries.daily_metrics(p, DailyMetricsQuery(), Page(1, 50))
    assert [(r["count_traces"], r["count_observations"]) for r in rows] == [(1, 1)] * 5 + [(1, 2)]
    rows, _ = queries.daily_metrics(p, DailyMetricsQuery(environments=["dev"]), Page(1, 50))
    assert [(r["date"], r["count_traces"], r["count_observations"]) for r in rows] == [("2025-01-01", 1, 1)]
    assert queries.daily_metrics("p-nobody", DailyMetricsQuery(), Page(1, 50)) == ([], 0)


def test_days_before_1970_keep_their_date(store, queries):
    p = "p-old"
    old = -5 * 365 * DAY  # 1965-01-02
    store.write({"trace": [trace(p, "t1", old)], "observation": [obs(p, "o1", "t1", old)]}, {}, event_ts=T0)
    rows, total = queries.daily_metrics(p, DailyMetricsQuery(), Page(1, 50))
    assert (total, [(r["date"], r["count_traces"], r["count_observations"]) for r in rows]) == (
        1,
        [("1965-01-02", 1, 1)],
    )
