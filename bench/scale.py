#!/usr/bin/env python3
"""Scale benchmark: load 1M (or 10M) observations spread over the last 30 days, then time reads.

    .venv/bin/python bench/scale.py --start-server --spans 1000000
    .venv/bin/python bench/scale.py --spans 10000000 --base-url http://127.0.0.1:3000 \
        --server-pid "$(pgrep -nf 'spyglass serve')" --data-dir "$SPYGLASS_DATA_DIR"

What it sends: workload.py's traces (agent root, retriever, two generations with 1-4 KB
prompts/completions and gen_ai usage, tool), users from a pool of 1,000, tags
``scale-<salt>`` + a flavour + a topic, four models, and in every fifth request one long
agent run of 100 observations (about one trace in 500). Each OTLP/HTTP protobuf request
carries whole traces (~510 spans, children before their root); 4 senders.

How it stays cheap: a pool of ``--templates`` request bodies is encoded once with the
real encoder; every request is a copy of one, with trace/span/parent ids, session ids,
start/end times (fixed64) and the completion-start-time strings overwritten in place with
numpy (their byte offsets are found once by walking the protobuf). Ids are a bijective
mix of a counter, so no two requests share one; times put request k at its place in the
last ``--days`` days, oldest first. Requests are generated lazily (4 in flight).
Caveat: texts, users and tags repeat every ``--templates`` requests (default 256, ~7x at
1M spans, ~75x at 10M), which a compressing store may squeeze a little better than real
traffic (at 300k spans, 64 templates gave ~15% fewer disk bytes per span than 600).

After the load: waits until ``/api/public/observations`` and ``/api/public/traces`` count
everything, then times the reads of bench/reads.py with parameters picked from the data
(a user and a topic tag of the last 24 h, 100-observation traces) and writes
``bench/results/scale/<UTC timestamp>-scale-<label>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # sibling modules, whichever cwd we run from

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import report  # noqa: E402
from encode import Request, otlp_requests  # noqa: E402
from procstats import RssSampler, disk_usage, machine_info  # noqa: E402
from progress import ack_info  # noqa: E402
from reads import QUERIES, Reader, ReadParams, SpyglassReader, measure_reads  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402
from sender import SendStats, auth_header, percentile, send_all  # noqa: E402
from workload import SPANS_PER_TRACE, RunIdentity, Trace, TraceFactory, iso, salt_arg  # noqa: E402

DEFAULT_BASE = "http://127.0.0.1:3000"
OTLP_PATH = "/api/public/otel/v1/traces"
RESULTS_DIR = report.RESULTS_DIR / "scale"  # not bench/results/*.json: report.readme_table reads those as ingest runs
DAY_NS = 86_400 * 10**9
MAX_TRACE_NS = 15 * 60 * 10**9  # longer than any trace (a 100-observation run lasts ~1-3 min)
ID_SLOTS = 4096  # per request: ids come from counter k * ID_SLOTS + local index
USERS = 1000
LONG_OBSERVATIONS = 100
LONG_EVERY = 5  # templates 0, 5, 10, ... hold one long run: ~1 trace in 500
FLAVOURS = ("prod", "beta", "eval", "canary")
TOPICS = (
    "billing", "refunds", "shipping", "onboarding", "search", "returns", "account", "pricing", "api", "security",
    "orders", "invoices", "support", "feedback", "warranty", "upgrade", "downgrade", "cancel", "login", "export",
)  # fmt: skip
_TOPIC_WEIGHTS = [1 / (r + 1) for r in range(len(TOPICS))]  # Zipf-like: a few topics dominate

# ---------------------------------------------------------------- protobuf wire walking


def _varint(b: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = b[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _fields(b: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value start, value end) of one message's fields."""
    i = start
    while i < end:
        key, i = _varint(b, i)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            _, j = _varint(b, i)
            yield fn, wt, i, j
        elif wt == 1:
            j = i + 8
            yield fn, wt, i, j
        elif wt == 2:
            n, i = _varint(b, i)
            j = i + n
            yield fn, wt, i, j
        elif wt == 5:
            j = i + 4
            yield fn, wt, i, j
        else:
            raise ValueError(f"unsupported wire type {wt} at {i}")
        i = j


@dataclass(slots=True)
class SpanOffsets:
    start: int  # the Span message's byte range
    end: int
    trace_id: int = -1  # value offsets of fields 1, 2, 4 (bytes) and 7, 8 (fixed64)
    span_id: int = -1
    parent_span_id: int = -1
    start_time: int = -1
    end_time: int = -1


def span_offsets(body: bytes) -> list[SpanOffsets]:
    """Where each span's ids and times sit in a serialized ExportTraceServiceRequest.

    resource_spans (1) > scope_spans (2) > spans (2) > trace_id (1), span_id (2),
    parent_span_id (4), start_time_unix_nano (7, fixed64), end_time_unix_nano (8, fixed64).
    """
    out = []
    for fn, _, rs, re_ in _fields(body, 0, len(body)):
        if fn != 1:
            continue
        for fn2, _, ss, se in _fields(body, rs, re_):
            if fn2 != 2:
                continue
            for fn3, _, sp, sq in _fields(body, ss, se):
                if fn3 != 2:
                    continue
                o = SpanOffsets(sp, sq)
                for f, wt, vs, ve in _fields(body, sp, sq):
                    if f == 1 and wt == 2 and ve - vs == 16:
                        o.trace_id = vs
                    elif f == 2 and wt == 2 and ve - vs == 8:
                        o.span_id = vs
                    elif f == 4 and wt == 2 and ve - vs == 8:
                        o.parent_span_id = vs
                    elif f == 7 and wt == 1:
                        o.start_time = vs
                    elif f == 8 and wt == 1:
                        o.end_time = vs
                out.append(o)
    return out


# ---------------------------------------------------------------- ids


_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection on uint64, so distinct counters give distinct ids."""
    z = x + _G
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _key(salt: str, name: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(f"{salt}/{name}".encode(), digest_size=8).digest(), "big"))


def _counters(k: int, n: int) -> np.ndarray:
    return np.arange(k * ID_SLOTS, k * ID_SLOTS + n, dtype=np.uint64)


def _positions(offsets: np.ndarray, width: int) -> np.ndarray:
    """Flat byte positions of ``width``-byte fields starting at ``offsets``."""
    return (np.asarray(offsets, dtype=np.int32)[:, None] + np.arange(width, dtype=np.int32)).ravel()


# ---------------------------------------------------------------- templates


@dataclass
class Template:
    """One encoded request body and where to patch it."""

    body: np.ndarray  # uint8, read-only
    spans: int
    traces: int
    sessions: int
    tid_pos: np.ndarray  # 16 bytes per span
    tid_src: np.ndarray  # trace index per span
    sid_pos: np.ndarray  # 8 bytes per span
    pid_pos: np.ndarray  # 8 bytes per non-root span
    pid_src: np.ndarray  # its parent's span index
    ts_pos: np.ndarray  # 8 bytes per start and end time
    ts_val: np.ndarray  # int64 ns as encoded
    cst_pos: np.ndarray  # 27 bytes per completion_start_time ("2025-01-02T03:04:05.123456Z")
    cst_val: np.ndarray  # int64 ns as encoded
    sess_pos: np.ndarray  # 16 hex digits per session.id occurrence ("sess-<16 hex>")
    sess_src: np.ndarray  # session index per occurrence
    end_max: int  # latest end time as encoded
    # What the requests built from this template hold, for picking read parameters.
    trace_start: np.ndarray  # int64 ns as encoded
    trace_obs: np.ndarray
    trace_user: list[str]
    trace_topic: list[str]


def template_kinds(j: int, batch_spans: int) -> list[str]:
    """Trace kinds of template j: whole traces, at most ``batch_spans`` spans."""
    if j % LONG_EVERY == 0 and batch_spans >= LONG_OBSERVATIONS + SPANS_PER_TRACE:
        short = (batch_spans - LONG_OBSERVATIONS) // SPANS_PER_TRACE
        pos = int(hashlib.blake2b(f"long/{j}".encode(), digest_size=4).hexdigest(), 16) % (short + 1)
        return ["agent"] * pos + ["long"] + ["agent"] * (short - pos)
    return ["agent"] * max(1, batch_spans // SPANS_PER_TRACE)


def template_spans(j: int, batch_spans: int) -> int:
    return sum(LONG_OBSERVATIONS if k == "long" else SPANS_PER_TRACE for k in template_kinds(j, batch_spans))


def _session_hex(ident: RunIdentity, j: int, s: int) -> str:
    return hashlib.blake2b(f"{ident.salt}/sess/{j}/{s}".encode(), digest_size=8).hexdigest()


def build_template(
    j: int, factory: TraceFactory, base_ns: int, slice_ns: int, batch_spans: int, public_key: str
) -> Template:
    """Template j: its traces start spread over [base_ns, base_ns + slice_ns)."""
    ident, rng = factory.ident, factory.rng
    kinds = template_kinds(j, batch_spans)
    traces: list[Trace] = []
    for i, kind in enumerate(kinds):
        t0 = base_ns + i * slice_ns // len(kinds)
        g = j * ID_SLOTS + i  # distinct placeholder ids; every request overwrites them
        tr = factory.long_agent(g, t0, LONG_OBSERVATIONS) if kind == "long" else factory.agent(g, t0)
        tr.user_id = f"user-{rng.randrange(USERS):04d}"
        tr.session_id = f"sess-{_session_hex(ident, j, i // 4)}"  # ~4 turns per conversation
        topic = rng.choices(TOPICS, _TOPIC_WEIGHTS)[0]
        tr.tags = [f"scale-{ident.salt}", rng.choice(FLAVOURS), f"topic-{topic}"]
        traces.append(tr)
    (req,) = otlp_requests(traces, ident, batch_spans=10**9, use_gzip=False, public_key=public_key)
    body = req.body
    offs = span_offsets(body)
    flat = [(ti, tr, sp) for ti, tr in enumerate(traces) for sp in tr.spans]  # encoding order
    if len(offs) != len(flat) or len(flat) > ID_SLOTS:
        raise AssertionError(f"template {j}: {len(offs)} spans located, {len(flat)} encoded")

    index = {sp.span_id: n for n, (_, _, sp) in enumerate(flat)}
    tid_off, tid_src, sid_off, pid_off, pid_src, ts_off, ts_val, cst_off, cst_val = ([] for _ in range(9))
    for n, ((ti, tr, sp), o) in enumerate(zip(flat, offs, strict=True)):
        # The walker must agree with what was encoded, byte for byte.
        if (
            body[o.trace_id : o.trace_id + 16] != bytes.fromhex(tr.trace_id)
            or body[o.span_id : o.span_id + 8] != bytes.fromhex(sp.span_id)
            or int.from_bytes(body[o.start_time : o.start_time + 8], "little") != sp.start_ns
            or int.from_bytes(body[o.end_time : o.end_time + 8], "little") != sp.end_ns
            or (sp.parent_id is None) != (o.parent_span_id < 0)
        ):
            raise AssertionError(f"template {j}: span {n} not where the walker says")
        tid_off.append(o.trace_id)
        tid_src.append(ti)
        sid_off.append(o.span_id)
        if sp.parent_id is not None:
            pid_off.append(o.parent_span_id)
            pid_src.append(index[sp.parent_id])
        ts_off += [o.start_time, o.end_time]
        ts_val += [sp.start_ns, sp.end_ns]
        if sp.completion_start_ns is not None:
            stamp = iso(sp.completion_start_ns).encode()
            at = body.find(b'"' + stamp + b'"', o.start, o.end)
            if at < 0 or len(stamp) != 27:
                raise AssertionError(f"template {j}: completion_start_time of span {n} not found")
            cst_off.append(at + 1)
            cst_val.append(sp.completion_start_ns)

    sessions = -(-len(traces) // 4)
    sess_off, sess_src = [], []
    for s in range(sessions):
        needle = f"sess-{_session_hex(ident, j, s)}".encode()
        at = body.find(needle)
        while at >= 0:
            sess_off.append(at + 5)
            sess_src.append(s)
            at = body.find(needle, at + 1)
    expected = sum(len(tr.spans) for tr in traces)  # session.id on every span
    if len(sess_off) != expected:
        raise AssertionError(f"template {j}: {len(sess_off)} session ids located, {expected} expected")

    arr = np.frombuffer(body, dtype=np.uint8)  # read-only view of the bytes
    return Template(
        body=arr,
        spans=len(flat),
        traces=len(traces),
        sessions=sessions,
        tid_pos=_positions(tid_off, 16),
        tid_src=np.array(tid_src, dtype=np.int64),
        sid_pos=_positions(sid_off, 8),
        pid_pos=_positions(pid_off, 8),
        pid_src=np.array(pid_src, dtype=np.int64),
        ts_pos=_positions(ts_off, 8),
        ts_val=np.array(ts_val, dtype=np.int64),
        cst_pos=_positions(cst_off, 27),
        cst_val=np.array(cst_val, dtype=np.int64),
        sess_pos=_positions(sess_off, 16),
        sess_src=np.array(sess_src, dtype=np.int64),
        end_max=max(sp.end_ns for _, _, sp in flat),
        trace_start=np.array([tr.root.start_ns for tr in traces], dtype=np.int64),
        trace_obs=np.array([len(tr.spans) for tr in traces], dtype=np.int64),
        trace_user=[tr.user_id for tr in traces],
        trace_topic=[tr.tags[2] for tr in traces],
    )


# ---------------------------------------------------------------- plan and patching


@dataclass(frozen=True)
class Plan:
    """Request k is template k % templates, shifted by k * slice_ns: oldest first."""

    requests: int
    spans: int
    traces: int
    long_traces: int
    window_start_ns: int
    window_end_ns: int
    slice_ns: int
    templates: int
    batch_spans: int

    @staticmethod
    def make(spans: int, templates: int, batch_spans: int, days: float, end_ns: int) -> Plan:
        per = [template_spans(j, batch_spans) for j in range(templates)]
        longs = [template_kinds(j, batch_spans).count("long") for j in range(templates)]
        ntr = [len(template_kinds(j, batch_spans)) for j in range(templates)]
        cycle = sum(per)
        full, rest = divmod(spans, cycle)
        n, total = full * templates, full * cycle
        while total < spans:
            total += per[n % templates]
            n += 1
        window = int(days * DAY_NS)
        slice_ns = (window - MAX_TRACE_NS) // max(n, 1)
        if slice_ns <= 0:
            raise ValueError("--days too short")
        return Plan(
            requests=n,
            spans=total,
            traces=sum(ntr[k % templates] for k in range(n)),
            long_traces=sum(longs[k % templates] for k in range(n)),
            window_start_ns=end_ns - window,
            window_end_ns=end_ns,
            slice_ns=slice_ns,
            templates=templates,
            batch_spans=batch_spans,
        )

    def base_ns(self, k: int) -> int:
        return self.window_start_ns + k * self.slice_ns


class BodyFactory:
    """Request k = a copy of template k % len(templates) with fresh ids and shifted times."""

    def __init__(self, templates: list[Template], salt: str) -> None:
        self.templates = templates
        self.k_trace_hi, self.k_trace_lo = _key(salt, "trace-hi"), _key(salt, "trace-lo")
        self.k_span, self.k_sess = _key(salt, "span"), _key(salt, "session")

    def template(self, k: int) -> Template:
        return self.templates[k % len(self.templates)]

    def trace_ids(self, k: int) -> np.ndarray:
        """(traces, 16) uint8: the trace ids of request k."""
        c = _counters(k, self.template(k).traces)
        pair = np.stack([_mix(c ^ self.k_trace_hi), _mix(c ^ self.k_trace_lo)], axis=1)
        return pair.astype(">u8").view(np.uint8).reshape(-1, 16)

    def span_ids(self, k: int) -> np.ndarray:
        """(spans, 8) uint8: the span ids of request k."""
        return _mix(_counters(k, self.template(k).spans) ^ self.k_span).astype(">u8").view(np.uint8).reshape(-1, 8)

    def body(self, k: int, delta_ns: int) -> bytes:
        t = self.template(k)
        buf = t.body.copy()
        buf[t.tid_pos] = self.trace_ids(k)[t.tid_src].ravel()
        sids = self.span_ids(k)
        buf[t.sid_pos] = sids.ravel()
        buf[t.pid_pos] = sids[t.pid_src].ravel()
        buf[t.ts_pos] = (t.ts_val + delta_ns).astype("<u8").view(np.uint8)
        if len(t.cst_val):
            stamps = np.datetime_as_string(((t.cst_val + delta_ns) // 1000).astype("datetime64[us]"), unit="us")
            buf[t.cst_pos] = np.frombuffer(("Z".join(stamps.tolist()) + "Z").encode(), dtype=np.uint8)
        sess = _mix(_counters(k, t.sessions) ^ self.k_sess).astype(">u8").tobytes().hex().encode()
        buf[t.sess_pos] = np.frombuffer(sess, dtype=np.uint8).reshape(-1, 16)[t.sess_src].ravel()
        return buf.tobytes()

    def request(self, k: int, delta_ns: int) -> Request:
        t = self.template(k)
        body = self.body(k, delta_ns)
        return Request(body=body, spans=t.spans, traces=t.traces, raw_bytes=len(body))

    def live_request(self, k: int, now_ns: int | None = None) -> Request:
        """Request k with its newest span ending now: live traffic."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        return self.request(k, now_ns - self.template(k).end_max)


def build_factory(plan: Plan, seed: int, salt: str, public_key: str, on_template=None) -> tuple[BodyFactory, float]:
    """Encode the template pool for ``plan`` (templates are laid out at request k = j)."""
    t0 = time.perf_counter()
    ident = RunIdentity(seed=seed, salt=salt)
    traces = TraceFactory(ident)
    templates = []
    for j in range(plan.templates):
        templates.append(build_template(j, traces, plan.base_ns(0), plan.slice_ns, plan.batch_spans, public_key))
        if on_template:
            on_template(j + 1)
    # Template j encodes times for request 0; request k's shift is k * slice_ns.
    return BodyFactory(templates, salt), time.perf_counter() - t0


def planned_requests(factory: BodyFactory, plan: Plan) -> Iterator[Request]:
    for k in range(plan.requests):
        yield factory.request(k, k * plan.slice_ns)


# ---------------------------------------------------------------- paced live load (bench/freshness.py)


def live_factory(rate: float, templates: int, seed: int, salt: str, public_key: str, batch_spans: int = 512):
    """Templates for live traffic: each request's traces start spread over the time it stands for."""
    per = template_spans(1, batch_spans)
    slice_ns = max(1, int(per / rate * 1e9))
    now = time.time_ns()
    plan = Plan(requests=templates, spans=per * templates, traces=0, long_traces=0, window_start_ns=now - DAY_NS,
                window_end_ns=now, slice_ns=slice_ns, templates=templates, batch_spans=batch_spans)  # fmt: skip
    return build_factory(plan, seed, salt, public_key)[0]


async def paced_send(
    factory: BodyFactory, url: str, headers: dict[str, str], rate: float, stop, concurrency: int = 4,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[tuple[float, float, int, bool]]:  # fmt: skip
    """Open-loop sender: request k goes out when rate allows (at most ``concurrency`` in flight),
    stamped "now", until ``stop.is_set()``. Returns (sent, acked wall time, spans, ok) per request."""
    acks: list[tuple[float, float, int, bool]] = []
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits, transport=transport) as client:

        async def one(req: Request) -> None:
            sent, ok = time.time(), False
            try:
                ok = (await client.post(url, content=req.body)).is_success
            except httpx.HTTPError:
                pass
            finally:
                sem.release()
                acks.append((sent, time.time(), req.spans, ok))

        tasks: set[asyncio.Task] = set()
        t0, due_spans, k = time.perf_counter(), 0, 0
        while not stop.is_set():
            delay = t0 + due_spans / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(min(delay, 0.05))
                continue
            await sem.acquire()
            req = factory.live_request(k)
            k += 1
            due_spans += req.spans
            task = asyncio.create_task(one(req))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return acks


def background_load(
    base_url: str, public_key: str | None, secret_key: str | None, rate: float, stop, ready, out,
    templates: int = 8, seed: int = 7, salt: str | None = None, otlp_path: str = OTLP_PATH,
) -> None:  # fmt: skip
    """Process target: build a live body pool, set ``ready``, send at ``rate`` spans/s until
    ``stop`` is set, then put {"target_rate", "acks": [(sent, acked, spans, ok), ...]} on ``out``."""
    salt = salt or secrets.token_hex(4)
    try:
        factory = live_factory(rate, templates, seed, salt, public_key or "none")
    finally:
        ready.set()
    headers = {"Content-Type": "application/x-protobuf", **auth_header(public_key, secret_key)}
    acks = asyncio.run(paced_send(factory, base_url.rstrip("/") + otlp_path, headers, rate, stop))
    out.put({"target_rate": rate, "salt": salt, "acks": acks})


# ---------------------------------------------------------------- read parameters from the plan


def pick_read_params(factory: BodyFactory, plan: Plan, now: datetime, max_traces: int = 10) -> ReadParams:
    """A user and a topic tag with traces in the last 24 h, and the newest 100-observation traces.

    ``expected`` holds what each query should return (at most 50 items) if everything the
    plan sent before ``now`` is stored: the loader's own count, to compare answers with.
    """
    now_ns = int(now.timestamp() * 1e9)
    day_start = now_ns - DAY_NS
    cutoff = day_start + 10 * 60 * 10**9  # pick from 10 min inside the window
    recent: list[tuple[int, str, str]] = []  # (start, user, topic) of traces in the last 24 h
    long_recent: list[str] = []
    long_any: list[str] = []
    first = max(0, (day_start - plan.window_start_ns) // plan.slice_ns - 1)
    for k in range(plan.requests - 1, -1, -1):
        t = factory.template(k)
        starts = t.trace_start + k * plan.slice_ns
        long_idx = np.flatnonzero(t.trace_obs >= LONG_OBSERVATIONS)
        if len(long_idx) and len(long_any) < max_traces:
            ids = factory.trace_ids(k)
            for i in long_idx[::-1]:
                long_any.append(ids[i].tobytes().hex())
                if cutoff <= starts[i] <= now_ns and len(long_recent) < max_traces:
                    long_recent.append(ids[i].tobytes().hex())
        if k >= first:
            recent += [(int(starts[i]), t.trace_user[i], t.trace_topic[i])
                       for i in np.flatnonzero((starts >= day_start) & (starts <= now_ns))]  # fmt: skip
        elif len(long_any) >= max_traces:
            break
    pickable = [r for r in recent if r[0] >= cutoff]
    if not pickable:  # nothing in the last 24 h (a tiny load): fall back to the newest request
        t = factory.template(plan.requests - 1)
        pickable = [(0, u, tp) for u, tp in zip(t.trace_user, t.trace_topic, strict=True)]
    user = Counter(r[1] for r in pickable).most_common(1)[0][0]
    ranked = Counter(r[2] for r in pickable).most_common()
    tag = ranked[len(ranked) // 2][0]  # a mid-frequency topic: selective, but not empty
    return ReadParams(
        user_id=user,
        tag=tag,
        trace_ids=long_recent or long_any,
        now=now,
        expected={
            "latest_50_traces_24h": min(50, len(recent)),
            "traces_by_user_24h": min(50, sum(1 for r in recent if r[1] == user)),
            "traces_by_tag_24h": min(50, sum(1 for r in recent if r[2] == tag)),
            "trace_100_observations": LONG_OBSERVATIONS,
            "traces_24h": len(recent),
            "long_traces_24h": len(long_recent),
        },
    )


# ---------------------------------------------------------------- load, wait, read


async def load(
    factory: BodyFactory, plan: Plan, url: str, headers: dict[str, str], concurrency: int, progress: Progress
) -> SendStats:
    task = progress.add_task("sending", total=plan.spans, info="")

    def on_ack(st: SendStats) -> None:
        progress.update(task, completed=st.acked_spans + st.failed_spans, info=ack_info(st))

    # A generator, shared by the senders: bodies are patched on demand, only those in flight live.
    return await send_all(
        planned_requests(factory, plan),
        url,
        headers,
        concurrency,
        "otlp",
        float("inf"),
        on_ack,  # type: ignore[arg-type]
    )


def counts(client: httpx.Client, plan: Plan, run_tag: str) -> tuple[int, int]:
    """(observations starting in the plan's window, traces tagged with the run tag)."""
    frm, to = iso(plan.window_start_ns - 10**9), iso(plan.window_end_ns + 3600 * 10**9)
    obs = client.get("/api/public/observations", params={"limit": 1, "fromStartTime": frm, "toStartTime": to})
    obs.raise_for_status()
    trc = client.get(
        "/api/public/traces",
        params={"limit": 1, "fields": "core", "tags": run_tag, "fromTimestamp": frm, "toTimestamp": to},
    )
    trc.raise_for_status()
    return int(obs.json()["meta"]["totalItems"]), int(trc.json()["meta"]["totalItems"])


@dataclass
class ScaleTarget:
    """What the loader needs to know about the product under test; Spyglass unless told otherwise."""

    label: str
    otlp_url: str
    send_headers: dict[str, str]  # auth for the OTLP endpoint (none for servers without auth)
    read_client: httpx.Client
    reader: Reader
    counts: Callable[[httpx.Client, Plan, str], tuple[int, int]]  # stored (spans, traces) of the run
    version: Callable[[httpx.Client], str | None]

    @classmethod
    def spyglass(cls, a: argparse.Namespace) -> ScaleTarget:
        return cls(
            label=a.label,
            otlp_url=a.base_url.rstrip("/") + OTLP_PATH,
            send_headers=auth_header(a.public_key, a.secret_key),
            read_client=httpx.Client(base_url=a.base_url, auth=(a.public_key, a.secret_key), timeout=120),
            reader=SpyglassReader(a.public_key, a.secret_key),
            counts=counts,
            version=server_version,
        )


def wait_queryable(
    client: httpx.Client,
    count: Callable[[httpx.Client, Plan, str], tuple[int, int]],
    plan: Plan,
    run_tag: str,
    want: tuple[int, int],
    last_ack_at: float,
    timeout_s: float,
    progress: Progress,
) -> dict:
    task = progress.add_task("queryable", total=want[0], info="")
    res: dict = {"status": "timeout", "seen_spans": 0, "seen_traces": 0, "queryable_at": None, "polls": 0}
    errors = 0
    while True:
        res["polls"] += 1
        try:
            spans, traces = count(client, plan, run_tag)
            errors = 0
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            errors += 1
            res["error"] = f"{type(exc).__name__}: {exc}"[:300]
            if errors >= 5:
                res["status"] = "error"
                return res
        else:
            res["seen_spans"], res["seen_traces"] = spans, traces
            progress.update(task, completed=min(spans, want[0]), info=f"{traces:,} traces")
            if spans >= want[0] and traces >= want[1]:
                res.update(status="ok", queryable_at=time.perf_counter(), error=None)
                return res
        waited = time.perf_counter() - last_ack_at
        if waited > timeout_s:
            return res
        time.sleep(min(1.0, max(0.05, 0.1 * waited)))


def render(result: dict, console: Console) -> None:
    ld, w = result["load"], result["workload"]

    def num(v: float | None, fmt: str = ",.0f") -> str:
        return "–" if v is None else format(v, fmt)

    t = Table(title=f"{result['label']} · scale · {w['spans']:,} spans over {w['days']:g} days", show_header=False)
    t.add_column("metric", style="bold")
    t.add_column("value", justify="right")
    t.add_row("accepted / sent spans", f"{ld['acked_spans']:,} / {w['spans']:,}")
    t.add_row("send wall time", f"{num(ld['wall_s'], '.1f')} s")
    t.add_row("accepted spans/s", num(ld["accepted_spans_per_s"]))
    t.add_row("request latency p50 / p99", f"{num(ld['latency_ms']['p50'])} / {num(ld['latency_ms']['p99'])} ms")
    style = "green" if ld["queryable_status"] == "ok" else "red"
    after = num(ld["queryable_after_last_ack_s"], ".1f")
    t.add_row("queryable after last ack", f"[{style}]{ld['queryable_status']}[/] after {after} s")
    t.add_row("queryable spans/s (first request → all queryable)", num(ld["queryable_spans_per_s"]))
    t.add_row("server peak RSS (tree, sampled)", f"{num(ld['peak_rss_mb'])} MB")
    t.add_row("disk bytes per span", num(ld["disk_bytes_per_span"]))
    t.add_row("wire bytes per span", num(w["wire_bytes_per_span"]))
    t.add_row("load generator CPU while sending", f"{ld['client_cpu_s']:.1f} s")
    console.print(t)
    for msg in ld["error_samples"]:
        console.print(f"[red]  {msg}[/]")

    rd = result["reads"]
    p = rd["params"]
    rt = Table(
        title=f"reads · {rd['repeats']} sequential rounds after {rd['warmup']} warm-up · "
        f"user {p['user_id']}, tag {p['tag']}, {len(p['trace_ids'])} long traces"
    )
    rt.add_column("query", no_wrap=True)
    for col in ("status", "p50 ms", "p95 ms", "mean ms", "items", "expected"):
        rt.add_column(col, justify="left" if col == "status" else "right")
    for name in QUERIES:
        q = rd["queries"].get(name)
        if q is None:
            continue
        st = {"ok": "green", "missing": "yellow"}.get(q["status"], "red")
        items = "–" if q["items_min"] is None else (
            f"{q['items_min']}" if q["items_min"] == q["items_max"] else f"{q['items_min']}–{q['items_max']}"
        )  # fmt: skip
        exp = p["expected"].get(name)
        rt.add_row(name, f"[{st}]{q['status']}[/]", num(q["p50_ms"], ".1f"), num(q["p95_ms"], ".1f"),
                   num(q["mean_ms"], ".1f"), items, "–" if exp is None else str(exp))  # fmt: skip
    console.print(rt)
    for name, q in rd["queries"].items():
        if q["error"]:
            console.print(f"[{'yellow' if q['status'] == 'missing' else 'red'}]  {name}: {q['error']}[/]")


def server_version(client: httpx.Client) -> str | None:
    try:
        r = client.get("/api/public/health", timeout=5)
        return r.json().get("version") if r.is_success else None
    except (httpx.HTTPError, ValueError):
        return None


def run(a: argparse.Namespace, console: Console, target: ScaleTarget | None = None) -> tuple[int, dict]:
    target = target or ScaleTarget.spyglass(a)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_tag = f"scale-{a.salt}"
    end_ns = time.time_ns() - 60 * 10**9  # nothing in the future, even at the end of the load
    plan = Plan.make(a.spans, a.templates, a.batch_spans, a.days, end_ns)
    read_client = target.read_client
    columns = (
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    with read_client, Progress(*columns, console=console) as progress:
        ttask = progress.add_task("templates", total=plan.templates, info="encoding the body pool")
        factory, build_s = build_factory(
            plan, a.seed, a.salt, a.public_key, lambda n: progress.update(ttask, completed=n)
        )
        wire_per_span = sum(len(t.body) for t in factory.templates) / sum(t.spans for t in factory.templates)
        progress.console.print(
            f"[dim]{plan.spans:,} spans / {plan.traces:,} traces ({plan.long_traces:,} of "
            f"{LONG_OBSERVATIONS} observations) in {plan.requests:,} requests over "
            f"{iso(plan.window_start_ns)[:16]} … {iso(plan.window_end_ns)[:16]}; {plan.templates} templates "
            f"built in {build_s:.1f} s; run tag {run_tag} → {target.otlp_url}[/]"
        )
        baseline = target.counts(read_client, plan, run_tag)
        disk_before = disk_usage(a.data_dir) if a.data_dir else None
        with RssSampler(a.server_pid) if a.server_pid else nullcontext() as sampler:
            headers = {"Content-Type": "application/x-protobuf", **target.send_headers}
            stats = asyncio.run(load(factory, plan, target.otlp_url, headers, a.concurrency, progress))
            want = (baseline[0] + stats.acked_spans, baseline[1] + stats.acked_traces)
            if stats.acked_spans and stats.last_ack_at is not None:
                q = wait_queryable(
                    read_client, target.counts, plan, run_tag, want, stats.last_ack_at, a.readback_timeout, progress
                )
            else:
                q = {"status": "error", "error": "nothing was acknowledged", "queryable_at": None, "polls": 0,
                     "seen_spans": 0, "seen_traces": 0}  # fmt: skip
        disk_after = disk_usage(a.data_dir) if a.data_dir else None

        now = datetime.now(UTC)
        params = pick_read_params(factory, plan, now)
        rtask = progress.add_task("reads", total=a.repeats + a.warmup, info="")
        load_before_reads = os.getloadavg()  # the 1/5/15-min load average as the reads start
        with RssSampler(a.server_pid) if a.server_pid else nullcontext() as read_sampler:
            reads = measure_reads(
                target.reader, read_client, params, a.repeats, a.warmup,
                on_round=lambda r, _n: progress.update(rtask, completed=r),
            )  # fmt: skip
        version = target.version(read_client)

    wall = (stats.last_ack_at - stats.first_request_at) if stats.last_ack_at and stats.first_request_at else None
    q_after = q_total = None
    if q.get("queryable_at") is not None:
        q_after = q["queryable_at"] - stats.last_ack_at
        q_total = q["queryable_at"] - stats.first_request_at
    growth = (disk_after["allocated_bytes"] - disk_before["allocated_bytes"]) if disk_before and disk_after else None
    srv = sampler.result() if sampler else None
    lat = stats.latencies_ms
    result = {
        "schema": 1,
        "kind": "scale",
        "label": a.label,
        "mode": f"scale-{a.label}",
        "started_at": started_at,
        "target": {"base_url": a.base_url, "endpoint": target.otlp_url, "server_version": version},
        "config": {
            "spans_requested": a.spans,
            "seed": a.seed,
            "salt": a.salt,
            "templates": a.templates,
            "batch_spans": a.batch_spans,
            "concurrency": a.concurrency,
            "days": a.days,
            "repeats": a.repeats,
            "warmup": a.warmup,
        },
        "workload": {
            "spans": plan.spans,
            "traces": plan.traces,
            "long_traces": plan.long_traces,
            "requests": plan.requests,
            "days": a.days,
            "window": [iso(plan.window_start_ns), iso(plan.window_end_ns)],
            "run_tag": run_tag,
            "wire_bytes_per_span": wire_per_span,
            "template_build_s": round(build_s, 2),
            "baseline": {"spans": baseline[0], "traces": baseline[1]},
        },
        "load": {
            "spans": plan.spans,
            "acked_spans": stats.acked_spans,
            "acked_traces": stats.acked_traces,
            "failed_spans": stats.failed_spans,
            "requests_failed": stats.requests_failed,
            "status_counts": dict(stats.status_counts),
            "error_samples": stats.error_samples,
            "wall_s": round(wall, 3) if wall else None,
            "accepted_spans_per_s": stats.acked_spans / wall if wall else None,
            "latency_ms": {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat, default=None)},
            "client_cpu_s": round(stats.client_cpu_s, 2),
            "queryable_status": q["status"],
            "queryable_error": q.get("error"),
            "seen_spans": q["seen_spans"] - baseline[0],
            "seen_traces": q["seen_traces"] - baseline[1],
            "queryable_after_last_ack_s": q_after,
            "queryable_spans_per_s": stats.acked_spans / q_total if q_total else None,
            "peak_rss_mb": srv["peak_rss_mb"] if srv else None,
            "disk_bytes_per_span": growth / stats.acked_spans if growth is not None and stats.acked_spans else None,
        },
        "reads": {
            "reader": target.reader.name,
            "repeats": a.repeats,
            "warmup": a.warmup,
            "params": {
                "user_id": params.user_id,
                "tag": params.tag,
                "trace_ids": list(params.trace_ids),
                "now": params.now.isoformat() if params.now else None,
                "expected": params.expected,
            },
            "queries": reads,
            "loadavg_at_start": [round(x, 2) for x in load_before_reads],
            "peak_rss_mb": read_sampler.result()["peak_rss_mb"] if read_sampler else None,
        },
        "server": srv,
        "disk": {"data_dir": str(a.data_dir), "before": disk_before, "after": disk_after, "growth_bytes": growth}
        if disk_before
        else None,
        "machine": machine_info(),
    }
    ok = (
        stats.failed_spans == 0
        and stats.acked_spans == plan.spans
        and q["status"] == "ok"
        and all(r["status"] in ("ok", "missing") for r in reads.values())
    )
    return (0 if ok else 1), result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/scale.py",
        description="Load a large LLM-trace dataset spread over the last 30 days, then time reads.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("workload")
    g.add_argument("--spans", type=int, default=1_000_000, help="observations to send (rounded up to whole requests)")
    g.add_argument("--days", type=float, default=30, help="spread span times over the last N days")
    g.add_argument(
        "--templates",
        type=int,
        default=256,
        help="distinct request bodies to encode and patch (~1.7 MB each); content repeats every N requests",
    )
    g.add_argument("--batch-spans", type=int, default=512, help="max spans per request (whole traces)")
    g.add_argument("--seed", type=int, default=42, help="decides content")
    g.add_argument("--salt", default=None, help="hex; decides ids and the run tag (default: random)")
    g = p.add_argument_group("target")
    g.add_argument("--base-url", default=DEFAULT_BASE)
    g.add_argument("--public-key", default="pk-lf-bench")
    g.add_argument("--secret-key", default="sk-lf-bench")
    g.add_argument("--concurrency", type=int, default=4, help="concurrent senders")
    g.add_argument(
        "--start-server", action="store_true", help="start a fresh `spyglass serve` (run.Server), stop it after"
    )
    g.add_argument("--server-cmd", default=None, help="with --start-server: command line ({port}, {python})")
    g.add_argument("--startup-timeout", type=float, default=120)
    g.add_argument("--keep-data", action="store_true", help="with --start-server: keep the data dir and log")
    g = p.add_argument_group("measuring")
    g.add_argument("--server-pid", type=int, default=None, help="sample this process tree's RSS")
    g.add_argument("--data-dir", default=None, help="measure this directory's growth per span")
    g.add_argument("--readback-timeout", type=float, default=1800, help="seconds after the last ack")
    g.add_argument("--repeats", type=int, default=30, help="timed rounds of reads")
    g.add_argument("--warmup", type=int, default=3, help="untimed rounds of reads first")
    g = p.add_argument_group("output")
    g.add_argument("--label", default="spyglass")
    g.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    g.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    if not 1 <= a.spans <= 100_000_000:
        p.error("--spans must be 1..100,000,000")
    if not 1 <= a.templates <= 1024 or not 1 <= a.concurrency <= 64:
        p.error("--templates must be 1..1024, --concurrency 1..64")
    if not SPANS_PER_TRACE <= a.batch_spans <= ID_SLOTS:
        p.error(f"--batch-spans must be {SPANS_PER_TRACE}..{ID_SLOTS}")
    if a.repeats < 1 or a.warmup < 0:
        p.error("--repeats must be >= 1, --warmup >= 0")
    a.salt = salt_arg(p, a.salt)
    return a


def main(argv: list[str] | None = None) -> tuple[int, dict]:
    a = parse_args(argv)
    console = Console()
    if not a.start_server:
        rc, result = run(a, console)
    else:
        from run import PUBLIC_KEY, SECRET_KEY, SERVER_CMD, Server

        workdir = Path(tempfile.mkdtemp(prefix="spyglass-scale-"))
        cmd = a.server_cmd or SERVER_CMD
        server = Server(cmd, workdir, a.startup_timeout)
        try:
            console.print(f"[dim]server pid {server.proc.pid} on {server.base}, up in {server.startup_s:.1f} s, "
                          f"data {server.data_dir}[/]")  # fmt: skip
            a.base_url, a.server_pid, a.data_dir = server.base, server.proc.pid, server.data_dir
            a.public_key, a.secret_key = PUBLIC_KEY, SECRET_KEY
            rc, result = run(a, console)
        finally:
            server.stop()
            if a.keep_data:
                console.print(f"[dim]kept {workdir}[/]")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        result["server"] = {
            **(result["server"] or {}),
            "startup_s": round(server.startup_s, 2),
            "shutdown_s": round(server.shutdown_s, 2) if server.shutdown_s is not None else None,
            "exit_status": server.proc.returncode,
        }
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    render(result, console)
    if not a.no_save:
        path = report.write_json(result, a.results_dir)
        console.print(f"[dim]result: {path}[/]")
    return rc, result


if __name__ == "__main__":
    sys.exit(main()[0])
