"""Prompt management: prompts, their versions, labels, tags and dependencies; protected labels; key roles.

Revision ID: 0003_prompts
Revises: 0002_models
Create Date: 2026-11-27

`api_keys.role` is added with a server default, which SQLite accepts without batch mode;
every existing key becomes ADMIN, which is what a Langfuse project key can do.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_prompts"
down_revision: str | None = "0002_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()
    )


def _cascade(column: str, table: str, source: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{table}.id"], name=f"fk_{source}_{column}_{table}", ondelete="CASCADE")


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("role", sa.String(16), nullable=False, server_default="ADMIN"))
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_prompts"),
        _cascade("project_id", "projects", "prompts"),
        sa.UniqueConstraint("project_id", "name", name="uq_prompts_project_id_name"),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("prompt_id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("commit_message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_versions"),
        _cascade("prompt_id", "prompts", "prompt_versions"),
        sa.UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_prompt_id_version"),
    )
    op.create_index("ix_prompt_versions_project_id", "prompt_versions", ["project_id"])
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_id", sa.String(255), nullable=False),
        sa.Column("label", sa.String(36), nullable=False),
        sa.Column("version_id", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "label", name="pk_prompt_labels"),
        _cascade("prompt_id", "prompts", "prompt_labels"),
        _cascade("version_id", "prompt_versions", "prompt_labels"),
    )
    op.create_index("ix_prompt_labels_version_id", "prompt_labels", ["version_id"])
    op.create_table(
        "prompt_tags",
        sa.Column("prompt_id", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "tag", name="pk_prompt_tags"),
        _cascade("prompt_id", "prompts", "prompt_tags"),
    )
    op.create_table(
        "prompt_dependencies",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("parent_version_id", sa.String(255), nullable=False),
        sa.Column("child_name", sa.String(255), nullable=False),
        sa.Column("child_version", sa.Integer(), nullable=True),
        sa.Column("child_label", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_dependencies"),
        _cascade("parent_version_id", "prompt_versions", "prompt_dependencies"),
    )
    op.create_index("ix_prompt_dependencies_parent_version_id", "prompt_dependencies", ["parent_version_id"])
    op.create_index(
        "ix_prompt_dependencies_project_id_child_name", "prompt_dependencies", ["project_id", "child_name"]
    )
    op.create_table(
        "prompt_protected_labels",
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("label", sa.String(36), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("project_id", "label", name="pk_prompt_protected_labels"),
        _cascade("project_id", "projects", "prompt_protected_labels"),
    )


def downgrade() -> None:
    op.drop_table("prompt_protected_labels")
    op.drop_index("ix_prompt_dependencies_project_id_child_name", table_name="prompt_dependencies")
    op.drop_index("ix_prompt_dependencies_parent_version_id", table_name="prompt_dependencies")
    op.drop_table("prompt_dependencies")
    op.drop_table("prompt_tags")
    op.drop_index("ix_prompt_labels_version_id", table_name="prompt_labels")
    op.drop_table("prompt_labels")
    op.drop_index("ix_prompt_versions_project_id", table_name="prompt_versions")
    op.drop_table("prompt_versions")
    op.drop_table("prompts")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("role")
