"""Model price definitions: models, their pricing tiers and the prices of each tier.

Revision ID: 0002_models
Revises: 0001_initial
Create Date: 2026-08-21

Only new tables, so no batch mode is needed on SQLite. The managed defaults are not
inserted here: every start syncs them from the price table shipped with Spyglass, so a
new release upgrades them without a revision of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_models"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()
    )


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=True),
        sa.Column("model_name", sa.String(255), nullable=False),
        sa.Column("match_pattern", sa.Text(), nullable=False),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("tokenizer_id", sa.String(255), nullable=True),
        sa.Column("tokenizer_config", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_models_project_id_projects", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_models_project_id", "models", ["project_id"])
    # NULL-safe uniqueness (a plain UNIQUE lets NULLs repeat on both dialects).
    op.create_index(
        "ux_models_project_id_model_name_start_date_unit",
        "models",
        [
            sa.text("coalesce(project_id, '')"),
            "model_name",
            sa.text("coalesce(start_date, '1970-01-01 00:00:00+00')"),
            sa.text("coalesce(unit, '')"),
        ],
        unique=True,
    )
    op.create_table(
        "pricing_tiers",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("model_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pricing_tiers"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_pricing_tiers_model_id_models", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("model_id", "priority", name="uq_pricing_tiers_model_id_priority"),
    )
    op.create_table(
        "prices",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("model_id", sa.String(255), nullable=False),
        sa.Column("pricing_tier_id", sa.String(255), nullable=False),
        sa.Column("usage_type", sa.String(255), nullable=False),
        sa.Column("price", sa.Numeric(30, 12), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prices"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_prices_model_id_models", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["pricing_tier_id"],
            ["pricing_tiers.id"],
            name="fk_prices_pricing_tier_id_pricing_tiers",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "model_id", "usage_type", "pricing_tier_id", name="uq_prices_model_id_usage_type_pricing_tier_id"
        ),
    )
    op.create_index("ix_prices_pricing_tier_id", "prices", ["pricing_tier_id"])


def downgrade() -> None:
    op.drop_index("ix_prices_pricing_tier_id", table_name="prices")
    op.drop_table("prices")
    op.drop_table("pricing_tiers")
    op.drop_index("ux_models_project_id_model_name_start_date_unit", table_name="models")
    op.drop_index("ix_models_project_id", table_name="models")
    op.drop_table("models")
