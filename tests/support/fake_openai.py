"""A small, honest OpenAI-compatible HTTP server: the only fake in the suite (no model provider is reachable here).

It speaks the real wire format of the three routes the integrations use, so the client libraries
(openai, langchain-openai, llama-index) run their ordinary code paths against it:

* `POST /v1/chat/completions`: a `chat.completion` object, or with `"stream": true` Server-Sent
  Events of `chat.completion.chunk` objects (text split over several deltas, tool-call arguments
  split over several deltas, a usage-only chunk when `stream_options.include_usage` is true, then
  `data: [DONE]`), sent with chunked transfer encoding like the real API.
* `POST /v1/embeddings`: `float` or `base64` (little-endian float32, what the openai client asks
  for by default) vectors; a deterministic bag-of-words hash, so similar texts are near each other.
* Anything else: 404 in OpenAI's error shape; a missing bearer token: 401; bad JSON: 400.

Replies are scripted by rule, deterministically:

* tools offered (and `tool_choice` not "none") and the last message is the user's → one tool call
  to the chosen tool (`tool_choice` names it, else the first), its arguments built from the user's
  text by `tool_arguments`;
* the last message is a tool result → `"Based on the tool: " + the tool results joined by "; "`;
* otherwise → `"Echo: " + the last user text`.

Token counts are whitespace word counts (`count_words`), so tests can state exact usage:
prompt_tokens = words of every message's text (+ 1 for each tool call's name + its argument words),
completion_tokens = words of the reply text (+ 1 for each tool call's name + its argument words).
Reasoning models (names like `o1`, `o4-mini`) also "think" one token per prompt token: those are
reported as `completion_tokens_details.reasoning_tokens` and counted in completion_tokens, as OpenAI does.
Every request is recorded (`FakeOpenAI.requests`) so tests can assert what the client sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMBEDDING_DIMENSIONS = 16
SYSTEM_FINGERPRINT = "fp_spyglass_fake"
REASONING_MODEL = re.compile(r"^o\d")


def count_words(text: str | None) -> int:
    """The fake's tokenizer: whitespace-separated words."""
    return len(text.split()) if text else 0


def message_text(message: dict[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined by spaces."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        total += count_words(message_text(message))
        for call in message.get("tool_calls") or []:
            total += 1 + count_words(call.get("function", {}).get("arguments", ""))
    return total


def tool_arguments(parameters: dict[str, Any], user_text: str) -> dict[str, Any]:
    """Arguments for a tool call, from the user's text: numbers in order fill the integer/number
    properties, and every string property gets the last word (punctuation stripped)."""
    numbers = re.findall(r"-?\d+(?:\.\d+)?", user_text)
    words = [w.strip("?!.,;:'\"") for w in user_text.split()]
    last_word = next((w for w in reversed(words) if w), "")
    arguments: dict[str, Any] = {}
    for name, schema in (parameters.get("properties") or {}).items():
        kind = schema.get("type")
        if kind in ("integer", "number"):
            raw = numbers.pop(0) if numbers else "0"
            arguments[name] = int(float(raw)) if kind == "integer" else float(raw)
        elif kind == "boolean":
            arguments[name] = True
        else:
            arguments[name] = last_word
    return arguments


def embed(text: str) -> list[float]:
    """A unit vector: each lower-cased word adds 1 to a hashed dimension."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    """What the fake answers to one chat request."""

    content: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    @property
    def completion_tokens(self) -> int:
        calls = sum(1 + count_words(c["function"]["arguments"]) for c in self.tool_calls)
        return count_words(self.content) + calls


class FakeOpenAI:
    """The server; `start()` binds a free loopback port, `base_url` ends in `/v1` like OpenAI's."""

    def __init__(self, chunk_delay: float = 0.005) -> None:
        self.chunk_delay = chunk_delay
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every chat completion request so far, oldest first."""
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}{self._counter:06d}"

    # ---------------------------------------------------------------------------------------------
    # Scripted replies

    def reply_to(self, body: dict[str, Any]) -> Reply:
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            results = []
            for message in reversed(messages):
                if message.get("role") != "tool":
                    break
                results.insert(0, message_text(message))
            return Reply("Based on the tool: " + "; ".join(results))
        user_text = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
        tool = self._chosen_tool(body)
        if tool is not None and last.get("role") == "user":
            arguments = json.dumps(tool_arguments(tool.get("parameters") or {}, user_text))
            call = {"id": self.next_id("call_"), "type": "function",
                    "function": {"name": tool["name"], "arguments": arguments}}
            return Reply(None, [call])
        return Reply("Echo: " + user_text)

    @staticmethod
    def _chosen_tool(body: dict[str, Any]) -> dict[str, Any] | None:
        tools = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
        choice = body.get("tool_choice")
        if not tools or choice == "none":
            return None
        if isinstance(choice, dict):
            name = choice.get("function", {}).get("name")
            return next((t for t in tools if t["name"] == name), tools[0])
        return tools[0]

    def usage(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt = prompt_tokens(body.get("messages") or [])
        reasoning = prompt if REASONING_MODEL.match(body["model"]) else 0
        completion = reply.completion_tokens + reasoning
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.reply_to(body)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None,
                                   "annotations": []}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        return {
            "id": self.next_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
            "usage": self.usage(body, reply),
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def chunks(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The `chat.completion.chunk` objects of a streamed reply, in order."""
        reply = self.reply_to(body)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {"id": self.next_id("chatcmpl-"), "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body["model"], "service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT}
        if include_usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish_reason}]}

        yield chunk({"role": "assistant", "content": "" if reply.content is not None else None, "refusal": None})
        for piece in re.findall(r"\S+\s*", reply.content or ""):
            yield chunk({"content": piece})
        for index, call in enumerate(reply.tool_calls):
            yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                         "function": {"name": call["function"]["name"], "arguments": ""}}]})
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), 6):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[start:start + 6]}}]})
        yield chunk({}, reply.finish_reason)
        if include_usage:
            yield {**base, "choices": [], "usage": self.usage(body, reply)}

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text if isinstance(text, str) else " ".join(map(str, text)))
            encoded: Any = (base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                            if as_base64 else vector)
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(count_words(t) if isinstance(t, str) else len(t) for t in texts)
        return {"object": "list", "data": data, "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that exits drops its kept-alive connections: not an error of the provider.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        fake = self.server_fake
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fake.record(RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if not (self.headers.get("Authorization") or "").startswith("Bearer "):
            return self._error(401, "You didn't provide an API key.", "invalid_request_error")
        if not isinstance(body, dict):
            return self._error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if not body.get("model"):
            return self._error(400, "you must provide a model parameter", "invalid_request_error", "model")
        path = self.path.split("?")[0]
        if path == "/v1/chat/completions":
            if body.get("stream"):
                return self._stream(fake.chunks(body))
            return self._json(200, fake.completion(body))
        if path == "/v1/embeddings":
            return self._json(200, fake.embeddings(body))
        return self._error(404, f"Invalid URL (POST {path})", "invalid_request_error")

    def do_GET(self) -> None:  # noqa: N802
        self._error(404, f"Invalid URL (GET {self.path})", "invalid_request_error")

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", self.server_fake.next_id("req_"))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "param": param, "code": None}})

    def _stream(self, chunks: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", self.server_fake.next_id("req_"))
        self.end_headers()
        for payload in chunks:
            time.sleep(self.server_fake.chunk_delay)  # a provider's latency, before the first token too
            self._write_chunk(f"data: {json.dumps(payload)}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
