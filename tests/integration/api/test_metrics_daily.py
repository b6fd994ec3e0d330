"""GET /api/public/metrics/daily over traces ingested through the real API: per-day and per-model
numbers, trace filters, paging, day order, auth, bad params and project isolation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from tests.integration.api.builders import get_when, ingest_ok, iso, observation, trace_create, uid, wait_trace
from tests.support.server import Keys, SpyglassServer

DAILY = "/api/public/metrics/daily"
START = datetime(2024, 2, 27, tzinfo=UTC)  # days 1..3 = 2024-02-27 .. 2024-02-29 (a leap day)
DAY_KEYS = {"date", "countTraces", "countObservations", "totalCost", "usage"}
USAGE_KEYS = {"model", "inputUsage", "outputUsage", "totalUsage", "countObservations", "countTraces", "totalCost"}
CONFIRM = ". Confirm that you've configured the correct host."


def at(day: int, hours: float) -> str:
    """ISO time `hours` into day `day` (1, 2 or 3)."""
    return iso(START, days=day - 1, hours=hours)


def window(first: str, last: str) -> dict[str, str]:
    return {"fromTimestamp": first, "toTimestamp": last}


ALL_DAYS = window(at(1, 0), at(4, 0))


@dataclass
class Seeded:
    ids: dict[str, str]
    other: Keys


def gen(obs_id: str, trace_id: str, start: str, model: str, usage: dict, cost: dict, env: str = "production") -> dict:
    fields = {"startTime": start, "model": model, "usageDetails": usage, "costDetails": cost, "environment": env}
    return observation("generation-create", obs_id, trace_id, start, name="llm", **fields)


def chat(
    trace_id: str, timestamp: str, user: str, tags: list[str], name: str = "chat", env: str = "production"
) -> dict:
    return trace_create(trace_id, timestamp, name=name, userId=user, tags=tags, environment=env)


@pytest.fixture(scope="module")
def other_client(server: SpyglassServer, seeded: Seeded) -> Iterator[httpx.Client]:
    with server.client(seeded.other) as c:
        yield c


@pytest.fixture(scope="module")
def seeded(server: SpyglassServer, client: httpx.Client) -> Seeded:
    """Day 1: tA (3 observations) and tB (its generation starts after midnight); day 2: tC, plus tDel
    (deleted); day 3: tD (no observations) and tE (its generation updated in a later batch).
    Another project has a big generation on day 2."""
    names = "tA tB tC tD tE tDel sA gA1 gA2 gB1 gC1 eC gE1 gDel tOther gOther"
    i = {k: uid() for k in names.split()}
    gpt4o_a2_usage = {"input": 50, "input_cached_tokens": 10, "output": 5, "output_reasoning_tokens": 3}
    ingest_ok(client, [
        chat(i["tA"], at(1, 10), "u1", ["x", "y"]),
        observation("span-create", i["sA"], i["tA"], at(1, 10), startTime=at(1, 10), environment="production"),
        gen(i["gA1"], i["tA"], at(1, 10.1), "gpt-4o", {"input": 100, "output": 20}, {"input": 0.001, "output": 0.002}),
        gen(i["gA2"], i["tA"], at(1, 10.2), "gpt-4o", gpt4o_a2_usage, {"total": 0.01}),
        chat(i["tB"], at(1, 23.5), "u2", ["x"]),
        gen(i["gB1"], i["tB"], at(2, 0.25), "claude-3-5-sonnet", {"input": 7, "output": 3},
            {"input": 0.0007, "output": 0.0003}),
        chat(i["tC"], at(2, 12), "u1", ["y"], name="summarize", env="staging"),
        gen(i["gC1"], i["tC"], at(2, 12), "gpt-4o", {"input": 1000, "output": 200}, {"total": 0.5}, env="staging"),
        observation("event-create", i["eC"], i["tC"], at(2, 12.5), startTime=at(2, 12.5), environment="production"),
        chat(i["tDel"], at(2, 15), "u1", ["x", "y"]),
        gen(i["gDel"], i["tDel"], at(2, 15), "gpt-4o", {"input": 99999, "output": 99999}, {"total": 99.0}),
        chat(i["tD"], at(3, 8), "u1", ["x", "y", "z"]),
        chat(i["tE"], at(3, 9), "u3", []),
        gen(i["gE1"], i["tE"], at(3, 9), "gpt-4o-mini", {"input": 5, "output": 5}, {"total": 0.001}),
    ])  # fmt: skip
    wait_trace(client, i["tE"])
    # A later batch updates the generation: a newer version of the same row, counted once.
    new_usage, new_cost = {"input": 40, "output": 2}, {"input": 0.02, "output": 0.01}
    update = observation("generation-update", i["gE1"], i["tE"], usageDetails=new_usage, costDetails=new_cost)
    ingest_ok(client, [update])
    get_when(client, f"/api/public/observations/{i['gE1']}", lambda o: o["usageDetails"].get("input") == 40)
    response = client.delete(f"/api/public/traces/{i['tDel']}")
    assert response.status_code == 200, response.text

    other = server.create_project(f"metrics-other-{uid()[:8]}")
    with server.client(other) as other_client:
        big = gen(i["gOther"], i["tOther"], at(2, 12), "gpt-4o", {"input": 123456, "output": 1}, {"total": 42.0})
        ingest_ok(other_client, [chat(i["tOther"], at(2, 12), "u1", ["x", "y"]), big])
        wait_trace(other_client, i["tOther"])
    return Seeded(i, other)


def usage(model: str | None, inp: int, out: int, total: int, cost: float, observations: int, traces: int) -> dict:
    return {
        "model": model,
        "inputUsage": inp,
        "outputUsage": out,
        "totalUsage": total,
        "countObservations": observations,
        "countTraces": traces,
        "totalCost": pytest.approx(cost),
    }


def day(date: str, traces: int, observations: int, cost: float, *models: dict) -> dict:
    return {
        "date": date,
        "countTraces": traces,
        "countObservations": observations,
        "totalCost": pytest.approx(cost),
        "usage": list(models),
    }


DAY3 = day("2024-02-29", 2, 1, 0.03, usage("gpt-4o-mini", 40, 2, 42, 0.03, 1, 1))
DAY2 = day("2024-02-28", 1, 2, 0.5, usage("gpt-4o", 1000, 200, 1200, 0.5, 1, 1), usage(None, 0, 0, 0, 0, 1, 1))
# gpt-4o is gA1 + gA2: input keys 100 + 50 + 10, output keys 20 + 5 + 3, totals 120 + 68 (completed on ingest)
DAY1 = day("2024-02-27", 2, 4, 0.014, usage("claude-3-5-sonnet", 7, 3, 10, 0.001, 1, 1),
           usage("gpt-4o", 160, 28, 188, 0.013, 2, 1), usage(None, 0, 0, 0, 0, 1, 1))  # fmt: skip
DAY1_TA = day("2024-02-27", 1, 3, 0.013, usage("gpt-4o", 160, 28, 188, 0.013, 2, 1), usage(None, 0, 0, 0, 0, 1, 1))
DAY3_TD = day("2024-02-29", 1, 0, 0.0)  # tD alone: a trace without observations


def daily(client: httpx.Client, **params: object) -> dict:
    response = client.get(DAILY, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_days_newest_first_with_per_model_usage(client: httpx.Client, seeded: Seeded) -> None:
    body = daily(client, **ALL_DAYS)
    assert body == {"data": [DAY3, DAY2, DAY1], "meta": {"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1}}
    for entry in body["data"]:
        assert set(entry) == DAY_KEYS
        assert all(set(u) == USAGE_KEYS for u in entry["usage"])


def test_without_a_window_every_day_of_the_project_is_listed(client: httpx.Client, seeded: Seeded) -> None:
    assert daily(client)["data"] == [DAY3, DAY2, DAY1]


def test_days_agree_with_the_trace_list(client: httpx.Client, seeded: Seeded) -> None:
    for entry in daily(client, **ALL_DAYS)["data"]:
        start = datetime.fromisoformat(entry["date"]).replace(tzinfo=UTC)
        response = client.get("/api/public/traces", params={**window(iso(start), iso(start, days=1)), "limit": 100})
        traces = response.json()
        assert traces["meta"]["totalItems"] == entry["countTraces"]
        assert sum(len(t["observations"]) for t in traces["data"]) == entry["countObservations"]
        assert sum(t["totalCost"] for t in traces["data"]) == pytest.approx(entry["totalCost"])


def test_another_projects_data_never_shows(client: httpx.Client, other_client: httpx.Client, seeded: Seeded) -> None:
    assert daily(other_client) == {
        "data": [day("2024-02-28", 1, 1, 42.0, usage("gpt-4o", 123456, 1, 123457, 42.0, 1, 1))],
        "meta": {"page": 1, "limit": 50, "totalItems": 1, "totalPages": 1},
    }
    assert daily(client, userId="u1", tags=["x", "y"], **ALL_DAYS)["data"] == [DAY3_TD, DAY1_TA]


FILTERS = {
    "userId": ({"userId": "u1"}, [DAY3_TD, DAY2, DAY1_TA]),
    "traceName": ({"traceName": "summarize"}, [DAY2]),
    "one-tag": ({"tags": "x"}, [DAY3_TD, DAY1]),
    "all-tags-repeated": ({"tags": ["x", "y"]}, [DAY3_TD, DAY1_TA]),
    "all-tags-csv": ({"tags": "y,z"}, [DAY3_TD]),
    # the trace filter and the observations' own environment both apply
    "environment": (
        {"environment": "staging"},
        [day("2024-02-28", 1, 1, 0.5, usage("gpt-4o", 1000, 200, 1200, 0.5, 1, 1))],
    ),
    "environments-repeated": ({"environment": ["staging", "production"]}, [DAY3, DAY2, DAY1]),
    "unknown-user": ({"userId": "nobody"}, []),
    # tE's generation was updated by a later batch: its newest version counts, once
    "updated-generation": ({"userId": "u3"}, [DAY3 | {"countTraces": 1}]),
}


@pytest.mark.parametrize("case", sorted(FILTERS))
def test_trace_filters(client: httpx.Client, seeded: Seeded, case: str) -> None:
    params, expected = FILTERS[case]
    body = daily(client, **params, **ALL_DAYS)
    assert body["data"] == expected
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": len(expected), "totalPages": 1 if expected else 0}


def test_time_window_is_from_inclusive_to_exclusive(client: httpx.Client, seeded: Seeded) -> None:
    # from = tB's timestamp (tA drops out), to = tE's timestamp (tE drops out, tD stays)
    body = daily(client, **window(at(1, 23.5), at(3, 9)))
    assert body["data"] == [
        DAY3_TD,
        DAY2,
        day("2024-02-27", 1, 1, 0.001, usage("claude-3-5-sonnet", 7, 3, 10, 0.001, 1, 1)),
    ]
    assert daily(client, fromTimestamp=at(3, 8.5))["data"] == [DAY3 | {"countTraces": 1}]
    assert daily(client, toTimestamp=at(2, 0))["data"] == [DAY1]
    assert daily(client, **window(at(4, 0), at(5, 0))) == {
        "data": [],
        "meta": {"page": 1, "limit": 50, "totalItems": 0, "totalPages": 0},
    }


def test_pages_of_days(client: httpx.Client, seeded: Seeded) -> None:
    pages = [daily(client, page=n, limit=1, **ALL_DAYS) for n in (1, 2, 3, 4)]
    assert [p["data"] for p in pages] == [[DAY3], [DAY2], [DAY1], []]
    assert [p["meta"] for p in pages] == [
        {"page": n, "limit": 1, "totalItems": 3, "totalPages": 3} for n in (1, 2, 3, 4)
    ]
    assert daily(client, page=2, limit=2, **ALL_DAYS) == {
        "data": [DAY1],
        "meta": {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2},
    }


def test_missing_or_wrong_auth_is_401(server: SpyglassServer, seeded: Seeded) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anon:
        response = anon.get(DAILY)
        assert response.status_code == 401
        assert response.json() == {"message": "No authorization header" + CONFIRM}
        response = anon.get(DAILY, auth=(server.keys.public_key, seeded.other.secret_key))
        assert response.status_code == 401
        assert response.json()["message"].endswith(CONFIRM)


@pytest.mark.parametrize(
    "params", [{"fromTimestamp": "yesterday"}, {"toTimestamp": "2024-13-45T00:00:00Z"}, {"fromTimestamp": "12:00"}]
)
def test_unparseable_timestamps_are_400(client: httpx.Client, params: dict) -> None:
    response = client.get(DAILY, params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "InvalidRequestError"
    assert next(iter(params)) in body["message"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"page": 0}, {"page": -1}])
def test_bad_pagination_is_400(client: httpx.Client, params: dict) -> None:
    response = client.get(DAILY, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["message"] == "Invalid request data"


def test_limit_bounds_are_inclusive(client: httpx.Client, seeded: Seeded) -> None:
    for limit in (1, 100):
        assert daily(client, limit=limit, **ALL_DAYS)["meta"]["limit"] == limit
