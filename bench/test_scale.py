"""Checks of the scale loader's patched bodies and of the read timer:
`.venv/bin/python -m pytest bench/test_scale.py`.

A patched body must be a valid ExportTraceServiceRequest whose ids are new, unique across
requests and consistently linked, and whose times sit at the request's place in the window.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))

import scale  # noqa: E402
from reads import QUERIES, ReadParams, SpyglassReader, measure_reads  # noqa: E402

TEMPLATES = 6  # template 0 and 5 carry a long run


@pytest.fixture(scope="module")
def built():
    plan = scale.Plan.make(20_000, TEMPLATES, 512, 30, time.time_ns())
    factory, _ = scale.build_factory(plan, seed=3, salt="5ca1e", public_key="pk-test")
    return plan, factory


def _parse(body: bytes):
    req = ExportTraceServiceRequest.FromString(body)
    assert len(req.resource_spans) == 1 and len(req.resource_spans[0].scope_spans) == 1
    return list(req.resource_spans[0].scope_spans[0].spans)


def _attrs(span) -> dict:
    out = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        v = kv.value
        out[kv.key] = [x.string_value for x in v.array_value.values] if kind == "array_value" else getattr(v, kind)
    return out


def test_plan_spreads_requests_over_the_window(built):
    plan, factory = built
    assert plan.spans >= 20_000 and plan.spans - 20_000 < 512
    assert plan.requests == sum(1 for _ in range(plan.requests))
    last = plan.base_ns(plan.requests - 1) + plan.slice_ns + scale.MAX_TRACE_NS
    assert plan.window_start_ns == plan.base_ns(0) and last <= plan.window_end_ns
    assert plan.window_end_ns - plan.window_start_ns == 30 * scale.DAY_NS
    spans = [factory.template(k).spans for k in range(plan.requests)]
    assert sum(spans) == plan.spans and max(spans) <= 512
    assert plan.long_traces == sum(1 for k in range(plan.requests) if k % TEMPLATES in (0, 5))


def test_templates_hold_the_workload(built):
    _, factory = built
    t0, t1 = factory.templates[0], factory.templates[1]
    assert sorted(Counter(t0.trace_obs.tolist()).items()) == [(5, 82), (100, 1)]
    assert set(t1.trace_obs.tolist()) == {5} and t1.traces == 102
    spans = _parse(factory.body(0, 0))
    long_tid = Counter(s.trace_id for s in spans).most_common(1)[0]
    assert long_tid[1] == 100
    types = Counter(_attrs(s)["langfuse.observation.type"] for s in spans if s.trace_id == long_tid[0])
    assert types == {"agent": 1, "chain": 33, "generation": 33, "tool": 25, "retriever": 8}
    users = {u for t in factory.templates for u in t.trace_user}
    assert all(u.startswith("user-") and 0 <= int(u[5:]) < scale.USERS for u in users) and len(users) > 300


@pytest.mark.parametrize("k", [0, 1, 7])
def test_patched_body_parses_with_new_linked_ids_and_shifted_times(built, k):
    plan, factory = built
    t = factory.template(k)
    template_spans = _parse(t.body.tobytes())
    delta = k * plan.slice_ns + 123_456_789
    spans = _parse(factory.body(k, delta))
    assert len(spans) == len(template_spans) == t.spans

    tids = {s.trace_id for s in spans}
    sids = [s.span_id for s in spans]
    assert len(tids) == t.traces and len(set(sids)) == t.spans
    assert not tids & {s.trace_id for s in template_spans}
    assert not set(sids) & {s.span_id for s in template_spans}
    assert all(len(x) == 16 for x in tids) and all(len(x) == 8 and x != bytes(8) for x in sids)

    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == t.traces
    for s, ts in zip(spans, template_spans, strict=True):
        assert s.start_time_unix_nano == ts.start_time_unix_nano + delta
        assert s.end_time_unix_nano == ts.end_time_unix_nano + delta
        assert s.name == ts.name and bool(s.parent_span_id) == bool(ts.parent_span_id)
        if s.parent_span_id:
            parent = by_id[s.parent_span_id]  # inside the same request, same trace, and it is where the template said
            assert parent.trace_id == s.trace_id
            assert parent.name == template_spans[sids.index(parent.span_id)].name
            assert parent.start_time_unix_nano <= s.start_time_unix_nano <= s.end_time_unix_nano
        a, ta = _attrs(s), _attrs(ts)
        if "langfuse.observation.completion_start_time" in a:
            got = datetime.fromisoformat(json.loads(a["langfuse.observation.completion_start_time"]))
            was = datetime.fromisoformat(json.loads(ta["langfuse.observation.completion_start_time"]))
            assert abs((got - was) - timedelta(microseconds=delta / 1000)) <= timedelta(microseconds=1)
        assert a["session.id"].startswith("sess-") and len(a["session.id"]) == 21
        assert a["session.id"] != ta["session.id"]
        patched = ("session.id", "langfuse.observation.completion_start_time")
        rest = {kk: v for kk, v in a.items() if kk not in patched}
        assert rest == {kk: v for kk, v in ta.items() if kk not in patched}

    # Every span of a trace carries the same session id, and sessions group ~4 traces.
    sess_of_trace = {}
    for s in spans:
        sess = _attrs(s)["session.id"]
        assert sess_of_trace.setdefault(s.trace_id, sess) == sess
    assert len(set(sess_of_trace.values())) == t.sessions


def test_no_two_requests_share_an_id(built):
    plan, factory = built
    seen_traces: set[bytes] = set()
    seen_spans: set[bytes] = set()
    seen_sessions: set[str] = set()
    for k in range(2 * TEMPLATES + 1):  # every template at least twice
        spans = _parse(factory.body(k, k * plan.slice_ns))
        tids = {s.trace_id for s in spans}
        sids = {s.span_id for s in spans}
        sess = {_attrs(s)["session.id"] for s in spans}
        assert not tids & seen_traces and not sids & seen_spans and not sess & seen_sessions
        seen_traces |= tids
        seen_spans |= sids
        seen_sessions |= sess
        assert factory.trace_ids(k).shape == (factory.template(k).traces, 16)
        assert {bytes(x) for x in factory.trace_ids(k)} == tids


def test_other_salt_other_ids(built):
    plan, factory = built
    other = scale.BodyFactory(factory.templates, salt="0ther")
    a = {s.trace_id for s in _parse(factory.body(0, 0))}
    b = {s.trace_id for s in _parse(other.body(0, 0))}
    assert not a & b


def test_requests_land_at_their_place_in_the_window(built):
    plan, factory = built
    for k in (0, plan.requests // 2, plan.requests - 1):
        spans = _parse(factory.body(k, k * plan.slice_ns))
        starts = [s.start_time_unix_nano for s in spans]
        assert plan.base_ns(k) <= min(starts) and max(s.end_time_unix_nano for s in spans) <= plan.window_end_ns
        assert min(starts) < plan.base_ns(k) + plan.slice_ns


def test_live_request_ends_now(built):
    _, factory = built
    now = time.time_ns()
    spans = _parse(factory.live_request(3, now).body)
    assert max(s.end_time_unix_nano for s in spans) == now


def test_paced_send_keeps_the_rate_with_live_bodies():
    factory = scale.live_factory(rate=100_000, templates=2, seed=1, salt="beef", public_key="pk")
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={})

    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.time_ns()
    acks = asyncio.run(scale.paced_send(factory, "http://x.test/v1/traces", {}, 100_000, stop,
                                        transport=httpx.MockTransport(handler)))  # fmt: skip
    spans = sum(n for *_x, n, ok in acks if ok)
    assert len(acks) == len(seen) and all(ok for *_x, ok in acks)
    assert 20_000 <= spans <= 60_000 + 510  # ~0.5 s at 100k spans/s (open loop, may lag on a busy machine)
    ends = [s.end_time_unix_nano for body in seen for s in _parse(body)]
    assert t0 - 10**9 <= max(ends) <= time.time_ns()
    assert len({s.span_id for body in seen for s in _parse(body)}) == len(ends)


def test_pick_read_params_finds_recent_data(built):
    plan, factory = built
    p = scale.pick_read_params(factory, plan, datetime.now(UTC))
    assert p.user_id.startswith("user-") and p.tag.startswith("topic-")
    assert p.trace_ids and all(len(t) == 32 for t in p.trace_ids)
    assert p.expected["traces_24h"] > 0
    long_ids = {
        bytes(factory.trace_ids(k)[i]).hex()
        for k in range(plan.requests)
        for i in range(factory.template(k).traces)
        if factory.template(k).trace_obs[i] == 100
    }
    assert set(p.trace_ids) <= long_ids


def _mock_spyglass(metrics: bool) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")
        path, q = request.url.path, request.url.params
        if path == "/api/public/traces":
            assert q["limit"] == "50" and q["fromTimestamp"].endswith("Z") and q["toTimestamp"].endswith("Z")
            n = 7 if "userId" in q else 11 if "tags" in q else 50
            return httpx.Response(200, json={"data": [{}] * n, "meta": {"totalItems": n}})
        if path.startswith("/api/public/traces/"):
            return httpx.Response(200, json={"id": path.rsplit("/", 1)[1], "observations": [{}] * 100, "scores": []})
        if path == "/api/public/metrics/daily" and metrics:
            day = {"date": "2026-11-01", "countTraces": 1, "countObservations": 2, "totalCost": 0.1,
                   "usage": [{"model": "gpt-4o", "inputUsage": 1, "outputUsage": 2, "totalUsage": 3, "totalCost": 0.1},
                             {"model": "gpt-4o-mini", "inputUsage": 1, "outputUsage": 2, "totalUsage": 3,
                              "totalCost": 0.1}]}  # fmt: skip
            return httpx.Response(200, json={"data": [day, day, day], "meta": {"totalItems": 3}})
        if path == "/api/public/v2/metrics" and metrics:
            query = json.loads(q["query"])
            assert query["view"] == "observations" and query["fromTimestamp"].endswith("Z")
            assert query["config"] == {"row_limit": 1000}
            [metric] = query["metrics"]
            if query["timeDimension"] == {"granularity": "day"}:
                assert query["dimensions"] == [{"field": "providedModelName"}]
                assert metric == {"measure": "totalCost", "aggregation": "sum"}
                rows = [{"providedModelName": m, "sum_totalCost": 0.1, "time_dimension": d}
                        for d in ("2026-11-01", "2026-11-02") for m in ("gpt-4o", "gpt-4o-mini", None)]  # fmt: skip
            else:
                assert query["timeDimension"] is None and query["dimensions"] == [{"field": "traceName"}]
                assert metric == {"measure": "latency", "aggregation": "p95"}
                rows = [{"traceName": "rag-agent", "p95_latency": 812.5}, {"traceName": None, "p95_latency": 3.0}]
            to = datetime.fromisoformat(query["toTimestamp"])
            assert to - datetime.fromisoformat(query["fromTimestamp"]) == timedelta(days=30)
            return httpx.Response(200, json={"data": rows})
        return httpx.Response(404, json={"detail": "Not Found"})

    return httpx.Client(base_url="http://spyglass.test", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("metrics", [True, False])
def test_measure_reads(metrics):
    params = ReadParams(user_id="user-0001", tag="topic-api", trace_ids=["a" * 32, "b" * 32])
    with _mock_spyglass(metrics) as client:
        out = measure_reads(SpyglassReader("pk", "sk"), client, params, repeats=5, warmup=2)
    assert list(out) == list(QUERIES)
    items = {q: (r["items_min"], r["items_max"]) for q, r in out.items()}
    assert items["latest_50_traces_24h"] == (50, 50)
    assert items["traces_by_user_24h"] == (7, 7) and items["traces_by_tag_24h"] == (11, 11)
    assert items["trace_100_observations"] == (100, 100)
    for name in QUERIES[:4]:
        assert out[name]["status"] == "ok" and out[name]["samples"] == 5
        assert 0 < out[name]["p50_ms"] <= out[name]["p95_ms"]
    cost = out["cost_by_model_day_30d"]
    if metrics:
        assert cost["status"] == "ok" and cost["items_min"] == 6
        assert items["metrics_cost_by_model_day_30d"] == (6, 6)
        assert items["metrics_p95_latency_by_trace_name_30d"] == (2, 2)
    else:
        assert cost["status"] == "missing" and cost["samples"] == 0 and "404" in cost["error"]
    for name in ("metrics_cost_by_model_day_30d", "metrics_p95_latency_by_trace_name_30d"):
        r = out[name]
        if metrics:
            assert r["status"] == "ok" and r["samples"] == 5 and 0 < r["p50_ms"] <= r["p95_ms"]
        else:
            assert r["status"] == "missing" and r["samples"] == 0 and "/v2/metrics → 404" in r["error"]


def test_measure_reads_flags_empty_and_errors():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/public/traces":
            return httpx.Response(200, json={"data": [], "meta": {"totalItems": 0}})
        return httpx.Response(500, text="boom")

    params = {"user_id": "u", "tag": "t", "trace_ids": ["c" * 32]}
    with httpx.Client(base_url="http://x.test", transport=httpx.MockTransport(handler)) as client:
        out = measure_reads(SpyglassReader("pk", "sk"), client, params, repeats=2, warmup=0)
    assert out["latest_50_traces_24h"]["status"] == "empty"
    assert out["trace_100_observations"]["status"] == "error" and "500" in out["trace_100_observations"]["error"]
