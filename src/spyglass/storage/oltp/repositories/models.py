"""Model price definitions with their pricing tiers and prices.

A model belongs to a project, or is a managed default (`project_id` NULL) that every
project sees and only `sync_managed` writes. Reads load models, tiers and prices in one
query each and assemble `ModelDefinition`s; prices come back as `Decimal`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spyglass.domain.errors import NotFound
from spyglass.domain.pricing import ModelDefinition, PricingTier
from spyglass.domain.queries import Page
from spyglass.storage.oltp.repositories.batching import chunks
from spyglass.storage.oltp.tables import PRICE_SCALE, ModelRow, PriceRow, PricingTierRow, utcnow

_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)


class ModelRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    # -- reads ---------------------------------------------------------------------

    def list_for_project(self, project_id: str, page: Page) -> tuple[list[ModelDefinition], int]:
        """One page of what the project sees (its own models and the managed ones), and the total.

        Ordered by name; for one name the project's own model first, then by unit, then the
        latest start date (no start date last); the id breaks the remaining ties.
        """
        visible = _visible_to(project_id)
        total = self._session.scalar(sa.select(sa.func.count()).select_from(ModelRow).where(visible)) or 0
        stmt = (
            sa.select(ModelRow)
            .where(visible)
            .order_by(
                ModelRow.model_name,
                ModelRow.project_id.is_(None),
                ModelRow.unit.is_(None),
                ModelRow.unit,
                ModelRow.start_date.is_(None),
                ModelRow.start_date.desc(),
                ModelRow.id,
            )
            .offset(page.offset)
            .limit(page.limit)
        )
        rows = list(self._session.scalars(stmt))
        return self._assemble(rows, ModelRow.id.in_([row.id for row in rows])), total

    def find(self, model_id: str, project_id: str) -> ModelDefinition | None:
        """The model if the project sees it (its own or a managed one); another project's is None."""
        row = self._session.scalars(sa.select(ModelRow).where(ModelRow.id == model_id, _visible_to(project_id))).first()
        if row is None:
            return None
        return self._assemble([row], ModelRow.id == row.id)[0]

    def get(self, model_id: str, project_id: str) -> ModelDefinition:
        model = self.find(model_id, project_id)
        if model is None:
            raise NotFound(f"Model {model_id} not found within authorized project")
        return model

    def find_by_name(self, project_id: str, model_name: str) -> ModelDefinition | None:
        """The project's own model with this name (managed models are not looked at)."""
        row = self._session.scalars(
            sa.select(ModelRow)
            .where(ModelRow.project_id == project_id, ModelRow.model_name == model_name)
            .order_by(ModelRow.created_at, ModelRow.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        return self._assemble([row], ModelRow.id == row.id)[0]

    def all_for_matching(self, project_id: str) -> list[ModelDefinition]:
        """Every model the project's observations can match: its own and the managed ones."""
        return self.for_matching(project_id) + self.for_matching(None)

    def for_matching(self, project_id: str | None) -> list[ModelDefinition]:
        """The models owned by `project_id` only, or the managed ones for None (three queries)."""
        owned = ModelRow.project_id.is_(None) if project_id is None else ModelRow.project_id == project_id
        rows = list(self._session.scalars(sa.select(ModelRow).where(owned).order_by(ModelRow.id)))
        if not rows:
            return []
        # A join, not a list of ids: the managed set alone is a few hundred models.
        return self._assemble(rows, owned)

    # -- writes --------------------------------------------------------------------

    def create(self, model: ModelDefinition) -> ModelDefinition:
        """Insert a project's model with its tiers and prices; ids come from `model`."""
        if model.project_id is None:
            raise ValueError("managed models are written by sync_managed only")
        self._insert([model])
        return self.get(model.id, model.project_id)

    def delete(self, model_id: str, project_id: str) -> bool:
        """Delete one of the project's own models (tiers and prices cascade); False if none."""
        result = self._session.execute(
            sa.delete(ModelRow).where(ModelRow.id == model_id, ModelRow.project_id == project_id)
        )
        return bool(result.rowcount)

    def sync_managed(self, definitions: Sequence[ModelDefinition]) -> int:
        """Make the managed models exactly `definitions`; returns how many were inserted, updated or deleted.

        A model is rewritten (row, tiers and prices deleted and inserted again under the same
        ids) only when its `updated_at` differs from the stored one, so a start with an
        unchanged price table writes nothing.
        """
        wanted = {model.id: model for model in definitions}
        if len(wanted) != len(definitions):
            raise ValueError("managed model ids must be unique")
        if any(model.project_id is not None for model in definitions):
            raise ValueError("managed models have no project")
        stored = {
            model_id: updated_at for model_id, updated_at in
            self._session.execute(sa.select(ModelRow.id, ModelRow.updated_at).where(ModelRow.project_id.is_(None)))
        }
        gone = [model_id for model_id in stored if model_id not in wanted]
        changed = [model for model_id, model in wanted.items() if model_id in stored
                   and stored[model_id] != model.updated_at]
        new = [model for model_id, model in wanted.items() if model_id not in stored]
        # Deletes first, so a name freed by a removed model can be taken by a new one.
        for chunk in chunks(gone + [model.id for model in changed]):
            self._session.execute(sa.delete(ModelRow).where(ModelRow.id.in_(chunk)))
        self._insert(changed + new)
        self._session.flush()
        return len(gone) + len(changed) + len(new)

    # -- helpers -------------------------------------------------------------------

    def _insert(self, models: Sequence[ModelDefinition]) -> None:
        if not models:
            return
        now = utcnow()
        self._session.execute(sa.insert(ModelRow), [
            {
                "id": model.id,
                "project_id": model.project_id,
                "model_name": model.model_name,
                "match_pattern": model.match_pattern,
                "start_date": model.start_date,
                "unit": model.unit,
                "tokenizer_id": model.tokenizer_id,
                "tokenizer_config": dict(model.tokenizer_config) if model.tokenizer_config is not None else None,
                "created_at": model.created_at or now,
                "updated_at": model.updated_at or now,
            }
            for model in models
        ])
        tiers = [(model, tier) for model in models for tier in model.pricing_tiers]
        if tiers:
            self._session.execute(sa.insert(PricingTierRow), [
                {
                    "id": tier.id,
                    "model_id": model.id,
                    "name": tier.name,
                    "is_default": tier.is_default,
                    "priority": tier.priority,
                    "conditions": [dict(condition) for condition in tier.conditions],
                }
                for model, tier in tiers
            ])
        prices = [
            {
                "id": str(uuid.uuid4()),
                "model_id": model.id,
                "pricing_tier_id": tier.id,
                "usage_type": usage_type,
                "price": _quantize(price),
            }
            for model, tier in tiers
            for usage_type, price in tier.prices.items()
        ]
        if prices:
            self._session.execute(sa.insert(PriceRow), prices)

    def _assemble(self, rows: list[ModelRow], models_where: sa.ColumnElement[bool]) -> list[ModelDefinition]:
        """Rows → definitions, loading the tiers and prices of the models `models_where` selects."""
        if not rows:
            return []
        tier_rows = self._session.scalars(
            sa.select(PricingTierRow)
            .join(ModelRow, ModelRow.id == PricingTierRow.model_id)
            .where(models_where)
            .order_by(PricingTierRow.model_id, PricingTierRow.priority)
        ).all()
        price_rows = self._session.execute(
            sa.select(PriceRow.pricing_tier_id, PriceRow.usage_type, PriceRow.price)
            .join(ModelRow, ModelRow.id == PriceRow.model_id)
            .where(models_where)
            .order_by(PriceRow.pricing_tier_id, PriceRow.usage_type)
        )
        prices: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for tier_id, usage_type, price in price_rows:
            prices[tier_id][usage_type] = _normalize(price)
        tiers: dict[str, list[PricingTier]] = defaultdict(list)
        for tier in tier_rows:
            tiers[tier.model_id].append(PricingTier(
                id=tier.id,
                name=tier.name,
                is_default=tier.is_default,
                priority=tier.priority,
                conditions=tuple(tier.conditions or ()),
                prices=prices.get(tier.id, {}),
            ))
        return [_to_model(row, tuple(tiers.get(row.id, ()))) for row in rows]


def _visible_to(project_id: str) -> sa.ColumnElement[bool]:
    return sa.or_(ModelRow.project_id == project_id, ModelRow.project_id.is_(None))


def _to_model(row: ModelRow, tiers: tuple[PricingTier, ...]) -> ModelDefinition:
    return ModelDefinition(
        id=row.id,
        project_id=row.project_id,
        model_name=row.model_name,
        match_pattern=row.match_pattern,
        pricing_tiers=tiers,
        start_date=row.start_date,
        unit=row.unit,
        tokenizer_id=row.tokenizer_id,
        tokenizer_config=row.tokenizer_config,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _quantize(price: Decimal) -> Decimal:
    return Decimal(price).quantize(_QUANTUM)


def _normalize(price: Any) -> Decimal:
    # PostgreSQL returns the column's scale (0.000002500000), SQLite a double rounded to it:
    # the same value either way once trailing zeros go (SQLite is exact to ~15 significant
    # digits, far more than any price needs).
    value = Decimal(price).quantize(_QUANTUM)
    return value.normalize() if value else Decimal(0)
