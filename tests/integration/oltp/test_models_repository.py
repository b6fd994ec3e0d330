"""Model price definitions in the OLTP store (SQLite file; PostgreSQL when reachable).

The repository (sync of the managed table, project models, the matching catalogue), the
0002 migration, and the parts of ModelService that need a real store.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from tests.integration.oltp.conftest import OTHER, PROJECT
from tests.support.clock import FakeClock

from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Conflict, InvalidInput, NotFound
from spyglass.domain.pricing import ModelDefinition, PricingTier, match_model, price_observation
from spyglass.domain.queries import Page
from spyglass.services.models import ModelService
from spyglass.storage.oltp.default_models import load_default_models
from spyglass.storage.oltp.store import OltpStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)




def managed(model_id: str, name: str, *, input_price: str = "0.000001", updated: datetime = T0,
            tiers: tuple[PricingTier, ...] | None = None) -> ModelDefinition:
    return ModelDefinition(
        id=model_id, project_id=None, model_name=name, match_pattern=f"(?i)^{name}$",
        pricing_tiers=tiers or (PricingTier(f"{model_id}_tier_default", "Standard", True, 0, (),
                                            {"input": Decimal(input_price), "output": Decimal("0.000002")}),),
        tokenizer_id="openai", tokenizer_config={"tokenizerModel": name}, created_at=T0, updated_at=updated,
    )


def custom(model_id: str, name: str, project_id: str = PROJECT, **fields) -> ModelDefinition:  # noqa: ANN003
    tier = PricingTier(f"{model_id}_tier_default", "Standard", True, 0, (), {"total": Decimal("0.5")})
    return ModelDefinition(id=model_id, project_id=project_id, model_name=name, match_pattern=f"(?i)^{name}$",
                           pricing_tiers=(tier,), **fields)


def sync(store: OltpStore, definitions: list[ModelDefinition]) -> int:
    with store.session() as uow:
        return uow.models.sync_managed(definitions)


def rows(store: OltpStore, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


# -- migration ---------------------------------------------------------------------------


def test_migration_creates_and_drops_the_model_tables(database_url: str) -> None:
    store = OltpStore.open(database_url)
    try:
        assert {"models", "pricing_tiers", "prices"} <= set(sa.inspect(store.engine).get_table_names())
        store.downgrade("0001_initial")
        assert store.current_revision() == "0001_initial"
        assert {"models", "pricing_tiers", "prices"}.isdisjoint(sa.inspect(store.engine).get_table_names())
        store.migrate()
        assert store.current_revision() == OltpStore.head_revision()
        assert sync(store, load_default_models()) == 167
    finally:
        store.close()


def test_model_key_is_unique_even_with_nulls(store: OltpStore) -> None:
    """(project_id, model_name, start_date, unit) with NULL = NULL, unlike a plain UNIQUE."""
    sync(store, [managed("m1", "gpt-x")])
    with pytest.raises(Conflict), store.session() as uow:
        uow.models.sync_managed([managed("m1", "gpt-x"), managed("m2", "gpt-x")])
    with store.session() as uow:
        uow.models.create(custom("c1", "gpt-x"))  # another project_id: fine
    with pytest.raises(Conflict), store.session() as uow:
        uow.models.create(custom("c2", "gpt-x"))
    with store.session() as uow:  # a different start date or unit is another key
        uow.models.create(custom("c3", "gpt-x", start_date=T0))
        uow.models.create(custom("c4", "gpt-x", unit="TOKENS"))


# -- the managed table ---------------------------------------------------------------------


def test_shipped_table_loads_as_exact_decimals() -> None:
    models = load_default_models()
    assert len(models) == 167
    gpt4o = next(m for m in models if m.model_name == "gpt-4o")
    assert gpt4o.project_id is None
    assert gpt4o.default_tier is not None and gpt4o.default_tier.prices["input"] == Decimal("0.0000025")
    assert gpt4o.updated_at is not None and gpt4o.updated_at.tzinfo is not None
    assert any(m.tokenizer_id is None for m in models)  # some entries have no tokenizerId
    assert len({m.id for m in models}) == len(models)


def test_sync_is_idempotent_and_rewrites_only_changed_models(store: OltpStore) -> None:
    defaults = load_default_models()
    assert sync(store, defaults) == 167
    tiers, prices = rows(store, "pricing_tiers"), rows(store, "prices")
    assert tiers == sum(len(m.pricing_tiers) for m in defaults)
    assert prices == sum(len(t.prices) for m in defaults for t in m.pricing_tiers)
    assert sync(store, defaults) == 0
    assert sync(store, load_default_models()) == 0
    assert (rows(store, "pricing_tiers"), rows(store, "prices")) == (tiers, prices)

    # A new release: one price changed (with a new updatedAt), one model gone, one new.
    gpt4o = next(m for m in defaults if m.model_name == "gpt-4o")
    default, *others = gpt4o.pricing_tiers
    cheaper = dataclasses.replace(default, prices={**default.prices, "input": Decimal("0.000002")})
    changed = dataclasses.replace(gpt4o, pricing_tiers=(cheaper, *others), updated_at=T0 + timedelta(days=300))
    # Same updatedAt: not rewritten, even though the content differs (the file's promise).
    stale = next(m for m in defaults if m.model_name == "gpt-4o-mini")
    stale_edit = dataclasses.replace(stale, match_pattern="(?i)^nothing$")
    removed = next(m for m in defaults if m.model_name == "babbage-002")
    release = [changed if m is gpt4o else stale_edit if m is stale else m for m in defaults if m is not removed]
    release.append(managed("new-model", "brand-new"))
    assert sync(store, release) == 3
    assert sync(store, release) == 0

    with store.session() as uow:
        catalogue = {m.model_name: m for m in uow.models.for_matching(None)}
    assert "babbage-002" not in catalogue and "brand-new" in catalogue
    assert catalogue["gpt-4o"].default_tier.prices["input"] == Decimal("0.000002")
    assert catalogue["gpt-4o"].updated_at == T0 + timedelta(days=300)
    assert [t.name for t in catalogue["gpt-4o"].pricing_tiers] == [t.name for t in gpt4o.pricing_tiers]
    assert catalogue["gpt-4o-mini"].match_pattern == stale.match_pattern
    assert len(catalogue) == 167


def test_sync_leaves_project_models_alone(store: OltpStore) -> None:
    sync(store, [managed("m1", "gpt-x")])
    with store.session() as uow:
        uow.models.create(custom("c1", "mine"))
    assert sync(store, []) == 1
    with store.session() as uow:
        assert [m.id for m in uow.models.all_for_matching(PROJECT)] == ["c1"]


# -- project models and the catalogue -------------------------------------------------------


def test_all_for_matching_returns_project_and_managed_models_with_decimal_prices(store: OltpStore) -> None:
    sync(store, load_default_models())
    tiered = ModelDefinition(
        id="c-tiered", project_id=PROJECT, model_name="my-model", match_pattern="(?i)^my-model$",
        pricing_tiers=(
            PricingTier("t0", "Standard", True, 0, (), {"input": Decimal("0.000001"), "output": Decimal("1E-12")}),
            PricingTier("t1", "Large", False, 1,
                        ({"usageDetailPattern": "input", "operator": "gt", "value": 1000, "caseSensitive": False},),
                        {"input": Decimal("0.000002"), "output": Decimal("0.123456789012")}),
        ),
        start_date=T0, unit="TOKENS", tokenizer_id=None, tokenizer_config=None,
    )
    with store.session() as uow:
        uow.models.create(tiered)
        uow.models.create(custom("c-other", "their-model", project_id=OTHER))
        catalogue = uow.models.all_for_matching(PROJECT)
    assert len(catalogue) == 168
    assert "c-other" not in {m.id for m in catalogue}
    mine = next(m for m in catalogue if m.id == "c-tiered")
    assert mine.project_id == PROJECT and mine.start_date == T0 and mine.unit == "TOKENS"
    assert mine.tokenizer_config is None and mine.created_at is not None
    assert [t.id for t in mine.pricing_tiers] == ["t0", "t1"]
    assert mine.pricing_tiers[1].conditions == tiered.pricing_tiers[1].conditions
    assert mine.pricing_tiers[0].prices == {"input": Decimal("0.000001"), "output": Decimal("1E-12")}
    assert mine.pricing_tiers[1].prices["output"] == Decimal("0.123456789012")
    assert all(isinstance(p, Decimal) for m in catalogue for t in m.pricing_tiers for p in t.prices.values())

    gpt4o = match_model("openai/GPT-4o", catalogue, PROJECT)
    assert gpt4o is not None and gpt4o.model_name == "gpt-4o" and gpt4o.project_id is None
    pricing = price_observation(gpt4o, {"input": 1000, "output": 100}, {})
    assert pricing.total_cost == Decimal("0.0035")
    assert match_model("my-model", catalogue, PROJECT) == mine


def test_list_get_delete_are_scoped_to_the_project(store: OltpStore) -> None:
    sync(store, [managed("m1", "alpha"), managed("m2", "beta")])
    with store.session() as uow:
        uow.models.create(custom("c1", "alpha"))
        uow.models.create(custom("c2", "zeta"))
        uow.models.create(custom("c3", "beta", project_id=OTHER))
    with store.session() as uow:
        page, total = uow.models.list_for_project(PROJECT, Page(1, 3))
        assert total == 4
        # By name; for one name the project's own first.
        assert [m.id for m in page] == ["c1", "m1", "m2"]
        assert uow.models.list_for_project(PROJECT, Page(2, 3))[0][0].id == "c2"
        assert uow.models.list_for_project(PROJECT, Page(3, 3)) == ([], 4)
        assert uow.models.get("m1", PROJECT).project_id is None
        assert uow.models.find("c3", PROJECT) is None
        with pytest.raises(NotFound):
            uow.models.get("c3", PROJECT)
        assert uow.models.delete("m1", PROJECT) is False  # managed: not the project's own
        assert uow.models.delete("c3", PROJECT) is False
        assert uow.models.delete("c1", PROJECT) is True
    assert rows(store, "pricing_tiers") == 4  # m1, m2, c2, c3: c1's tier went with it
    assert rows(store, "prices") == 2 * 2 + 1 + 1


def test_deleting_a_project_deletes_its_models(store: OltpStore) -> None:
    with store.session() as uow:
        uow.models.create(custom("c1", "mine"))
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM projects WHERE id = :id"), {"id": PROJECT})
    assert (rows(store, "models"), rows(store, "pricing_tiers"), rows(store, "prices")) == (0, 0, 0)


# -- ModelService on a real store --------------------------------------------------------------


def test_service_sync_create_delete_and_the_matching_cache(store: OltpStore) -> None:
    clock = FakeClock()
    service = ModelService(store, defaults=lambda: [managed("m1", "gpt-x")], clock=clock)
    assert service.sync_defaults() == 1
    assert service.sync_defaults() == 0
    scope = ProjectScope(project_id=PROJECT, public_key="pk")

    first = service.models_for_matching(PROJECT)
    assert [m.id for m in first] == ["m1"]
    assert service.models_for_matching(PROJECT) is first  # cached

    created = service.create_model(scope, {"modelName": "mine", "matchPattern": "(?i)^mine$", "inputPrice": 1e-6})
    assert created.default_tier.prices == {"input": Decimal("0.000001")}
    second = service.models_for_matching(PROJECT)  # create invalidated this project's entry
    assert {m.id for m in second} == {"m1", created.id}

    clock.now += 31  # expired, unchanged: the same list comes back (callers memoise by identity)
    assert service.models_for_matching(PROJECT) is second

    with pytest.raises(InvalidInput, match="already exists"):
        service.create_model(scope, {"modelName": "mine", "matchPattern": "x", "totalPrice": 1})
    with pytest.raises(NotFound, match="built-in"):
        service.delete_model(scope, "m1")
    with pytest.raises(NotFound):
        service.delete_model(ProjectScope(project_id=OTHER, public_key="pk2"), created.id)
    service.delete_model(scope, created.id)
    assert [m.id for m in service.models_for_matching(PROJECT)] == ["m1"]
    assert [m.id for m in service.models_for_matching(OTHER)] == ["m1"]
