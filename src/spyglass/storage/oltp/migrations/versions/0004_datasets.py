"""Datasets and experiments: datasets, versioned items, runs (experiments) and their items.

A run without a dataset is an experiment over local data (SDK `run_experiment(data=[...])`).

Revision ID: 0004_datasets
Revises: 0003_prompts
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_datasets"
down_revision: str | None = "0003_prompts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False, default: bool = True) -> sa.Column[object]:
    if nullable or not default:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()
    )


def _cascade(column: str, table: str, source: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{table}.id"], name=f"fk_{source}_{column}_{table}", ondelete="CASCADE")


def _composite(column: str, table: str, source: str) -> sa.ForeignKeyConstraint:
    # Ids are unique per project only: references carry the project too.
    return sa.ForeignKeyConstraint([column, "project_id"], [f"{table}.id", f"{table}.project_id"],
                                   name=f"fk_{source}_{column}_{table}", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("input_schema", sa.JSON(), nullable=True),
        sa.Column("expected_output_schema", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", "project_id", name="pk_datasets"),
        _cascade("project_id", "projects", "datasets"),
        sa.UniqueConstraint("project_id", "name", name="uq_datasets_project_id_name"),
    )
    op.create_table(
        "dataset_items",
        sa.Column("row_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("dataset_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("expected_output", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("source_trace_id", sa.String(255), nullable=True),
        sa.Column("source_observation_id", sa.String(255), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        _timestamp("created_at", default=False),
        _timestamp("valid_from", default=False),
        _timestamp("valid_to", nullable=True),
        sa.PrimaryKeyConstraint("row_id", name="pk_dataset_items"),
        _composite("dataset_id", "datasets", "dataset_items"),
        sa.UniqueConstraint("project_id", "id", "valid_from", name="uq_dataset_items_project_id_id_valid_from"),
    )
    op.create_index("ix_dataset_items_dataset_id_valid_to", "dataset_items", ["dataset_id", "valid_to"])
    op.create_index("ux_dataset_items_current", "dataset_items", ["project_id", "id"], unique=True,
                    postgresql_where=sa.text("valid_to IS NULL"), sqlite_where=sa.text("valid_to IS NULL"))
    op.create_table(
        "dataset_runs",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("dataset_id", sa.String(255), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", "project_id", name="pk_dataset_runs"),
        _composite("dataset_id", "datasets", "dataset_runs"),
        sa.UniqueConstraint("project_id", "dataset_id", "name", name="uq_dataset_runs_project_id_dataset_id_name"),
    )
    op.create_table(
        "dataset_run_items",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("dataset_run_id", sa.String(255), nullable=False),
        sa.Column("dataset_item_id", sa.String(255), nullable=False),
        sa.Column("trace_id", sa.String(255), nullable=True),
        sa.Column("observation_id", sa.String(255), nullable=True),
        sa.Column("item_version", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_output", sa.JSON(), nullable=True),
        sa.Column("item_metadata", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_run_items"),
        _composite("dataset_run_id", "dataset_runs", "dataset_run_items"),
    )
    op.create_index("ix_dataset_run_items_dataset_run_id", "dataset_run_items", ["dataset_run_id"])


def downgrade() -> None:
    op.drop_index("ix_dataset_run_items_dataset_run_id", table_name="dataset_run_items")
    op.drop_table("dataset_run_items")
    op.drop_table("dataset_runs")
    op.drop_index("ux_dataset_items_current", table_name="dataset_items")
    op.drop_index("ix_dataset_items_dataset_id_valid_to", table_name="dataset_items")
    op.drop_table("dataset_items")
    op.drop_table("datasets")
