"""Prompt management: versions, labels, composition, protected labels, and fast reads.

Reads are on the hot path of every application that fetches its prompts, so resolved
prompts are cached in the `Cache` port (memory, or Redis shared by every process) under
a per-project generation: any prompt write in a project starts a new generation, which
makes every cached read of that project stale at once, including parents that embed the
changed prompt. Not-found answers are cached the same way, because the SDK retries a 404
before it falls back.

Writes of one prompt are serialised (a process lock, and the prompt's row locked on
PostgreSQL); a version number or label taken by a concurrent writer in another process
shows up as a conflict, and the create is tried again, so concurrent creates all succeed
with distinct versions.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Final

import orjson

from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Conflict, DuplicateKey, Forbidden, InvalidInput, NotFound
from spyglass.domain.prompts import (
    LATEST,
    PRODUCTION,
    Content,
    PromptFilter,
    PromptSummary,
    PromptVersion,
    Resolution,
    Selector,
    dependency_refs,
    labels_for_new_version,
    parse_create,
    parse_new_labels,
    resolve,
    validate_labels,
)
from spyglass.domain.queries import Page
from spyglass.services.retries import retrying_duplicates
from spyglass.storage.cache.base import Cache
from spyglass.storage.oltp.repositories.prompts import PromptRepository
from spyglass.storage.oltp.store import OltpStore

log = logging.getLogger(__name__)

CACHE_TTL_SECONDS: Final = 60.0
_GENERATION_TTL_SECONDS: Final = 24 * 3600.0
_LINK_TTL_SECONDS: Final = 60.0
_LINK_MISS_TTL_SECONDS: Final = 2.0
_LINKS_MAX: Final = 50_000
_NOT_FOUND: Final = b"-"


@dataclass(frozen=True, slots=True)
class ResolvedPrompt:
    """A version as a read returns it: content with dependencies resolved (or raw)."""

    version: PromptVersion
    prompt: Content
    resolution_graph: dict[str, Any] | None


class PromptService:
    def __init__(
        self,
        store: OltpStore,
        cache: Cache,
        *,
        cache_ttl: float = CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache = cache
        self._ttl = cache_ttl
        self._clock = clock
        self._write_lock = threading.Lock()
        self._links: dict[tuple[str, str, int], tuple[str | None, float]] = {}

    # -- reads ---------------------------------------------------------------------

    def get(self, scope: ProjectScope, name: str, selector: Selector, *, resolved: bool = True) -> ResolvedPrompt:
        """The version `selector` picks, or `NotFound` in Langfuse's words."""
        project_id = scope.project_id
        generation = self._generation(project_id)
        key = f"prompt:{project_id}:{generation}:{selector.version or ''}:{selector.effective_label or ''}:" \
              f"{int(resolved)}:{name}"
        cached = self._cache.get(key)
        if cached == _NOT_FOUND:
            raise _not_found(name, selector)
        if cached is not None:
            return _decode(cached)
        with self._store.session() as uow:
            version = uow.prompts.find_version(project_id, name, selector)
            if version is None:
                found = None
            elif resolved:
                resolution = _resolve(uow.prompts, version)
                found = ResolvedPrompt(version, resolution.prompt, resolution.graph)
            else:
                found = ResolvedPrompt(version, version.prompt, None)
        self._cache.set(key, _NOT_FOUND if found is None else _encode(found), self._ttl)
        if found is None:
            raise _not_found(name, selector)
        return found

    def list_prompts(self, scope: ProjectScope, where: PromptFilter, page: Page) -> tuple[list[PromptSummary], int]:
        with self._store.session() as uow:
            return uow.prompts.list_summaries(scope.project_id, where, page)

    def protected_labels(self, scope: ProjectScope) -> list[str]:
        with self._store.session() as uow:
            return uow.prompts.protected_labels(scope.project_id)

    # -- writes --------------------------------------------------------------------

    def create(self, scope: ProjectScope, body: Any, *, created_by: str = "API") -> PromptVersion:
        """Validate a create request and store it as the prompt's next version."""
        draft = parse_create(body)
        refs = dependency_refs(draft.prompt)
        labels = labels_for_new_version(draft.labels)
        project_id = scope.project_id
        def write() -> PromptVersion:
            with self._write_lock, self._store.session() as uow:
                repo = uow.prompts
                repo.lock_name(project_id, draft.name)
                head = repo.find_head(project_id, draft.name)
                if head is not None and head.type != draft.type:
                    raise InvalidInput(
                        "Previous versions have different prompt type. Create a new prompt with a different name."
                    )
                self._check_protected(repo, scope, labels)
                resolve(draft, partial(repo.find_dependency, project_id), root_id="")
                return repo.create_version(project_id, head, draft, labels, created_by, refs)

        try:
            created = retrying_duplicates(write, f"prompt {draft.name!r}")
        except DuplicateKey:
            raise Conflict(
                f"Prompt '{draft.name}' is being changed by other requests at the same time; try again"
            ) from None
        self._invalidate(project_id)
        return created

    def add_labels(self, scope: ProjectScope, name: str, version: int, body: Any) -> PromptVersion:
        """`PATCH …/versions/{version}`: the version keeps its labels and takes these from others."""
        labels = parse_new_labels(body)
        with self._write_lock, self._store.session() as uow:
            repo = uow.prompts
            repo.lock_name(scope.project_id, name)
            current = repo.find_version(scope.project_id, name, Selector(version=version))
            if current is None:
                raise _not_found(name, Selector(version=version))
            self._check_protected(repo, scope, [label for label in labels if label not in current.labels])
            updated = repo.add_labels(current, labels)
        self._invalidate(scope.project_id)
        return updated

    def delete(self, scope: ProjectScope, name: str, selector: Selector | None) -> None:
        """Delete every version (None), one version, or the version holding a label."""
        project_id = scope.project_id
        with self._write_lock, self._store.session() as uow:
            repo = uow.prompts
            repo.lock_name(project_id, name)
            doomed = repo.versions(project_id, name, selector)
            if not doomed:
                raise _not_found(name, selector or Selector(label=None), any_version=selector is None)
            self._check_protected(repo, scope, [label for v in doomed for label in v.labels if label != LATEST])
            everything = selector is None or len(doomed) == len(repo.versions(project_id, name))
            _refuse_if_depended_on(repo, project_id, name, doomed, everything)
            repo.delete_versions(project_id, name, doomed)
        self._invalidate(project_id)

    def protect_label(self, scope: ProjectScope, label: str) -> str:
        label = self._protection_change(scope, label)
        with self._write_lock, self._store.session() as uow:
            uow.prompts.protect_label(scope.project_id, label)
        return label

    def unprotect_label(self, scope: ProjectScope, label: str) -> None:
        label = self._protection_change(scope, label)
        with self._write_lock, self._store.session() as uow:
            if not uow.prompts.unprotect_label(scope.project_id, label):
                raise NotFound(f"Label '{label}' is not protected in this project")

    # -- links from generations ------------------------------------------------------

    def link_ids(self, project_id: str, pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """Version ids of the (name, version) pairs that exist, for linking generations.

        Kept briefly in memory: the worker asks for every batch that carries prompts.
        """
        now = self._clock()
        found: dict[tuple[str, int], str] = {}
        missing: set[tuple[str, int]] = set()
        for pair in set(pairs):
            entry = self._links.get((project_id, *pair))
            if entry is not None and entry[1] > now:
                if entry[0] is not None:
                    found[pair] = entry[0]
            else:
                missing.add(pair)
        if missing:
            with self._store.session() as uow:
                fetched = uow.prompts.ids_for(project_id, missing)
            if len(self._links) > _LINKS_MAX:
                self._links = {}
            for pair in missing:
                version_id = fetched.get(pair)
                ttl = _LINK_TTL_SECONDS if version_id is not None else _LINK_MISS_TTL_SECONDS
                self._links[(project_id, *pair)] = (version_id, now + ttl)
                if version_id is not None:
                    found[pair] = version_id
        return found

    # -- helpers -------------------------------------------------------------------

    def _check_protected(self, repo: PromptRepository, scope: ProjectScope, labels: Iterable[str]) -> None:
        wanted = set(labels) - {LATEST}
        if scope.is_admin or not wanted:
            return
        blocked = sorted(wanted & set(repo.protected_labels(scope.project_id)))
        if blocked:
            raise Forbidden(
                f"Protected label(s) {', '.join(repr(label) for label in blocked)}: only an admin API key "
                "can set, move or remove a protected label"
            )

    def _protection_change(self, scope: ProjectScope, label: str) -> str:
        if not scope.is_admin:
            raise Forbidden("Only an admin API key can change which prompt labels are protected")
        (checked,) = validate_labels([label], "label", allow_latest=False)
        return checked

    def _generation(self, project_id: str) -> str:
        key = f"prompt-generation:{project_id}"
        value = self._cache.get(key)
        if value is None:
            value = uuid.uuid4().hex.encode()
            self._cache.set(key, value, _GENERATION_TTL_SECONDS)
        return value.decode()

    def _invalidate(self, project_id: str) -> None:
        # After the commit: a read that fetched the old state caches it under the old generation.
        self._cache.set(f"prompt-generation:{project_id}", uuid.uuid4().hex.encode(), _GENERATION_TTL_SECONDS)
        self._links = {key: value for key, value in self._links.items() if key[0] != project_id}


def _resolve(repo: PromptRepository, version: PromptVersion) -> Resolution:
    return resolve(version, lambda ref: repo.find_dependency(version.project_id, ref))


def _refuse_if_depended_on(
    repo: PromptRepository, project_id: str, name: str, doomed: list[PromptVersion], everything: bool
) -> None:
    numbers = {v.version for v in doomed}
    # `latest` stays on the newest remaining version unless every version goes.
    labels = {label for v in doomed for label in v.labels if everything or label != LATEST}
    blocking = [d for d in repo.dependents(project_id, name)
                if d.child_version in numbers or (d.child_label is not None and d.child_label in labels)]
    if blocking:
        users = ", ".join(
            f"'{d.name}' version {d.version} (uses "
            + (f"version {d.child_version})" if d.child_version is not None else f"label '{d.child_label}')")
            for d in blocking
        )
        raise InvalidInput(f"Cannot delete: other prompts depend on '{name}': {users}")


def _not_found(name: str, selector: Selector, *, any_version: bool = False) -> NotFound:
    if any_version:
        return NotFound(f"Prompt not found: '{name}'")
    return NotFound(f"Prompt not found: '{name}' with {selector.describe()}")


def legacy_create_body(body: Any) -> Any:
    """A v1 `POST /api/public/prompts` body as a v2 one: `isActive: true` means label `production`."""
    if not isinstance(body, Mapping):
        return body
    converted = {key: value for key, value in body.items() if key != "isActive"}
    is_active = body.get("isActive")
    if is_active is not None and not isinstance(is_active, bool):
        raise InvalidInput("isActive must be true or false")
    labels = validate_labels(body.get("labels"), "labels", allow_latest=True)
    converted["labels"] = [*labels, PRODUCTION] if is_active and PRODUCTION not in labels else list(labels)
    return converted


# -- cache encoding ----------------------------------------------------------------------


def _encode(found: ResolvedPrompt) -> bytes:
    v = found.version
    return orjson.dumps({
        "id": v.id, "projectId": v.project_id, "name": v.name, "version": v.version, "type": v.type,
        "raw": v.prompt, "config": v.config, "labels": v.labels, "tags": v.tags, "commitMessage": v.commit_message,
        "createdBy": v.created_by, "createdAt": v.created_at.isoformat(), "updatedAt": v.updated_at.isoformat(),
        "prompt": found.prompt, "graph": found.resolution_graph,
    })


def _decode(data: bytes) -> ResolvedPrompt:
    d = orjson.loads(data)
    version = PromptVersion(
        id=d["id"], project_id=d["projectId"], name=d["name"], version=d["version"], type=d["type"],
        prompt=d["raw"], config=d["config"], labels=tuple(d["labels"]), tags=tuple(d["tags"]),
        commit_message=d["commitMessage"], created_by=d["createdBy"],
        created_at=datetime.fromisoformat(d["createdAt"]), updated_at=datetime.fromisoformat(d["updatedAt"]),
    )
    return ResolvedPrompt(version, d["prompt"], d["graph"])
