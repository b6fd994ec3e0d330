"""Prompt management through the real `langfuse` Python SDK (4.x and 5.x), read back the way a user would.

The SDK's prompt API (`create_prompt`, `get_prompt`, `update_prompt`, `compile`, `prompt=` on a
generation) is the same in both majors; raw HTTP checks the exact JSON where the SDK hides it.
Every test uses its own prompt names: the server is shared by the whole module.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from langfuse import Langfuse
from langfuse import __version__ as SDK_VERSION
from langfuse._client.resource_manager import LangfuseResourceManager
from langfuse.api import AccessDeniedError, Error, NotFoundError
from langfuse.model import ChatPromptClient, TextPromptClient
from opentelemetry.sdk.trace import TracerProvider
from tests.support.server import Keys, SpyglassServer, wait_until

SDK_MAJOR = int(SDK_VERSION.split(".")[0])

ReadTrace = Callable[..., dict[str, Any]]

PROMPT_KEYS = {
    "id", "projectId", "createdBy", "createdAt", "updatedAt", "name", "version", "type", "prompt", "config",
    "labels", "tags", "commitMessage", "isActive", "resolutionGraph",
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def path_of(name: str) -> str:
    """The v2 URL of a prompt; folder names (`a/b/c`) travel as one %2F-encoded path segment."""
    return f"/api/public/v2/prompts/{quote(name, safe='')}"


def raw_prompt(http: httpx.Client, name: str, **params: Any) -> dict[str, Any]:
    response = http.get(path_of(name), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def prompt_versions(http: httpx.Client, name: str) -> list[int]:
    response = http.get("/api/public/v2/prompts", params={"name": name})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [p["name"] for p in data] == [name]
    return sorted(data[0]["versions"])


# --------------------------------------------------------------------------------------------
# Text prompts


def test_text_prompt_create_get_compile(langfuse: Langfuse, http: httpx.Client, server: SpyglassServer) -> None:
    name = unique("text-prompt")
    template = "Hello {{ name }}, welcome to {{place}}! {{ unknown }}"
    config = {"model": "gpt-4o", "temperature": 0.2, "stop": ["\n"],
              "nested": {"list": [1, {"a": None}], "flag": True, "text": "héllo ✓"}}

    created = langfuse.create_prompt(name=name, prompt=template, labels=["production"], tags=["beta", "alpha"],
                                     config=config, commit_message="first version")
    assert isinstance(created, TextPromptClient)
    assert created.name == name
    assert created.version == 1
    assert created.prompt == template
    assert created.labels == ["production", "latest"]
    assert created.config == config
    assert created.commit_message == "first version"
    assert created.is_fallback is False

    fetched = langfuse.get_prompt(name, cache_ttl_seconds=0)  # no version, no label: "production"
    assert isinstance(fetched, TextPromptClient)
    assert (fetched.name, fetched.version, fetched.prompt) == (name, 1, template)
    assert fetched.labels == ["production", "latest"]
    assert fetched.config == config
    assert sorted(fetched.tags) == ["alpha", "beta"]
    assert fetched.commit_message == "first version"
    assert fetched.is_fallback is False
    assert fetched.variables == ["name", "place", "unknown"]
    # Client-side compilation: trimmed variable names, unknown ones left verbatim, None -> "".
    assert fetched.compile(name="Ada", place="Paris") == "Hello Ada, welcome to Paris! {{ unknown }}"
    assert fetched.compile(name=None, place=3) == "Hello , welcome to 3! {{ unknown }}"
    assert fetched.compile() == template

    body = raw_prompt(http, name)
    assert set(body) == PROMPT_KEYS
    assert body["projectId"] == server.keys.project_id
    assert body["name"] == name and body["version"] == 1 and body["type"] == "text"
    assert body["prompt"] == template
    assert body["config"] == config
    assert body["labels"] == ["production", "latest"]
    assert sorted(body["tags"]) == ["alpha", "beta"]
    assert body["commitMessage"] == "first version"
    assert body["isActive"] is True
    assert body["resolutionGraph"] is None
    assert body["createdBy"] == "API"

    # A second version without labels, tags or config: takes "latest", inherits the tags, config {}.
    second = langfuse.create_prompt(name=name, prompt="Bye {{name}}")
    assert second.version == 2
    assert second.labels == ["latest"]
    assert sorted(second.tags) == ["alpha", "beta"]
    assert second.config == {}
    assert second.commit_message is None

    production = langfuse.get_prompt(name, cache_ttl_seconds=0)
    assert (production.version, production.prompt, production.labels) == (1, template, ["production"])
    first = langfuse.get_prompt(name, version=1, cache_ttl_seconds=0)
    assert (first.version, first.labels, first.config) == (1, ["production"], config)
    latest = langfuse.get_prompt(name, label="latest", cache_ttl_seconds=0)
    assert (latest.version, latest.prompt, latest.labels) == (2, "Bye {{name}}", ["latest"])
    assert latest.compile(name="Bob") == "Bye Bob"
    by_version = langfuse.get_prompt(name, version=2, cache_ttl_seconds=0)
    assert (by_version.version, by_version.labels, by_version.commit_message) == (2, ["latest"], None)
    second_body = raw_prompt(http, name, version=2)
    assert second_body["isActive"] is False and second_body["id"] != body["id"]

    # Tags given on create replace the tags of every version.
    third = langfuse.create_prompt(name=name, prompt="v3", tags=["gamma"], labels=["staging"])
    assert (third.version, third.labels, third.tags) == (3, ["staging", "latest"], ["gamma"])
    assert langfuse.get_prompt(name, version=1, cache_ttl_seconds=0).tags == ["gamma"]
    assert raw_prompt(http, name, label="staging")["version"] == 3
    assert prompt_versions(http, name) == [1, 2, 3]


# --------------------------------------------------------------------------------------------
# Chat prompts


def test_chat_prompt_with_placeholder(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("chat-prompt")
    messages = [
        {"role": "system", "content": "You are {{ persona }}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"},
        {"role": "assistant", "content": "Sure: {{ missing }}"},
    ]
    created = langfuse.create_prompt(name=name, type="chat", prompt=messages, labels=["production"],
                                     config={"model": "gpt-4o-mini"})
    assert isinstance(created, ChatPromptClient)
    assert (created.version, created.labels, created.config) == (1, ["production", "latest"], {"model": "gpt-4o-mini"})

    fetched = langfuse.get_prompt(name, type="chat", cache_ttl_seconds=0)
    assert isinstance(fetched, ChatPromptClient)
    assert fetched.version == 1 and fetched.is_fallback is False
    # The stored order, messages and the placeholder, is kept.
    assert fetched.prompt == [
        {"type": "message", "role": "system", "content": "You are {{ persona }}."},
        {"type": "placeholder", "name": "history"},
        {"type": "message", "role": "user", "content": "{{question}}"},
        {"type": "message", "role": "assistant", "content": "Sure: {{ missing }}"},
    ]
    assert fetched.variables == ["persona", "question", "missing"]

    history = [{"role": "user", "content": "hi {{persona}}"}, {"role": "assistant", "content": "ahoy"}]
    assert fetched.compile(persona="a pirate", question="Where is the gold?", history=history) == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "hi a pirate"},
        {"role": "assistant", "content": "ahoy"},
        {"role": "user", "content": "Where is the gold?"},
        {"role": "assistant", "content": "Sure: {{ missing }}"},
    ]
    # Without a value the placeholder stays in place.
    assert fetched.compile(persona="x", question="y")[1] == {"type": "placeholder", "name": "history"}

    body = raw_prompt(http, name)
    assert body["type"] == "chat"
    assert body["prompt"] == messages

    # A chat prompt's name cannot take a text version.
    with pytest.raises(Error) as caught:
        langfuse.create_prompt(name=name, prompt="plain text now")
    assert caught.value.status_code == 400
    assert prompt_versions(http, name) == [1]


# --------------------------------------------------------------------------------------------
# Labels


def test_update_prompt_labels(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("labels")
    langfuse.create_prompt(name=name, prompt="version one", labels=["production"])
    cached = langfuse.get_prompt(name)  # cached for 60 s; update_prompt must invalidate it
    assert cached.labels == ["production", "latest"]

    updated = langfuse.update_prompt(name=name, version=1, new_labels=["john", "doe"])
    assert updated.name == name and updated.version == 1
    assert sorted(updated.labels) == ["doe", "john", "latest", "production"]
    assert len(updated.labels) == 4
    fetched = langfuse.get_prompt(name, cache_ttl_seconds=0)
    assert fetched.version == 1
    assert sorted(fetched.labels) == ["doe", "john", "latest", "production"]
    assert sorted(langfuse.get_prompt(name).labels) == ["doe", "john", "latest", "production"]
    assert langfuse.get_prompt(name, label="john", cache_ttl_seconds=0).version == 1

    second = langfuse.create_prompt(name=name, prompt="version two")
    assert (second.version, second.labels) == (2, ["latest"])
    assert sorted(langfuse.get_prompt(name, version=1, cache_ttl_seconds=0).labels) == ["doe", "john", "production"]

    # Moving "production" to version 2 takes it off version 1; labels are never removed otherwise.
    moved = langfuse.update_prompt(name=name, version=2, new_labels=["production", "doe"])
    assert sorted(moved.labels) == ["doe", "latest", "production"]
    assert sorted(langfuse.get_prompt(name, version=1, cache_ttl_seconds=0).labels) == ["john"]
    production = langfuse.get_prompt(name, cache_ttl_seconds=0)
    assert (production.version, production.prompt) == (2, "version two")
    assert raw_prompt(http, name, version=1)["isActive"] is False
    assert raw_prompt(http, name, version=2)["isActive"] is True

    # "latest" is managed by the server; an unknown version is a 404.
    with pytest.raises(Error) as caught:
        langfuse.update_prompt(name=name, version=1, new_labels=["latest"])
    assert caught.value.status_code == 400
    with pytest.raises(NotFoundError):
        langfuse.update_prompt(name=name, version=99, new_labels=["staging"])
    assert langfuse.get_prompt(name, label="latest", cache_ttl_seconds=0).version == 2


def test_prompt_names_with_slashes(langfuse: Langfuse, http: httpx.Client) -> None:
    name = f"folder/sub/name-{uuid.uuid4().hex[:12]}"
    created = langfuse.create_prompt(name=name, prompt="in a folder {{x}}", labels=["production"])
    assert (created.name, created.version) == (name, 1)

    fetched = langfuse.get_prompt(name, cache_ttl_seconds=0)
    assert (fetched.name, fetched.version, fetched.compile(x=1)) == (name, 1, "in a folder 1")
    updated = langfuse.update_prompt(name=name, version=1, new_labels=["staging"])
    assert sorted(updated.labels) == ["latest", "production", "staging"]
    staging = langfuse.get_prompt(name, label="staging", cache_ttl_seconds=0)
    assert (staging.name, staging.version) == (name, 1)
    assert langfuse.create_prompt(name=name, prompt="second").version == 2

    assert raw_prompt(http, name, version=2)["name"] == name
    assert prompt_versions(http, name) == [1, 2]
    listed = langfuse.api.prompts.list(name=name)
    assert [(p.name, sorted(p.versions)) for p in listed.data] == [(name, [1, 2])]

    langfuse.api.prompts.delete(quote(name, safe=""), version=2)
    assert prompt_versions(http, name) == [1]
    with pytest.raises(NotFoundError):
        langfuse.get_prompt(name, version=2, cache_ttl_seconds=0, max_retries=0)


# --------------------------------------------------------------------------------------------
# Unknown prompts and fallbacks


def test_unknown_prompt_raises_and_fallback(langfuse: Langfuse, http: httpx.Client) -> None:
    name = unique("no-such-prompt")
    with pytest.raises(NotFoundError):
        langfuse.get_prompt(name, max_retries=0)

    response = http.get(path_of(name))
    assert response.status_code == 404
    assert response.json() == {"message": f"Prompt not found: '{name}' with label 'production'",
                               "error": "LangfuseNotFoundError"}
    response = http.get(path_of(name), params={"label": "staging"})
    assert response.status_code == 404
    assert response.json()["message"] == f"Prompt not found: '{name}' with label 'staging'"
    response = http.get(path_of(name), params={"version": 3})
    assert response.status_code == 404
    assert response.json()["message"] == f"Prompt not found: '{name}' with version 3"

    text = langfuse.get_prompt(name, fallback="Hi {{ who }}", max_retries=0)
    assert isinstance(text, TextPromptClient)
    assert text.is_fallback is True
    assert (text.name, text.version, text.prompt, text.labels, text.config) == (name, 0, "Hi {{ who }}", [], {})
    assert text.compile(who="there") == "Hi there"
    assert langfuse.get_prompt(name, version=7, fallback="x", max_retries=0).version == 7

    chat = langfuse.get_prompt(name, type="chat", label="staging", max_retries=0,
                               fallback=[{"role": "system", "content": "Be {{tone}}"}])
    assert isinstance(chat, ChatPromptClient)
    assert chat.is_fallback is True and chat.labels == ["staging"] and chat.version == 0
    assert chat.compile(tone="nice") == [{"role": "system", "content": "Be nice"}]

    # The existing prompt of another name is not what a miss returns.
    other = unique("existing")
    langfuse.create_prompt(name=other, prompt="real", labels=["production"])
    assert langfuse.get_prompt(other, fallback="fake", max_retries=0).is_fallback is False
    with pytest.raises(NotFoundError):
        langfuse.get_prompt(other, label="staging", max_retries=0)


def _own_client(keys: Keys, base_url: str) -> tuple[Langfuse, TracerProvider]:
    provider = TracerProvider()
    client = Langfuse(public_key=keys.public_key, secret_key=keys.secret_key, base_url=base_url,
                      tracer_provider=provider, flush_at=5, flush_interval=0.2)
    return client, provider


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[SpyglassServer]:
    """A server of the test's own (embedded), which the test may stop."""
    instance = SpyglassServer(data_dir=tmp_path / "data").start()
    yield instance
    instance.stop()


def test_sdk_cache_survives_server_outage(
    make_langfuse: Callable[..., Langfuse], private_server: SpyglassServer
) -> None:
    # make_langfuse only clears LANGFUSE_* from the environment here; this client targets private_server.
    client, provider = _own_client(private_server.keys, private_server.base_url)
    try:
        name = unique("cached")
        client.create_prompt(name=name, prompt="cached {{v}} one", labels=["production"])
        first = client.get_prompt(name, cache_ttl_seconds=1, max_retries=0, fetch_timeout_seconds=1)
        assert (first.version, first.prompt, first.is_fallback) == (1, "cached {{v}} one", False)

        # A new version made elsewhere: the SDK serves its cache until the TTL, then refreshes.
        with private_server.client() as http:
            response = http.post("/api/public/v2/prompts",
                                 json={"name": name, "prompt": "cached {{v}} two", "labels": ["production"]})
            assert response.status_code == 201, response.text
        assert client.get_prompt(name, cache_ttl_seconds=1, max_retries=0, fetch_timeout_seconds=1).version == 1
        wait_until(
            lambda: client.get_prompt(name, cache_ttl_seconds=1, max_retries=0, fetch_timeout_seconds=1).version == 2,
            timeout=10, interval=0.2,
        )

        private_server.stop()
        time.sleep(1.5)  # past the TTL: the cached entry is stale, the server is gone
        for _ in range(3):
            stale = client.get_prompt(name, cache_ttl_seconds=1, max_retries=0, fetch_timeout_seconds=1)
            assert (stale.version, stale.prompt, stale.is_fallback) == (2, "cached {{v}} two", False)
            assert stale.compile(v="still") == "cached still two"
            time.sleep(0.3)  # the failed background refresh must not evict the entry

        never_fetched = unique("never-fetched")
        fallback = client.get_prompt(never_fetched, fallback="offline {{v}}", cache_ttl_seconds=1, max_retries=0,
                                     fetch_timeout_seconds=1)
        assert fallback.is_fallback is True
        assert (fallback.name, fallback.version, fallback.compile(v="mode")) == (never_fetched, 0, "offline mode")
        started = time.monotonic()
        with pytest.raises(httpx.TransportError):
            client.get_prompt(never_fetched, cache_ttl_seconds=1, max_retries=0, fetch_timeout_seconds=1)
        assert time.monotonic() - started < 5
    finally:
        client.shutdown()
        provider.shutdown()
        LangfuseResourceManager._instances.pop(private_server.keys.public_key, None)


# --------------------------------------------------------------------------------------------
# Composition


def test_prompt_composition(langfuse: Langfuse, http: httpx.Client) -> None:
    child = unique("child")
    child_v1 = langfuse.create_prompt(name=child, prompt="child one {{tone}}", labels=["production"])
    child_v2 = langfuse.create_prompt(name=child, prompt="child two {{tone}}", labels=["production"])
    assert (child_v1.version, child_v2.version) == (1, 2)
    child_ids = {v: raw_prompt(http, child, version=v)["id"] for v in (1, 2)}

    by_label = unique("parent-label")
    by_version = unique("parent-version")
    label_tag = f"@@@langfusePrompt:name={child}|label=production@@@"
    version_tag = f"@@@langfusePrompt:name={child}|version=1@@@"
    langfuse.create_prompt(name=by_label, prompt=f"Start. {label_tag} End.", labels=["production"])
    langfuse.create_prompt(name=by_version, prompt=f"Start. {version_tag} End.", labels=["production"])

    resolved = langfuse.get_prompt(by_label, cache_ttl_seconds=0)
    assert resolved.prompt == "Start. child two {{tone}} End."
    assert resolved.compile(tone="calm") == "Start. child two calm End."
    assert langfuse.get_prompt(by_version, cache_ttl_seconds=0).prompt == "Start. child one {{tone}} End."

    body = raw_prompt(http, by_label)
    assert body["prompt"] == "Start. child two {{tone}} End."
    assert body["resolutionGraph"] == {
        "root": {"id": body["id"], "name": by_label, "version": 1},
        "dependencies": {body["id"]: [{"id": child_ids[2], "name": child, "version": 2}]},
    }
    version_body = raw_prompt(http, by_version)
    assert version_body["resolutionGraph"]["dependencies"] == {
        version_body["id"]: [{"id": child_ids[1], "name": child, "version": 1}]
    }
    raw = raw_prompt(http, by_label, resolve="false")
    assert raw["prompt"] == f"Start. {label_tag} End."
    assert raw["resolutionGraph"] is None
    sdk_raw = langfuse.api.prompts.get(quote(by_label, safe=""), resolve=False)
    assert sdk_raw.prompt == f"Start. {label_tag} End."

    # A child that references its parent closes a cycle: refused, nothing is created.
    cycle = f"@@@langfusePrompt:name={by_label}|label=production@@@"
    with pytest.raises(Error) as caught:
        langfuse.create_prompt(name=child, prompt=f"loop {cycle}", labels=["production"])
    assert caught.value.status_code == 400
    response = http.post("/api/public/v2/prompts", json={"name": child, "prompt": f"loop {cycle}",
                                                         "labels": ["production"]})
    assert response.status_code == 400, response.text
    message = response.json()["message"].lower()
    assert "circular" in message or "cycle" in message, response.text
    assert prompt_versions(http, child) == [1, 2]
    assert langfuse.get_prompt(by_label, cache_ttl_seconds=0).prompt == "Start. child two {{tone}} End."


# --------------------------------------------------------------------------------------------
# Generations linked to a prompt version


def test_generation_linked_to_prompt_version(langfuse: Langfuse, http: httpx.Client, read_trace: ReadTrace) -> None:
    name = unique("linked")
    langfuse.create_prompt(name=name, prompt="v1 {{q}}", labels=["production"])
    langfuse.create_prompt(name=name, prompt="v2 {{q}}")
    prompt_ids = {v: raw_prompt(http, name, version=v)["id"] for v in (1, 2)}
    assert prompt_ids[1] != prompt_ids[2]

    v1 = langfuse.get_prompt(name, cache_ttl_seconds=0)
    v2 = langfuse.get_prompt(name, label="latest", cache_ttl_seconds=0)
    fallback = langfuse.get_prompt(unique("linked-missing"), fallback="fb {{q}}", max_retries=0)
    assert (v1.version, v2.version, fallback.is_fallback) == (1, 2, True)

    with langfuse.start_as_current_observation(name="prompt-root") as root:
        gen1 = root.start_observation(name="gen-v1", as_type="generation", prompt=v1, model="gpt-4o",
                                      input=v1.compile(q="a"))
        gen1.end()
        gen2 = root.start_observation(name="gen-v2", as_type="generation", prompt=v2, model="gpt-4o")
        gen2.end()
        gen_fb = root.start_observation(name="gen-fallback", as_type="generation", prompt=fallback)
        gen_fb.end()
        trace_id = root.trace_id
    langfuse.flush()

    def observation(observation_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any] | None:
            response = http.get(f"/api/public/observations/{observation_id}")
            return response.json() if response.status_code == 200 else None
        return wait_until(read, 10)

    obs1, obs2, obs_fb = observation(gen1.id), observation(gen2.id), observation(gen_fb.id)
    assert (obs1["promptId"], obs1["promptName"], obs1["promptVersion"]) == (prompt_ids[1], name, 1)
    assert (obs2["promptId"], obs2["promptName"], obs2["promptVersion"]) == (prompt_ids[2], name, 2)
    assert obs1["input"] == "v1 a"
    assert obs_fb["promptId"] is None and obs_fb["promptName"] is None and obs_fb["promptVersion"] is None

    trace = read_trace(trace_id, observations=4)
    by_name = {o["name"]: o for o in trace["observations"]}
    assert by_name["gen-v1"]["promptId"] == prompt_ids[1]
    assert by_name["gen-v2"]["promptId"] == prompt_ids[2]
    assert by_name["gen-fallback"]["promptId"] is None
    assert by_name["prompt-root"]["promptId"] is None

    v2_obs = {o.name: o for o in langfuse.api.observations.get_many(trace_id=trace_id, fields="core,basic,prompt").data}
    assert (v2_obs["gen-v1"].prompt_id, v2_obs["gen-v1"].prompt_name, v2_obs["gen-v1"].prompt_version) == (
        prompt_ids[1], name, 1)
    assert v2_obs["gen-fallback"].prompt_id is None

    # The usage of one version, as the prompt page lists it.
    for version, expected in ((1, gen1.id), (2, gen2.id)):
        filter_json = json.dumps([
            {"type": "string", "column": "promptName", "operator": "=", "value": name},
            {"type": "number", "column": "promptVersion", "operator": "=", "value": version},
        ])
        response = http.get("/api/public/observations", params={"filter": filter_json})
        assert response.status_code == 200, response.text
        listed = response.json()
        assert [o["id"] for o in listed["data"]] == [expected], listed
        assert listed["meta"]["totalItems"] == 1


# --------------------------------------------------------------------------------------------
# Concurrent writers


def test_concurrent_creates_get_distinct_versions(make_langfuse: Callable[..., Langfuse], http: httpx.Client) -> None:
    name = unique("concurrent")
    clients = [make_langfuse(), make_langfuse()]
    barrier = threading.Barrier(len(clients))
    versions: list[int] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def writer(client: Langfuse, index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(8):
                created = client.create_prompt(name=name, prompt=f"writer {index} #{i}", labels=["production"])
                with lock:
                    versions.append(created.version)
        except Exception as error:  # reported by the test thread
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=writer, args=(client, i)) for i, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(versions) == list(range(1, 17))

    assert clients[0].get_prompt(name, label="latest", cache_ttl_seconds=0).version == 16
    assert prompt_versions(http, name) == list(range(1, 17))
    labels = {v: raw_prompt(http, name, version=v)["labels"] for v in range(1, 17)}
    assert [v for v, ls in labels.items() if "latest" in ls] == [16]
    assert len([v for v, ls in labels.items() if "production" in ls]) == 1


# --------------------------------------------------------------------------------------------
# Protected labels (Spyglass extension: MEMBER keys may not set them)


def test_protected_labels_restrict_member_keys(
    make_langfuse: Callable[..., Langfuse], http: httpx.Client, server: SpyglassServer
) -> None:
    member_keys = server.add_key("member")
    admin = make_langfuse()
    member = make_langfuse(member_keys)
    name = unique("protected")
    assert admin.create_prompt(name=name, prompt="v1", labels=["production"]).version == 1

    with server.client(member_keys) as member_http:
        try:
            response = http.put("/api/public/protected-prompt-labels/production")
            assert response.status_code == 200, response.text
            assert response.json() == {"label": "production"}
            assert http.get("/api/public/protected-prompt-labels").json() == {"data": ["production"]}
            # Reading is never restricted; managing the setting is for ADMIN keys only.
            assert member_http.get("/api/public/protected-prompt-labels").json() == {"data": ["production"]}
            assert member_http.put("/api/public/protected-prompt-labels/staging").status_code == 403
            assert member_http.delete("/api/public/protected-prompt-labels/production").status_code == 403

            with pytest.raises(AccessDeniedError) as caught:
                member.create_prompt(name=name, prompt="member v2", labels=["production"])
            assert caught.value.body["error"] == "ForbiddenError"
            response = member_http.post("/api/public/v2/prompts",
                                        json={"name": name, "prompt": "member v2", "labels": ["production"]})
            assert response.status_code == 403, response.text
            assert response.json()["error"] == "ForbiddenError"
            assert "protected" in response.json()["message"].lower()
            assert prompt_versions(http, name) == [1]

            staging = member.create_prompt(name=name, prompt="member v2", labels=["staging"])
            assert (staging.version, staging.labels) == (2, ["staging", "latest"])
            with pytest.raises(AccessDeniedError):
                member.update_prompt(name=name, version=2, new_labels=["production"])
            response = member_http.patch(f"{path_of(name)}/versions/2", json={"newLabels": ["production"]})
            assert response.status_code == 403 and response.json()["error"] == "ForbiddenError"
            response = member_http.delete(path_of(name), params={"version": 1})
            assert response.status_code == 403 and response.json()["error"] == "ForbiddenError"
            assert member.get_prompt(name, cache_ttl_seconds=0).version == 1
            assert raw_prompt(http, name)["version"] == 1

            moved = admin.update_prompt(name=name, version=2, new_labels=["production"])
            assert sorted(moved.labels) == ["latest", "production", "staging"]
            third = admin.create_prompt(name=name, prompt="admin v3", labels=["production"])
            assert (third.version, third.labels) == (3, ["production", "latest"])
        finally:
            deleted = http.delete("/api/public/protected-prompt-labels/production")
        assert deleted.status_code == 204, deleted.text
        assert http.get("/api/public/protected-prompt-labels").json() == {"data": []}

        fourth = member.create_prompt(name=name, prompt="member v4", labels=["production"])
        assert (fourth.version, fourth.labels) == (4, ["production", "latest"])
        back = member.update_prompt(name=name, version=1, new_labels=["production"])
        assert sorted(back.labels) == ["production"]
        assert member.get_prompt(name, cache_ttl_seconds=0).version == 1
