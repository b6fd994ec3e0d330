"""Prompt rules: names, labels, content, create requests and composition (LANGFUSE_COMPAT §7)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spyglass.domain.errors import InvalidInput
from spyglass.domain.prompts import (
    DependencyRef,
    PromptVersion,
    dependency_refs,
    labels_for_new_version,
    parse_create,
    parse_new_labels,
    resolve,
    validate_labels,
    validate_name,
    variable_names,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def version(name: str, prompt: str | list[dict[str, str]], *, number: int = 1, kind: str = "text",
            labels: tuple[str, ...] = ("production",)) -> PromptVersion:
    return PromptVersion(id=f"{name}-v{number}", project_id="p", name=name, version=number, type=kind,
                         prompt=prompt, config={}, labels=labels, tags=(), commit_message=None, created_by="API",
                         created_at=T0, updated_at=T0)


def fetcher(*versions: PromptVersion):
    """A `fetch` over stored versions: by number, or by the label a version holds."""
    def fetch(ref: DependencyRef) -> PromptVersion | None:
        for v in versions:
            if v.name == ref.name and (v.version == ref.version if ref.version is not None else ref.label in v.labels):
                return v
        return None
    return fetch


def ref(name: str, *, version: int | None = None, label: str | None = None) -> str:
    return f"@@@langfusePrompt:name={name}|" + (f"version={version}" if version is not None else f"label={label}") \
        + "@@@"


def invalid(call, *args, **kwargs) -> str:  # noqa: ANN001, ANN003
    with pytest.raises(InvalidInput) as err:
        call(*args, **kwargs)
    return err.value.message


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["my-prompt", "folder/my-prompt", "a/b/c", "prompt with spaces", "x" * 255,
                                  "newer", "new/sub", "prompt.with.dots"])
def test_valid_names_are_kept_and_slashes_make_folders(name):
    assert validate_name(name) == name


def test_names_are_trimmed():
    assert validate_name("  folder/p \n") == "folder/p"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, "name is required and must be a non-empty string"),
        ("", "name is required and must be a non-empty string"),
        ("   ", "name is required and must be a non-empty string"),
        (42, "name is required and must be a non-empty string"),
        ("x" * 256, "name must be at most 255 characters"),
        ("<b>bold</b>", "name must not contain HTML tags"),
        ("a<script>b", "name must not contain HTML tags"),
        ("a|b", "name must not contain '|'"),
        ("/leading", "name must not start or end with '/' (use 'folder/name' for folders)"),
        ("trailing/", "name must not start or end with '/' (use 'folder/name' for folders)"),
        ("a//b", "name must not contain empty folder names ('//')"),
        ("new", "name must not be one of the reserved names: metrics, new, prompt-detail"),
        ("metrics", "name must not be one of the reserved names: metrics, new, prompt-detail"),
        ("prompt-detail", "name must not be one of the reserved names: metrics, new, prompt-detail"),
        (" new ", "name must not be one of the reserved names: metrics, new, prompt-detail"),
    ],
)
def test_invalid_names_are_refused_with_the_rule_they_break(name, message):
    assert invalid(validate_name, name) == message


def test_a_name_of_255_characters_after_trimming_is_allowed():
    assert validate_name(" " + "x" * 255 + " ") == "x" * 255


# -- labels ------------------------------------------------------------------------------


def test_labels_keep_their_order_without_repeats():
    assert validate_labels(["staging", "production", "staging", "a.b-c_1"], "labels", allow_latest=True) == (
        "staging", "production", "a.b-c_1")
    assert validate_labels(None, "labels", allow_latest=True) == ()
    assert validate_labels([], "labels", allow_latest=False) == ()
    assert validate_labels(["x" * 36], "labels", allow_latest=False) == ("x" * 36,)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("production", "labels must be a list of strings"),
        ({"a": 1}, "labels must be a list of strings"),
        ([""], "labels: each label must be a string of 1 to 36 characters"),
        (["x" * 37], "labels: each label must be a string of 1 to 36 characters"),
        ([7], "labels: each label must be a string of 1 to 36 characters"),
        ([None], "labels: each label must be a string of 1 to 36 characters"),
        (["Production"], "labels: label 'Production' may contain only lowercase letters, digits, '_', '-' and '.'"),
        (["with space"], "labels: label 'with space' may contain only lowercase letters, digits, '_', '-' and '.'"),
        (["a/b"], "labels: label 'a/b' may contain only lowercase letters, digits, '_', '-' and '.'"),
    ],
)
def test_invalid_labels_are_refused(labels, message):
    assert invalid(validate_labels, labels, "labels", allow_latest=True) == message


def test_latest_is_refused_only_where_it_cannot_be_set_by_hand():
    assert validate_labels(["latest", "production"], "labels", allow_latest=True) == ("latest", "production")
    assert invalid(validate_labels, ["production", "latest"], "newLabels", allow_latest=False) == (
        "Label 'latest' is always on the newest version and cannot be set by hand")


def test_new_labels_body():
    assert parse_new_labels({"newLabels": ["production", "staging", "production"]}) == ("production", "staging")
    assert parse_new_labels({"newLabels": []}) == ()
    for body in ({}, ["production"], None, {"labels": ["production"]}):
        assert invalid(parse_new_labels, body) == (
            'Request body must be a JSON object with "newLabels": a list of labels')
    assert invalid(parse_new_labels, {"newLabels": ["latest"]}) == (
        "Label 'latest' is always on the newest version and cannot be set by hand")
    assert invalid(parse_new_labels, {"newLabels": ["Bad"]}) == (
        "newLabels: label 'Bad' may contain only lowercase letters, digits, '_', '-' and '.'")


def test_a_new_version_gets_the_requested_labels_then_latest():
    assert labels_for_new_version(["production"]) == ("production", "latest")
    assert labels_for_new_version([]) == ("latest",)
    assert labels_for_new_version(["latest", "staging", "production"]) == ("staging", "production", "latest")


# -- create requests ----------------------------------------------------------------------


def test_a_minimal_text_create_has_langfuse_defaults():
    draft = parse_create({"name": " folder/greeting ", "prompt": "Hello {{name}}"})
    assert draft.name == "folder/greeting"
    assert draft.type == "text"
    assert draft.prompt == "Hello {{name}}"
    assert draft.config == {}
    assert draft.labels == ()
    assert draft.tags is None  # omitted: the prompt keeps its tags
    assert draft.commit_message is None


def test_a_full_create_keeps_every_field():
    draft = parse_create({"name": "p", "type": "text", "prompt": "x", "config": {"temperature": 0.5, "m": [1]},
                          "labels": ["production", "staging", "production"], "tags": ["b", "a", "b"],
                          "commitMessage": "first"})
    assert draft.config == {"temperature": 0.5, "m": [1]}
    assert draft.labels == ("production", "staging")
    assert draft.tags == ("b", "a")
    assert draft.commit_message == "first"


def test_config_null_is_an_empty_object_and_other_json_is_kept():
    assert parse_create({"name": "p", "prompt": "x", "config": None}).config == {}
    assert parse_create({"name": "p", "prompt": "x", "config": [1, "a"]}).config == [1, "a"]
    assert parse_create({"name": "p", "prompt": "x", "config": 0}).config == 0


def test_tags_given_replace_and_tags_null_or_omitted_mean_keep():
    assert parse_create({"name": "p", "prompt": "x", "tags": []}).tags == ()
    assert parse_create({"name": "p", "prompt": "x", "tags": None}).tags is None
    assert invalid(parse_create, {"name": "p", "prompt": "x", "tags": "a"}) == "tags must be a list of strings"
    assert invalid(parse_create, {"name": "p", "prompt": "x", "tags": [""]}) == (
        "tags: each tag must be a string of 1 to 255 characters")
    assert invalid(parse_create, {"name": "p", "prompt": "x", "tags": ["x" * 256]}) == (
        "tags: each tag must be a string of 1 to 255 characters")


def test_commit_message_is_at_most_500_characters():
    assert parse_create({"name": "p", "prompt": "x", "commitMessage": "m" * 500}).commit_message == "m" * 500
    assert invalid(parse_create, {"name": "p", "prompt": "x", "commitMessage": "m" * 501}) == (
        "commitMessage must be at most 500 characters")
    assert invalid(parse_create, {"name": "p", "prompt": "x", "commitMessage": 3}) == (
        "commitMessage must be a string (or null)")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["not", "an", "object"], "Request body must be a JSON object"),
        ({"prompt": "x"}, "name is required and must be a non-empty string"),
        ({"name": "p", "type": "completion", "prompt": "x"}, "type must be \"text\" or \"chat\", got 'completion'"),
        ({"name": "p", "prompt": ["a"]}, "prompt must be a string for a text prompt"),
        ({"name": "p"}, "prompt must be a string for a text prompt"),
        ({"name": "p", "type": "chat", "prompt": "hello"}, "prompt must be a list of chat messages for a chat prompt"),
        ({"name": "p", "prompt": "x", "labels": ["UP"]},
         "labels: label 'UP' may contain only lowercase letters, digits, '_', '-' and '.'"),
    ],
)
def test_invalid_create_requests(body, message):
    assert invalid(parse_create, body) == message


def test_latest_in_create_labels_is_accepted_and_ends_up_last():
    draft = parse_create({"name": "p", "prompt": "x", "labels": ["latest", "production"]})
    assert labels_for_new_version(draft.labels) == ("production", "latest")


def chat(*messages: object) -> list[dict[str, str]]:
    return parse_create({"name": "c", "type": "chat", "prompt": list(messages)}).prompt  # type: ignore[return-value]


def test_chat_messages_keep_their_order_and_lose_unknown_keys():
    assert chat(
        {"role": "system", "content": "You are {{persona}}", "extra": 1, "name": "ignored"},
        {"type": "placeholder", "name": "history", "role": "dropped"},
        {"type": "chatmessage", "role": "user", "content": "{{question}}"},
        {"type": "message", "role": "assistant", "content": ""},
    ) == [
        {"role": "system", "content": "You are {{persona}}"},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"},
        {"role": "assistant", "content": ""},
    ]


def test_an_empty_chat_is_allowed():
    assert chat() == []


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("hello", "prompt[0] must be an object: {role, content} or {type: 'placeholder', name}"),
        ({"content": "hi"}, "prompt[0].role is required and must be a non-empty string"),
        ({"role": "", "content": "hi"}, "prompt[0].role is required and must be a non-empty string"),
        ({"role": "user"}, "prompt[0].content is required and must be a string"),
        ({"role": "user", "content": None}, "prompt[0].content is required and must be a string"),
        ({"role": "user", "content": ["parts"]}, "prompt[0].content is required and must be a string"),
        ({"role": "user", "content": 3}, "prompt[0].content is required and must be a string"),
        ({"type": "image", "role": "user", "content": "x"},
         "prompt[0].type must be 'placeholder' or 'chatmessage' (or absent), got 'image'"),
        ({"type": "placeholder"}, "prompt[0].name must start with a letter and contain only letters, digits and '_'"),
        ({"type": "placeholder", "name": "1st"},
         "prompt[0].name must start with a letter and contain only letters, digits and '_'"),
        ({"type": "placeholder", "name": "my-history"},
         "prompt[0].name must start with a letter and contain only letters, digits and '_'"),
        ({"type": "placeholder", "name": "_x"},
         "prompt[0].name must start with a letter and contain only letters, digits and '_'"),
    ],
)
def test_invalid_chat_messages_are_refused_with_their_position(message, error):
    assert invalid(chat, message) == error


def test_the_position_of_a_bad_message_is_named():
    assert invalid(chat, {"role": "user", "content": "ok"}, {"role": "user"}) == (
        "prompt[1].content is required and must be a string")


def test_placeholder_names_follow_the_rule():
    assert chat({"type": "placeholder", "name": "History_2"}) == [{"type": "placeholder", "name": "History_2"}]


def test_a_name_used_as_variable_and_placeholder_is_refused():
    assert invalid(chat, {"role": "user", "content": "{{ history }} and {{b}}"},
                   {"type": "placeholder", "name": "history"}, {"type": "placeholder", "name": "b"}) == (
        "Placeholder names and variable names must differ; used as both: b, history")
    assert chat({"role": "user", "content": "{{question}}"}, {"type": "placeholder", "name": "history"})


def test_variable_names_are_trimmed_in_order():
    assert variable_names("Hi {{ name }}, {{city}} {{}} {not} {{a{b}} {{name}}") == ["name", "city", "", "name"]
    assert variable_names("no variables") == []


# -- dependency references ------------------------------------------------------------------


def test_dependency_refs_by_version_and_label_in_order_without_repeats():
    text = f"A {ref('child', version=2)} B {ref('folder/other', label='staging')} C {ref('child', version=2)}"
    assert dependency_refs(text) == [DependencyRef("child", version=2),
                                     DependencyRef("folder/other", label="staging")]
    assert dependency_refs("plain text @@ not a tag") == []


def test_a_version_with_a_leading_zero_is_the_same_reference():
    assert dependency_refs(f"{ref('c', version=1)} @@@langfusePrompt:name=c|version=01@@@") == [
        DependencyRef("c", version=1)]


def test_dependency_refs_in_chat_are_read_from_message_contents():
    content = [{"role": "system", "content": f"x {ref('a', label='production')}"},
               {"type": "placeholder", "name": "history"},
               {"role": "user", "content": f"{ref('b', version=3)} and {ref('a', label='production')}"}]
    assert dependency_refs(content) == [DependencyRef("a", label="production"), DependencyRef("b", version=3)]


EXPECTED_FORMAT = ("expected @@@langfusePrompt:name=<name>|version=<n>@@@ "
                   "or @@@langfusePrompt:name=<name>|label=<label>@@@")


@pytest.mark.parametrize(
    ("tag", "problem"),
    [
        ("@@@langfusePrompt:name=a@@@", EXPECTED_FORMAT),
        ("@@@langfusePrompt:invalid@@@", EXPECTED_FORMAT),
        ("@@@langfusePrompt:version=1|name=a@@@", EXPECTED_FORMAT),
        ("@@@langfusePrompt:name=a|label=p|version=1@@@", EXPECTED_FORMAT),
        ("@@@langfusePrompt:name=|label=x@@@", "name and version or label must not be empty"),
        ("@@@langfusePrompt:name=a|label=@@@", "name and version or label must not be empty"),
        ("@@@langfusePrompt:name=a|version=x@@@", "version must be a positive integer"),
        ("@@@langfusePrompt:name=a|version=0@@@", "version must be a positive integer"),
        ("@@@langfusePrompt:name=a|version=-1@@@", "version must be a positive integer"),
        ("@@@langfusePrompt:name=a|version=1.5@@@", "version must be a positive integer"),
        ("@@@langfusePrompt:name=a|version=²@@@", "version must be a positive integer"),
        ("@@@langfusePrompt:name=a|tag=x@@@", "the second parameter must be version= or label="),
    ],
)
def test_malformed_references_are_refused(tag, problem):
    assert invalid(dependency_refs, f"before {tag} after") == f"Invalid prompt reference {tag}: {problem}"
    assert invalid(dependency_refs, [{"role": "user", "content": tag}]) == f"Invalid prompt reference {tag}: {problem}"


# -- resolution ------------------------------------------------------------------------------


def test_content_without_references_resolves_to_itself_without_a_graph():
    root = version("root", "plain {{var}}")
    resolution = resolve(root, fetcher())
    assert (resolution.prompt, resolution.graph, resolution.used) == ("plain {{var}}", None, [])


def test_nested_references_are_replaced_and_the_graph_lists_each_parents_children():
    leaf = version("leaf", "LEAF", number=3, labels=("production",))
    mid = version("mid", f"mid[{ref('leaf', label='production')}]", number=2)
    other = version("other", "OTHER", number=1, labels=())
    root = version("root", f"root {ref('mid', version=2)} + {ref('other', version=1)} + {ref('mid', version=2)}",
                   number=7)
    resolution = resolve(root, fetcher(leaf, mid, other))
    assert resolution.prompt == "root mid[LEAF] + OTHER + mid[LEAF]"
    assert resolution.graph == {
        "root": {"id": "root-v7", "name": "root", "version": 7},
        "dependencies": {
            "root-v7": [{"id": "mid-v2", "name": "mid", "version": 2},
                        {"id": "other-v1", "name": "other", "version": 1}],
            "mid-v2": [{"id": "leaf-v3", "name": "leaf", "version": 3}],
        },
    }
    assert [v.id for v in resolution.used] == ["mid-v2", "leaf-v3", "other-v1"]


def test_a_leading_zero_version_reference_resolves():
    child = version("child", "CHILD")
    root = version("root", "x @@@langfusePrompt:name=child|version=01@@@ y")
    resolution = resolve(root, fetcher(child))
    assert resolution.prompt == "x CHILD y"
    assert resolution.graph == {"root": {"id": "root-v1", "name": "root", "version": 1},
                                "dependencies": {"root-v1": [{"id": "child-v1", "name": "child", "version": 1}]}}


def test_chat_message_contents_are_resolved_and_placeholders_kept():
    child = version("child", 'says "hi"\n\\1 $1 {{name}}')
    root = version("root", [{"role": "system", "content": f"Context: {ref('child', label='production')}."},
                            {"type": "placeholder", "name": "history"},
                            {"role": "user", "content": "no refs"}], kind="chat")
    resolution = resolve(root, fetcher(child))
    assert resolution.prompt == [{"role": "system", "content": 'Context: says "hi"\n\\1 $1 {{name}}.'},
                                 {"type": "placeholder", "name": "history"},
                                 {"role": "user", "content": "no refs"}]
    assert root.prompt[0]["content"] == f"Context: {ref('child', label='production')}."  # the input is untouched


def test_a_draft_root_uses_the_given_root_id():
    draft = parse_create({"name": "new-parent", "prompt": f"x {ref('child', version=1)}"})
    resolution = resolve(draft, fetcher(version("child", "C")), root_id="")
    assert resolution.prompt == "x C"
    assert resolution.graph == {"root": {"id": "", "name": "new-parent", "version": None},
                                "dependencies": {"": [{"id": "child-v1", "name": "child", "version": 1}]}}


def test_a_prompt_cannot_reference_its_own_name():
    older = version("me", "old me", number=1)
    root = version("me", f"new me {ref('me', version=1)}", number=2)
    assert invalid(resolve, root, fetcher(older)) == (
        "A prompt cannot reference another version of itself ('me' with version 1)")
    assert invalid(resolve, version("me", f"{ref('me', label='production')}"), fetcher(older)) == (
        "A prompt cannot reference another version of itself ('me' with label 'production')")


def test_a_cycle_is_refused():
    b = version("b", f"B {ref('a', label='production')}")
    a = version("a", f"A {ref('b', label='production')}", number=2)
    message = invalid(resolve, a, fetcher(b, version("a", "A1")))
    assert "Circular" in message
    assert message == "Circular prompt dependency detected: a -> b -> a"


def test_a_cycle_below_the_root_is_refused():
    b = version("b", f"B {ref('c', version=1)}")
    c = version("c", f"C {ref('b', version=1)}")
    root = version("root", f"R {ref('b', version=1)}")
    assert invalid(resolve, root, fetcher(b, c)) == "Circular prompt dependency detected: b -> c -> b"


def test_the_same_child_twice_in_a_diamond_is_not_a_cycle():
    leaf = version("leaf", "L")
    left = version("left", f"l{ref('leaf', version=1)}")
    right = version("right", f"r{ref('leaf', version=1)}")
    root = version("root", f"{ref('left', version=1)}+{ref('right', version=1)}")
    resolution = resolve(root, fetcher(leaf, left, right))
    assert resolution.prompt == "lL+rL"
    assert resolution.graph["dependencies"] == {
        "root-v1": [{"id": "left-v1", "name": "left", "version": 1},
                    {"id": "right-v1", "name": "right", "version": 1}],
        "left-v1": [{"id": "leaf-v1", "name": "leaf", "version": 1}],
        "right-v1": [{"id": "leaf-v1", "name": "leaf", "version": 1}],
    }


def test_a_missing_child_is_refused():
    root = version("root", f"{ref('ghost', version=4)}")
    assert invalid(resolve, root, fetcher()) == "Prompt dependency not found: 'ghost' with version 4"
    root = version("root", f"{ref('child', label='staging')}")
    assert invalid(resolve, root, fetcher(version("child", "C"))) == (
        "Prompt dependency not found: 'child' with label 'staging'")


def test_a_missing_grandchild_is_refused():
    mid = version("mid", f"{ref('ghost', label='production')}")
    assert invalid(resolve, version("root", ref("mid", version=1)), fetcher(mid)) == (
        "Prompt dependency not found: 'ghost' with label 'production'")


def test_a_chat_child_is_refused():
    child = version("child", [{"role": "user", "content": "hi"}], kind="chat")
    root = version("root", ref("child", label="production"))
    assert invalid(resolve, root, fetcher(child)) == (
        "Prompt dependency 'child' with label 'production' is a chat prompt; only text prompts can be embedded")


def chain(length: int) -> tuple[PromptVersion, list[PromptVersion]]:
    """`length` prompts, each embedding the next: depth-0 -> depth-1 -> … -> depth-(length-1)."""
    prompts = [version(f"depth-{length - 1}", "I am the deepest prompt")]
    for i in range(length - 2, -1, -1):
        prompts.append(version(f"depth-{i}", f"Level {i} with dependency: {ref(f'depth-{i + 1}', label='production')}"))
    return prompts[-1], prompts[:-1]


def test_five_levels_of_prompts_resolve():
    # Langfuse's own test: depth-1 … depth-5, each embedding the next, are accepted.
    root, others = chain(5)
    resolution = resolve(root, fetcher(*others))
    assert resolution.prompt == ("Level 0 with dependency: Level 1 with dependency: Level 2 with dependency: "
                                 "Level 3 with dependency: I am the deepest prompt")
    assert len(resolution.used) == 4


def test_six_levels_of_prompts_exceed_the_depth_limit():
    # Langfuse (MAX_PROMPT_NESTING_DEPTH = 5; the root is level 0 and level 5 is refused): adding depth-0 on top
    # of depth-1 … depth-5 is a 400 "Maximum nesting depth exceeded".
    root, others = chain(6)
    assert invalid(resolve, root, fetcher(*others)) == (
        "Prompt dependencies are nested too deeply: a chain of references may hold at most 5 prompts")


def test_seven_levels_of_prompts_exceed_the_depth_limit():
    root, others = chain(7)
    assert invalid(resolve, root, fetcher(*others)) == (
        "Prompt dependencies are nested too deeply: a chain of references may hold at most 5 prompts")
