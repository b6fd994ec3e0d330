"""ORM table definitions for the OLTP store (private to `storage.oltp`).

Only portable column types are used so the same models and migrations run on SQLite
and PostgreSQL. Rows never leave `storage.oltp`: repositories convert them to the
frozen dataclasses in `spyglass.domain`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names: Alembic needs them to drop or alter constraints, and SQLite
# batch mode recreates tables by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MEMBERSHIP_ROLES = ("OWNER", "ADMIN", "MEMBER", "VIEWER")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect.

    PostgreSQL stores `timestamptz`; SQLite has no time zones and hands back naive
    values. Normalising both ways means callers always see aware UTC datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a tzinfo")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: sa.JSON}


class OrganizationRow(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    # "metadata" is reserved on declarative classes, hence the attribute name.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=sa.func.current_timestamp()
    )


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    retention_days: Mapped[int | None] = mapped_column(sa.Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON, default=dict)
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=sa.func.current_timestamp()
    )


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    # Stored lower-cased by the repository; uniqueness is therefore case-insensitive.
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(255))
    password_hash: Mapped[str | None] = mapped_column(sa.Text)
    admin: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class OrganizationMembershipRow(Base):
    __tablename__ = "organization_memberships"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "user_id"),
        sa.CheckConstraint(f"role IN {MEMBERSHIP_ROLES!r}", name="role"),
    )

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    org_id: Mapped[str] = mapped_column(sa.String(255), sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    public_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    # sha256(secret ‖ sha256hex(salt)); the plaintext secret is never stored.
    hashed_secret_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    display_secret_key: Mapped[str] = mapped_column(sa.String(255))
    note: Mapped[str | None] = mapped_column(sa.Text)
    project_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
