"""Prompt management over HTTP: the v2 and legacy v1 routes, bad input, other projects,
protected labels with key roles, read-your-writes through the cache, and prompt links on
generations ingested as Langfuse batches and as OTLP spans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.integration.api.builders import (
    OTEL_TRACES,
    assert_error,
    get_when,
    ingest_ok,
    observation,
    trace_create,
    uid,
)
from tests.support.server import Keys, SpyglassServer

V2 = "/api/public/v2/prompts"
PROTECTED = "/api/public/protected-prompt-labels"
PROMPT_KEYS = {"id", "projectId", "createdBy", "createdAt", "updatedAt", "name", "version", "type", "prompt",
               "config", "labels", "tags", "commitMessage", "isActive", "resolutionGraph"}


def path(name: str, *rest: str) -> str:
    return "/".join([V2, quote(name, safe=""), *rest])


def create(client: httpx.Client, name: str, prompt: Any = "hello", **body: Any) -> dict[str, Any]:
    response = client.post(V2, json={"name": name, "prompt": prompt, **body})
    assert response.status_code == 201, response.text
    return response.json()


def get(client: httpx.Client, name: str, **params: Any) -> dict[str, Any]:
    response = client.get(path(name), params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def other(server: SpyglassServer) -> Iterator[httpx.Client]:
    with server.client(server.create_project(f"prompts-other-{uid()[:8]}")) as client:
        yield client


@pytest.fixture(scope="module")
def member_keys(server: SpyglassServer) -> Keys:
    return server.add_key("member")


@pytest.fixture(scope="module")
def member(server: SpyglassServer, member_keys: Keys) -> Iterator[httpx.Client]:
    with server.client(member_keys) as client:
        yield client


# -- create and read ---------------------------------------------------------------------------


def test_create_and_get_text_prompt_with_every_field(client: httpx.Client) -> None:
    name = f"folder/sub/text-{uid()[:8]}"
    config = {"model": "gpt-4o", "temperature": 0.2, "nested": {"list": [1, "two", None]}}
    created = create(client, name, "Hello {{name}}", labels=["production"], tags=["a", "b"], config=config,
                     commitMessage="first")
    assert created["version"] == 1
    assert created["labels"] == ["production", "latest"]
    assert created["type"] == "text"
    assert created["createdBy"] == "API"

    read = get(client, name)
    assert set(read) == PROMPT_KEYS
    assert {k: read[k] for k in ("id", "name", "version", "prompt", "config", "labels", "tags", "commitMessage",
                                 "isActive", "resolutionGraph")} == {
        "id": created["id"], "name": name, "version": 1, "prompt": "Hello {{name}}", "config": config,
        "labels": ["production", "latest"], "tags": ["a", "b"], "commitMessage": "first", "isActive": True,
        "resolutionGraph": None,
    }


def test_versions_labels_and_latest(client: httpx.Client) -> None:
    name = f"versions-{uid()[:8]}"
    create(client, name, "v1", labels=["production"])
    second = create(client, name, "v2", labels=["staging"])
    third = create(client, name, "v3", labels=["production"])
    assert (second["version"], third["version"]) == (2, 3)

    assert get(client, name)["prompt"] == "v3"
    assert get(client, name, version=1)["labels"] == []
    assert get(client, name, version=2)["labels"] == ["staging"]
    assert get(client, name, label="latest")["version"] == 3
    assert get(client, name, label="staging")["prompt"] == "v2"

    patched = client.patch(path(name, "versions", "1"), json={"newLabels": ["production", "canary"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["labels"] == ["production", "canary"]
    # Moving a label takes it from the version that had it; the read sees it at once (cache invalidated).
    assert get(client, name)["version"] == 1
    assert get(client, name, version=3)["labels"] == ["latest"]


def test_tags_apply_to_every_version(client: httpx.Client) -> None:
    name = f"tags-{uid()[:8]}"
    create(client, name, "v1", tags=["first"])
    create(client, name, "v2")  # no tags: keeps the prompt's
    assert get(client, name, version=2)["tags"] == ["first"]
    create(client, name, "v3", tags=["x", "y"])
    assert [get(client, name, version=v)["tags"] for v in (1, 2, 3)] == [["x", "y"]] * 3


def test_chat_prompt_with_placeholder_keeps_order_and_drops_unknown_keys(client: httpx.Client) -> None:
    name = f"chat-{uid()[:8]}"
    messages = [
        {"role": "system", "content": "You are {{persona}}.", "extra": "dropped"},
        {"type": "placeholder", "name": "history"},
        {"type": "chatmessage", "role": "user", "content": "{{question}}"},
    ]
    created = create(client, name, messages, type="chat", labels=["production"])
    assert created["type"] == "chat"
    assert get(client, name)["prompt"] == [
        {"role": "system", "content": "You are {{persona}}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"},
    ]


def test_names_with_slashes_and_encoded_characters(client: httpx.Client) -> None:
    name = f"team a/agents/v2 (beta)?#%-{uid()[:6]}"
    create(client, name, "x", labels=["production"])
    assert get(client, name)["name"] == name
    patched = client.patch(path(name, "versions", "1"), json={"newLabels": ["staging"]})
    assert patched.status_code == 200, patched.text
    listed = client.get(V2, params={"name": name}).json()
    assert [row["name"] for row in listed["data"]] == [name]


def test_composition_resolves_on_read_and_keeps_the_source(client: httpx.Client) -> None:
    child, parent = f"child-{uid()[:8]}", f"parent-{uid()[:8]}"
    first = create(client, child, "Be concise.", labels=["production"])
    create(client, child, "Be thorough.")
    tag_label = f"@@@langfusePrompt:name={child}|label=production@@@"
    tag_version = f"@@@langfusePrompt:name={child}|version=2@@@"
    made = create(client, parent, [{"role": "system", "content": f"{tag_label} / {tag_version}"}], type="chat",
                  labels=["production"])

    read = get(client, parent)
    assert read["prompt"] == [{"role": "system", "content": "Be concise. / Be thorough."}]
    second = get(client, child, version=2)
    assert read["resolutionGraph"] == {
        "root": {"id": made["id"], "name": parent, "version": 1},
        "dependencies": {made["id"]: [{"id": first["id"], "name": child, "version": 1},
                                      {"id": second["id"], "name": child, "version": 2}]},
    }
    raw = get(client, parent, resolve="false")
    assert raw["prompt"] == [{"role": "system", "content": f"{tag_label} / {tag_version}"}]
    assert raw["resolutionGraph"] is None

    # Moving the child's label changes what the parent resolves to, at once.
    client.patch(path(child, "versions", "2"), json={"newLabels": ["production"]}).raise_for_status()
    assert get(client, parent)["prompt"] == [{"role": "system", "content": "Be thorough. / Be thorough."}]


def test_composition_errors(client: httpx.Client) -> None:
    a, b = f"cyc-a-{uid()[:8]}", f"cyc-b-{uid()[:8]}"
    create(client, a, "plain a", labels=["production"])
    create(client, b, f"b uses @@@langfusePrompt:name={a}|label=production@@@", labels=["production"])
    cycle = client.post(V2, json={"name": a, "prompt": f"a uses @@@langfusePrompt:name={b}|label=production@@@",
                                  "labels": ["production"]})
    assert_error(cycle, 400, "InvalidRequestError", "Circular prompt dependency detected", f"{a} -> {b} -> {a}")
    assert get(client, a)["prompt"] == "plain a"  # nothing was stored

    missing = client.post(V2, json={"name": a, "prompt": "@@@langfusePrompt:name=nope-xyz|version=3@@@"})
    assert_error(missing, 400, "InvalidRequestError", "Prompt dependency not found: 'nope-xyz' with version 3")
    own = client.post(V2, json={"name": a, "prompt": f"@@@langfusePrompt:name={a}|version=1@@@"})
    assert_error(own, 400, "InvalidRequestError", "cannot reference another version of itself")
    malformed = client.post(V2, json={"name": a, "prompt": "@@@langfusePrompt:name=x@@@"})
    assert_error(malformed, 400, "InvalidRequestError", "Invalid prompt reference")
    chat_child = f"chat-child-{uid()[:8]}"
    create(client, chat_child, [{"role": "user", "content": "hi"}], type="chat")
    embeds_chat = client.post(V2, json={"name": a, "prompt": f"@@@langfusePrompt:name={chat_child}|version=1@@@"})
    assert_error(embeds_chat, 400, "InvalidRequestError", "only text prompts can be embedded")
    # A child that others use cannot be deleted from under them.
    assert_error(client.delete(path(a)), 400, "InvalidRequestError", "other prompts depend on", b)


# -- listing ------------------------------------------------------------------------------------


def test_list_filters_and_pagination(server: SpyglassServer) -> None:
    with server.client(server.create_project(f"prompts-list-{uid()[:8]}")) as client:
        create(client, "alpha", "a1", labels=["production"], tags=["red"], config={"v": 1})
        create(client, "alpha", "a2", config={"v": 2})
        create(client, "beta", "b1", labels=["staging"], tags=["blue"])
        create(client, "folder/gamma", "g1", tags=["red"])

        everything = client.get(V2).json()
        assert [row["name"] for row in everything["data"]] == ["alpha", "beta", "folder/gamma"]
        assert everything["meta"] == everything["pagination"] == {"page": 1, "limit": 10, "totalItems": 3,
                                                                  "totalPages": 1}
        alpha = everything["data"][0]
        assert {k: alpha[k] for k in ("type", "versions", "labels", "tags", "lastConfig")} == {
            "type": "text", "versions": [1, 2], "labels": ["latest", "production"], "tags": ["red"],
            "lastConfig": {"v": 2},
        }

        def names(**params: Any) -> list[str]:
            response = client.get(V2, params=params)
            assert response.status_code == 200, response.text
            return [row["name"] for row in response.json()["data"]]

        assert names(tag="red") == ["alpha", "folder/gamma"]
        assert names(label="staging") == ["beta"]
        assert names(name="folder/gamma") == ["folder/gamma"]
        assert names(version=2) == ["alpha"]
        production_only = client.get(V2, params={"label": "production"}).json()["data"][0]
        assert (production_only["versions"], production_only["lastConfig"]) == ([1], {"v": 1})
        assert names(fromUpdatedAt="2999-01-01T00:00:00Z") == []
        assert names(toUpdatedAt="2999-01-01T00:00:00Z") == ["alpha", "beta", "folder/gamma"]

        page2 = client.get(V2, params={"limit": 2, "page": 2}).json()
        assert [row["name"] for row in page2["data"]] == ["folder/gamma"]
        assert page2["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}


# -- delete -----------------------------------------------------------------------------------


def test_delete_version_label_and_prompt(client: httpx.Client) -> None:
    name = f"delete-{uid()[:8]}"
    for content in ("v1", "v2", "v3"):
        create(client, name, content, labels=["production"] if content == "v1" else [])
    assert client.delete(path(name), params={"version": 3}).status_code == 204
    # `latest` moves to the newest version left.
    assert get(client, name, label="latest")["version"] == 2
    assert client.delete(path(name), params={"label": "production"}).status_code == 204
    assert client.get(path(name)).status_code == 404
    assert get(client, name, version=2)["labels"] == ["latest"]
    assert_error(client.delete(path(name), params={"version": 9}), 404, "LangfuseNotFoundError",
                 f"Prompt not found: '{name}' with version 9")
    assert client.delete(path(name)).status_code == 204
    assert client.get(path(name), params={"version": 2}).status_code == 404
    assert client.get(V2, params={"name": name}).json()["data"] == []
    # The name is free again and numbering starts over.
    assert create(client, name, "again")["version"] == 1


# -- bad input and other projects ----------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ({"prompt": "x"}, "name is required"),
    ({"name": "", "prompt": "x"}, "name is required"),
    ({"name": "   ", "prompt": "x"}, "name is required"),
    ({"name": 5, "prompt": "x"}, "name is required"),
    ({"name": "/lead", "prompt": "x"}, "must not start or end with '/'"),
    ({"name": "a//b", "prompt": "x"}, "'//'"),
    ({"name": "a|b", "prompt": "x"}, "'|'"),
    ({"name": "<b>x</b>", "prompt": "x"}, "HTML"),
    ({"name": "new", "prompt": "x"}, "reserved"),
    ({"name": "n", "prompt": "x", "type": "image"}, 'type must be "text" or "chat"'),
    ({"name": "n", "prompt": ["x"]}, "prompt must be a string for a text prompt"),
    ({"name": "n", "prompt": "x", "type": "chat"}, "prompt must be a list of chat messages"),
    ({"name": "n", "type": "chat", "prompt": [{"role": "user"}]}, "prompt[0].content is required"),
    ({"name": "n", "type": "chat", "prompt": [{"content": "x"}]}, "prompt[0].role is required"),
    ({"name": "n", "type": "chat", "prompt": ["hello"]}, "prompt[0] must be an object"),
    ({"name": "n", "type": "chat", "prompt": [{"type": "placeholder", "name": "9bad"}]}, "prompt[0].name"),
    ({"name": "n", "type": "chat", "prompt": [{"type": "placeholder", "name": "q"},
                                              {"role": "user", "content": "{{q}}"}]}, "used as both: q"),
    ({"name": "n", "prompt": "x", "labels": "production"}, "labels must be a list"),
    ({"name": "n", "prompt": "x", "labels": ["Production"]}, "may contain only lowercase"),
    ({"name": "n", "prompt": "x", "labels": ["x" * 37]}, "1 to 36 characters"),
    ({"name": "n", "prompt": "x", "tags": "t"}, "tags must be a list"),
    ({"name": "n", "prompt": "x", "commitMessage": 5}, "commitMessage must be a string"),
    ({"name": "n", "prompt": "x", "commitMessage": "m" * 501}, "at most 500"),
])
def test_invalid_create_bodies(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    assert_error(client.post(V2, json=body), 400, "InvalidRequestError", message)


def test_invalid_requests(client: httpx.Client) -> None:
    name = f"bad-{uid()[:8]}"
    create(client, name, "x")
    assert_error(client.post(V2, content=b"{not json", headers={"content-type": "application/json"}), 400,
                 "InvalidRequestError", "Invalid JSON body")
    assert_error(client.post(V2, json=["a list"]), 400, "InvalidRequestError", "must be a JSON object")
    assert_error(client.post(V2, json={"name": name, "type": "chat", "prompt": []}), 400, "InvalidRequestError",
                 "Previous versions have different prompt type")
    assert_error(client.get(path(name), params={"version": 1, "label": "x"}), 400, "InvalidRequestError",
                 "either version or label")
    assert_error(client.get(path(name), params={"version": "one"}), 400, "InvalidRequestError",
                 "version must be a positive integer")
    assert_error(client.get(path(name), params={"resolve": "maybe"}), 400, "InvalidRequestError", "resolve")
    latest = client.patch(path(name, "versions", "1"), json={"newLabels": ["latest"]})
    assert_error(latest, 400, "InvalidRequestError", "Label 'latest'")
    assert_error(client.patch(path(name, "versions", "1"), json={"labels": ["x"]}), 400, "InvalidRequestError",
                 "newLabels")
    assert_error(client.patch(path(name, "versions", "7"), json={"newLabels": ["x"]}), 404, "LangfuseNotFoundError",
                 f"Prompt not found: '{name}' with version 7")
    assert_error(client.patch(path(name, "versions", "x"), json={"newLabels": ["x"]}), 400, "InvalidRequestError",
                 "version must be a positive integer")
    assert_error(client.get(path("never-created")), 404, "LangfuseNotFoundError",
                 "Prompt not found: 'never-created' with label 'production'")


def test_missing_or_wrong_auth(server: SpyglassServer) -> None:
    with httpx.Client(base_url=server.base_url) as anonymous:
        assert_error(anonymous.get(V2), 401, "UnauthorizedError")
        assert_error(anonymous.post(V2, json={"name": "x", "prompt": "y"}), 401, "UnauthorizedError")
    with httpx.Client(base_url=server.base_url, auth=(server.keys.public_key, "wrong")) as wrong:
        assert_error(wrong.get(path("x")), 401, "UnauthorizedError")


def test_another_projects_prompts_are_not_found(client: httpx.Client, other: httpx.Client) -> None:
    name = f"private-{uid()[:8]}"
    create(client, name, "mine", labels=["production"])
    assert_error(other.get(path(name)), 404, "LangfuseNotFoundError")
    assert_error(other.get(path(name), params={"version": 1}), 404, "LangfuseNotFoundError")
    assert_error(other.patch(path(name, "versions", "1"), json={"newLabels": ["x"]}), 404, "LangfuseNotFoundError")
    assert_error(other.delete(path(name)), 404, "LangfuseNotFoundError")
    assert other.get(V2, params={"name": name}).json()["data"] == []
    # The same name in the other project is its own prompt, numbered from 1.
    assert create(other, name, "theirs")["version"] == 1
    assert get(client, name)["prompt"] == "mine"


# -- legacy v1 -------------------------------------------------------------------------------------


def test_legacy_v1_routes(client: httpx.Client) -> None:
    name = f"legacy-{uid()[:8]}"
    active = client.post("/api/public/prompts", json={"name": name, "prompt": "one", "isActive": True})
    assert active.status_code == 201, active.text
    assert active.json()["labels"] == ["production", "latest"]
    inactive = client.post("/api/public/prompts", json={"name": name, "prompt": "two", "isActive": False})
    assert inactive.json()["labels"] == ["latest"]
    read = client.get("/api/public/prompts", params={"name": name})
    assert (read.json()["prompt"], read.json()["isActive"]) == ("one", True)
    assert client.get("/api/public/prompts", params={"name": name, "version": 2}).json()["isActive"] is False
    assert_error(client.get("/api/public/prompts"), 400, "InvalidRequestError", "name is required")
    assert_error(client.post("/api/public/prompts", json={"name": name, "prompt": "x", "isActive": "yes"}), 400,
                 "InvalidRequestError", "isActive")


# -- protected labels and key roles -----------------------------------------------------------------


def test_protected_labels_need_an_admin_key(server: SpyglassServer, member: httpx.Client) -> None:
    with server.client(server.create_project(f"prompts-protected-{uid()[:8]}")) as admin:
        member_keys = server.add_key("member", project_id=_project_of(admin))
        with server.client(member_keys) as member_here:
            _protected_label_flow(admin, member_here)


def _project_of(client: httpx.Client) -> str:
    return client.get("/api/public/projects").json()["data"][0]["id"]


def _protected_label_flow(admin: httpx.Client, member: httpx.Client) -> None:
    name = f"guarded-{uid()[:8]}"
    assert admin.get(PROTECTED).json() == {"data": []}
    assert_error(member.put(f"{PROTECTED}/production"), 403, "ForbiddenError", "admin API key")
    assert admin.put(f"{PROTECTED}/production").json() == {"label": "production"}
    assert admin.put(f"{PROTECTED}/production").status_code == 200  # idempotent
    assert member.get(PROTECTED).json() == {"data": ["production"]}
    assert_error(admin.put(f"{PROTECTED}/Bad Label"), 400, "InvalidRequestError")

    forbidden = member.post(V2, json={"name": name, "prompt": "x", "labels": ["production"]})
    assert_error(forbidden, 403, "ForbiddenError", "'production'", "admin API key")
    assert member.get(V2, params={"name": name}).json()["data"] == []  # nothing stored
    assert create(member, name, "staged", labels=["staging"])["labels"] == ["staging", "latest"]
    assert_error(member.patch(path(name, "versions", "1"), json={"newLabels": ["production"]}), 403,
                 "ForbiddenError")
    assert admin.patch(path(name, "versions", "1"), json={"newLabels": ["production"]}).status_code == 200
    # Deleting the version that carries it would remove the label too.
    assert_error(member.delete(path(name), params={"version": 1}), 403, "ForbiddenError")
    # Versions and labels that are not protected stay the member's to change.
    assert create(member, name, "v2", labels=["staging"])["version"] == 2
    assert member.delete(path(name), params={"version": 2}).status_code == 204
    assert member.get(path(name)).json()["prompt"] == "staged"  # reads are never restricted

    assert_error(member.delete(f"{PROTECTED}/production"), 403, "ForbiddenError")
    assert admin.delete(f"{PROTECTED}/production").status_code == 204
    assert_error(admin.delete(f"{PROTECTED}/production"), 404, "LangfuseNotFoundError")
    assert create(member, name, "v3", labels=["production"])["labels"] == ["production", "latest"]


def test_protection_is_per_project(client: httpx.Client, other: httpx.Client) -> None:
    label = f"release-{uid()[:6]}"
    assert client.put(f"{PROTECTED}/{label}").status_code == 200
    try:
        assert label not in other.get(PROTECTED).json()["data"]
    finally:
        client.delete(f"{PROTECTED}/{label}")


# -- links from generations -------------------------------------------------------------------------


def _linked(client: httpx.Client, obs_id: str) -> dict[str, Any]:
    return get_when(client, f"/api/public/observations/{obs_id}")


def test_generations_link_to_the_prompt_version(client: httpx.Client) -> None:
    name = f"linked-{uid()[:8]}"
    v1, v2 = create(client, name, "one"), create(client, name, "two")
    trace_id, gen1, gen2, unknown, span = uid(), uid(), uid(), uid(), uid()
    ingest_ok(client, [
        trace_create(trace_id, name="t"),
        observation("generation-create", gen1, trace_id, promptName=name, promptVersion=1, model="gpt-4o"),
        observation("generation-create", gen2, trace_id, promptName=name, promptVersion=2),
        observation("generation-create", unknown, trace_id, promptName=name, promptVersion=99),
        observation("span-create", span, trace_id),
    ])
    first = _linked(client, gen1)
    assert (first["promptId"], first["promptName"], first["promptVersion"]) == (v1["id"], name, 1)
    assert _linked(client, gen2)["promptId"] == v2["id"]
    # A version that does not exist is not linked (Langfuse clears all three).
    missing = _linked(client, unknown)
    assert (missing["promptId"], missing["promptName"], missing["promptVersion"]) == (None, None, None)
    trace = get_when(client, f"/api/public/traces/{trace_id}", lambda t: len(t["observations"]) == 4)
    by_id = {o["id"]: o for o in trace["observations"]}
    assert by_id[gen1]["promptId"] == v1["id"]

    # Usage of one prompt version: observations filtered by prompt name and version.
    where = [{"type": "string", "column": "promptName", "operator": "=", "value": name},
             {"type": "number", "column": "promptVersion", "operator": "=", "value": 2}]
    usage = client.get("/api/public/observations", params={"filter": json.dumps(where)})
    assert usage.status_code == 200, usage.text
    assert [o["id"] for o in usage.json()["data"]] == [gen2]


def test_otel_generation_links_to_the_prompt(client: httpx.Client) -> None:
    name = f"otel-linked-{uid()[:8]}"
    created = create(client, name, "one")
    trace_id, span_id = uid(), uid()[:16]

    def attr(key: str, value: Any) -> dict[str, Any]:
        typed = {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}
        return {"key": key, "value": typed}

    span = {"traceId": trace_id, "spanId": span_id, "name": "llm", "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000001000000000", "attributes": [
                attr("langfuse.observation.type", "generation"), attr("langfuse.observation.prompt.name", name),
                attr("langfuse.observation.prompt.version", 1)]}
    body = {"resourceSpans": [{"resource": {"attributes": []},
                               "scopeSpans": [{"scope": {"name": "t"}, "spans": [span]}]}]}
    assert client.post(OTEL_TRACES, json=body).status_code == 200
    linked = _linked(client, span_id)
    assert (linked["type"], linked["promptId"], linked["promptName"], linked["promptVersion"]) == (
        "GENERATION", created["id"], name, 1)
