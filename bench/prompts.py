#!/usr/bin/env python3
"""Prompt serving latency (issue #6): `GET /api/public/v2/prompts/{name}` under an open-loop load, and Phoenix's
prompt reads under the same load.

    .venv/bin/python bench/prompts.py                                   # 200 req/s for 60 s per target
    .venv/bin/python bench/prompts.py --quick                           # 5 s per target: checks the harness
    # how bench/README.md's table was made:
    .venv/bin/python bench/prompts.py --stack scaleout --repeat 3 --duration 30 --max-load 1.0 --max-load-wait 120
    .venv/bin/python bench/prompts.py --report bench/results/prompts/<stamp>.json   # that table again
    .venv/bin/python bench/prompts.py --phoenix ''                      # Spyglass only

Targets, each on a fresh server with an empty store, one at a time, stopped by PID afterwards:

* floor: a minimal HTTP responder (raw asyncio, one fixed 200 answer the size of a prompt) in its own process.
  What the same load generator measures when the server costs nothing: the client's and loopback's share.
* spyglass-embedded: one `spyglass serve` on its embedded stores (SQLite, chDB), as bench/run.py starts it.
* spyglass-scaleout (`--stack scaleout`): a scratch PostgreSQL database and a Redis key prefix (plus the moto S3
  bucket the fleet needs to start; tests/support/stack.py) shared by an owner `spyglass serve` and
  `--api-processes` `spyglass serve --no-worker`; the reads go to the API processes, as an app fleet's would.
* phoenix-sqlite / phoenix-postgres (`--phoenix`, default both; '' for none): `phoenix serve` as bench/phoenix.py
  starts it, on its default SQLite or a scratch PostgreSQL database.

The prompt set (`prompt_set()`): `--prompts` names (default 50), half text and half chat, some in folders
(`support/…`, sent as %2F), one in five with 5 versions, two in five with 2; the newest version of a multi-version
prompt is labelled `staging`, the one before it `production`; one composed text prompt embeds another with
`@@@langfusePrompt:name=<child>|label=production@@@`. Spyglass gets it through `POST /api/public/v2/prompts`, Phoenix
through `POST /v1/prompts` (every version; Phoenix keeps only CHAT templates, so a text prompt is one user message)
and `POST /v1/prompt_versions/{id}/tags` (its tags play Langfuse's labels; names without "/", which Phoenix refuses).
Phoenix cannot compose prompts: it stores the composed prompt already resolved, so both answer the same text.

The reads (`read_mix()`): a name chosen uniformly, then the selector: no selector (Langfuse: label production) 50%,
`label=production` 20%, `label=staging` 10% (production where there is none), `version=N` 20% (N uniform over the
prompt's versions). On Phoenix: `GET /v1/prompts/{name}/tags/production`, `…/tags/staging`, and
`GET /v1/prompt_versions/{id}` for a version. Spyglass gets HTTP Basic auth and the headers of the Langfuse Python
SDK; Phoenix runs without auth (its default).

The load (`--rate` requests/s, default 200): open loop, requests due at fixed intervals (or Poisson arrivals,
`--arrivals`) for `--warmup` s (not measured) then `--duration` s, from a separate process (asyncio on uvloop)
holding `--connections` keep-alive connections (default 8, taken in turn, like a small app fleet). `--client raw`
(default) sends on asyncio streams the very bytes httpx sends (see `RawConnection`); `--client httpx` uses one
`httpx.AsyncClient` per connection, which costs the client ~1 ms of CPU per request here. Per request: *latency*,
from the time it was due to the last byte of the answer, so a slow answer also counts against the requests that had
to wait behind it (coordinated omission); *service time*, from the moment it went out on a connection; and *send
lag*, the difference (the client late, or no connection free). Every answer must be 200 with the prompt asked for
(name, version and content for Spyglass, the prompt version id for Phoenix); any other answer is an error and fails
the run. The client runs with the garbage collector frozen, so its own pauses stay out of the tail.

`--repeat N` measures each target N times, the targets taking turns on fresh servers; the table shows the run with
the median p99 latency and every run's p99. Writes bench/results/prompts/<UTC stamp>.json and the table between the
prompts markers of bench/README.md; `--report` rebuilds both from a saved result. Exit status 0 when every request of
every run was answered correctly and every Spyglass run kept the rate (a Phoenix that falls behind is reported as
"overloaded", not as a failure), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import multiprocessing as mp
import os
import queue as queue_mod
import random
import shutil
import signal
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO)]  # sibling bench modules; tests.support for the shared engines

import httpx  # noqa: E402
import orjson  # noqa: E402
from processes import run_main  # noqa: E402
from progress import bar_columns  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

RESULTS_DIR = BENCH / "results" / "prompts"
SECTION = "## Prompt serving latency (issue #6)"
START, END = "<!-- prompts:start -->", "<!-- prompts:end -->"
TARGET_P99_MS = 5.0  # issue #6: p99 under 5 ms at 200 requests/s
STACKS = ("embedded", "scaleout")
PHOENIX_BACKENDS = ("sqlite", "postgres")
KINDS = ("default", "label-production", "label-staging", "version", "composed")
SELECTOR_WEIGHTS = {"default": 0.5, "label-production": 0.2, "label-staging": 0.1, "version": 0.2}
SDK_VERSION = "4.14.3"  # the langfuse version in .venv; sent as the SDK sends it
COMPOSE_TAG = "@@@langfusePrompt:name={name}|label=production@@@"
console = Console()


# ---------------------------------------------------------------- the prompt set


@dataclass(frozen=True)
class PromptVersion:
    """One version of a prompt as Langfuse's `POST /api/public/v2/prompts` takes it."""

    name: str
    version: int  # 1-based, the order of creation
    type: str  # "text" | "chat"
    prompt: str | list[dict]
    labels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    config: dict = field(default_factory=dict)
    commit_message: str = ""
    composed_of: str | None = None  # the child's name, when the text embeds it

    def body(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "prompt": self.prompt,
            "labels": list(self.labels),
            "tags": list(self.tags),
            "config": self.config,
            "commitMessage": self.commit_message,
        }


_WORDS = (
    "answer question customer context policy document order refund account ticket summary detail step "
    "reason evidence source tool result user agent assistant response format json field value example "
    "concise polite escalate verify check list table language tone brand product plan shipping invoice "
    "retrieve cite quote avoid never always must should only when unless include exclude priority urgent"
).split()
_FOLDERS = ("support", "sales", "rag", "agents", "eval")
_SLUGS = ("greeting", "triage", "summarize", "classify", "extract", "answer", "rewrite", "plan", "critic", "router")
_MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet-20241022", "gemini-1.5-pro")


def _prose(rng: random.Random, chars: int) -> str:
    """Deterministic sentences of about `chars` characters, with a mustache variable now and then."""
    out: list[str] = []
    n = 0
    while n < chars:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 16))]
        if rng.random() < 0.2:
            words[rng.randrange(len(words))] = "{{" + rng.choice(("question", "context", "user_name", "locale")) + "}}"
        sentence = " ".join(words).capitalize() + "."
        out.append(sentence)
        n += len(sentence) + 1
    return " ".join(out)


def _chat(rng: random.Random) -> list[dict]:
    messages = [{"role": "system", "content": _prose(rng, rng.randint(500, 2000))}]
    for _ in range(rng.randint(0, 2)):  # few-shot pairs
        messages.append({"role": "user", "content": _prose(rng, rng.randint(80, 300))})
        messages.append({"role": "assistant", "content": _prose(rng, rng.randint(100, 400))})
    messages.append({"role": "user", "content": "{{question}}"})
    return messages


def prompt_name(i: int) -> str:
    slug = f"{_SLUGS[i % len(_SLUGS)]}-{i:02d}"
    return f"{_FOLDERS[i % len(_FOLDERS)]}/{slug}" if i % 3 == 0 else slug


def version_count(i: int) -> int:
    """5 versions for one prompt in five, 2 for two in five, else 1."""
    return {0: 5, 1: 2, 2: 2}.get(i % 5, 1)


def prompt_set(n: int = 50, seed: int = 42) -> list[PromptVersion]:
    """Every version of `n` prompts in creation order (a composed prompt after its child); see the module doc."""
    if n < 3:
        raise ValueError("the prompt set needs at least 3 prompts")
    rng = random.Random(seed)
    out: list[PromptVersion] = []
    child = prompt_name(1)  # a text prompt (odd index) with 2 versions
    for i in range(n - 1):
        name, kind, versions = prompt_name(i), ("chat" if i % 2 == 0 else "text"), version_count(i)
        for v in range(1, versions + 1):
            if versions == 1:
                labels: tuple[str, ...] = ("production",)
            else:
                labels = ("production",) if v == versions - 1 else ("staging",) if v == versions else ()
            out.append(
                PromptVersion(
                    name=name,
                    version=v,
                    type=kind,
                    prompt=_chat(rng) if kind == "chat" else _prose(rng, rng.randint(300, 3000)),
                    labels=labels,
                    tags=(_FOLDERS[i % len(_FOLDERS)], "bench"),
                    config={
                        "model": rng.choice(_MODELS),
                        "temperature": round(rng.uniform(0, 1), 2),
                        "max_tokens": 512,
                    },
                    commit_message=f"bench v{v}",
                )
            )
    tag = COMPOSE_TAG.format(name=child)
    text = f"{_prose(rng, 400)}\n\nHouse style:\n{tag}\n\n{_prose(rng, 600)}"
    out.append(
        PromptVersion(
            name="composed/answer-with-style",
            version=1,
            type="text",
            prompt=text,
            labels=("production",),
            tags=("composed", "bench"),
            config={"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 512},
            commit_message="bench v1",
            composed_of=child,
        )
    )
    return out


def by_name(versions: list[PromptVersion]) -> dict[str, list[PromptVersion]]:
    out: dict[str, list[PromptVersion]] = {}
    for v in versions:
        out.setdefault(v.name, []).append(v)
    return out


def labelled(versions: list[PromptVersion], label: str) -> PromptVersion | None:
    """The version of one prompt carrying `label` (the newest one, as labels move when set again)."""
    return next((v for v in reversed(versions) if label in v.labels), None)


def resolved(v: PromptVersion, prompts: dict[str, list[PromptVersion]]) -> str | list[dict]:
    """What a GET answers as `prompt`: the text with each composition tag replaced by the child's production text."""
    if v.composed_of is None:
        return v.prompt
    child = labelled(prompts[v.composed_of], "production")
    assert child is not None and isinstance(child.prompt, str) and isinstance(v.prompt, str)
    return v.prompt.replace(COMPOSE_TAG.format(name=v.composed_of), child.prompt)


def content_key(prompt: object) -> object:
    """A prompt's content, comparable across products: the text, or (role, content) per chat message."""
    if isinstance(prompt, list):
        return [(m.get("role"), m.get("content")) for m in prompt if isinstance(m, dict)]
    return prompt


def set_info(versions: list[PromptVersion]) -> dict:
    prompts = by_name(versions)
    sizes = [len(orjson.dumps(v.prompt)) for v in versions]
    return {
        "prompts": len(prompts),
        "versions": len(versions),
        "text": sum(1 for vs in prompts.values() if vs[0].type == "text"),
        "chat": sum(1 for vs in prompts.values() if vs[0].type == "chat"),
        "with_5_versions": sum(1 for vs in prompts.values() if len(vs) == 5),
        "in_folders": sum(1 for n in prompts if "/" in n),
        "composed": [n for n, vs in prompts.items() if vs[0].composed_of],
        "content_bytes_mean": round(sum(sizes) / len(sizes)),
        "content_bytes_max": max(sizes),
    }


# ---------------------------------------------------------------- the reads


@dataclass(frozen=True)
class Read:
    """One distinct read: a prompt and a selector, and the version it must answer with."""

    name: str
    kind: str  # one of KINDS
    version: int | None = None  # for kind "version"
    label: str | None = None  # for the label kinds
    expect: PromptVersion | None = None


def distinct_reads(versions: list[PromptVersion]) -> list[Read]:
    """Every (prompt, selector) pair the mix can ask for, in a fixed order."""
    out: list[Read] = []
    for name, vs in by_name(versions).items():
        prod = labelled(vs, "production")
        staging = labelled(vs, "staging")
        composed = vs[0].composed_of is not None
        out.append(Read(name, "composed" if composed else "default", expect=prod))
        out.append(Read(name, "composed" if composed else "label-production", label="production", expect=prod))
        if staging is not None:
            out.append(Read(name, "label-staging", label="staging", expect=staging))
        for v in vs:
            out.append(Read(name, "composed" if composed else "version", version=v.version, expect=v))
    return out


def read_mix(reads: list[Read], n: int, seed: int = 42) -> list[int]:
    """`n` indices into `reads`: a name uniformly, then a selector by SELECTOR_WEIGHTS (see the module doc)."""
    rng = random.Random(seed)
    names = list(dict.fromkeys(r.name for r in reads))
    index: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(reads):
        sel = "version" if r.version is not None else (r.label or "default")
        index.setdefault((r.name, sel), []).append(i)
    kinds, weights = zip(*SELECTOR_WEIGHTS.items(), strict=True)
    out = []
    for _ in range(n):
        name = rng.choice(names)
        kind = rng.choices(kinds, weights)[0]
        sel = {"label-production": "production", "label-staging": "staging"}.get(kind, kind)
        choices = index.get((name, sel)) or index[(name, "production")]
        out.append(rng.choice(choices))
    return out


def spyglass_path(r: Read) -> str:
    """The URL path and query the SDK sends (`get_prompt` quotes the name with safe="")."""
    params = {"version": r.version} if r.version is not None else {"label": r.label} if r.label else {}
    path = f"/api/public/v2/prompts/{quote(r.name, safe='')}"
    return path + (f"?{urlencode(params)}" if params else "")


def phoenix_name(name: str) -> str:
    """Phoenix prompt names match ^[a-z0-9]([_a-z0-9-]*[a-z0-9])?$: folders become a "--" prefix."""
    return name.replace("/", "--")


def phoenix_path(r: Read, version_ids: dict[tuple[str, int], str]) -> str:
    assert r.expect is not None
    if r.version is not None:
        return f"/v1/prompt_versions/{quote(version_ids[(r.name, r.version)], safe='')}"
    return f"/v1/prompts/{phoenix_name(r.name)}/tags/{r.label or 'production'}"


def sdk_headers(public_key: str, secret_key: str) -> dict[str, str]:
    """What langfuse's Python SDK (4.x) sends with every API call."""
    return {
        "Authorization": httpx.BasicAuth(public_key, secret_key)._auth_header,
        "X-Fern-Language": "Python",
        "X-Langfuse-Sdk-Name": "python",
        "X-Langfuse-Sdk-Version": SDK_VERSION,
        "X-Langfuse-Public-Key": public_key,
    }


def check_answer(product: str, body: bytes, expect: dict) -> str | None:
    """None when a 200 answer holds the prompt expected, else what is wrong."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if product == "spyglass":
        got = (doc.get("name"), doc.get("version"))
        if got != (expect["name"], expect["version"]):
            return f"asked for {expect['name']} v{expect['version']}, got {got[0]} v{got[1]}"
        if content_key(doc.get("prompt")) != expect["content"]:
            return f"{expect['name']} v{expect['version']}: the prompt's content differs from what was stored"
    elif product == "phoenix":
        got_id = (doc.get("data") or {}).get("id")
        if got_id != expect["id"]:
            return f"asked for {expect['name']} ({expect['id']}), got version {got_id}"
    return None


# ---------------------------------------------------------------- schedule and statistics


def send_offsets(rate: float, seconds: float, arrivals: str = "uniform", seed: int = 42) -> list[float]:
    """When each request is due, in seconds from the start: every 1/rate s, or Poisson arrivals at `rate`."""
    if rate <= 0 or seconds <= 0:
        return []
    if arrivals == "uniform":
        return [i / rate for i in range(math.ceil(seconds * rate - 1e-9))]
    if arrivals != "poisson":
        raise ValueError(f"arrivals must be uniform or poisson, not {arrivals!r}")
    rng = random.Random(seed)
    out, t = [], 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= seconds:
            return out
        out.append(t)


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100): the smallest value with at least q% of values at or below it."""
    if not values:
        return None
    s = sorted(values)
    k = max(1, math.ceil(q / 100 * len(s)))
    return s[min(k, len(s)) - 1]


def summary(values: list[float]) -> dict:
    """count, mean and p50 / p90 / p95 / p99 / p99.9 / max (None for no data)."""
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p95": None, "p99": None, "p999": None, "max": None}
    s = sorted(values)
    return {
        "count": len(s),
        "mean": sum(s) / len(s),
        "p50": percentile(s, 50),
        "p90": percentile(s, 90),
        "p95": percentile(s, 95),
        "p99": percentile(s, 99),
        "p999": percentile(s, 99.9),
        "max": s[-1],
    }


def per_second(due_s: list[float], latency_ms: list[float], start: float = 0.0) -> list[dict]:
    """Per whole second of due time from `start`: requests, p99 and max latency."""
    buckets: dict[int, list[float]] = {}
    for t, lat in zip(due_s, latency_ms, strict=True):
        buckets.setdefault(int(t - start), []).append(lat)
    return [
        {"second": sec, "requests": len(v), "p99_ms": percentile(v, 99), "max_ms": max(v)}
        for sec, v in sorted(buckets.items())
    ]


# ---------------------------------------------------------------- the load generator (its own process)


def load_job(
    product: str,
    base_urls: list[str],
    headers: dict[str, str],
    reads: list[Read],
    paths: list[str],
    expects: list[dict],
    a: argparse.Namespace,
) -> dict:
    """Everything the load process needs, as plain data."""
    offsets = send_offsets(a.rate, a.warmup + a.duration, a.arrivals, a.seed)
    return {
        "product": product,
        "base_urls": base_urls,
        "headers": headers,
        "paths": paths,
        "kinds": [r.kind for r in reads],
        "expects": expects,
        "offsets": offsets,
        "mix": read_mix(reads, len(offsets), a.seed),
        "warmup_s": a.warmup,
        "connections": a.connections,
        "client": a.client,
        "timeout_s": a.request_timeout,
    }


class HttpxConnection:
    """One keep-alive connection as httpx's AsyncClient holds it (`--client httpx`)."""

    def __init__(self, base_url: str, headers: dict[str, str], paths: list[str], timeout: float) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=timeout)
        self.paths = paths
        self.connects: int | None = None  # httpx does not tell

    async def get(self, key: int) -> tuple[int, bytes]:
        r = await self.client.get(self.paths[key])
        return r.status_code, r.content

    async def aclose(self) -> None:
        await self.client.aclose()


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams (`--client raw`, the default).

    It sends byte for byte the request httpx would send (request line and headers built by
    `httpx.Client.build_request`, so the same Host, Accept, Accept-Encoding, Connection,
    User-Agent and the caller's headers), and reads the answer by Content-Length or chunks,
    inflating gzip/deflate. It costs ~15 µs of CPU per request against httpx's AsyncClient's
    ~800 µs on this machine, so the client's share of a latency stays small.
    """

    def __init__(self, base_url: str, headers: dict[str, str], paths: list[str], timeout: float) -> None:
        url = httpx.URL(base_url)
        self.host, self.port = url.host, url.port or 80
        self.timeout = timeout
        with httpx.Client(base_url=base_url, headers=headers) as builder:
            self.requests = [raw_request(builder.build_request("GET", p)) for p in paths]
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def get(self, key: int) -> tuple[int, bytes]:
        try:
            async with asyncio.timeout(self.timeout):
                if self.writer is None or self.writer.is_closing():
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                    self.connects += 1
                assert self.reader is not None
                self.writer.write(self.requests[key])
                status, headers, body = await read_response(self.reader)
        except BaseException:
            self._drop()
            raise
        if headers.get(b"connection", b"").lower() == b"close":
            self._drop()
        return status, inflate(headers.get(b"content-encoding", b""), body)

    def _drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def aclose(self) -> None:
        self._drop()


def raw_request(request: httpx.Request) -> bytes:
    """The bytes of an HTTP/1.1 GET as httpx sends it."""
    head = b"GET " + request.url.raw_path + b" HTTP/1.1\r\n"
    return head + b"".join(k + b": " + v + b"\r\n" for k, v in request.headers.raw) + b"\r\n"


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes], bytes]:
    """(status, headers with lower-case names, body) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if b"content-length" in headers:
        return status, headers, await reader.readexactly(int(headers[b"content-length"]))
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected: the empty line
                return status, headers, b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    if status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    raise ConnectionError(f"HTTP {status} without Content-Length or chunks: cannot tell where the body ends")


def inflate(encoding: bytes, body: bytes) -> bytes:
    enc = encoding.lower().strip()
    if enc == b"gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if enc == b"deflate":
        return zlib.decompress(body)
    return body


CLIENTS = {"raw": RawConnection, "httpx": HttpxConnection}


async def _drive(job: dict, report: Callable[[tuple], None]) -> dict:
    expects, mix, offsets = job["expects"], job["mix"], job["offsets"]
    n = len(offsets)
    warm_n = sum(1 for t in offsets if t < job["warmup_s"])
    make = CLIENTS[job["client"]]
    bases = job["base_urls"]
    clients = [
        make(bases[i % len(bases)], job["headers"], job["paths"], job["timeout_s"]) for i in range(job["connections"])
    ]
    pool: asyncio.Queue[RawConnection | HttpxConnection] = asyncio.Queue()
    for c in clients:
        pool.put_nowait(c)
    due = [0.0] * n
    started = [math.nan] * n
    ended = [math.nan] * n
    status = [0] * n
    errors: list[str | None] = [None] * n
    done = 0
    error_count = 0
    loop = asyncio.get_running_loop()

    async def one(i: int, t_due: float) -> None:
        nonlocal done, error_count
        client = await pool.get()
        ts = time.perf_counter()
        body = b""
        try:
            status[i], body = await client.get(mix[i])
        except (httpx.HTTPError, OSError, EOFError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
            errors[i] = f"{type(exc).__name__}: {exc}"[:300]
        te = time.perf_counter()
        pool.put_nowait(client)
        started[i], ended[i] = ts, te
        if errors[i] is None:
            if status[i] != 200:
                errors[i] = f"HTTP {status[i]}: {body[:200]!r}"
            else:
                errors[i] = check_answer(job["product"], body, expects[mix[i]])
        done += 1
        if errors[i] is not None:
            error_count += 1

    async def progress() -> None:
        last = 0
        while True:
            await asyncio.sleep(0.25)
            recent = [ended[i] - due[i] for i in range(last, done) if not math.isnan(ended[i])]
            last = done
            p99 = percentile(recent, 99)
            report(("progress", done, warm_n, n, error_count, None if p99 is None else p99 * 1000))

    tasks: set[asyncio.Task] = set()
    reporter = loop.create_task(progress())
    cpu0 = time.process_time()
    t0 = time.perf_counter() + 0.1
    cpu_measured0 = None
    for i, off in enumerate(offsets):
        t_due = t0 + off
        due[i] = t_due
        if i == warm_n:
            cpu_measured0 = time.process_time()
        delay = t_due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(i, t_due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:  # an overloaded server has a backlog to work off: give it as long as the run took
        await asyncio.wait(tasks, timeout=max(job["timeout_s"] + 5, offsets[-1]))
    for task in list(tasks):
        task.cancel()
    cpu1 = time.process_time()
    reporter.cancel()
    for c in clients:
        await c.aclose()
    measured = range(warm_n, n)
    complete = [i for i in measured if not math.isnan(ended[i])]
    first_due = due[warm_n] if warm_n < n else t0
    last_end = max((ended[i] for i in complete), default=first_due)
    return {
        "requests": n,
        "warmup_requests": warm_n,
        "measured_requests": n - warm_n,
        "completed": len(complete),
        "unfinished": n - warm_n - len(complete),
        "wall_s": last_end - first_due,
        "due_s": [due[i] - first_due for i in complete],
        # asyncio may wake a sleeper up to its clock resolution early: a request sent before it
        # was due is counted from its send, so latency never reads below service time.
        "latency_ms": [(ended[i] - min(due[i], started[i])) * 1000 for i in complete],
        "service_ms": [(ended[i] - started[i]) * 1000 for i in complete],
        "lag_ms": [(started[i] - due[i]) * 1000 for i in complete],
        "kind": [job["kinds"][mix[i]] for i in complete],
        "status_counts": dict(Counter(status[i] for i in measured)),
        "errors_measured": sum(1 for i in measured if errors[i] is not None),
        "errors_warmup": sum(1 for i in range(warm_n) if errors[i] is not None),
        "error_samples": list(dict.fromkeys(e for e in errors if e is not None))[:5],
        "client_cpu_s": cpu1 - (cpu_measured0 if cpu_measured0 is not None else cpu0),
        "connections_opened": None if clients[0].connects is None else sum(c.connects or 0 for c in clients),
    }


def _load_process(job: dict, out: mp.Queue) -> None:
    """The load generator's process: runs `_drive` on uvloop with the collector frozen, posts its result."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        factory = None
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            result = runner.run(_drive(job, out.put))
        out.put(("result", result))
    except BaseException as exc:  # noqa: BLE001 - report anything to the parent
        out.put(("failed", f"{type(exc).__name__}: {exc}"))


def run_load(job: dict, label: str) -> dict:
    """Run `job` in a fresh process with a progress bar; returns the raw result."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_load_process, args=(job, out), name=f"loadgen-{label}", daemon=True)
    columns = bar_columns()
    n = len(job["offsets"])
    warm_n = sum(1 for t in job["offsets"] if t < job["warmup_s"])
    result: dict | None = None
    with Progress(*columns, console=console, transient=False) as progress:
        warm = progress.add_task("warm-up", total=warm_n, info="")
        meas = progress.add_task("measuring", total=n - warm_n, info="", start=False)
        proc.start()
        try:
            while result is None:
                try:
                    msg = out.get(timeout=1.0)
                except queue_mod.Empty:
                    if not proc.is_alive():
                        raise RuntimeError(f"load generator exited with {proc.exitcode} without a result") from None
                    continue
                if msg[0] == "progress":
                    _, done, warm_total, _total, errs, p99 = msg
                    info = (f"p99 {p99:.1f} ms (last ¼ s)" if p99 is not None else "") + (
                        f" [red]{errs} errors[/]" if errs else ""
                    )
                    progress.update(warm, completed=min(done, warm_total), info=info if done <= warm_total else "")
                    if done > warm_total:
                        progress.start_task(meas)
                        progress.update(meas, completed=done - warm_total, info=info)
                elif msg[0] == "result":
                    result = msg[1]
                    progress.update(meas, completed=result["completed"])
                else:
                    raise RuntimeError(f"load generator failed: {msg[1]}")
        finally:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return result


def digest_load(raw: dict, rate: float) -> dict:
    """The figures of one measured load: summaries, per-kind p99, achieved rate, a per-second timeline."""
    by_kind: dict[str, list[float]] = {}
    for k, lat in zip(raw["kind"], raw["latency_ms"], strict=True):
        by_kind.setdefault(k, []).append(lat)
    timeline = per_second(raw["due_s"], raw["latency_ms"])
    worst = sorted(timeline, key=lambda s: s["max_ms"], reverse=True)[:5]
    slow = sorted(
        ((lat, t, svc) for lat, t, svc in zip(raw["latency_ms"], raw["due_s"], raw["service_ms"], strict=True)),
        reverse=True,
    )[:10]
    over = sum(1 for lat in raw["latency_ms"] if lat > TARGET_P99_MS)
    return {
        "rate_target": rate,
        "measured_requests": raw["measured_requests"],
        "completed": raw["completed"],
        "unfinished": raw["unfinished"],
        "achieved_rps": raw["completed"] / raw["wall_s"] if raw["wall_s"] > 0 else None,
        "errors": raw["errors_measured"],
        "errors_warmup": raw["errors_warmup"],
        "status_counts": raw["status_counts"],
        "error_samples": raw["error_samples"],
        "latency_ms": summary(raw["latency_ms"]),
        "service_ms": summary(raw["service_ms"]),
        "lag_ms": summary(raw["lag_ms"]),
        "over_target": over,
        "by_kind": {k: summary(v) for k, v in sorted(by_kind.items())},
        "client_cpu_s": raw["client_cpu_s"],
        "connections_opened": raw["connections_opened"],
        "worst_seconds": worst,
        "slowest": [{"latency_ms": lat, "due_s": t, "service_ms": svc} for lat, t, svc in slow],
        "timeline": timeline,
    }


# ---------------------------------------------------------------- the floor: a server that costs nothing


def _floor_server(port: int, body_len: int, ready: mp.Event) -> None:  # type: ignore[valid-type]
    body = orjson.dumps({"name": "floor", "version": 1, "prompt": "x" * max(0, body_len - 40)})
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )

    class Responder(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while b"\r\n\r\n" in self.buf:
                _, self.buf = self.buf.split(b"\r\n\r\n", 1)
                self.transport.write(response)  # type: ignore[attr-defined]

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:  # pragma: no cover
        asyncio.run(serve())


@contextlib.contextmanager
def floor_server(body_len: int) -> Iterator[tuple[str, int]]:
    from run import free_port

    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    port = free_port()
    proc = ctx.Process(target=_floor_server, args=(port, body_len, ready), name="floor-server", daemon=True)
    proc.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("floor server did not start")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()


# ---------------------------------------------------------------- setting up each product


def create_spyglass_prompts(base: str, headers: dict[str, str], versions: list[PromptVersion]) -> None:
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for v in versions:
            r = client.post("/api/public/v2/prompts", json=v.body())
            if r.status_code != 201:
                raise RuntimeError(
                    f"POST /api/public/v2/prompts {v.name} v{v.version} → {r.status_code}: {r.text[:300]}"
                )
            got = r.json().get("version")
            if got != v.version:
                raise RuntimeError(f"{v.name}: created as version {got}, expected {v.version}")


def spyglass_expectations(reads: list[Read], versions: list[PromptVersion]) -> list[dict]:
    prompts = by_name(versions)
    out = []
    for r in reads:
        assert r.expect is not None
        out.append({"name": r.name, "version": r.expect.version, "content": content_key(resolved(r.expect, prompts))})
    return out


def _phoenix_version_body(v: PromptVersion, content: str | list[dict]) -> dict:
    messages = content if isinstance(content, list) else [{"role": "user", "content": content}]
    return {
        "prompt": {"name": phoenix_name(v.name), "description": f"bench prompt {v.name}"},
        "version": {
            "description": v.commit_message,
            "metadata": {"tags": list(v.tags), "langfuse_type": v.type},
            "model_provider": "OPENAI",
            "model_name": v.config.get("model", "gpt-4o-mini"),
            "template": {"type": "chat", "messages": messages},
            "template_type": "CHAT",
            "template_format": "MUSTACHE",
            "invocation_parameters": {
                "type": "openai",
                "openai": {
                    "temperature": v.config.get("temperature", 0.2),
                    "max_tokens": v.config.get("max_tokens", 512),
                },
            },
        },
    }


def create_phoenix_prompts(base: str, versions: list[PromptVersion]) -> dict[tuple[str, int], str]:
    """Every version through `POST /v1/prompts`, then the labels as tags; returns the version ids."""
    prompts = by_name(versions)
    ids: dict[tuple[str, int], str] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for v in versions:
            r = client.post("/v1/prompts", json=_phoenix_version_body(v, resolved(v, prompts)))
            if r.status_code != 200:
                raise RuntimeError(f"POST /v1/prompts {v.name} v{v.version} → {r.status_code}: {r.text[:300]}")
            ids[(v.name, v.version)] = r.json()["data"]["id"]
        for v in versions:
            for label in v.labels:
                r = client.post(f"/v1/prompt_versions/{ids[(v.name, v.version)]}/tags", json={"name": label})
                if r.status_code not in (200, 204):
                    raise RuntimeError(f"tagging {v.name} v{v.version} {label} → {r.status_code}: {r.text[:300]}")
    return ids


def preflight(product: str, bases: list[str], headers: dict[str, str], paths: list[str], expects: list[dict]) -> None:
    """Every distinct read once, on every server: all must answer 200 with the prompt asked for."""
    for base in bases:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for path, expect in zip(paths, expects, strict=True):
                r = client.get(path)
                problem = f"HTTP {r.status_code}: {r.text[:300]}" if r.status_code != 200 else None
                problem = problem or check_answer(product, r.content, expect)
                if problem:
                    raise RuntimeError(f"GET {base}{path}: {problem}")


# ---------------------------------------------------------------- one measured run per target


def _cpu_s(pids: list[int]) -> float:
    from procstats import proc_cpu_s

    return sum(proc_cpu_s(p) or 0.0 for p in pids)


def _measure(
    label: str,
    product: str,
    bases: list[str],
    headers: dict[str, str],
    reads: list[Read],
    paths: list[str],
    expects: list[dict],
    server_pids: list[int],
    a: argparse.Namespace,
) -> dict:
    from procstats import machine_busy_s

    job = load_job(product, bases, headers, reads, paths, expects, a)
    cpu0, busy0, t0 = _cpu_s(server_pids), machine_busy_s()[0], time.monotonic()
    raw = run_load(job, label)
    cpu1, busy1, t1 = _cpu_s(server_pids), machine_busy_s()[0], time.monotonic()
    load = digest_load(raw, a.rate)
    # The server and machine CPU cover warm-up and measurement: the load is the same throughout.
    load["server_cpu_s"] = cpu1 - cpu0
    load["server_cpu_ms_per_request"] = (cpu1 - cpu0) * 1000 / max(1, raw["requests"])
    load["machine_busy_cores"] = (busy1 - busy0) / (t1 - t0)
    return load


def code_state() -> dict:
    """The commit and whether src/ differs from it, as each run starts (servers import the working tree)."""
    from procstats import _git

    status = _git("status", "--porcelain", "--", ":/src")
    return {
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_src_dirty": None if status is None else bool(status),
    }


def load_status(load: dict) -> str:
    """ok; errors (any answer not 200 with the prompt asked for, warm-up included); overloaded (requests left
    unanswered after the drain, or under 95% of the rate achieved)."""
    if load["errors"] or load["errors_warmup"]:
        return "errors"
    if load["unfinished"] or (load["achieved_rps"] or 0) < 0.95 * load["rate_target"]:
        return "overloaded"
    return "ok"


def run_target(target: str, versions: list[PromptVersion], a: argparse.Namespace) -> dict:
    """Start the target fresh, create the prompt set, check every read, run the load, stop it."""
    from procstats import machine_info  # noqa: F401 - fail early if the bench modules are missing

    reads = distinct_reads(versions)
    loadavg = [round(x, 2) for x in os.getloadavg()]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    info: dict = {"target": target, "started_at": started_at, "loadavg_at_start": loadavg, "code": code_state()}
    try:
        if a.max_load > 0:
            from scaleout_run import wait_quiet

            info["loadavg_at_start"] = wait_quiet(a.max_load, a.max_load_wait)
        if target == "floor":
            body_len = round(sum(len(orjson.dumps(v.prompt)) for v in versions) / len(versions)) + 400
            with floor_server(body_len) as (base, pid):
                paths = [spyglass_path(r) for r in reads]
                expects = [{} for _ in reads]
                info["server"] = {"pid": pid, "body_bytes": body_len}
                info["load"] = _measure(target, "floor", [base], {}, reads, paths, expects, [pid], a)
        elif target.startswith("spyglass-"):
            info.update(_run_spyglass(target.removeprefix("spyglass-"), versions, reads, a))
        elif target.startswith("phoenix-"):
            info.update(_run_phoenix(target.removeprefix("phoenix-"), versions, reads, a))
        else:
            raise ValueError(target)
        info["status"] = load_status(info["load"])
    except Exception as exc:  # noqa: BLE001 - one target failing must not stop the others
        console.print(f"[red]{target}: {exc}[/]")
        info["status"] = "failed"
        info["error"] = str(exc)[:2000]
    return info


def _run_spyglass(stack: str, versions: list[PromptVersion], reads: list[Read], a: argparse.Namespace) -> dict:
    from fleet import Topology
    from run import PUBLIC_KEY, SECRET_KEY

    workdir = Path(tempfile.mkdtemp(prefix=f"spyglass-prompts-{stack}-"))
    topo = Topology(stack, workdir, a.api_processes)
    try:
        topo.start(a.startup_timeout)
        nodes = topo.ingest_nodes  # the API processes (the one server when embedded)
        bases = [n.base for n in nodes]
        headers = sdk_headers(PUBLIC_KEY, SECRET_KEY)
        t0 = time.perf_counter()
        create_spyglass_prompts(bases[0], headers, versions)
        setup_s = time.perf_counter() - t0
        paths = [spyglass_path(r) for r in reads]
        expects = spyglass_expectations(reads, versions)
        preflight("spyglass", bases, headers, paths, expects)
        console.print(
            f"[dim]{len(versions)} prompt versions created in {setup_s:.1f} s; {len(reads)} distinct reads checked "
            f"on {', '.join(n.name for n in nodes)}[/]"
        )
        load = _measure(
            f"spyglass-{stack}", "spyglass", bases, headers, reads, paths, expects, list(topo.pids().values()), a
        )
        return {
            "server": {
                "processes": {n.name: n.info() for n in topo.nodes},
                "stack": topo.stack_info(),
                "reads_to": [n.name for n in nodes],
            },
            "setup_s": setup_s,
            "load": load,
        }
    finally:
        topo.close()
        if a.keep_workdir:
            console.print(f"[dim]kept {workdir}[/]")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run_phoenix(backend: str, versions: list[PromptVersion], reads: list[Read], a: argparse.Namespace) -> dict:
    from phoenix import PhoenixServer

    with PhoenixServer(backend) as server:  # type: ignore[arg-type]
        console.print(
            f"[dim]phoenix {server.version} on {server.store}, pid {server.pid}, up in {server.startup_s:.1f} s[/]"
        )
        t0 = time.perf_counter()
        ids = create_phoenix_prompts(server.base_url, versions)
        setup_s = time.perf_counter() - t0
        paths = [phoenix_path(r, ids) for r in reads]
        expects = []
        for r in reads:
            assert r.expect is not None
            expects.append({"name": r.name, "id": ids[(r.name, r.expect.version)]})
        preflight("phoenix", [server.base_url], {}, paths, expects)
        console.print(
            f"[dim]{len(versions)} prompt versions created in {setup_s:.1f} s; {len(reads)} distinct reads checked[/]"
        )
        from procstats import _descendants

        pids = _descendants(server.pid)
        load = _measure(f"phoenix-{backend}", "phoenix", [server.base_url], {}, reads, paths, expects, pids, a)
        return {
            "server": {"pid": server.pid, "version": server.version, "backend": backend, "startup_s": server.startup_s},
            "setup_s": setup_s,
            "load": load,
        }


# ---------------------------------------------------------------- the report


def median_run(runs: list[dict]) -> dict:
    """The run with the median p99 latency (the lower middle of an even count; failed runs rank last)."""

    def key(r: dict) -> float:
        p99 = (r.get("load") or {}).get("latency_ms", {}).get("p99")
        return math.inf if r.get("status") == "failed" or p99 is None else p99

    ranked = sorted(runs, key=key)
    pick = dict(ranked[(len(ranked) - 1) // 2])
    pick["repeats"] = [
        {
            "started_at": r["started_at"],
            "status": r.get("status"),
            "loadavg_at_start": r["loadavg_at_start"],
            "p50_ms": (r.get("load") or {}).get("latency_ms", {}).get("p50"),
            "p99_ms": (r.get("load") or {}).get("latency_ms", {}).get("p99"),
            "max_ms": (r.get("load") or {}).get("latency_ms", {}).get("max"),
            "errors": (r.get("load") or {}).get("errors"),
        }
        for r in runs
    ]
    return pick


TARGET_TITLES = {
    "floor": "floor (no server work)",
    "spyglass-embedded": "Spyglass embedded",
    "spyglass-scaleout": "Spyglass scale-out (PG + Redis)",
    "phoenix-sqlite": "Phoenix SQLite",
    "phoenix-postgres": "Phoenix PostgreSQL",
}


def _ms(v: float | None, fmt: str | None = None) -> str:
    """Milliseconds for a table: two decimals below 10, one below 100, then whole ones."""
    if v is None:
        return "–"
    return format(v, fmt or (".2f" if v < 10 else ".1f" if v < 100 else ",.0f"))


def table_rows(run: dict) -> tuple[list[str], list[tuple[str, list[str]]]]:
    targets = list(run["summary"])
    results = [run["summary"][t] for t in targets]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn: Callable[[dict], str]) -> None:
        rows.append((label, [fn(r) if r.get("load") else r.get("status", "–") for r in results]))

    def spyglass_row(label: str, fn: Callable[[dict], str]) -> None:
        cells = [fn(r) if t.startswith("spyglass-") else "" for t, r in zip(targets, results, strict=True)]
        rows.append((label, cells))

    def lat(key: str, stat: str = "latency_ms") -> Callable[[dict], str]:
        return lambda r: _ms(r["load"][stat][key])

    row("requests measured · achieved req/s", lambda r: f"{r['load']['completed']:,} · {r['load']['achieved_rps']:.1f}")
    row(
        "**latency p50 ms** (from the time each request was due)",
        lambda r: f"**{_ms(r['load']['latency_ms']['p50'])}**",
    )
    row("latency p95 ms", lat("p95"))
    row("**latency p99 ms**", lambda r: f"**{_ms(r['load']['latency_ms']['p99'])}**")
    row(
        "latency p99.9 / max ms",
        lambda r: f"{_ms(r['load']['latency_ms']['p999'])} / {_ms(r['load']['latency_ms']['max'])}",
    )
    row(
        "service time p50 / p99 ms (from the send on a connection)",
        lambda r: f"{_ms(r['load']['service_ms']['p50'])} / {_ms(r['load']['service_ms']['p99'])}",
    )
    row("send lag p99 ms (client late or no connection free)", lat("p99", "lag_ms"))
    row(
        f"requests over {TARGET_P99_MS:g} ms",
        lambda r: f"{r['load']['over_target']:,} ({r['load']['over_target'] / max(1, r['load']['completed']):.2%})",
    )
    for kind in KINDS:
        row(f"p99 ms · {kind}", lambda r, k=kind: _ms((r["load"]["by_kind"].get(k) or {}).get("p99")))
    row(
        "errors (measured / warm-up) · unanswered",
        lambda r: f"{r['load']['errors']} / {r['load']['errors_warmup']} · {r['load']['unfinished']}",
    )
    if run["args"]["repeat"] > 1:
        row(
            f"p99 ms of each of the {run['args']['repeat']} runs",
            lambda r: " · ".join(_ms(x["p99_ms"]) for x in r["repeats"]),
        )
    row(
        "1-min load average as each run started",
        lambda r: " · ".join(f"{x['loadavg_at_start'][0]:.2f}" for x in r["repeats"]),
    )
    run_s = run["args"]["warmup"] + run["args"]["duration"]
    row(
        "server CPU ms per request (cores busy)",
        lambda r: f"{r['load']['server_cpu_ms_per_request']:.2f} ({r['load']['server_cpu_s'] / run_s:.2f})",
    )
    row(
        f"whole machine, cores busy (of {run['machine'].get('nproc')})",
        lambda r: f"{r['load']['machine_busy_cores']:.2f}",
    )

    def met(r: dict) -> str:
        if r.get("status") != "ok":
            return f"❌ {r.get('status')}"
        return "✅" if (r["load"]["latency_ms"]["p99"] or math.inf) < TARGET_P99_MS else "❌"

    spyglass_row(f"target: p99 < {TARGET_P99_MS:g} ms at {run['args']['rate']:g} req/s", met)
    return [TARGET_TITLES.get(t, t) for t in targets], rows


def markdown(run: dict) -> str:
    titles, rows = table_rows(run)
    lines = ["| Figure | " + " | ".join(titles) + " |", "|---|" + "--:|" * len(titles)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    m, args = run["machine"], run["args"]
    cpu = " ".join((m.get("cpu_model") or "?").split()[:2])
    ps = run["prompt_set"]
    codes = {
        (c.get("git_commit"), c.get("git_src_dirty")) for rs in run["runs"].values() for r in rs if (c := r.get("code"))
    } or {(m.get("git_commit"), m.get("git_src_dirty"))}
    code = ", ".join(f"{c}" + (" with uncommitted changes in src/" if dirty else "") for c, dirty in sorted(codes))
    lines += [
        "",
        f"Run {run['started_at']} · commit {code}"
        + f" · {m.get('nproc')} cores ({cpu}), {m.get('mem_total_mb'):,} MB RAM, "
        f"Python {m.get('python')} · {args['rate']:g} req/s {args['arrivals']} for {args['warmup']:g} s warm-up + "
        f"{args['duration']:g} s measured per run, {args['connections']} keep-alive connections "
        f"({args['client']} client), "
        f"{args['repeat']} run(s) per target (the median by p99 shown) · {ps['prompts']} prompts, {ps['versions']} "
        f"versions ({ps['text']} text, {ps['chat']} chat, {ps['with_5_versions']} with 5 versions, "
        f"{ps['in_folders']} in folders, 1 composed), {ps['content_bytes_mean']:,} B of content on average · whole run "
        f"{run['wall_s']:,.0f} s. The load generator, the servers and their engines share the cores.",
    ]
    return "\n".join(lines)


def render(run: dict) -> None:
    titles, rows = table_rows(run)
    t = Table(title=f"prompt reads · {run['args']['rate']:g} req/s · {run['args']['duration']:g} s per run")
    t.add_column("figure")
    for title in titles:
        t.add_column(title, justify="right")
    for label, cells in rows:
        t.add_row(label.replace("*", ""), *(c.replace("*", "") for c in cells))
    console.print(t)
    for target, r in run["summary"].items():
        load = r.get("load") or {}
        for msg in load.get("error_samples", []):
            console.print(f"[red]{target}: {msg}[/]")
        if r.get("error"):
            console.print(f"[red]{target}: {r['error'][:500]}[/]")
        worst = load.get("worst_seconds") or []
        if worst:
            console.print(
                f"[dim]{target}: slowest seconds "
                + ", ".join(f"{s['second']} s: max {s['max_ms']:.1f} ms ({s['requests']} req)" for s in worst[:3])
                + "[/]"
            )


def update_readme(run: dict) -> None:
    from report import README, write_between

    write_between(README, START, END, markdown(run), SECTION)


# ---------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/prompts.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    p.add_argument("--duration", type=float, default=None, help="measured seconds per run (default 60; --quick: 5)")
    p.add_argument(
        "--warmup", type=float, default=None, help="unmeasured seconds at the same rate first (default 10; --quick: 2)"
    )
    p.add_argument(
        "--arrivals",
        choices=("uniform", "poisson"),
        default="uniform",
        help="requests due every 1/rate s, or as a Poisson process (default uniform)",
    )
    p.add_argument(
        "--connections", type=int, default=8, help="keep-alive connections of the load generator (default 8)"
    )
    p.add_argument(
        "--client",
        choices=tuple(CLIENTS),
        default="raw",
        help="raw: keep-alive HTTP/1.1 on asyncio streams, sending the bytes httpx sends; httpx: httpx.AsyncClient "
        "(~0.8 ms of client CPU per request here) (default raw)",
    )
    p.add_argument("--prompts", type=int, default=50, help="prompt names in the set (default 50)")
    p.add_argument(
        "--stack",
        choices=STACKS,
        default="embedded",
        help="embedded: Spyglass on its embedded stores; scaleout: that, and also a fleet on PostgreSQL + Redis "
        "(default embedded)",
    )
    p.add_argument(
        "--api-processes",
        type=int,
        default=1,
        help="`serve --no-worker` processes taking the reads in the scale-out fleet (default 1)",
    )
    p.add_argument(
        "--phoenix",
        default=",".join(PHOENIX_BACKENDS),
        help="Phoenix backends to measure, comma-separated ('' for none; default sqlite,postgres)",
    )
    p.add_argument(
        "--no-floor", action="store_true", help="skip the floor run (the load generator against a no-op server)"
    )
    p.add_argument("--repeat", type=int, default=1, help="measured runs per target, taking turns (default 1)")
    p.add_argument("--quick", action="store_true", help="a short smoke run of the harness")
    p.add_argument(
        "--max-load",
        type=float,
        default=0.0,
        help="before each run, wait until the 1-minute load average is below this (default 0: don't wait)",
    )
    p.add_argument("--max-load-wait", type=float, default=300, help="longest wait for --max-load, s (default 300)")
    p.add_argument("--seed", type=int, default=42, help="decides the prompt set and the request mix (default 42)")
    p.add_argument("--request-timeout", type=float, default=10.0, help="per request, s (default 10)")
    p.add_argument("--startup-timeout", type=float, default=120.0, help="per server process, s (default 120)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=f"default {RESULTS_DIR.relative_to(REPO)}")
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: print the table of a saved result and write it to bench/README.md (unless --no-readme)",
    )
    p.add_argument("--no-save", action="store_true", help="do not write the JSON result")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the table in bench/README.md")
    p.add_argument("--keep-workdir", action="store_true", help="keep the Spyglass data dirs and logs")
    a = p.parse_args(argv)
    a.duration = a.duration if a.duration is not None else (5.0 if a.quick else 60.0)
    a.warmup = a.warmup if a.warmup is not None else (2.0 if a.quick else 10.0)
    a.phoenix = [b.strip() for b in a.phoenix.split(",") if b.strip()]
    if unknown := set(a.phoenix) - set(PHOENIX_BACKENDS):
        p.error(
            f"--phoenix: unknown backend(s) {', '.join(sorted(unknown))}; choose from {', '.join(PHOENIX_BACKENDS)}"
        )
    if not 0 < a.rate <= 5000:
        p.error("--rate must be in (0, 5000]")
    if a.duration <= 0 or a.warmup < 0:
        p.error("--duration must be > 0 and --warmup ≥ 0")
    if not 1 <= a.connections <= 256:
        p.error("--connections must be 1..256")
    if not 1 <= a.repeat <= 10:
        p.error("--repeat must be 1..10")
    if not 3 <= a.prompts <= 10_000:
        p.error("--prompts must be 3..10000")
    if not 1 <= a.api_processes <= 8:
        p.error("--api-processes must be 1..8")
    return a


def targets_of(a: argparse.Namespace) -> list[str]:
    out = [] if a.no_floor else ["floor"]
    out.append("spyglass-embedded")
    if a.stack == "scaleout":
        out.append("spyglass-scaleout")
    out += [f"phoenix-{b}" for b in a.phoenix]
    return out


def main(argv: list[str] | None = None) -> tuple[int, dict]:
    from procstats import machine_info
    from report import save_json

    a = parse_args(argv)
    if a.report is not None:
        saved = orjson.loads(a.report.read_bytes())
        render(saved)
        if not a.no_readme:
            update_readme(saved)
            console.print("[dim]updated bench/README.md[/]")
        return (0 if saved.get("ok") else 1), saved
    targets = targets_of(a)
    if "spyglass-scaleout" in targets:
        from fleet import check_services

        check_services()
    if a.phoenix:
        from phoenix import ensure_phoenix

        try:
            ensure_phoenix()
        except SystemExit as exc:  # the install failed: say why, measure Spyglass alone
            console.print(f"[red]Phoenix could not be installed, measuring without it:[/] {exc}")
            targets = [t for t in targets if not t.startswith("phoenix-")]
    versions = prompt_set(a.prompts, a.seed)
    t_start = time.monotonic()
    run: dict = {
        "schema": 1,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "targets": targets,
        "prompt_set": set_info(versions),
        "distinct_reads": len(distinct_reads(versions)),
        "mix": SELECTOR_WEIGHTS,
        "machine": machine_info(),
        "runs": {t: [] for t in targets},
    }
    console.print(
        f"[dim]{run['prompt_set']['prompts']} prompts, {len(versions)} versions, "
        f"{run['distinct_reads']} distinct reads; "
        f"{a.rate:g} req/s for {a.warmup:g} + {a.duration:g} s per run; targets: {', '.join(targets)}[/]"
    )
    for i in range(a.repeat):  # the targets take turns, so a drift of the machine hits all of them
        for target in targets:
            turn = f" · run {i + 1} of {a.repeat}" if a.repeat > 1 else ""
            console.rule(f"[bold]{target}[/]{turn}")
            r = run_target(target, versions, a)
            run["runs"][target].append(r)
            if r.get("load"):
                lat = r["load"]["latency_ms"]
                console.print(
                    f"{target}: p50 {_ms(lat['p50'])} · p99 {_ms(lat['p99'])} · max {_ms(lat['max'], '.1f')} ms · "
                    f"{r['load']['achieved_rps']:.1f} req/s · errors {r['load']['errors']}"
                )
    run["summary"] = {t: median_run(rs) for t, rs in run["runs"].items()}
    run["wall_s"] = time.monotonic() - t_start
    # Phoenix not keeping up is a finding, not a failure of the run; any wrong answer is.
    failed = [
        f"{t} ({r.get('status')})"
        for t, rs in run["runs"].items()
        for r in rs
        if r.get("status") != "ok" and not (t.startswith("phoenix-") and r.get("status") == "overloaded")
    ]
    run["ok"] = not failed
    sg = run["summary"].get("spyglass-embedded", {})
    p99 = (sg.get("load") or {}).get("latency_ms", {}).get("p99")
    run["target_met"] = {
        "spyglass-embedded": bool(sg.get("status") == "ok" and p99 is not None and p99 < TARGET_P99_MS)
    }
    if "spyglass-scaleout" in run["summary"]:
        so = run["summary"]["spyglass-scaleout"]
        p99s = (so.get("load") or {}).get("latency_ms", {}).get("p99")
        run["target_met"]["spyglass-scaleout"] = bool(
            so.get("status") == "ok" and p99s is not None and p99s < TARGET_P99_MS
        )
    render(run)
    if not a.no_save:
        console.print(f"[dim]result {save_json(run, a.results_dir)}[/]")
    if not a.no_readme:
        update_readme(run)
        console.print("[dim]updated bench/README.md[/]")
    if failed:
        console.print(f"[red]failed runs: {', '.join(failed)}[/]")
    return (0 if run["ok"] else 1), run


if __name__ == "__main__":
    run_main(main, "every server was stopped and the scratch stores removed")
