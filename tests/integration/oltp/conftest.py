"""OLTP tests run on SQLite and on PostgreSQL (a scratch database per test)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from spyglass.storage.oltp.store import OltpStore

# The two projects of the `store` fixture (test_projects_service.py has its own, empty `store`).
PROJECT = "project-a"
OTHER = "project-b"

POSTGRES_URL = os.environ.get(
    "SPYGLASS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextlib.contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """Create a uniquely named database for one test and drop it afterwards."""
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as error:
            reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {error.orig}"
            if os.environ.get("SPYGLASS_REQUIRE_SERVICES") == "1":
                pytest.fail(reason)
            pytest.skip(reason)
        name = f"spyglass_test_{uuid.uuid4().hex[:16]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'spyglass.db'}"
    else:
        with scratch_postgres_database() as url:
            yield url


@pytest.fixture
def store(database_url: str) -> Iterator[OltpStore]:
    """A migrated store with an organization and the projects PROJECT and OTHER."""
    store = OltpStore.open(database_url)
    with store.session() as uow:
        org = uow.organizations.create(name="Org")
        uow.projects.create(org_id=org.id, name="A", project_id=PROJECT)
        uow.projects.create(org_id=org.id, name="B", project_id=OTHER)
    yield store
    store.close()
