"""Deterministic, realistic LLM-app trace workload for the ingestion benchmark.

Every trace is the shape a typical RAG agent produces with the Langfuse SDK:

    AGENT (root)
    ├── RETRIEVER     query -> 3-5 documents
    ├── GENERATION    "plan": chat prompt 1-4 KB -> completion 1-4 KB
    ├── TOOL          small JSON call/result
    └── GENERATION    "answer": chat prompt 1-4 KB -> completion 1-4 KB

Two inputs decide a run:
* ``seed`` decides the *content* (texts, models, token counts, durations), so two runs
  with the same seed send byte-for-byte comparable payloads;
* ``salt`` decides the *identity* (trace/span ids, session ids, run tag and the time
  window), so repeated runs against one server never collide.

Span start times lie inside a one-hour window in 2020-2024 picked from the salt; the
read-back counts observations with ``fromStartTime``/``toStartTime`` on that window, which
isolates this run's rows from everything else stored on the server.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

SPANS_PER_TRACE = 5
WINDOW_NS = 3600 * 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WINDOW_BASE = datetime(2020, 1, 1, tzinfo=UTC)
_WINDOW_SLOTS = 5 * 365 * 24  # one-hour slots in 2020-2024
_MAX_TRACE_NS = 12 * 10**9  # longest possible trace below; keeps every span inside the window

# A small English vocabulary: texts compress (gzip) roughly like real prompts do, unlike
# random bytes, which would make --gzip look useless, or repeated text, which would make
# it look magic.
_WORDS = """the a of to and in is it you that for on with as are this be at have or from
by not but what all were when we there can an your which their said if do will each about
how up out them then she many some so these would other into has more her two like him see
time could no make than first been its who now people my made over did down only way find
use may water long little very after words called just where most know get through back
much before go good new write our used me man too any day same right look think also around
another came come work three word must because does part even place well such here take
why things help put years different away again off went old number great tell men say small
every found still between name should home big give air line set own under read last never
us left end along while might next sound below saw something thought both few those always
looked show large often together asked house world going want school important until form
food keep children feet land side without boy once animals life enough took sometimes four
head above kind began almost live page got earth need far hand high year mother light parts
country father let night following picture being study second eyes soon times story boys
since white days ever paper hard near sentence better best across during today others sure
means knew why system customer order refund policy invoice account shipping delivery model
answer question context document retrieval embedding vector index latency token prompt
completion assistant user tool function database query result error retry timeout""".split()

_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gpt-4.1-mini")
_TRACE_NAMES = ("support-agent", "rag-answer", "order-lookup", "research-assistant")
_TOOLS = ("search_orders", "get_weather", "lookup_customer", "create_ticket")
_FLAVOUR_TAGS = ("prod", "beta", "eval", "canary")


@dataclass(frozen=True, slots=True)
class RunIdentity:
    """What makes one run's data distinguishable from every other run's."""

    seed: int
    salt: str  # hex string

    @property
    def run_tag(self) -> str:
        return f"bench-{self.salt}"

    @property
    def window_start_ns(self) -> int:
        slot = int(hashlib.blake2b(self.salt.encode(), digest_size=8).hexdigest(), 16) % _WINDOW_SLOTS
        start = _WINDOW_BASE + timedelta(hours=slot)
        return int((start - _EPOCH).total_seconds()) * 10**9

    @property
    def window_end_ns(self) -> int:
        return self.window_start_ns + WINDOW_NS

    def _digest(self, *parts: object, size: int) -> str:
        key = "/".join(str(p) for p in (self.seed, self.salt, *parts)).encode()
        return hashlib.blake2b(key, digest_size=size).hexdigest()

    def trace_id(self, i: int) -> str:
        return self._digest("t", i, size=16)

    def span_id(self, i: int, j: int) -> str:
        return self._digest("s", i, j, size=8)

    def event_id(self, i: int, j: int) -> str:
        h = self._digest("e", i, j, size=16)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def salt_arg(p: argparse.ArgumentParser, salt: str | None) -> str:
    """A `--salt` value checked (lower-case hex, else `p.error`), or a random one when not given."""
    salt = (salt or secrets.token_hex(4)).lower()
    try:
        int(salt, 16)
    except ValueError:
        p.error("--salt must be hex")
    return salt


@dataclass(slots=True)
class Span:
    """One observation, independent of wire format (OTLP or Langfuse batch)."""

    span_id: str
    parent_id: str | None
    name: str
    type: str  # langfuse observation type, lower case: agent/retriever/generation/tool
    start_ns: int
    end_ns: int
    input: object  # str is sent raw, anything else as JSON (what the SDK does)
    output: object
    model: str | None = None
    model_parameters: dict | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    completion_start_ns: int | None = None


@dataclass(slots=True)
class Trace:
    index: int
    trace_id: str
    name: str
    user_id: str
    session_id: str
    tags: list[str]
    spans: list[Span] = field(default_factory=list)  # export order: children first, root last

    @property
    def root(self) -> Span:
        return self.spans[-1]


def iso(ns: int) -> str:
    """ISO-8601 UTC with microseconds, as the SDKs send it."""
    return (_EPOCH + timedelta(microseconds=ns // 1000)).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _Text:
    """Seeded pseudo-English: slices of one pre-generated corpus (cheap and deterministic)."""

    def __init__(self, rng: random.Random, corpus_words: int = 400_000) -> None:
        words = rng.choices(_WORDS, k=corpus_words)
        # Sentence-ish punctuation every ~12 words so the text looks like prose.
        for k in range(11, corpus_words, 12):
            words[k] += "."
        self._corpus = " ".join(words)
        self._rng = rng

    def take(self, nbytes: int) -> str:
        c = self._corpus
        start = self._rng.randrange(0, len(c) - nbytes - 64)
        start = c.find(" ", start) + 1  # begin and end on word boundaries
        end = c.rfind(" ", start, start + nbytes)
        return c[start:end]


def traces_for(spans: int) -> int:
    """Whole traces needed to send at least ``spans`` spans."""
    return max(1, -(-spans // SPANS_PER_TRACE))


def generate(n_traces: int, ident: RunIdentity) -> Iterator[Trace]:
    rng = random.Random(ident.seed)
    text = _Text(rng)
    # Spread trace starts over the window, leaving room for the longest trace at the end.
    spacing = (WINDOW_NS - _MAX_TRACE_NS) // max(n_traces, 1)
    for i in range(n_traces):
        yield _trace(i, ident, rng, text, ident.window_start_ns + i * spacing)


def _chat(text: _Text, rng: random.Random, total: int) -> list[dict]:
    system = rng.randint(200, 500)
    return [
        {"role": "system", "content": text.take(system)},
        {"role": "user", "content": text.take(max(total - system - 60, 100))},
    ]


def _trace(i: int, ident: RunIdentity, rng: random.Random, text: _Text, t0: int) -> Trace:
    ms = 10**6
    trace = Trace(
        index=i,
        trace_id=ident.trace_id(i),
        name=rng.choice(_TRACE_NAMES),
        user_id=f"user-{rng.randrange(500):03d}",
        session_id=f"sess-{ident.salt}-{i // 4}",  # ~4 turns per conversation
        tags=["bench", ident.run_tag, rng.choice(_FLAVOUR_TAGS)],
    )
    root_id = ident.span_id(i, 0)
    question = text.take(rng.randint(80, 300)) + "?"

    # Children run one after another, as an agent loop does.
    t = t0 + rng.randint(1, 10) * ms
    r_end = t + rng.randint(40, 400) * ms
    docs = [
        {
            "id": f"doc-{rng.randrange(10**6)}",
            "score": round(rng.random(), 4),
            "text": text.take(rng.randint(200, 400)),
        }
        for _ in range(rng.randint(3, 5))
    ]
    spans = [Span(ident.span_id(i, 1), root_id, "retrieve-documents", "retriever", t, r_end, question, docs)]

    t = r_end + rng.randint(1, 5) * ms
    for j, name in ((2, "plan"), (4, "answer")):
        model = rng.choice(_MODELS)
        prompt = _chat(text, rng, rng.randint(1024, 4096))
        completion = text.take(rng.randint(1024, 4096))
        output: object = completion if name == "plan" else {"role": "assistant", "content": completion}
        end = t + rng.randint(500, 3500) * ms
        spans.append(
            Span(
                ident.span_id(i, j),
                root_id,
                name,
                "generation",
                t,
                end,
                prompt,
                output,
                model=model,
                model_parameters={"temperature": round(rng.uniform(0, 1), 2), "max_tokens": 1024},
                # ~4 bytes per token, as in English with a BPE tokenizer
                input_tokens=sum(len(m["content"]) for m in prompt) // 4,
                output_tokens=len(completion) // 4,
                completion_start_ns=t + rng.randint(150, 600) * ms,
            )
        )
        t = end + rng.randint(1, 5) * ms
        if j == 2:
            tool = rng.choice(_TOOLS)
            tool_end = t + rng.randint(20, 500) * ms
            spans.append(
                Span(
                    ident.span_id(i, 3),
                    root_id,
                    tool,
                    "tool",
                    t,
                    tool_end,
                    {"name": tool, "arguments": {"id": rng.randrange(10**6), "q": text.take(60)}},
                    {"status": "ok", "result": text.take(rng.randint(100, 300))},
                )
            )
            t = tool_end + rng.randint(1, 5) * ms

    answer = spans[-1].output["content"][:300]  # type: ignore[index]
    spans.append(Span(root_id, None, trace.name, "agent", t0, t + 2 * ms, question, answer))
    trace.spans = spans
    return trace


class TraceFactory:
    """Single traces with generate()'s content model, for callers that lay out ids, time,
    users and tags themselves (bench/scale.py).

    ``agent()`` is the standard 5-span RAG agent trace; ``long_agent()`` a long agent run:
    an ``agent`` root over ``step-N`` chain spans, each holding a ``think`` generation
    (1-4 KB prompt and completion, with usage) and a tool call or a retrieval.
    """

    def __init__(self, ident: RunIdentity) -> None:
        self.ident = ident
        self.rng = random.Random(ident.seed)
        self.text = _Text(self.rng)

    def agent(self, i: int, t0: int) -> Trace:
        return _trace(i, self.ident, self.rng, self.text, t0)

    def long_agent(self, i: int, t0: int, observations: int = 100) -> Trace:
        """A trace of exactly ``observations`` spans (at least 4), in end order, root last."""
        ident, rng, text, ms = self.ident, self.rng, self.text, 10**6
        trace = Trace(
            index=i,
            trace_id=ident.trace_id(i),
            name="research-agent",
            user_id=f"user-{rng.randrange(500):03d}",
            session_id=f"sess-{ident.salt}-{i // 4}",
            tags=["bench", ident.run_tag, rng.choice(_FLAVOUR_TAGS)],
        )
        root_id = ident.span_id(i, 0)
        question = text.take(rng.randint(80, 300)) + "?"
        spans: list[Span] = []
        j = 1  # next span index; 0 is the root
        t = t0 + rng.randint(1, 10) * ms
        steps, extra = divmod(observations - 1, 3)
        for step in range(steps):
            step_id, step_start = ident.span_id(i, j), t
            j += 1
            model = rng.choice(_MODELS)
            prompt = _chat(text, rng, rng.randint(1024, 4096))
            completion = text.take(rng.randint(1024, 4096))
            end = t + rng.randint(500, 3500) * ms
            spans.append(
                Span(
                    ident.span_id(i, j), step_id, "think", "generation", t, end, prompt, completion,
                    model=model,
                    model_parameters={"temperature": round(rng.uniform(0, 1), 2), "max_tokens": 1024},
                    input_tokens=sum(len(m["content"]) for m in prompt) // 4,
                    output_tokens=len(completion) // 4,
                    completion_start_ns=t + rng.randint(150, 600) * ms,
                )
            )  # fmt: skip
            j += 1
            t = end + rng.randint(1, 5) * ms
            end = t + rng.randint(20, 500) * ms
            if step % 4 == 3:
                docs = [{"id": f"doc-{rng.randrange(10**6)}", "text": text.take(rng.randint(200, 400))}
                        for _ in range(3)]  # fmt: skip
                spans.append(Span(ident.span_id(i, j), step_id, "retrieve-documents", "retriever", t, end,
                                  text.take(rng.randint(60, 200)), docs))  # fmt: skip
            else:
                tool = rng.choice(_TOOLS)
                spans.append(Span(ident.span_id(i, j), step_id, tool, "tool", t, end,
                                  {"name": tool, "arguments": {"id": rng.randrange(10**6), "q": text.take(60)}},
                                  {"status": "ok", "result": text.take(rng.randint(100, 300))}))  # fmt: skip
            j += 1
            t = end + rng.randint(1, 5) * ms
            spans.append(Span(step_id, root_id, f"step-{step + 1}", "chain", step_start, t, question if step == 0
                              else f"step {step + 1}", {"done": step == steps - 1}))  # fmt: skip
            t += rng.randint(1, 5) * ms
        for _ in range(extra):  # pad to exactly `observations` with small tool calls under the root
            end = t + rng.randint(20, 200) * ms
            spans.append(Span(ident.span_id(i, j), root_id, "notify", "tool", t, end, {"name": "notify"}, {"ok": True}))
            j += 1
            t = end + rng.randint(1, 5) * ms
        answer = text.take(rng.randint(200, 300))
        spans.append(Span(root_id, None, trace.name, "agent", t0, t + 2 * ms, question, answer))
        trace.spans = spans
        return trace
