"""Checks of the workload generator and encoders: `.venv/bin/python -m pytest bench/test_workload.py`.

Decodes what would go on the wire and asserts the span tree, so a broken generator cannot
silently produce a benchmark of the wrong thing.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(Path(__file__).parent))

from encode import batch_requests, otlp_requests  # noqa: E402
from workload import SPANS_PER_TRACE, RunIdentity, generate, traces_for  # noqa: E402

IDENT = RunIdentity(seed=7, salt="0badc0de")


def _attrs(span) -> dict:
    out = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = [x.string_value for x in v.array_value.values] if kind == "array_value" else getattr(v, kind)
    return out


def _decode(requests) -> list:
    spans = []
    for r in requests:
        req = ExportTraceServiceRequest.FromString(gzip.decompress(r.body) if r.body[:2] == b"\x1f\x8b" else r.body)
        assert len(req.resource_spans) == 1
        rs = req.resource_spans[0]
        res = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
        assert res["service.name"] == "bench-llm-app"
        assert rs.scope_spans[0].scope.name == "langfuse-sdk"
        assert len(rs.scope_spans[0].spans) == r.spans
        spans.extend(rs.scope_spans[0].spans)
    return spans


def test_otlp_span_tree_and_attributes():
    traces = list(generate(traces_for(203), IDENT))
    assert len(traces) == 41
    reqs = otlp_requests(traces, IDENT, batch_spans=50, use_gzip=True, public_key="pk-lf-bench")
    assert [r.spans for r in reqs] == [50, 50, 50, 50, 5]
    spans = _decode(reqs)
    assert len(spans) == 41 * SPANS_PER_TRACE

    by_trace: dict[bytes, list] = {}
    for s in spans:
        assert len(s.trace_id) == 16 and len(s.span_id) == 8
        by_trace.setdefault(s.trace_id, []).append(s)
    assert len(by_trace) == 41
    assert len({s.span_id for s in spans}) == len(spans)

    lo, hi = IDENT.window_start_ns, IDENT.window_end_ns
    for tspans in by_trace.values():
        roots = [s for s in tspans if not s.parent_span_id]
        assert len(roots) == 1
        root = roots[0]
        assert tspans[-1] is root  # end order: root exported last
        children = [s for s in tspans if s.parent_span_id]
        assert all(c.parent_span_id == root.span_id for c in children)
        types = Counter(_attrs(s)["langfuse.observation.type"] for s in tspans)
        assert types == {"agent": 1, "retriever": 1, "generation": 2, "tool": 1}
        for s in tspans:
            a = _attrs(s)
            assert lo <= s.start_time_unix_nano <= s.end_time_unix_nano
            assert s.start_time_unix_nano < hi
            assert root.start_time_unix_nano <= s.start_time_unix_nano
            assert s.end_time_unix_nano <= root.end_time_unix_nano
            assert IDENT.run_tag in a["langfuse.trace.tags"]
            assert a["user.id"].startswith("user-") and a["session.id"].startswith("sess-")
            if a["langfuse.observation.type"] == "generation":
                prompt = json.loads(a["langfuse.observation.input"])
                size = sum(len(m["content"]) for m in prompt)
                assert 900 <= size <= 4096
                assert a["gen_ai.request.model"] == a["langfuse.observation.model.name"]
                usage = json.loads(a["langfuse.observation.usage_details"])
                assert usage == {
                    "input": a["gen_ai.usage.input_tokens"],
                    "output": a["gen_ai.usage.output_tokens"],
                }
                assert usage["input"] > 0 and usage["output"] > 0
                out = a["langfuse.observation.output"]
                text = out if s.name == "plan" else json.loads(out)["content"]
                assert 900 <= len(text) <= 4096


def test_deterministic_content_unique_ids():
    a = list(generate(3, RunIdentity(1, "aa")))
    b = list(generate(3, RunIdentity(1, "aa")))
    c = list(generate(3, RunIdentity(1, "bb")))
    assert [s.input for t in a for s in t.spans] == [s.input for t in b for s in t.spans]
    assert [t.trace_id for t in a] == [t.trace_id for t in b]
    # Another salt: same content, disjoint ids and another time window.
    assert [s.input for t in a for s in t.spans] == [s.input for t in c for s in t.spans]
    assert not {t.trace_id for t in a} & {t.trace_id for t in c}
    assert RunIdentity(1, "aa").window_start_ns != RunIdentity(1, "bb").window_start_ns


def test_batch_events():
    traces = list(generate(10, IDENT))
    reqs = batch_requests(traces, IDENT, batch_events_n=7)
    events = [e for r in reqs for e in orjson.loads(r.body)["batch"]]
    assert all(len(orjson.loads(r.body)["batch"]) <= 7 for r in reqs)
    assert len(events) == 10 * (SPANS_PER_TRACE + 1)
    assert len({e["id"] for e in events}) == len(events)
    assert sum(r.spans for r in reqs) == 50 and sum(r.traces for r in reqs) == 10
    types = Counter(e["type"] for e in events)
    assert types == {
        "trace-create": 10,
        "agent-create": 10,
        "retriever-create": 10,
        "generation-create": 20,
        "tool-create": 10,
    }
    for e in events:
        assert e["timestamp"].endswith("Z") and e["body"]["id"]
        if e["type"] == "generation-create":
            assert e["body"]["usageDetails"]["input"] > 0 and e["body"]["model"]
            assert e["body"]["parentObservationId"]
        if e["type"] == "trace-create":
            assert IDENT.run_tag in e["body"]["tags"]
