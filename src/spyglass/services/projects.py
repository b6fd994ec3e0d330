"""Organizations, projects and API keys: request authentication and provisioning.

`authenticate` runs on every API request, so successful lookups are cached for a short
time in the cache port: in memory when embedded, in Redis when several processes share
a deployment. A deleted key leaves a revocation mark in the same cache, so with Redis
every process refuses it at once; in memory only this process can see the mark.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from spyglass.auth.api_keys import (
    INVALID_CREDENTIALS,
    display_secret,
    generate_key_pair,
    hash_secret,
    parse_authorization,
)
from spyglass.auth.passwords import hash_password
from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized, Unavailable
from spyglass.domain.projects import KEY_ROLES, ApiKey, Organization, Project, ProjectInfo
from spyglass.storage.cache.base import Cache
from spyglass.storage.cache.memory import MemoryCache
from spyglass.storage.oltp.store import OltpStore, UnitOfWork

if TYPE_CHECKING:
    # Type only: `settings` is read by bootstrap/cli, which pass the model in.
    from spyglass.domain.projects import HeadlessInit

log = logging.getLogger(__name__)

AUTH_CACHE_TTL_SECONDS = 60.0
AUTH_CACHE_MAX_ENTRIES = 10_000
# last_used_at is informational; writing it on every request would turn each read
# into a write (and serialise requests on SQLite's single writer).
LAST_USED_WRITE_INTERVAL_SECONDS = 60.0

DEFAULT_ORG_NAME = "Default Organization"
PROVISIONED_ORG_NAME = "Provisioned Org"
PROVISIONED_PROJECT_NAME = "Provisioned Project"
PROVISIONED_USER_NAME = "Provisioned User"
PROVISIONED_KEY_NOTE = "Provisioned API Key"


@dataclass(frozen=True, slots=True)
class CreatedProject:
    """Result of `create_project`; `secret_key` is the only time the plaintext exists."""

    project: Project
    organization: Organization
    public_key: str
    secret_key: str


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    api_key: ApiKey
    secret_key: str


class ProjectService:
    def __init__(
        self,
        store: OltpStore,
        salt: str,
        *,
        cache: Cache | None = None,
        clock: Callable[[], float] = time.monotonic,
        cache_ttl: float = AUTH_CACHE_TTL_SECONDS,
        cache_max_entries: int = AUTH_CACHE_MAX_ENTRIES,
    ) -> None:
        self._store = store
        self._salt = salt
        self._clock = clock
        self._cache_ttl = cache_ttl
        self._cache_max = cache_max_entries
        # Only successes are cached, so unknown keys cannot grow the cache.
        self._cache: Cache = cache if cache is not None else MemoryCache(cache_max_entries, clock)
        self._last_touched: dict[str, float] = {}
        self._lock = threading.Lock()  # authenticate() runs on the threadpool and the event loop alike

    # -- authentication -------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> ProjectScope:
        """Resolve an `Authorization` header to the project it grants, or raise `Unauthorized`."""
        credentials = parse_authorization(authorization)
        # Keyed by a digest of the whole header: a hit proves the same secret was checked before.
        entry_key = "auth:" + hashlib.sha256((authorization or "").encode("utf-8")).hexdigest()
        revoked_key = "auth-revoked:" + credentials.public_key
        cached, revoked = self._cache.get_many([entry_key, revoked_key])
        if cached is not None and revoked is None:
            entry = orjson.loads(cached)
            self._touch_if_due(entry["keyId"])
            return ProjectScope(project_id=entry["projectId"], public_key=credentials.public_key,
                                access_level=credentials.access_level, role=entry.get("role", "ADMIN"))

        with self._store.session() as uow:
            key = uow.api_keys.find_usable(credentials.public_key)
        if key is None:
            raise Unauthorized(INVALID_CREDENTIALS)
        if credentials.secret_key is not None:
            presented = hash_secret(credentials.secret_key, self._salt)
            if not hmac.compare_digest(presented, key.hashed_secret_key):
                raise Unauthorized(INVALID_CREDENTIALS)
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise Unauthorized(INVALID_CREDENTIALS)

        # While a revocation mark lives, a read that raced the deletion is not cached.
        if revoked is None:
            ttl = self._cache_ttl
            if key.expires_at is not None:
                ttl = min(ttl, (key.expires_at - datetime.now(UTC)).total_seconds())
            entry = {"projectId": key.project_id, "keyId": key.id, "role": key.role}
            self._cache.set(entry_key, orjson.dumps(entry), ttl)
        self._touch_if_due(key.id)
        return ProjectScope(project_id=key.project_id, public_key=key.public_key, access_level=credentials.access_level,
                            role=key.role)

    def _touch_if_due(self, key_id: str) -> None:
        with self._lock:
            due = self._claim_touch(key_id, self._clock())
        if due:
            self._touch(key_id)

    def _claim_touch(self, key_id: str, now: float) -> bool:
        """Whether this request should write last_used_at (once per interval per key).

        Called with the lock held; the write itself happens outside the lock so a busy
        database never stalls other requests' cache hits.
        """
        last = self._last_touched.get(key_id)
        if last is not None and now - last < LAST_USED_WRITE_INTERVAL_SECONDS:
            return False
        self._last_touched[key_id] = now
        if len(self._last_touched) > self._cache_max:
            horizon = now - LAST_USED_WRITE_INTERVAL_SECONDS
            self._last_touched = {k: t for k, t in self._last_touched.items() if t >= horizon}
        return True

    def _touch(self, key_id: str) -> None:
        try:
            with self._store.session() as uow:
                uow.api_keys.touch(key_id, datetime.now(UTC))
        except (Unavailable, Conflict) as error:
            # Bookkeeping only: a busy database must not fail the request it belongs to.
            log.warning("could not record API key use: %s", error.message)

    def _forget_keys(self, public_keys: set[str]) -> None:
        # Twice the entry TTL: an entry cached by a read that raced the deletion expires first.
        for public_key in public_keys:
            self._cache.set("auth-revoked:" + public_key, b"1", 2 * self._cache_ttl)

    # -- projects -------------------------------------------------------------------

    def get_project(self, project_id: str) -> ProjectInfo:
        with self._store.session() as uow:
            return uow.projects.get_info(project_id)

    def list_projects_for_scope(self, scope: ProjectScope) -> list[ProjectInfo]:
        """What `GET /api/public/projects` shows: the key's own project only."""
        with self._store.session() as uow:
            info = uow.projects.find_info(scope.project_id)
        return [info] if info is not None else []

    def list_projects(self) -> list[ProjectInfo]:
        """Every live project (operator view: CLI, admin UI)."""
        with self._store.session() as uow:
            return uow.projects.list_infos()

    def create_project(
        self,
        *,
        project_name: str,
        org_name: str = DEFAULT_ORG_NAME,
        org_id: str | None = None,
        project_id: str | None = None,
        public_key: str | None = None,
        secret_key: str | None = None,
        note: str | None = None,
    ) -> CreatedProject:
        """Create a project with one API key, reusing the organization if it exists."""
        project_name = _required(project_name, "project name")
        public_key, secret_key = self._resolve_key_pair(public_key, secret_key)
        with self._store.session() as uow:
            org = uow.organizations.find(org_id) if org_id else uow.organizations.find_by_name(org_name)
            if org is None:
                org = uow.organizations.create(org_id=org_id, name=_required(org_name, "organization name"))
            if project_id and uow.projects.find(project_id, include_deleted=True) is not None:
                raise Conflict(f"Project {project_id} already exists")
            if uow.projects.find_by_name(org.id, project_name) is not None:
                raise Conflict(f"A project named {project_name!r} already exists in this organization")
            project = uow.projects.create(org_id=org.id, name=project_name, project_id=project_id)
            self._insert_key(uow, project.id, public_key, secret_key, note)
        return CreatedProject(project=project, organization=org, public_key=public_key, secret_key=secret_key)

    # -- API keys -------------------------------------------------------------------

    def create_api_key(
        self,
        project_id: str,
        public_key: str | None = None,
        secret_key: str | None = None,
        note: str | None = None,
        role: str = "ADMIN",
    ) -> CreatedApiKey:
        if role not in KEY_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(KEY_ROLES)}, got {role!r}")
        public_key, secret_key = self._resolve_key_pair(public_key, secret_key)
        with self._store.session() as uow:
            uow.projects.get(project_id)
            api_key = self._insert_key(uow, project_id, public_key, secret_key, note, role)
        return CreatedApiKey(api_key=api_key, secret_key=secret_key)

    def list_api_keys(self, project_id: str) -> list[ApiKey]:
        with self._store.session() as uow:
            uow.projects.get(project_id)
            return uow.api_keys.list_for_project(project_id)

    def delete_api_key(self, project_id: str, api_key_id: str) -> None:
        """Delete a key of `project_id`; another project's key id is reported as not found."""
        with self._store.session() as uow:
            key = uow.api_keys.find(api_key_id)
            if key is None or key.project_id != project_id:
                raise NotFound(f"API key {api_key_id} not found within authorized project")
            uow.api_keys.delete(api_key_id)
        self._forget_keys({key.public_key})

    # -- deletion ---------------------------------------------------------------------

    def mark_deleted(self, project_id: str) -> None:
        """Soft-delete a project: its keys are refused from now on, in every process.

        Idempotent, so a deletion whose clean-up could not be queued can be requested again.
        """
        with self._store.session() as uow:
            if uow.projects.find(project_id, include_deleted=True) is None:
                raise NotFound("Project not found")
            keys = uow.api_keys.list_for_project(project_id)
            uow.projects.mark_deleted(project_id)
        self._forget_keys({key.public_key for key in keys})

    def purge(self, project_id: str) -> None:
        """Remove a deleted project's row and, by cascade, everything the OLTP store holds for it."""
        with self._store.session() as uow:
            uow.projects.purge(project_id)

    def _resolve_key_pair(self, public_key: str | None, secret_key: str | None) -> tuple[str, str]:
        if public_key is None and secret_key is None:
            return generate_key_pair()
        if not public_key or not secret_key:
            raise InvalidInput("public key and secret key must be given together")
        return public_key, secret_key

    def _insert_key(
        self, uow: UnitOfWork, project_id: str, public_key: str, secret_key: str, note: str | None,
        role: str = "ADMIN",
    ) -> ApiKey:
        if uow.api_keys.find_by_public_key(public_key) is not None:
            raise Conflict("An API key with this public key already exists")
        return uow.api_keys.create(
            project_id=project_id,
            public_key=public_key,
            hashed_secret_key=hash_secret(secret_key, self._salt),
            display_secret_key=display_secret(secret_key),
            note=note,
            role=role,
        )

    # -- headless initialisation -----------------------------------------------------

    def apply_headless_init(self, init: HeadlessInit) -> None:
        """Apply `LANGFUSE_INIT_*` provisioning: create what is missing, update nothing.

        Langfuse semantics (LANGFUSE_COMPAT §9): the org id is the master switch; an
        existing public key of another project is moved here (delete + recreate); an
        existing key of this project keeps its secret; the user becomes OWNER. Running
        it again is a no-op.
        """
        if not init.org_id:
            others = init.model_dump(exclude={"org_id"}, exclude_none=True)
            if others:
                log.warning(
                    "LANGFUSE_INIT_ORG_ID is not set; ignoring %s",
                    ", ".join(f"LANGFUSE_INIT_{name.upper()}" for name in sorted(others)),
                )
            return
        moved_keys: set[str] = set()
        with self._store.session() as uow:
            if uow.organizations.find(init.org_id) is None:
                uow.organizations.create(org_id=init.org_id, name=init.org_name or PROVISIONED_ORG_NAME)
                log.info("headless init: created organization %s", init.org_id)
            if init.project_id:
                self._init_project(uow, init, moved_keys)
            elif init.project_public_key or init.project_secret_key:
                log.warning("LANGFUSE_INIT_PROJECT_ID is not set; not creating the provisioned API key")
            self._init_user(uow, init)
        self._forget_keys(moved_keys)

    def _init_project(self, uow: UnitOfWork, init: HeadlessInit, moved_keys: set[str]) -> None:
        assert init.org_id and init.project_id
        project = uow.projects.find(init.project_id, include_deleted=True)
        if project is None:
            uow.projects.create(
                org_id=init.org_id,
                project_id=init.project_id,
                name=init.project_name or PROVISIONED_PROJECT_NAME,
            )
            log.info("headless init: created project %s", init.project_id)
        elif project.org_id != init.org_id:
            log.warning(
                "headless init: project %s belongs to organization %s, not %s; leaving it there",
                init.project_id,
                project.org_id,
                init.org_id,
            )
        public_key, secret_key = init.project_public_key, init.project_secret_key
        if not (public_key and secret_key):
            if public_key or secret_key:
                log.warning(
                    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY and LANGFUSE_INIT_PROJECT_SECRET_KEY must both be set; "
                    "not creating the provisioned API key"
                )
            return
        existing = uow.api_keys.find_by_public_key(public_key)
        if existing is not None and existing.project_id == init.project_id:
            return  # keep it as is: the secret is not rotated
        if existing is not None:
            log.warning(
                "headless init: moving API key %s from project %s to %s",
                public_key,
                existing.project_id,
                init.project_id,
            )
            uow.api_keys.delete(existing.id)
            moved_keys.add(existing.public_key)
        self._insert_key(uow, init.project_id, public_key, secret_key, PROVISIONED_KEY_NOTE)

    def _init_user(self, uow: UnitOfWork, init: HeadlessInit) -> None:
        assert init.org_id
        email, password = init.user_email, init.user_password
        if not (email and password):
            if email or password:
                log.warning(
                    "LANGFUSE_INIT_USER_EMAIL and LANGFUSE_INIT_USER_PASSWORD must both be set; "
                    "not creating the provisioned user"
                )
            return
        user = uow.users.find_by_email(email)
        if user is None:
            user = uow.users.create(
                email=email,
                name=init.user_name or PROVISIONED_USER_NAME,
                password_hash=hash_password(password),
            )
            log.info("headless init: created user %s", user.email)
        uow.organizations.upsert_membership(init.org_id, user.id, "OWNER")


def _required(value: str | None, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    return value


class ProjectDeletion:
    """Deleting a project: refused to its keys at once; its data removed by the worker.

    `enqueue` queues the clean-up job; its follow-up (`purge`) runs after the OLAP rows are gone.
    """

    def __init__(self, projects: ProjectService, enqueue: Callable[[str], str],
                 purge_files: Callable[[str], object]) -> None:
        self._projects = projects
        self._enqueue = enqueue
        self._purge_files = purge_files

    def request(self, scope: ProjectScope, project_id: str) -> None:
        """`DELETE /api/public/projects/{id}`: an ADMIN key may delete its own project."""
        if project_id != scope.project_id:
            raise NotFound("Project not found")
        if not scope.is_admin:
            raise Forbidden("Only an ADMIN API key can delete its project")
        self.delete(project_id)

    def delete(self, project_id: str) -> None:
        # Marked first: a purge must never run on a project whose keys still work.
        self._projects.mark_deleted(project_id)
        self._enqueue(project_id)

    def purge(self, project_id: str) -> None:
        self._purge_files(project_id)
        self._projects.purge(project_id)
