"""ORM table definitions for the OLTP store (private to `storage.oltp`).

Only portable column types are used so the same models and migrations run on SQLite
and PostgreSQL. Rows never leave `storage.oltp`: repositories convert them to the
frozen dataclasses in `spyglass.domain`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
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
API_KEY_ROLES = ("ADMIN", "MEMBER")


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
    # ADMIN keys may change protected prompt labels; MEMBER keys may not (Spyglass only).
    role: Mapped[str] = mapped_column(sa.String(16), default="ADMIN", server_default="ADMIN")


# Prices are USD per unit; the smallest in the shipped table is 2.5e-9 (12 places leave
# room below that). SQLite has no decimal type and keeps a float: repositories round to
# this scale on the way in and out, so both dialects hand back the same Decimal.
PRICE_SCALE = 12
_NO_START_DATE = "1970-01-01 00:00:00+00"


class ModelRow(Base):
    """A model price definition: a project's own, or a managed default (`project_id` NULL)."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(
        sa.String(255), sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    model_name: Mapped[str] = mapped_column(sa.String(255))
    match_pattern: Mapped[str] = mapped_column(sa.Text)
    start_date: Mapped[datetime | None]
    unit: Mapped[str | None] = mapped_column(sa.String(32))
    tokenizer_id: Mapped[str | None] = mapped_column(sa.String(255))
    # none_as_null: "no config" is SQL NULL, not the JSON literal `null`.
    tokenizer_config: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    # For managed rows: the `updatedAt` of the shipped table, which decides whether a sync rewrites them.
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=sa.func.current_timestamp()
    )


# Unique (project_id, model_name, start_date, unit) with NULL equal to NULL: a plain UNIQUE
# treats NULLs as distinct on both dialects, which would let every managed row (project_id
# NULL) and every model without a start date or unit be duplicated.
sa.Index(
    "ux_models_project_id_model_name_start_date_unit",
    sa.func.coalesce(ModelRow.project_id, ""),
    ModelRow.model_name,
    sa.func.coalesce(ModelRow.start_date, sa.literal(_NO_START_DATE)),
    sa.func.coalesce(ModelRow.unit, ""),
    unique=True,
)


class PricingTierRow(Base):
    __tablename__ = "pricing_tiers"
    __table_args__ = (sa.UniqueConstraint("model_id", "priority"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    model_id: Mapped[str] = mapped_column(sa.String(255), sa.ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    priority: Mapped[int] = mapped_column(sa.Integer)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)


class PriceRow(Base):
    __tablename__ = "prices"
    __table_args__ = (sa.UniqueConstraint("model_id", "usage_type", "pricing_tier_id"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    model_id: Mapped[str] = mapped_column(sa.String(255), sa.ForeignKey("models.id", ondelete="CASCADE"))
    pricing_tier_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("pricing_tiers.id", ondelete="CASCADE"), index=True
    )
    usage_type: Mapped[str] = mapped_column(sa.String(255))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(30, PRICE_SCALE))


class PromptRow(Base):
    """A prompt name in a project: what all its versions share (type, tags)."""

    __tablename__ = "prompts"
    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(255), sa.ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class PromptVersionRow(Base):
    """One immutable version; its id is the `promptId` generations link to."""

    __tablename__ = "prompt_versions"
    __table_args__ = (sa.UniqueConstraint("prompt_id", "version"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    prompt_id: Mapped[str] = mapped_column(sa.String(255), sa.ForeignKey("prompts.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    version: Mapped[int] = mapped_column(sa.Integer)
    # A string for text prompts, a list of messages for chat prompts.
    content: Mapped[Any] = mapped_column(sa.JSON)
    config: Mapped[Any] = mapped_column(sa.JSON)
    commit_message: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    # Content never changes; labels and tags moving do count as an update (Langfuse).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class PromptLabelRow(Base):
    """A label of a prompt: the primary key makes it point at exactly one version."""

    __tablename__ = "prompt_labels"

    prompt_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    version_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("prompt_versions.id", ondelete="CASCADE"), index=True
    )
    # Labels are shown in the order they were given to the version.
    position: Mapped[int] = mapped_column(sa.Integer)


class PromptTagRow(Base):
    __tablename__ = "prompt_tags"

    prompt_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer)


class PromptDependencyRow(Base):
    """A version's reference to another prompt, by name and a version or a label."""

    __tablename__ = "prompt_dependencies"
    __table_args__ = (sa.Index("ix_prompt_dependencies_project_id_child_name", "project_id", "child_name"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(255))
    parent_version_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("prompt_versions.id", ondelete="CASCADE"), index=True
    )
    child_name: Mapped[str] = mapped_column(sa.String(255))
    child_version: Mapped[int | None] = mapped_column(sa.Integer)
    child_label: Mapped[str | None] = mapped_column(sa.String(36))


class ProtectedPromptLabelRow(Base):
    __tablename__ = "prompt_protected_labels"

    project_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class DatasetRow(Base):
    """Keyed by (id, project): dataset and run ids are the caller's, unique within a project only."""

    __tablename__ = "datasets"
    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    metadata_: Mapped[Any] = mapped_column("metadata", sa.JSON(none_as_null=True), nullable=True)
    input_schema: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    expected_output_schema: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class DatasetItemRow(Base):
    """One version of an item: valid from `valid_from` until `valid_to` (NULL: the current one).

    A deletion is a last version with `is_deleted`, so reads as of an earlier time still see the item.
    """

    __tablename__ = "dataset_items"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "id", "valid_from"),
        sa.ForeignKeyConstraint(["dataset_id", "project_id"], ["datasets.id", "datasets.project_id"],
                                ondelete="CASCADE"),
        sa.Index("ix_dataset_items_dataset_id_valid_to", "dataset_id", "valid_to"),
        # One current version per item, even with two writers racing (PostgreSQL and SQLite both
        # support partial indexes).
        sa.Index("ux_dataset_items_current", "project_id", "id", unique=True,
                 postgresql_where=sa.text("valid_to IS NULL"), sqlite_where=sa.text("valid_to IS NULL")),
    )

    row_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    id: Mapped[str] = mapped_column(sa.String(255))
    project_id: Mapped[str] = mapped_column(sa.String(255))
    dataset_id: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16))
    input: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    expected_output: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    metadata_: Mapped[Any] = mapped_column("metadata", sa.JSON(none_as_null=True), nullable=True)
    source_trace_id: Mapped[str | None] = mapped_column(sa.String(255))
    source_observation_id: Mapped[str | None] = mapped_column(sa.String(255))
    is_deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime]
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]


class DatasetRunRow(Base):
    """An experiment run: over a dataset, or over local data (`dataset_id` NULL)."""

    __tablename__ = "dataset_runs"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "dataset_id", "name"),
        sa.ForeignKeyConstraint(["dataset_id", "project_id"], ["datasets.id", "datasets.project_id"],
                                ondelete="CASCADE"),
    )

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    dataset_id: Mapped[str | None] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    metadata_: Mapped[Any] = mapped_column("metadata", sa.JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class DatasetRunItemRow(Base):
    __tablename__ = "dataset_run_items"
    __table_args__ = (
        sa.ForeignKeyConstraint(["dataset_run_id", "project_id"], ["dataset_runs.id", "dataset_runs.project_id"],
                                ondelete="CASCADE"),
    )

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(255))
    dataset_run_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    dataset_item_id: Mapped[str] = mapped_column(sa.String(255))
    trace_id: Mapped[str | None] = mapped_column(sa.String(255))
    observation_id: Mapped[str | None] = mapped_column(sa.String(255))
    # What the experiment's span declared: the dataset item version it ran against, and for
    # local data the expected output and item metadata (there is no dataset item to read).
    item_version: Mapped[datetime | None]
    expected_output: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    item_metadata: Mapped[Any] = mapped_column(sa.JSON(none_as_null=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class MediaRow(Base):
    """A media file, identified by its content: one row per (project, SHA-256)."""

    __tablename__ = "media"
    __table_args__ = (sa.UniqueConstraint("project_id", "sha256_hash"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        sa.String(255), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    sha256_hash: Mapped[str] = mapped_column(sa.String(64))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    content_length: Mapped[int] = mapped_column(sa.BigInteger)
    object_key: Mapped[str] = mapped_column(sa.String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
    # What the client reported after its PUT; only 200/201 make the media readable.
    uploaded_at: Mapped[datetime | None]
    upload_http_status: Mapped[int | None] = mapped_column(sa.Integer)
    upload_http_error: Mapped[str | None] = mapped_column(sa.Text)
    upload_time_ms: Mapped[int | None] = mapped_column(sa.BigInteger)


class TraceMediaRow(Base):
    """Media used in a trace's (`observation_id` "") or an observation's input, output or metadata."""

    __tablename__ = "trace_media"
    __table_args__ = (
        sa.ForeignKeyConstraint(["media_id", "project_id"], ["media.id", "media.project_id"], ondelete="CASCADE"),
        sa.Index("ix_trace_media_project_id_trace_id", "project_id", "trace_id"),
    )

    project_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    media_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    trace_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    observation_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    field: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())


class DatasetItemMediaRow(Base):
    """Media used in a dataset item (any version), so deleting traces never removes it."""

    __tablename__ = "dataset_item_media"
    __table_args__ = (
        sa.ForeignKeyConstraint(["media_id", "project_id"], ["media.id", "media.project_id"], ondelete="CASCADE"),
        sa.Index("ix_dataset_item_media_project_id_dataset_item_id", "project_id", "dataset_item_id"),
    )

    project_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    media_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    dataset_item_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    field: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=sa.func.current_timestamp())
