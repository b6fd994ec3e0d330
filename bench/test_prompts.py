"""Checks of the prompt-serving benchmark's pure parts and of its load generator against the no-op floor
server (no Spyglass, no Phoenix): `.venv/bin/python -m pytest bench/test_prompts.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import statistics
import sys
from pathlib import Path

import httpx
import orjson
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import prompts  # noqa: E402
from prompts import (  # noqa: E402
    COMPOSE_TAG,
    by_name,
    check_answer,
    content_key,
    distinct_reads,
    labelled,
    per_second,
    percentile,
    phoenix_name,
    phoenix_path,
    prompt_set,
    raw_request,
    read_mix,
    read_response,
    resolved,
    send_offsets,
    spyglass_path,
    summary,
)

# ---------------------------------------------------------------- schedule and statistics


def test_uniform_schedule_is_one_request_every_1_over_rate() -> None:
    offsets = send_offsets(200, 3)
    assert len(offsets) == 600
    assert offsets[0] == 0 and offsets[1] == pytest.approx(0.005) and offsets[-1] == pytest.approx(2.995)
    assert all(b - a == pytest.approx(0.005) for a, b in zip(offsets, offsets[1:], strict=False))
    assert len(send_offsets(3, 1.5)) == 5  # 0, 1/3, 2/3, 1, 4/3
    assert send_offsets(0, 10) == [] and send_offsets(10, 0) == []


def test_poisson_schedule_keeps_the_mean_rate_and_is_reproducible() -> None:
    offsets = send_offsets(200, 60, "poisson", seed=7)
    assert offsets == send_offsets(200, 60, "poisson", seed=7)
    assert offsets != send_offsets(200, 60, "poisson", seed=8)
    assert offsets == sorted(offsets) and 0 < offsets[0] and offsets[-1] < 60
    assert len(offsets) / 60 == pytest.approx(200, rel=0.03)
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert statistics.pstdev(gaps) == pytest.approx(1 / 200, rel=0.1)  # exponential: sd = mean
    with pytest.raises(ValueError):
        send_offsets(1, 1, "bursty")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 99.9) == 100
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 99) is None
    # One slow request in a hundred is the p99, not a blend of it and its neighbour.
    assert percentile([1.0] * 99 + [50.0], 99) == 1.0
    assert percentile([1.0] * 98 + [50.0, 60.0], 99) == 50.0


def test_summary_and_per_second() -> None:
    s = summary([1.0, 2.0, 3.0, 4.0])
    assert s["count"] == 4 and s["mean"] == 2.5 and s["p50"] == 2.0 and s["max"] == 4.0
    assert summary([])["p99"] is None
    timeline = per_second([0.1, 0.9, 1.0, 2.5], [1.0, 3.0, 2.0, 9.0])
    assert timeline == [
        {"second": 0, "requests": 2, "p99_ms": 3.0, "max_ms": 3.0},
        {"second": 1, "requests": 1, "p99_ms": 2.0, "max_ms": 2.0},
        {"second": 2, "requests": 1, "p99_ms": 9.0, "max_ms": 9.0},
    ]


# ---------------------------------------------------------------- the prompt set and the reads


def test_prompt_set_shape() -> None:
    versions = prompt_set(50)
    prompts_ = by_name(versions)
    assert len(prompts_) == 50 and len(versions) == 110
    assert sum(1 for vs in prompts_.values() if len(vs) == 5) == 10
    assert {vs[0].type for vs in prompts_.values()} == {"text", "chat"}
    assert any("/" in name for name in prompts_)
    for name, vs in prompts_.items():
        assert [v.version for v in vs] == list(range(1, len(vs) + 1))
        assert sum("production" in v.labels for v in vs) == 1, name
        assert sum("staging" in v.labels for v in vs) == (len(vs) > 1), name
        assert re.fullmatch(r"[a-z0-9]([_a-z0-9-]*[a-z0-9])?", phoenix_name(name)), name
        for v in vs:
            if v.type == "chat":
                assert isinstance(v.prompt, list) and v.prompt[-1] == {"role": "user", "content": "{{question}}"}
            else:
                assert isinstance(v.prompt, str)
    assert prompt_set(50) == versions  # deterministic
    assert len({phoenix_name(n) for n in prompts_}) == 50


def test_the_composed_prompt_comes_after_its_child_and_resolves_to_its_production_text() -> None:
    versions = prompt_set(50)
    composed = [v for v in versions if v.composed_of]
    assert len(composed) == 1
    parent = composed[0]
    child_versions = [v for v in versions if v.name == parent.composed_of]
    assert child_versions and all(versions.index(c) < versions.index(parent) for c in child_versions)
    assert child_versions[0].type == "text"
    tag = COMPOSE_TAG.format(name=parent.composed_of)
    assert tag in parent.prompt
    text = resolved(parent, by_name(versions))
    production = labelled(child_versions, "production")
    assert isinstance(text, str) and "@@@langfusePrompt" not in text and production.prompt in text
    assert production.version == 1 and len(child_versions) == 2  # not simply the newest version


def test_read_mix_follows_the_selector_weights_and_every_read_expects_the_right_version() -> None:
    versions = prompt_set(50)
    reads = distinct_reads(versions)
    mix = read_mix(reads, 20_000, seed=1)
    assert mix == read_mix(reads, 20_000, seed=1)
    kinds = [reads[i].kind for i in mix]
    share = {k: kinds.count(k) / len(kinds) for k in set(kinds)}
    assert share["version"] == pytest.approx(0.2 * 49 / 50, abs=0.02)
    assert share["default"] == pytest.approx(0.5 * 49 / 50, abs=0.02)
    # label=staging falls back to production where a prompt has no staging version
    assert 0.02 < share["label-staging"] < 0.1
    assert share["composed"] == pytest.approx(1 / 50, abs=0.01)
    assert len({reads[i].name for i in mix}) == 50
    for r in reads:
        assert r.expect is not None and r.expect.name == r.name
        if r.version is not None:
            assert r.expect.version == r.version
        elif r.label:
            assert r.label in r.expect.labels
        else:
            assert "production" in r.expect.labels


def test_paths_are_what_the_sdk_and_phoenix_client_send() -> None:
    versions = prompt_set(50)
    reads = distinct_reads(versions)
    folder = next(r for r in reads if "/" in r.name and r.kind == "label-production")
    assert spyglass_path(folder) == f"/api/public/v2/prompts/{folder.name.replace('/', '%2F')}?label=production"
    v = next(r for r in reads if r.version == 3)
    assert spyglass_path(v).endswith("?version=3")
    default = next(r for r in reads if r.kind == "default")
    assert "?" not in spyglass_path(default)
    ids = {(x.name, x.version): f"UHJvbXB0VmVyc2lvbjo{i}=" for i, x in enumerate(versions)}
    assert phoenix_path(default, ids) == f"/v1/prompts/{phoenix_name(default.name)}/tags/production"
    assert phoenix_path(v, ids).startswith("/v1/prompt_versions/UHJvbXB0VmVyc2lvbjo") and "%3D" in phoenix_path(v, ids)


def test_answers_are_checked_by_name_version_and_content() -> None:
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "{{question}}"}]
    expect = {"name": "a/b", "version": 2, "content": content_key(chat)}
    answer = {"name": "a/b", "version": 2, "type": "chat", "prompt": [dict(m, type="chatmessage") for m in chat]}
    assert check_answer("spyglass", orjson.dumps(answer), expect) is None  # extra keys per message are fine
    assert "got a/b v1" in check_answer("spyglass", orjson.dumps(answer | {"version": 1}), expect)
    assert "content" in check_answer("spyglass", orjson.dumps(answer | {"prompt": chat[:1]}), expect)
    assert "not JSON" in check_answer("spyglass", b"<html>", expect)
    assert check_answer("phoenix", b'{"data": {"id": "X"}}', {"name": "n", "id": "X"}) is None
    assert check_answer("phoenix", b'{"data": {"id": "Y"}}', {"name": "n", "id": "X"}) is not None
    assert check_answer("floor", b'{"anything": 1}', {}) is None


# ---------------------------------------------------------------- the raw HTTP/1.1 client


def test_raw_request_is_the_request_httpx_would_send() -> None:
    headers = prompts.sdk_headers("pk-lf-x", "sk-lf-y")
    with httpx.Client(base_url="http://127.0.0.1:3000", headers=headers) as client:
        built = client.build_request("GET", "/api/public/v2/prompts/a%2Fb?label=production")
        raw = raw_request(built)
    head, _, rest = raw.partition(b"\r\n")
    assert head == b"GET /api/public/v2/prompts/a%2Fb?label=production HTTP/1.1" and raw.endswith(b"\r\n\r\n")
    assert b"Host: 127.0.0.1:3000\r\n" in rest and b"Connection: keep-alive\r\n" in rest
    assert f"Authorization: {httpx.BasicAuth('pk-lf-x', 'sk-lf-y')._auth_header}".encode() in rest
    assert b"X-Langfuse-Sdk-Name: python\r\n" in rest


def _parse(data: bytes) -> tuple[int, dict, bytes]:
    async def go() -> tuple[int, dict, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_response(reader)

    return asyncio.run(go())


def test_read_response_by_length_chunks_and_gzip() -> None:
    status, headers, body = _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello")
    assert (status, body, headers[b"x"]) == (200, b"hello", b"y")
    status, _, body = _parse(
        b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert (status, body) == (404, b"abcde")
    status, _, body = _parse(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert (status, body) == (204, b"")
    packed = gzip.compress(b'{"a": 1}')
    assert prompts.inflate(b"gzip", packed) == b'{"a": 1}' and prompts.inflate(b"", b"x") == b"x"


# ---------------------------------------------------------------- the load generator, end to end


@pytest.mark.parametrize("client", ["raw", "httpx"])
def test_load_against_the_floor_server_measures_every_request(client: str) -> None:
    versions = prompt_set(5)
    reads = distinct_reads(versions)
    a = argparse.Namespace(
        rate=100.0,
        warmup=0.3,
        duration=1.0,
        arrivals="uniform",
        seed=3,
        connections=4,
        client=client,
        request_timeout=5.0,
    )
    with prompts.floor_server(500) as (base, _pid):
        job = prompts.load_job("floor", [base], {}, reads, [spyglass_path(r) for r in reads], [{}] * len(reads), a)
        raw = prompts.run_load(job, "test")
    load = prompts.digest_load(raw, a.rate)
    assert raw["warmup_requests"] == 30 and raw["measured_requests"] == 100
    assert load["completed"] == 100 and load["errors"] == 0 and load["errors_warmup"] == 0
    assert load["status_counts"] == {200: 100}
    assert 80 < load["achieved_rps"] < 110
    for r in ("latency_ms", "service_ms", "lag_ms"):
        assert load[r]["count"] == 100 and load[r]["p50"] >= 0
    # latency = send lag + service time, request by request, so its summary can't be below the service time's
    assert load["latency_ms"]["max"] >= load["service_ms"]["max"]
    if client == "raw":
        assert load["connections_opened"] == 4  # kept alive: one connect per connection
