"""Prompt management rules: what a valid prompt version is, labels, and composition.

Pure: the service feeds stored versions in and gets validated drafts, label sets and
resolved content out. The rules are Langfuse's (LANGFUSE_COMPAT §7).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from spyglass.domain.errors import InvalidInput

PromptType = Literal["text", "chat"]
Content = str | list[dict[str, str]]

LATEST: Final = "latest"
PRODUCTION: Final = "production"
MAX_NAME_LENGTH: Final = 255
MAX_LABEL_LENGTH: Final = 36
MAX_TAG_LENGTH: Final = 255
MAX_COMMIT_MESSAGE_LENGTH: Final = 500
MAX_DEPENDENCY_DEPTH: Final = 5
# Path segments the Langfuse UI uses below a prompt's name.
RESERVED_NAMES: Final = frozenset({"new", "metrics", "prompt-detail"})

_LABEL = re.compile(r"^[a-z0-9_\-.]+$")
_HTML_TAG = re.compile(r"<[^>]*>")
_PLACEHOLDER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
_VARIABLE = re.compile(r"{{([^{}]*)}}")
_DEPENDENCY_TAG = re.compile(r"@@@langfusePrompt:(.*?)@@@")


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """One stored, immutable version of a prompt, with the labels it holds now."""

    id: str
    project_id: str
    name: str
    version: int
    type: PromptType
    prompt: Content
    config: Any
    labels: tuple[str, ...]
    tags: tuple[str, ...]
    commit_message: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PromptSummary:
    """One prompt name in a listing: all its (matching) versions and the labels they hold."""

    name: str
    type: PromptType
    versions: tuple[int, ...]
    labels: tuple[str, ...]
    tags: tuple[str, ...]
    last_updated_at: datetime
    last_config: Any


@dataclass(frozen=True, slots=True)
class PromptFilter:
    """What a prompt listing keeps: versions matching every given field."""

    name: str | None = None
    label: str | None = None
    tag: str | None = None
    version: int | None = None
    from_updated_at: datetime | None = None
    to_updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PromptDraft:
    """A validated create request; `tags` None means "keep the prompt's tags"."""

    name: str
    type: PromptType
    prompt: Content
    config: Any
    labels: tuple[str, ...]
    tags: tuple[str, ...] | None
    commit_message: str | None


@dataclass(frozen=True, slots=True)
class DependencyRef:
    """A `@@@langfusePrompt:name=…|version=…@@@` (or `|label=…`) reference in a prompt's text."""

    name: str
    version: int | None = None
    label: str | None = None

    def describe(self) -> str:
        return f"'{self.name}' with version {self.version}" if self.version is not None \
            else f"'{self.name}' with label '{self.label}'"


@dataclass(frozen=True, slots=True)
class Selector:
    """Which version a read wants: a number, or the one holding a label (`production` by default)."""

    version: int | None = None
    label: str | None = None

    @property
    def effective_label(self) -> str | None:
        return None if self.version is not None else (self.label or PRODUCTION)

    def describe(self) -> str:
        return f"version {self.version}" if self.version is not None else f"label '{self.effective_label}'"


@dataclass(slots=True)
class Resolution:
    """A version's content with every dependency replaced, and the graph of what was used."""

    prompt: Content
    graph: dict[str, Any] | None = None
    used: list[PromptVersion] = field(default_factory=list)


# -- create requests ------------------------------------------------------------------


def parse_create(body: Any) -> PromptDraft:
    """Validate a `CreatePromptRequest` body (v2), or raise `InvalidInput` naming the field."""
    if not isinstance(body, Mapping):
        raise InvalidInput("Request body must be a JSON object")
    name = validate_name(body.get("name"))
    kind = body.get("type") or "text"
    if kind not in ("text", "chat"):
        raise InvalidInput(f'type must be "text" or "chat", got {kind!r}')
    content = _content(kind, body.get("prompt"))
    config = body.get("config")
    return PromptDraft(
        name=name,
        type=kind,
        prompt=content,
        config={} if config is None else config,
        labels=validate_labels(body.get("labels"), "labels", allow_latest=True),
        tags=None if body.get("tags") is None else _tags(body["tags"]),
        commit_message=_commit_message(body.get("commitMessage")),
    )


def validate_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("name is required and must be a non-empty string")
    name = value.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"name must be at most {MAX_NAME_LENGTH} characters")
    if _HTML_TAG.search(name):
        raise InvalidInput("name must not contain HTML tags")
    if "|" in name:
        raise InvalidInput("name must not contain '|'")
    if name.startswith("/") or name.endswith("/"):
        raise InvalidInput("name must not start or end with '/' (use 'folder/name' for folders)")
    if "//" in name:
        raise InvalidInput("name must not contain empty folder names ('//')")
    if name in RESERVED_NAMES:
        raise InvalidInput(f"name must not be one of the reserved names: {', '.join(sorted(RESERVED_NAMES))}")
    return name


def validate_labels(value: Any, where: str, *, allow_latest: bool) -> tuple[str, ...]:
    """Labels in the order given, without repeats."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(f"{where} must be a list of strings")
    labels: list[str] = []
    for label in value:
        if not isinstance(label, str) or not 1 <= len(label) <= MAX_LABEL_LENGTH:
            raise InvalidInput(f"{where}: each label must be a string of 1 to {MAX_LABEL_LENGTH} characters")
        if not _LABEL.match(label):
            raise InvalidInput(
                f"{where}: label {label!r} may contain only lowercase letters, digits, '_', '-' and '.'"
            )
        if label == LATEST and not allow_latest:
            raise InvalidInput("Label 'latest' is always on the newest version and cannot be set by hand")
        if label not in labels:
            labels.append(label)
    return tuple(labels)


def parse_new_labels(body: Any) -> tuple[str, ...]:
    """The `{"newLabels": [...]}` body of a label update."""
    if not isinstance(body, Mapping) or "newLabels" not in body:
        raise InvalidInput('Request body must be a JSON object with "newLabels": a list of labels')
    return validate_labels(body["newLabels"], "newLabels", allow_latest=False)


def labels_for_new_version(requested: Iterable[str]) -> tuple[str, ...]:
    """The labels a new version gets: the requested ones, then `latest` (Langfuse's order)."""
    labels = [label for label in requested if label != LATEST]
    return (*labels, LATEST)


def _content(kind: str, value: Any) -> Content:
    if kind == "text":
        if not isinstance(value, str):
            raise InvalidInput("prompt must be a string for a text prompt")
        return value
    if not isinstance(value, list):
        raise InvalidInput("prompt must be a list of chat messages for a chat prompt")
    messages: list[dict[str, str]] = []
    for index, item in enumerate(value):
        messages.append(_message(item, f"prompt[{index}]"))
    placeholders = {m["name"] for m in messages if m.get("type") == "placeholder"}
    variables = {v for m in messages if "content" in m for v in variable_names(m["content"])}
    clash = sorted(placeholders & variables)
    if clash:
        raise InvalidInput(
            f"Placeholder names and variable names must differ; used as both: {', '.join(clash)}"
        )
    return messages


def _message(item: Any, where: str) -> dict[str, str]:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object: {{role, content}} or {{type: 'placeholder', name}}")
    kind = item.get("type")
    if kind == "placeholder":
        name = item.get("name")
        if not isinstance(name, str) or not _PLACEHOLDER_NAME.match(name):
            raise InvalidInput(
                f"{where}.name must start with a letter and contain only letters, digits and '_'"
            )
        return {"type": "placeholder", "name": name}
    if kind not in (None, "chatmessage", "message"):
        raise InvalidInput(f"{where}.type must be 'placeholder' or 'chatmessage' (or absent), got {kind!r}")
    role, content = item.get("role"), item.get("content")
    if not isinstance(role, str) or not role:
        raise InvalidInput(f"{where}.role is required and must be a non-empty string")
    if not isinstance(content, str):
        raise InvalidInput(f"{where}.content is required and must be a string")
    # Other keys are dropped, as Langfuse does; the order of messages is kept.
    return {"role": role, "content": content}


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput("tags must be a list of strings")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG_LENGTH:
            raise InvalidInput(f"tags: each tag must be a string of 1 to {MAX_TAG_LENGTH} characters")
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _commit_message(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("commitMessage must be a string (or null)")
    if len(value) > MAX_COMMIT_MESSAGE_LENGTH:
        raise InvalidInput(f"commitMessage must be at most {MAX_COMMIT_MESSAGE_LENGTH} characters")
    return value


def variable_names(text: str) -> list[str]:
    """The `{{variable}}` names in `text` (trimmed), as the SDK's `compile` fills them."""
    return [match.strip() for match in _VARIABLE.findall(text)]


# -- composition ----------------------------------------------------------------------


def dependency_refs(content: Content) -> list[DependencyRef]:
    """The prompt references in a version's text (chat: in its message contents), in order."""
    refs: list[DependencyRef] = []
    for text in _texts(content):
        for match in _DEPENDENCY_TAG.finditer(text):
            ref = _parse_ref(match.group(1), match.group(0))
            if ref not in refs:
                refs.append(ref)
    return refs


def _parse_ref(params: str, tag: str) -> DependencyRef:
    parts = params.split("|")
    if len(parts) != 2 or not parts[0].startswith("name="):
        raise InvalidInput(
            f"Invalid prompt reference {tag}: expected @@@langfusePrompt:name=<name>|version=<n>@@@ "
            "or @@@langfusePrompt:name=<name>|label=<label>@@@"
        )
    name = parts[0][len("name="):]
    key, _, value = parts[1].partition("=")
    if not name or not value:
        raise InvalidInput(f"Invalid prompt reference {tag}: name and version or label must not be empty")
    if key == "version":
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise InvalidInput(f"Invalid prompt reference {tag}: version must be a positive integer")
        return DependencyRef(name=name, version=int(value))
    if key == "label":
        return DependencyRef(name=name, label=value)
    raise InvalidInput(f"Invalid prompt reference {tag}: the second parameter must be version= or label=")


def _texts(content: Content) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [m["content"] for m in content if "content" in m]


def resolve(
    root: PromptVersion | PromptDraft,
    fetch: Callable[[DependencyRef], PromptVersion | None],
    *,
    root_id: str | None = None,
) -> Resolution:
    """Replace every reference in `root`'s content by the referenced text, recursively.

    Raises `InvalidInput` for a reference to the prompt's own name, a cycle, a missing or
    non-text child, or nesting deeper than `MAX_DEPENDENCY_DEPTH`. The graph follows
    Langfuse's `resolutionGraph`: the root, and each parent's direct children by parent id.
    """
    refs = dependency_refs(root.prompt)
    if not refs:
        return Resolution(prompt=root.prompt)
    node = {"id": root_id if root_id is not None else getattr(root, "id", None),
            "name": root.name, "version": getattr(root, "version", None)}
    dependencies: dict[str, list[dict[str, Any]]] = {}
    used: list[PromptVersion] = []
    resolved = _resolve_content(root.prompt, refs, fetch, (root.name,), node["id"] or "", 1, dependencies, used)
    return Resolution(prompt=resolved, graph={"root": node, "dependencies": dependencies}, used=used)


def _resolve_content(
    content: Content,
    refs: list[DependencyRef],
    fetch: Callable[[DependencyRef], PromptVersion | None],
    path: tuple[str, ...],
    parent_id: str,
    depth: int,
    dependencies: dict[str, list[dict[str, Any]]],
    used: list[PromptVersion],
) -> Content:
    # The root is level 0; a prompt reached at level MAX_DEPENDENCY_DEPTH is one too deep (Langfuse).
    if depth >= MAX_DEPENDENCY_DEPTH:
        raise InvalidInput(
            f"Prompt dependencies are nested too deeply: a chain of references may hold at most "
            f"{MAX_DEPENDENCY_DEPTH} prompts"
        )
    replacements: dict[DependencyRef, str] = {}
    for ref in refs:
        if ref.name == path[0] and len(path) == 1:
            raise InvalidInput(f"A prompt cannot reference another version of itself ({ref.describe()})")
        if ref.name in path:
            cycle = " -> ".join((*path[path.index(ref.name):], ref.name))
            raise InvalidInput(f"Circular prompt dependency detected: {cycle}")
        child = fetch(ref)
        if child is None:
            raise InvalidInput(f"Prompt dependency not found: {ref.describe()}")
        if child.type != "text":
            raise InvalidInput(
                f"Prompt dependency {ref.describe()} is a chat prompt; only text prompts can be embedded"
            )
        dependencies.setdefault(parent_id, []).append({"id": child.id, "name": child.name, "version": child.version})
        used.append(child)
        assert isinstance(child.prompt, str)
        child_refs = dependency_refs(child.prompt)
        text = child.prompt if not child_refs else _resolve_content(
            child.prompt, child_refs, fetch, (*path, child.name), child.id, depth + 1, dependencies, used)
        assert isinstance(text, str)
        replacements[ref] = text
    return _replace(content, replacements)


def _replace(content: Content, replacements: Mapping[DependencyRef, str]) -> Content:
    def fill(text: str) -> str:
        return _DEPENDENCY_TAG.sub(lambda m: replacements[_parse_ref(m.group(1), m.group(0))], text)

    if isinstance(content, str):
        return fill(content)
    return [{**m, "content": fill(m["content"])} if "content" in m else dict(m) for m in content]
