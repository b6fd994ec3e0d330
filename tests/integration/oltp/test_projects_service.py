"""ProjectService against a real OLTP store (SQLite file; PostgreSQL when reachable)."""

import base64
import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from tests.support.clock import FakeClock

from spyglass.auth.api_keys import hash_secret
from spyglass.auth.passwords import hash_password, needs_rehash, verify_password
from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from spyglass.services.projects import ProjectService
from spyglass.settings import HeadlessInit
from spyglass.storage.cache.memory import MemoryCache
from spyglass.storage.oltp.store import OltpStore

SALT = "test-salt"

# The values Langfuse's own SDK CI provisions.
INIT = HeadlessInit(
    org_id="0c6c96f4-0000-4000-8000-000000000000",
    org_name="Seed Org",
    project_id="7a88fb47-b4e2-43b8-a06c-a5ce950dc53a",
    project_name="Seed Project",
    project_public_key="pk-lf-1234567890",
    project_secret_key="sk-lf-1234567890",
    user_email="Demo@Langfuse.com",
    user_name="Demo User",
    user_password="password",
)


@pytest.fixture
def store(database_url: str) -> Iterator[OltpStore]:
    store = OltpStore.open(database_url)
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(store, clock) -> ProjectService:
    return ProjectService(store, SALT, clock=clock)


def basic(public_key: str, secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()


def snapshot(store: OltpStore) -> dict[str, list[tuple]]:
    """Every row of every tenancy table, to prove a second run changed nothing."""
    tables = ["organizations", "projects", "users", "organization_memberships", "api_keys"]
    with store.engine.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM {t}")))) for t in tables}


# -- authenticate ---------------------------------------------------------------------


def test_authenticate_with_valid_basic_credentials(service):
    created = service.create_project(project_name="p")
    scope = service.authenticate(basic(created.public_key, created.secret_key))
    assert scope == ProjectScope(project_id=created.project.id, public_key=created.public_key)
    assert scope.access_level == "project"


def test_wrong_secret_is_rejected(service):
    created = service.create_project(project_name="p")
    with pytest.raises(Unauthorized) as err:
        service.authenticate(basic(created.public_key, "sk-lf-wrong"))
    assert err.value.message == "Invalid credentials"


def test_wrong_secret_is_rejected_even_after_a_cached_success(service):
    created = service.create_project(project_name="p")
    service.authenticate(basic(created.public_key, created.secret_key))
    with pytest.raises(Unauthorized):
        service.authenticate(basic(created.public_key, "sk-lf-wrong"))


def test_unknown_public_key_is_rejected(service):
    with pytest.raises(Unauthorized) as err:
        service.authenticate(basic("pk-lf-unknown", "sk-lf-unknown"))
    assert err.value.message == "Invalid credentials"


def test_bearer_public_key_gets_scores_access(service):
    created = service.create_project(project_name="p")
    scope = service.authenticate(f"Bearer {created.public_key}")
    assert scope.project_id == created.project.id
    assert scope.access_level == "scores"
    with pytest.raises(Unauthorized) as err:
        service.authenticate("Bearer pk-lf-unknown")
    assert err.value.message == "Invalid credentials"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "No authorization header"),
        ("", "No authorization header"),
        ("Basic %%%", "Invalid authorization header"),
        ("Digest abc", "Invalid authorization header"),
    ],
)
def test_missing_or_malformed_header(service, header, message):
    with pytest.raises(Unauthorized) as err:
        service.authenticate(header)
    assert err.value.message == message


def test_secret_is_stored_hashed_only(service, store):
    created = service.create_project(project_name="p")
    [key] = service.list_api_keys(created.project.id)
    assert key.hashed_secret_key == hash_secret(created.secret_key, SALT)
    assert key.display_secret_key == created.secret_key[:6] + "..." + created.secret_key[-4:]
    dump = repr(snapshot(store))
    assert created.secret_key not in dump


def test_deleted_key_is_not_accepted_from_the_cache(service):
    created = service.create_project(project_name="p")
    header = basic(created.public_key, created.secret_key)
    service.authenticate(header)
    service.authenticate(f"Bearer {created.public_key}")
    [key] = service.list_api_keys(created.project.id)

    service.delete_api_key(created.project.id, key.id)

    for attempt in (header, f"Bearer {created.public_key}"):
        with pytest.raises(Unauthorized):
            service.authenticate(attempt)


def test_cache_serves_within_ttl_and_rereads_after(service, store, clock):
    created = service.create_project(project_name="p")
    header = basic(created.public_key, created.secret_key)
    service.authenticate(header)
    # Removed behind the service's back (as another process would): the cache still
    # answers until the TTL has passed, then the database is asked again.
    with store.session() as uow:
        uow.api_keys.delete(uow.api_keys.find_by_public_key(created.public_key).id)
    assert service.authenticate(header).project_id == created.project.id
    clock.now += 61
    with pytest.raises(Unauthorized):
        service.authenticate(header)


def test_cache_is_bounded(store, clock):
    cache = MemoryCache(max_entries=2, clock=clock)
    service = ProjectService(store, SALT, clock=clock, cache=cache)
    headers = []
    for i in range(3):
        created = service.create_project(project_name=f"p{i}")
        headers.append(basic(created.public_key, created.secret_key))
    for header in headers:
        service.authenticate(header)
    assert len(cache) == 2
    for _ in range(5):
        with pytest.raises(Unauthorized):
            service.authenticate(basic("pk-lf-nope", "sk"))
    assert len(cache) == 2


def test_last_used_at_is_written_at_most_once_per_minute(service, clock):
    created = service.create_project(project_name="p")
    header = basic(created.public_key, created.secret_key)

    def last_used():
        [key] = service.list_api_keys(created.project.id)
        return key.last_used_at

    assert last_used() is None
    service.authenticate(header)
    first = last_used()
    assert first is not None and first.tzinfo is not None
    clock.now += 30
    service.authenticate(header)
    service.authenticate(f"Bearer {created.public_key}")
    assert last_used() == first
    clock.now += 31
    service.authenticate(header)
    assert last_used() > first


def test_key_of_soft_deleted_project_is_rejected(service, store):
    created = service.create_project(project_name="p")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE projects SET deleted_at = CURRENT_TIMESTAMP WHERE id = :id"),
            {"id": created.project.id},
        )
    with pytest.raises(Unauthorized):
        service.authenticate(basic(created.public_key, created.secret_key))


# -- projects and keys ------------------------------------------------------------------


def test_create_project_generates_keys_and_reuses_the_organization(service):
    first = service.create_project(project_name="one")
    second = service.create_project(project_name="two")
    assert first.organization == second.organization
    assert first.organization.name == "Default Organization"
    assert first.public_key.startswith("pk-lf-") and first.secret_key.startswith("sk-lf-")
    assert first.public_key != second.public_key

    info = service.get_project(first.project.id)
    assert info.project == first.project
    assert (info.organization_id, info.organization_name) == (first.organization.id, "Default Organization")
    assert [p.project.name for p in service.list_projects()] == ["one", "two"]


def test_create_project_with_given_ids_and_keys(service):
    created = service.create_project(
        project_name="p",
        org_name="Acme",
        org_id="org-acme",
        project_id="proj-1",
        public_key="pk-lf-given",
        secret_key="sk-lf-given",
        note="ci",
    )
    assert (created.organization.id, created.organization.name) == ("org-acme", "Acme")
    assert created.project.id == "proj-1"
    assert (created.public_key, created.secret_key) == ("pk-lf-given", "sk-lf-given")
    assert service.authenticate(basic("pk-lf-given", "sk-lf-given")).project_id == "proj-1"
    assert [k.note for k in service.list_api_keys("proj-1")] == ["ci"]
    # The org is found by id as well as by name.
    assert service.create_project(project_name="q", org_id="org-acme").organization.name == "Acme"
    assert service.create_project(project_name="r", org_name="Acme").organization.id == "org-acme"


def test_create_project_rejects_conflicts_and_half_key_pairs(service):
    service.create_project(project_name="p", project_id="proj-1", public_key="pk-1", secret_key="sk-1")
    with pytest.raises(Conflict):
        service.create_project(project_name="other", project_id="proj-1")
    with pytest.raises(Conflict):
        service.create_project(project_name="p")
    with pytest.raises(Conflict):
        service.create_project(project_name="q", public_key="pk-1", secret_key="sk-2")
    with pytest.raises(InvalidInput):
        service.create_project(project_name="q", public_key="pk-2")
    with pytest.raises(InvalidInput):
        service.create_project(project_name="  ")
    # Nothing half-created by the failures above.
    assert [p.project.name for p in service.list_projects()] == ["p"]


def test_api_key_lifecycle(service):
    created = service.create_project(project_name="p")
    extra = service.create_api_key(created.project.id, note="second")
    assert extra.api_key.project_id == created.project.id
    assert service.authenticate(basic(extra.api_key.public_key, extra.secret_key)).project_id == (
        created.project.id
    )
    keys = service.list_api_keys(created.project.id)
    assert [k.note for k in keys] == [None, "second"]

    other = service.create_project(project_name="other")
    with pytest.raises(NotFound):
        service.delete_api_key(other.project.id, extra.api_key.id)  # not that project's key
    service.delete_api_key(created.project.id, extra.api_key.id)
    assert [k.note for k in service.list_api_keys(created.project.id)] == [None]
    with pytest.raises(NotFound):
        service.delete_api_key(created.project.id, extra.api_key.id)
    with pytest.raises(NotFound):
        service.create_api_key("no-such-project")
    with pytest.raises(NotFound):
        service.list_api_keys("no-such-project")


def test_list_projects_for_scope_shows_only_the_keys_project(service):
    a = service.create_project(project_name="a")
    service.create_project(project_name="b")
    scope = service.authenticate(basic(a.public_key, a.secret_key))
    assert [p.project.id for p in service.list_projects_for_scope(scope)] == [a.project.id]
    with pytest.raises(NotFound):
        service.get_project("missing")


# -- headless initialisation ------------------------------------------------------------


def test_headless_init_provisions_everything(service, store):
    service.apply_headless_init(INIT)

    scope = service.authenticate(basic("pk-lf-1234567890", "sk-lf-1234567890"))
    assert scope.project_id == INIT.project_id
    info = service.get_project(INIT.project_id)
    assert (info.project.name, info.organization_id, info.organization_name) == (
        "Seed Project",
        INIT.org_id,
        "Seed Org",
    )
    [key] = service.list_api_keys(INIT.project_id)
    assert key.note == "Provisioned API Key"
    with store.session() as uow:
        user = uow.users.find_by_email("demo@langfuse.com")
        assert user is not None and user.email == "demo@langfuse.com" and user.name == "Demo User"
        assert verify_password("password", user.password_hash)
        assert not verify_password("wrong", user.password_hash)
        assert user.password_hash.startswith("scrypt$")
        [membership] = uow.organizations.list_memberships(INIT.org_id)
        assert (membership.user_id, membership.role) == (user.id, "OWNER")


def test_headless_init_twice_changes_nothing(service, store):
    service.apply_headless_init(INIT)
    before = snapshot(store)
    service.apply_headless_init(INIT)
    assert snapshot(store) == before


def test_headless_init_never_updates_existing_objects(service, store):
    service.apply_headless_init(INIT)
    changed = INIT.model_copy(
        update={
            "org_name": "Renamed",
            "project_name": "Renamed",
            "project_secret_key": "sk-lf-rotated",
            "user_name": "Renamed",
            "user_password": "other-password",
        }
    )
    before = snapshot(store)
    service.apply_headless_init(changed)
    assert snapshot(store) == before
    # The secret is not rotated: the original still works, the new one does not.
    service.authenticate(basic("pk-lf-1234567890", "sk-lf-1234567890"))
    with pytest.raises(Unauthorized):
        service.authenticate(basic("pk-lf-1234567890", "sk-lf-rotated"))


def test_headless_init_moves_a_key_from_another_project(service):
    other = service.create_project(
        project_name="elsewhere", public_key="pk-lf-1234567890", secret_key="sk-lf-old"
    )
    old_header = basic("pk-lf-1234567890", "sk-lf-old")
    assert service.authenticate(old_header).project_id == other.project.id  # now cached

    service.apply_headless_init(INIT)

    assert service.list_api_keys(other.project.id) == []
    with pytest.raises(Unauthorized):
        service.authenticate(old_header)
    assert service.authenticate(basic("pk-lf-1234567890", "sk-lf-1234567890")).project_id == INIT.project_id


def test_headless_init_restores_owner_role(service, store):
    service.apply_headless_init(INIT)
    with store.session() as uow:
        user = uow.users.find_by_email(INIT.user_email)
        uow.organizations.upsert_membership(INIT.org_id, user.id, "VIEWER")
    service.apply_headless_init(INIT)
    with store.session() as uow:
        assert uow.organizations.find_membership(INIT.org_id, user.id).role == "OWNER"


def test_headless_init_without_org_id_does_nothing_and_warns(service, store, caplog):
    before = snapshot(store)
    with caplog.at_level(logging.WARNING):
        service.apply_headless_init(INIT.model_copy(update={"org_id": None}))
    assert snapshot(store) == before
    assert "LANGFUSE_INIT_ORG_ID is not set" in caplog.text


def test_headless_init_with_nothing_set_is_silent(service, store, caplog):
    with caplog.at_level(logging.WARNING):
        service.apply_headless_init(HeadlessInit())
    assert caplog.text == ""
    assert snapshot(store)["organizations"] == []


def test_headless_init_with_half_key_pair_or_half_user_warns(service, store, caplog):
    partial = HeadlessInit(
        org_id="org-1", project_id="proj-1", project_public_key="pk-lf-only", user_email="a@example.com"
    )
    with caplog.at_level(logging.WARNING):
        service.apply_headless_init(partial)
    assert "LANGFUSE_INIT_PROJECT_SECRET_KEY" in caplog.text
    assert "LANGFUSE_INIT_USER_PASSWORD" in caplog.text
    info = service.get_project("proj-1")
    assert (info.project.name, info.organization_name) == ("Provisioned Project", "Provisioned Org")
    assert service.list_api_keys("proj-1") == []
    assert snapshot(store)["users"] == []


def test_headless_init_key_without_project_warns(service, store, caplog):
    with caplog.at_level(logging.WARNING):
        service.apply_headless_init(
            HeadlessInit(org_id="org-1", project_public_key="pk", project_secret_key="sk")
        )
    assert "LANGFUSE_INIT_PROJECT_ID is not set" in caplog.text
    assert snapshot(store)["api_keys"] == []


# -- passwords (stored by headless init, verified by the UI login) ----------------------


def test_password_hash_format_and_verification():
    encoded = hash_password("s3cret", n=2**10)
    algorithm, n, r, p, salt, digest = encoded.split("$")
    assert (algorithm, n, r, p) == ("scrypt", "1024", "8", "1")
    assert verify_password("s3cret", encoded)
    assert not verify_password("S3cret", encoded)
    assert hash_password("s3cret", n=2**10) != encoded  # random salt
    assert needs_rehash(encoded)
    assert not needs_rehash(hash_password("s3cret"))
    for broken in (None, "", "bcrypt$x", "scrypt$3$8$1$AA$AA", "scrypt$1024$8$1$!!$AA", encoded + "$x"):
        assert not verify_password("s3cret", broken)
