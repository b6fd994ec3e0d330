"""PromptService against a real OLTP store (SQLite file; PostgreSQL when reachable), LANGFUSE_COMPAT §7.

Versions and labels, tags, deletes, protected labels, listings, the cached reads and their
invalidation (in one process and across two sharing Redis), concurrent creates from two
"processes", and the id lookup behind prompt links.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from tests.integration.oltp.conftest import OTHER, PROJECT
from tests.support.clock import FakeClock
from tests.support.redis import delete_redis_prefix, require_redis, shared_redis_url

from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Forbidden, InvalidInput, NotFound
from spyglass.domain.prompts import PromptFilter, PromptVersion, Selector
from spyglass.domain.queries import Page
from spyglass.services.prompts import PromptService
from spyglass.storage.cache.memory import MemoryCache
from spyglass.storage.cache.redis import RedisCache
from spyglass.storage.oltp.store import OltpStore

ADMIN = ProjectScope(project_id=PROJECT, public_key="pk-lf-admin", role="ADMIN")
MEMBER = ProjectScope(project_id=PROJECT, public_key="pk-lf-member", role="MEMBER")
OTHER_ADMIN = ProjectScope(project_id=OTHER, public_key="pk-lf-other", role="ADMIN")
PROTECTED = "Protected label(s) 'production': only an admin API key can set, move or remove a protected label"
ONLY_ADMIN = "Only an admin API key can change which prompt labels are protected"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(store: OltpStore, clock: FakeClock) -> PromptService:
    return PromptService(store, MemoryCache(), clock=clock)


def create(service: PromptService, name: str, prompt: object = "text", scope: ProjectScope = ADMIN,
           **fields: object) -> PromptVersion:
    return service.create(scope, {"name": name, "prompt": prompt, **fields})


def labels(store: OltpStore, name: str, project_id: str = PROJECT) -> dict[int, tuple[str, ...]]:
    """Every stored version of `name` with its labels, read past the service and its cache."""
    with store.session() as uow:
        return {v.version: v.labels for v in uow.prompts.versions(project_id, name)}


def tags(store: OltpStore, name: str) -> dict[int, tuple[str, ...]]:
    with store.session() as uow:
        return {v.version: v.tags for v in uow.prompts.versions(PROJECT, name)}


def not_found(call, *args, **kwargs) -> str:  # noqa: ANN001, ANN003
    with pytest.raises(NotFound) as err:
        call(*args, **kwargs)
    return err.value.message


def ref(name: str, *, version: int | None = None, label: str | None = None) -> str:
    return f"@@@langfusePrompt:name={name}|" + (f"version={version}" if version is not None else f"label={label}") \
        + "@@@"


def raw_delete_prompt(store: OltpStore, name: str) -> None:
    """Remove a prompt behind the service's back (the schema cascades to versions and labels)."""
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM prompts WHERE project_id = :p AND name = :n"), {"p": PROJECT, "n": name})


# -- versions, labels, tags ----------------------------------------------------------------


def test_versions_count_up_and_labels_move_to_the_new_version(service, store):
    v1 = create(service, "folder/p", "one {{x}}", labels=["production"], config={"temperature": 0.5},
                commitMessage="first")
    assert (v1.name, v1.version, v1.type, v1.prompt) == ("folder/p", 1, "text", "one {{x}}")
    assert v1.labels == ("production", "latest")
    assert (v1.config, v1.commit_message, v1.created_by, v1.project_id) == (
        {"temperature": 0.5}, "first", "API", PROJECT)

    v2 = create(service, "folder/p", "two", labels=["production", "staging"])
    assert (v2.version, v2.labels, v2.config, v2.commit_message) == (2, ("production", "staging", "latest"), {}, None)
    assert labels(store, "folder/p") == {1: (), 2: ("production", "staging", "latest")}

    v3 = create(service, "folder/p", "three")
    assert v3.labels == ("latest",)
    assert labels(store, "folder/p") == {1: (), 2: ("production", "staging"), 3: ("latest",)}
    assert len({v1.id, v2.id, v3.id}) == 3

    assert service.get(ADMIN, "folder/p", Selector()).version.version == 2  # production by default
    assert service.get(ADMIN, "folder/p", Selector(label="latest")).prompt == "three"
    assert service.get(ADMIN, "folder/p", Selector(label="staging")).version.id == v2.id
    first = service.get(ADMIN, "folder/p", Selector(version=1))
    assert (first.prompt, first.version.labels, first.version.config, first.resolution_graph) == (
        "one {{x}}", (), {"temperature": 0.5}, None)


def test_created_by_is_recorded(service):
    assert service.create(ADMIN, {"name": "p", "prompt": "x"}, created_by="user-1").created_by == "user-1"


def test_latest_in_the_requested_labels_is_not_doubled(service):
    assert create(service, "p", labels=["latest", "production"]).labels == ("production", "latest")
    assert create(service, "p", labels=["latest"]).labels == ("latest",)


def test_tags_given_replace_them_on_every_version_and_omitted_tags_are_inherited(service, store):
    assert create(service, "p", tags=["b", "a"]).tags == ("b", "a")
    assert create(service, "p").tags == ("b", "a")
    assert create(service, "p", tags=None).tags == ("b", "a")
    assert tags(store, "p") == {1: ("b", "a"), 2: ("b", "a"), 3: ("b", "a")}
    assert create(service, "p", tags=["c"]).tags == ("c",)
    assert tags(store, "p") == {1: ("c",), 2: ("c",), 3: ("c",), 4: ("c",)}
    assert create(service, "p", tags=[]).tags == ()
    assert tags(store, "p") == {1: (), 2: (), 3: (), 4: (), 5: ()}
    assert create(service, "fresh").tags == ()


def test_a_chat_prompt_is_stored_without_unknown_keys(service):
    messages = [{"role": "system", "content": "You are {{persona}}", "extra": True},
                {"type": "placeholder", "name": "history"},
                {"role": "user", "content": "{{question}}"}]
    created = create(service, "chat", messages, type="chat", labels=["production"])
    expected = [{"role": "system", "content": "You are {{persona}}"}, {"type": "placeholder", "name": "history"},
                {"role": "user", "content": "{{question}}"}]
    assert (created.type, created.prompt) == ("chat", expected)
    fetched = service.get(ADMIN, "chat", Selector())
    assert (fetched.version.type, fetched.prompt, fetched.version.prompt) == ("chat", expected, expected)


def test_the_type_of_a_prompt_cannot_change(service, store):
    create(service, "text-first")
    create(service, "chat-first", [{"role": "user", "content": "hi"}], type="chat")
    message = "Previous versions have different prompt type. Create a new prompt with a different name."
    with pytest.raises(InvalidInput) as err:
        create(service, "text-first", [{"role": "user", "content": "hi"}], type="chat")
    assert err.value.message == message
    with pytest.raises(InvalidInput) as err:
        create(service, "chat-first", "now text")
    assert err.value.message == message
    assert labels(store, "text-first") == {1: ("latest",)}
    assert labels(store, "chat-first") == {1: ("latest",)}


def test_prompts_of_another_project_are_invisible(service, store):
    create(service, "p", labels=["production"])
    assert not_found(service.get, OTHER_ADMIN, "p", Selector()) == "Prompt not found: 'p' with label 'production'"
    assert create(service, "p", scope=OTHER_ADMIN).version == 1
    assert labels(store, "p") == {1: ("production", "latest")}
    assert labels(store, "p", OTHER) == {1: ("latest",)}


def test_not_found_messages_name_the_selector(service):
    assert not_found(service.get, ADMIN, "nope", Selector()) == "Prompt not found: 'nope' with label 'production'"
    assert not_found(service.get, ADMIN, "nope", Selector(label="staging")) == (
        "Prompt not found: 'nope' with label 'staging'")
    assert not_found(service.get, ADMIN, "nope", Selector(version=3)) == "Prompt not found: 'nope' with version 3"
    create(service, "unlabelled")
    # Versions exist, but none holds `production`: a plain read is a 404 (Langfuse).
    assert not_found(service.get, ADMIN, "unlabelled", Selector()) == (
        "Prompt not found: 'unlabelled' with label 'production'")
    assert service.get(ADMIN, "unlabelled", Selector(version=1)).version.labels == ("latest",)


# -- adding labels -----------------------------------------------------------------------------


def test_add_labels_is_a_union_and_takes_labels_from_other_versions(service, store):
    create(service, "p", labels=["production"])
    create(service, "p")
    updated = service.add_labels(ADMIN, "p", 1, {"newLabels": ["staging"]})
    assert (updated.version, updated.labels) == (1, ("production", "staging"))

    updated = service.add_labels(ADMIN, "p", 2, {"newLabels": ["production", "staging"]})
    assert updated.labels == ("latest", "production", "staging")
    assert labels(store, "p") == {1: (), 2: ("latest", "production", "staging")}

    again = service.add_labels(ADMIN, "p", 2, {"newLabels": ["production"]})
    assert again.labels == ("latest", "production", "staging")
    assert service.add_labels(ADMIN, "p", 1, {"newLabels": []}).labels == ()
    assert service.get(ADMIN, "p", Selector()).version.version == 2


def test_add_labels_refuses_latest_and_unknown_versions(service, store):
    create(service, "p", labels=["production"])
    with pytest.raises(InvalidInput) as err:
        service.add_labels(ADMIN, "p", 1, {"newLabels": ["latest"]})
    assert err.value.message == "Label 'latest' is always on the newest version and cannot be set by hand"
    assert not_found(service.add_labels, ADMIN, "p", 2, {"newLabels": ["staging"]}) == (
        "Prompt not found: 'p' with version 2")
    assert not_found(service.add_labels, ADMIN, "nope", 1, {"newLabels": ["staging"]}) == (
        "Prompt not found: 'nope' with version 1")
    assert labels(store, "p") == {1: ("production", "latest")}


# -- deletes -------------------------------------------------------------------------------------


def listed(service: PromptService, scope: ProjectScope = ADMIN, **where: object) -> list[str]:
    summaries, _ = service.list_prompts(scope, PromptFilter(**where), Page(1, 50))
    return [s.name for s in summaries]


def test_delete_every_version(service, store):
    create(service, "p", labels=["production"])
    create(service, "p")
    create(service, "keep")
    service.delete(ADMIN, "p", None)
    assert labels(store, "p") == {}
    assert listed(service) == ["keep"]
    assert not_found(service.get, ADMIN, "p", Selector(version=1)) == "Prompt not found: 'p' with version 1"
    assert not_found(service.delete, ADMIN, "p", None) == "Prompt not found: 'p'"
    assert create(service, "p").version == 1  # a new prompt starts again at 1


def test_delete_one_version_or_the_version_holding_a_label(service, store):
    for labels_ in (["production"], ["staging"], [], []):
        create(service, "p", labels=labels_)
    service.delete(ADMIN, "p", Selector(version=3))
    assert labels(store, "p") == {1: ("production",), 2: ("staging",), 4: ("latest",)}
    service.delete(ADMIN, "p", Selector(label="staging"))
    assert labels(store, "p") == {1: ("production",), 4: ("latest",)}
    assert not_found(service.delete, ADMIN, "p", Selector(version=3)) == "Prompt not found: 'p' with version 3"
    assert not_found(service.delete, ADMIN, "p", Selector(label="staging")) == (
        "Prompt not found: 'p' with label 'staging'")
    assert create(service, "p").version == 5  # numbering continues after the highest existing version


def test_deleting_the_newest_version_moves_latest_to_the_newest_left(service, store):
    create(service, "p", labels=["production"])
    create(service, "p", labels=["staging"])
    create(service, "p")
    service.delete(ADMIN, "p", Selector(version=3))
    assert labels(store, "p") == {1: ("production",), 2: ("staging", "latest")}
    assert service.get(ADMIN, "p", Selector(label="latest")).version.version == 2
    service.delete(ADMIN, "p", Selector(label="latest"))
    assert labels(store, "p") == {1: ("production", "latest")}


def test_deleting_the_last_version_removes_the_prompt(service, store):
    create(service, "p", tags=["t"])
    create(service, "other")
    service.delete(ADMIN, "p", Selector(version=1))
    assert listed(service) == ["other"]
    assert service.list_prompts(ADMIN, PromptFilter(), Page(1, 50))[1] == 1
    assert listed(service, tag="t") == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM prompts WHERE name = 'p'")).scalar_one() == 0
    assert create(service, "p", [{"role": "user", "content": "now chat"}], type="chat").version == 1


def test_a_prompt_others_depend_on_cannot_be_deleted(service, store):
    create(service, "child", "C1", labels=["production"])
    create(service, "child", "C2")
    create(service, "by-label", f"A {ref('child', label='production')}")
    create(service, "by-version", f"B {ref('child', version=2)}")
    create(service, "by-version", f"B2 {ref('child', version=2)}")

    with pytest.raises(InvalidInput) as err:
        service.delete(ADMIN, "child", None)
    assert err.value.message == (
        "Cannot delete: other prompts depend on 'child': 'by-label' version 1 (uses label 'production'), "
        "'by-version' version 1 (uses version 2), 'by-version' version 2 (uses version 2)")
    with pytest.raises(InvalidInput) as err:
        service.delete(ADMIN, "child", Selector(version=1))
    assert err.value.message == (
        "Cannot delete: other prompts depend on 'child': 'by-label' version 1 (uses label 'production')")
    with pytest.raises(InvalidInput) as err:
        service.delete(ADMIN, "child", Selector(label="latest"))
    assert err.value.message == (
        "Cannot delete: other prompts depend on 'child': 'by-version' version 1 (uses version 2), "
        "'by-version' version 2 (uses version 2)")
    assert labels(store, "child") == {1: ("production",), 2: ("latest",)}

    service.delete(ADMIN, "by-version", None)
    service.delete(ADMIN, "child", Selector(version=2))  # nobody uses version 2 any more; `latest` moves
    assert labels(store, "child") == {1: ("production", "latest")}
    service.delete(ADMIN, "by-label", None)
    service.delete(ADMIN, "child", None)
    assert listed(service) == []


# -- protected labels -------------------------------------------------------------------------------


def forbidden(call, *args, **kwargs) -> str:  # noqa: ANN001, ANN003
    with pytest.raises(Forbidden) as err:
        call(*args, **kwargs)
    return err.value.message


def test_only_an_admin_changes_which_labels_are_protected(service):
    assert forbidden(service.protect_label, MEMBER, "production") == ONLY_ADMIN
    assert service.protected_labels(ADMIN) == []
    assert service.protect_label(ADMIN, "production") == "production"
    assert service.protect_label(ADMIN, "production") == "production"  # idempotent
    service.protect_label(ADMIN, "a.release")
    assert service.protected_labels(MEMBER) == ["a.release", "production"]
    assert service.protected_labels(OTHER_ADMIN) == []
    assert forbidden(service.unprotect_label, MEMBER, "production") == ONLY_ADMIN
    service.unprotect_label(ADMIN, "a.release")
    assert service.protected_labels(ADMIN) == ["production"]
    assert not_found(service.unprotect_label, ADMIN, "a.release") == (
        "Label 'a.release' is not protected in this project")
    with pytest.raises(InvalidInput) as err:
        service.protect_label(ADMIN, "Bad Label")
    assert err.value.message == "label: label 'Bad Label' may contain only lowercase letters, digits, '_', '-' and '.'"
    with pytest.raises(InvalidInput) as err:
        service.protect_label(ADMIN, "latest")
    assert err.value.message == "Label 'latest' is always on the newest version and cannot be set by hand"


def test_a_member_cannot_set_move_or_remove_a_protected_label(service, store):
    create(service, "p", "v1", labels=["production"])
    create(service, "p", "v2", labels=["staging"])
    service.protect_label(ADMIN, "production")

    assert forbidden(create, service, "p", "v3", MEMBER, labels=["production"]) == PROTECTED
    assert forbidden(create, service, "fresh", "x", MEMBER, labels=["staging", "production"]) == PROTECTED
    assert forbidden(service.add_labels, MEMBER, "p", 2, {"newLabels": ["production"]}) == PROTECTED
    assert forbidden(service.delete, MEMBER, "p", Selector(version=1)) == PROTECTED
    assert forbidden(service.delete, MEMBER, "p", Selector(label="production")) == PROTECTED
    assert forbidden(service.delete, MEMBER, "p", None) == PROTECTED
    assert labels(store, "p") == {1: ("production",), 2: ("staging", "latest")}
    assert listed(service) == ["p"]

    # Unprotected labels, and a protected one the version already holds, are fine for a member.
    assert create(service, "p", "v3", MEMBER, labels=["staging"]).labels == ("staging", "latest")
    assert service.add_labels(MEMBER, "p", 1, {"newLabels": ["production", "dev"]}).labels == ("production", "dev")
    service.delete(MEMBER, "p", Selector(version=2))
    assert labels(store, "p") == {1: ("production", "dev"), 3: ("staging", "latest")}


def test_an_admin_may_use_protected_labels(service, store):
    service.protect_label(ADMIN, "production")
    create(service, "p", "v1", labels=["production"])
    create(service, "p", "v2")
    assert service.add_labels(ADMIN, "p", 2, {"newLabels": ["production"]}).labels == ("latest", "production")
    service.delete(ADMIN, "p", Selector(version=2))
    assert labels(store, "p") == {1: ("latest",)}
    service.delete(ADMIN, "p", None)
    assert labels(store, "p") == {}


def test_after_unprotecting_a_member_may_use_the_label(service):
    service.protect_label(ADMIN, "production")
    assert forbidden(create, service, "p", "x", MEMBER, labels=["production"]) == PROTECTED
    service.unprotect_label(ADMIN, "production")
    assert create(service, "p", "x", MEMBER, labels=["production"]).labels == ("production", "latest")


# -- listing -------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(service: PromptService) -> PromptService:
    create(service, "a", "a1", labels=["production"], tags=["t1"], config={"n": 1})
    create(service, "a", "a2", labels=["staging"], config={"n": 2})
    create(service, "b/c", [{"role": "user", "content": "hi"}], type="chat", labels=["production"])
    create(service, "d", "d1", tags=["t2", "t1"])
    return service


def test_list_prompts_by_name_with_versions_labels_and_tags(catalogue):
    summaries, total = catalogue.list_prompts(ADMIN, PromptFilter(), Page(1, 10))
    assert total == 3
    assert [(s.name, s.type, s.versions, s.labels, s.tags) for s in summaries] == [
        ("a", "text", (1, 2), ("latest", "production", "staging"), ("t1",)),
        ("b/c", "chat", (1,), ("latest", "production"), ()),
        ("d", "text", (1,), ("latest",), ("t2", "t1")),
    ]
    a = summaries[0]
    assert a.last_config == {"n": 2}
    assert a.last_updated_at.tzinfo is not None
    assert catalogue.list_prompts(OTHER_ADMIN, PromptFilter(), Page(1, 10)) == ([], 0)


def test_list_prompts_filters(catalogue):
    def versions(**where: object) -> list[tuple[str, tuple[int, ...]]]:
        summaries, total = catalogue.list_prompts(ADMIN, PromptFilter(**where), Page(1, 10))
        assert total == len(summaries)
        return [(s.name, s.versions) for s in summaries]

    assert versions(name="a") == [("a", (1, 2))]
    assert versions(name="b/c") == [("b/c", (1,))]
    assert versions(name="b") == []
    assert versions(label="production") == [("a", (1,)), ("b/c", (1,))]
    assert versions(label="latest") == [("a", (2,)), ("b/c", (1,)), ("d", (1,))]
    assert versions(label="nope") == []
    assert versions(tag="t1") == [("a", (1, 2)), ("d", (1,))]
    assert versions(tag="t2") == [("d", (1,))]
    assert versions(version=2) == [("a", (2,))]
    assert versions(version=1, tag="t1", label="production") == [("a", (1,))]


def test_list_prompts_by_update_time(service):
    create(service, "early")
    time.sleep(0.02)
    boundary = datetime.now(UTC)
    time.sleep(0.02)
    create(service, "late")
    assert listed(service, from_updated_at=boundary) == ["late"]
    assert listed(service, to_updated_at=boundary) == ["early"]
    assert listed(service, from_updated_at=boundary, to_updated_at=datetime.now(UTC)) == ["late"]
    time.sleep(0.02)
    # Moving a label touches the versions it leaves and reaches (Langfuse's updatedAt).
    service.add_labels(ADMIN, "early", 1, {"newLabels": ["production"]})
    assert listed(service, from_updated_at=boundary) == ["early", "late"]


def test_list_prompts_pages_with_the_total(service):
    for name in ("e", "b", "d", "a", "c"):
        create(service, name)
    create(service, "a")
    pages = [service.list_prompts(ADMIN, PromptFilter(), Page(page, 2)) for page in (1, 2, 3, 4)]
    assert [([s.name for s in summaries], total) for summaries, total in pages] == [
        (["a", "b"], 5), (["c", "d"], 5), (["e"], 5), ([], 5)]
    assert pages[0][0][0].versions == (1, 2)
    summaries, total = service.list_prompts(ADMIN, PromptFilter(version=2), Page(1, 2))
    assert ([s.name for s in summaries], total) == (["a"], 1)


# -- cached reads ------------------------------------------------------------------------------------


def test_a_read_is_served_from_the_cache(service, store):
    created = create(service, "p", "hello", labels=["production"])
    first = service.get(ADMIN, "p", Selector())
    raw_delete_prompt(store, "p")  # behind the service's back: only the cache still knows it
    second = service.get(ADMIN, "p", Selector())
    assert second == first
    assert (second.version.id, second.prompt, second.version.labels) == (created.id, "hello", ("production", "latest"))
    assert second.version.created_at == created.created_at
    # Another selector was never read, so it goes to the database.
    assert not_found(service.get, ADMIN, "p", Selector(version=1)) == "Prompt not found: 'p' with version 1"
    # Any write in the project starts a new generation: the next read asks the database.
    create(service, "unrelated")
    assert not_found(service.get, ADMIN, "p", Selector()) == "Prompt not found: 'p' with label 'production'"


def test_a_cached_not_found_is_invalidated_by_a_create(service):
    assert not_found(service.get, ADMIN, "later", Selector()) == "Prompt not found: 'later' with label 'production'"
    assert not_found(service.get, ADMIN, "later", Selector()) == "Prompt not found: 'later' with label 'production'"
    create(service, "later", "now here", labels=["production"])
    assert service.get(ADMIN, "later", Selector()).prompt == "now here"


def test_resolved_and_raw_reads_are_cached_apart(service):
    create(service, "child", "CHILD", labels=["production"])
    parent = create(service, "parent", f"P {ref('child', label='production')}", labels=["production"])
    child_id = service.get(ADMIN, "child", Selector()).version.id
    resolved = service.get(ADMIN, "parent", Selector())
    raw = service.get(ADMIN, "parent", Selector(), resolved=False)
    assert (resolved.prompt, resolved.version.prompt) == ("P CHILD", f"P {ref('child', label='production')}")
    assert resolved.resolution_graph == {
        "root": {"id": parent.id, "name": "parent", "version": 1},
        "dependencies": {parent.id: [{"id": child_id, "name": "child", "version": 1}]},
    }
    assert (raw.prompt, raw.resolution_graph) == (f"P {ref('child', label='production')}", None)
    assert service.get(ADMIN, "parent", Selector(), resolved=False) == raw
    assert service.get(ADMIN, "parent", Selector()) == resolved


def test_every_write_invalidates_a_parent_composed_of_the_changed_child(service):
    create(service, "child", "one", labels=["production"])
    create(service, "child", "two")
    create(service, "parent", f"P[{ref('child', label='production')}]", labels=["production"])

    def parent() -> str:
        return service.get(ADMIN, "parent", Selector()).prompt

    assert parent() == "P[one]"
    service.add_labels(ADMIN, "child", 2, {"newLabels": ["production"]})
    assert parent() == "P[two]"
    create(service, "child", "three", labels=["production"])
    assert parent() == "P[three]"
    service.delete(ADMIN, "child", Selector(version=1))
    assert parent() == "P[three]"
    service.add_labels(ADMIN, "child", 2, {"newLabels": ["production"]})
    assert parent() == "P[two]"
    create(service, "parent", "standalone", labels=["production"])
    assert parent() == "standalone"
    service.delete(ADMIN, "parent", Selector(label="production"))
    assert service.get(ADMIN, "parent", Selector(label="latest")).prompt == "P[two]"
    assert not_found(service.get, ADMIN, "parent", Selector()) == "Prompt not found: 'parent' with label 'production'"


@pytest.mark.services
def test_two_processes_sharing_redis_see_each_others_writes_at_once(database_url, tmp_path):
    url = shared_redis_url()
    require_redis(url)
    prefix = f"test-prompts-{uuid.uuid4().hex[:12]}"
    store_a = OltpStore.open(database_url)
    store_b = OltpStore.open(database_url, migrate=False)
    cache_a, cache_b = RedisCache(url, prefix=prefix), RedisCache(url, prefix=prefix)
    try:
        with store_a.session() as uow:
            org = uow.organizations.create(name="Org")
            uow.projects.create(org_id=org.id, name="A", project_id=PROJECT)
        first = PromptService(store_a, cache_a)
        second = PromptService(store_b, cache_b)

        create(first, "child", "one", labels=["production"])
        create(first, "child", "two")
        create(first, "parent", f"P[{ref('child', label='production')}]", labels=["production"])
        assert first.get(ADMIN, "parent", Selector()).prompt == "P[one]"  # cached in Redis

        # Served to the other process from Redis: the rows are gone, the answer is not.
        create(first, "gone", "cached", labels=["production"])
        assert first.get(ADMIN, "gone", Selector()).prompt == "cached"
        raw_delete_prompt(store_a, "gone")
        assert second.get(ADMIN, "gone", Selector()).prompt == "cached"

        # A write in one process is seen by the other at once, including through composition.
        second.add_labels(ADMIN, "child", 2, {"newLabels": ["production"]})
        assert first.get(ADMIN, "parent", Selector()).prompt == "P[two]"
        assert not_found(first.get, ADMIN, "gone", Selector()) == "Prompt not found: 'gone' with label 'production'"

        assert not_found(second.get, ADMIN, "later", Selector()) == (
            "Prompt not found: 'later' with label 'production'")
        create(first, "later", "here", labels=["production"])
        assert second.get(ADMIN, "later", Selector()).prompt == "here"

        second.delete(ADMIN, "parent", None)
        assert not_found(first.get, ADMIN, "parent", Selector()) == (
            "Prompt not found: 'parent' with label 'production'")
    finally:
        cache_a.close()
        cache_b.close()
        store_a.close()
        store_b.close()
        delete_redis_prefix(url, prefix)


# -- concurrency -------------------------------------------------------------------------------------------


def test_concurrent_creates_from_two_processes_get_distinct_versions(database_url, store):
    """4 threads over two services on separate engines (two processes) create 5 versions each of one new name."""
    other_store = OltpStore.open(database_url, migrate=False)
    services = [PromptService(store, MemoryCache()), PromptService(other_store, MemoryCache())]
    threads_count, per_thread = 4, 5
    barrier = threading.Barrier(threads_count)
    created: list[PromptVersion] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        service = services[index % 2]
        try:
            barrier.wait()
            for n in range(per_thread):
                version = create(service, "contended", f"thread {index} #{n}", labels=["production"])
                with lock:
                    created.append(version)
        except BaseException as error:  # noqa: BLE001 - reported below with its traceback
            with lock:
                errors.append(error)

    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        if errors:
            raise errors[0]
    finally:
        other_store.close()

    total = threads_count * per_thread
    assert sorted(v.version for v in created) == list(range(1, total + 1))
    stored = labels(store, "contended")
    assert sorted(stored) == list(range(1, total + 1))
    assert [n for n, held in stored.items() if "latest" in held] == [total]
    assert [n for n, held in stored.items() if "production" in held] == [total]
    assert services[0].get(ADMIN, "contended", Selector()).version.version == total


# -- prompt links ---------------------------------------------------------------------------------------------


def test_link_ids_finds_existing_versions_only(service):
    v1 = create(service, "a")
    v2 = create(service, "a")
    b1 = create(service, "folder/b")
    found = service.link_ids(PROJECT, [("a", 1), ("a", 2), ("a", 3), ("folder/b", 1), ("ghost", 1), ("a", 1)])
    assert found == {("a", 1): v1.id, ("a", 2): v2.id, ("folder/b", 1): b1.id}
    assert service.link_ids(PROJECT, []) == {}
    assert service.link_ids(OTHER, [("a", 1)]) == {}


def test_a_version_created_elsewhere_after_a_miss_is_found_after_the_miss_ttl(service, store, clock):
    elsewhere = PromptService(store, MemoryCache())  # another process: its writes do not reach our memory
    assert service.link_ids(PROJECT, [("p", 1)]) == {}
    created = create(elsewhere, "p")
    assert service.link_ids(PROJECT, [("p", 1)]) == {}  # the miss is remembered briefly
    clock.now += 1.9
    assert service.link_ids(PROJECT, [("p", 1)]) == {}
    clock.now += 0.2
    assert service.link_ids(PROJECT, [("p", 1)]) == {("p", 1): created.id}


def test_a_found_version_is_remembered_and_a_local_write_forgets_at_once(service, store, clock):
    elsewhere = PromptService(store, MemoryCache())
    created = create(service, "p")
    assert service.link_ids(PROJECT, [("p", 1)]) == {("p", 1): created.id}
    elsewhere.delete(ADMIN, "p", None)
    assert service.link_ids(PROJECT, [("p", 1)]) == {("p", 1): created.id}  # within the hit TTL
    clock.now += 61
    assert service.link_ids(PROJECT, [("p", 1)]) == {}

    assert service.link_ids(PROJECT, [("q", 1)]) == {}
    q = create(service, "q")  # a write through this service drops its remembered links of the project
    assert service.link_ids(PROJECT, [("q", 1)]) == {("q", 1): q.id}
