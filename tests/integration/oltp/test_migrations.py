"""OLTP schema migrations: up, down and up again on SQLite and PostgreSQL.

Also checks that the hand-written revisions produce exactly the schema `tables.py`
declares (no autogenerate diff), so the two cannot drift apart.
"""

import warnings

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from spyglass.storage.oltp.store import OltpStore
from spyglass.storage.oltp.tables import Base

TABLES = {"organizations", "projects", "users", "organization_memberships", "api_keys"}


def table_names(store: OltpStore) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names())


def schema_diff(store: OltpStore) -> list:
    with store.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the models table's expression index (coalesce() makes NULLs equal
        # in its uniqueness), so Alembic skips comparing it there; PostgreSQL compares it.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_upgrade_downgrade_upgrade(database_url):
    store = OltpStore.open(database_url)
    try:
        assert store.current_revision() == OltpStore.head_revision() is not None
        assert TABLES <= table_names(store)
        assert schema_diff(store) == []

        store.downgrade("base")
        assert store.current_revision() is None
        assert table_names(store) - {"alembic_version"} == set()

        store.migrate()
        assert store.current_revision() == OltpStore.head_revision()
        assert schema_diff(store) == []
    finally:
        store.close()


def test_migrate_twice_is_a_no_op_and_keeps_data(database_url):
    store = OltpStore.open(database_url)
    try:
        with store.session() as uow:
            uow.organizations.create(org_id="org-1", name="Org")
        store.migrate()
    finally:
        store.close()

    reopened = OltpStore.open(database_url)
    try:
        reopened.migrate()
        assert reopened.current_revision() == OltpStore.head_revision()
        with reopened.session() as uow:
            assert uow.organizations.get("org-1").name == "Org"
    finally:
        reopened.close()


def test_open_without_migrate_leaves_schema_alone(database_url):
    store = OltpStore.open(database_url, migrate=False)
    try:
        assert store.current_revision() is None
        assert table_names(store) & TABLES == set()
    finally:
        store.close()


def test_open_creates_missing_sqlite_directory(tmp_path):
    path = tmp_path / "a" / "b" / "spyglass.db"
    store = OltpStore.open(f"sqlite:///{path}")
    store.close()
    assert path.is_file()


def test_sqlite_connection_settings(tmp_path):
    store = OltpStore.open(f"sqlite:///{tmp_path / 'spyglass.db'}")
    try:
        with store.engine.connect() as conn:

            def pragma(name: str):
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("busy_timeout") >= 1000
    finally:
        store.close()


def test_in_memory_sqlite_keeps_one_database(tmp_path):
    # ":memory:" gives each connection its own database; the store must pin one.
    store = OltpStore.open("sqlite:///:memory:")
    try:
        with store.session() as uow:
            uow.organizations.create(org_id="org-1", name="Org")
        with store.session() as uow:
            assert uow.organizations.find("org-1") is not None
    finally:
        store.close()
