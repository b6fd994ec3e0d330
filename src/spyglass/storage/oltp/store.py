"""The OLTP store: engine, schema migrations and the unit of work handed to services.

Services never see SQLAlchemy: they open `store.session()` and talk to the
repositories it exposes; the unit of work commits on success, rolls back on error, and
turns database failures into domain errors (`Unavailable`, `Conflict`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from spyglass.domain.errors import Conflict, DuplicateKey, Unavailable
from spyglass.storage.oltp.engine import create_engine_for
from spyglass.storage.oltp.repositories import (
    ApiKeyRepository,
    DatasetRepository,
    MediaRepository,
    ModelRepository,
    OrganizationRepository,
    ProjectRepository,
    PromptRepository,
    UserRepository,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Arbitrary constants: PostgreSQL advisory locks that serialise concurrent migrations
# from several processes starting together. The platform lock also covers the OLAP
# migrations (ClickHouse has no locks of its own); it must differ from the Alembic one,
# which another connection of the same process takes while the platform lock is held.
_MIGRATION_LOCK_ID = 0x5B7_61A55
_PLATFORM_MIGRATION_LOCK_ID = 0x5B7_61A56


class UnitOfWork:
    """One transaction. Repositories are created lazily on the shared session."""

    def __init__(self, session: Session) -> None:
        self.session = session  # for repositories only; services use the properties

    @cached_property
    def organizations(self) -> OrganizationRepository:
        return OrganizationRepository(self.session)

    @cached_property
    def projects(self) -> ProjectRepository:
        return ProjectRepository(self.session)

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.session)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        return ApiKeyRepository(self.session)

    @cached_property
    def models(self) -> ModelRepository:
        return ModelRepository(self.session)

    @cached_property
    def prompts(self) -> PromptRepository:
        return PromptRepository(self.session)

    @cached_property
    def datasets(self) -> DatasetRepository:
        return DatasetRepository(self.session)

    @cached_property
    def media(self) -> MediaRepository:
        return MediaRepository(self.session)


class OltpStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # expire_on_commit=False: repositories convert rows to dataclasses inside the
        # transaction, but nothing should trigger a lazy reload after commit anyway.
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> OltpStore:
        """Connect to `url`, creating the SQLite file's directory, and upgrade the schema."""
        _ensure_sqlite_parent_dir(url)
        store = cls(create_engine_for(url))
        if migrate:
            try:
                store.migrate()
            except BaseException:
                store.close()
                raise
        return store

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to `revision`. Idempotent: at head it does nothing."""
        with self._migration_connection() as connection:
            command.upgrade(_alembic_config(connection), revision)

    def downgrade(self, revision: str) -> None:
        """Downgrade the schema to `revision` ("base" drops every table)."""
        with self._migration_connection() as connection:
            command.downgrade(_alembic_config(connection), revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise `Unavailable` unless the database answers."""
        with self.session() as uow:
            uow.session.execute(sa.text("SELECT 1"))

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Held while this process migrates every store; a no-op on SQLite (one machine, data-dir lock)."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _PLATFORM_MIGRATION_LOCK_ID})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _PLATFORM_MIGRATION_LOCK_ID})
                connection.commit()

    @contextmanager
    def session(self) -> Iterator[UnitOfWork]:
        """A unit of work: commits when the block exits normally, rolls back otherwise."""
        session = self._sessions()
        try:
            yield UnitOfWork(session)
            session.commit()
        except exc.IntegrityError as error:
            session.rollback()
            text = str(error.orig).lower()
            if "unique" in text or "duplicate" in text:
                raise DuplicateKey("An object with the same unique key already exists") from error
            raise Conflict("The change conflicts with existing data") from error
        except (exc.OperationalError, exc.InterfaceError) as error:
            # Connection refused, server gone, SQLite locked past busy_timeout: the
            # caller should answer 503 and the client retry, not see a stack trace.
            session.rollback()
            log.warning("OLTP database unavailable: %s", error)
            raise Unavailable("Service Unavailable") from error
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def _migration_connection(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Transaction-scoped, so it is released with the migration's commit.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            yield connection


def _alembic_config(connection: Connection | None) -> Config:
    # Configured in code so the migrations ship inside the wheel and no alembic.ini is
    # needed; env.py uses the connection passed here (with our engine's pragmas).
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def _ensure_sqlite_parent_dir(url: str) -> None:
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        return
    database = sa_url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

