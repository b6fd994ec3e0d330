"""Media: content-addressed files and their links to traces, observations and dataset items.

Revision ID: 0005_media
Revises: 0004_datasets
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_media"
down_revision: str | None = "0004_datasets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created_at() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.func.current_timestamp())


def _media_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["media_id", "project_id"], ["media.id", "media.project_id"],
                                   name=f"fk_{table}_media_id_media", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("sha256_hash", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("content_length", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(1024), nullable=False),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.current_timestamp()),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("upload_http_status", sa.Integer(), nullable=True),
        sa.Column("upload_http_error", sa.Text(), nullable=True),
        sa.Column("upload_time_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", "project_id", name="pk_media"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_media_project_id_projects",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("project_id", "sha256_hash", name="uq_media_project_id_sha256_hash"),
    )
    op.create_table(
        "trace_media",
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("media_id", sa.String(255), nullable=False),
        sa.Column("trace_id", sa.String(255), nullable=False),
        sa.Column("observation_id", sa.String(255), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("project_id", "media_id", "trace_id", "observation_id", "field",
                                name="pk_trace_media"),
        _media_fk("trace_media"),
    )
    op.create_index("ix_trace_media_project_id_trace_id", "trace_media", ["project_id", "trace_id"])
    op.create_table(
        "dataset_item_media",
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("media_id", sa.String(255), nullable=False),
        sa.Column("dataset_id", sa.String(255), nullable=False),
        sa.Column("dataset_item_id", sa.String(255), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("project_id", "media_id", "dataset_id", "dataset_item_id", "field",
                                name="pk_dataset_item_media"),
        _media_fk("dataset_item_media"),
    )
    op.create_index("ix_dataset_item_media_project_id_dataset_item_id", "dataset_item_media",
                    ["project_id", "dataset_item_id"])


def downgrade() -> None:
    op.drop_table("dataset_item_media")
    op.drop_table("trace_media")
    op.drop_table("media")
