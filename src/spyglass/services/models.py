"""Model price definitions: the managed defaults, a project's own models, and the catalogue pricing reads.

The managed defaults are the price table shipped with Spyglass; `sync_defaults` runs at
every start and rewrites only what a new release changed. Projects add their own models
through `/api/public/models`; those win over the managed ones when both match.

`models_for_matching` runs for every ingested batch, so each project's catalogue is kept
in memory for a short time (`MATCHING_CACHE_TTL_SECONDS`) and dropped at once when this
process creates or deletes one of the project's models. Another process sees such a
change when its own entry expires. While nothing changed, the same list object is handed
out again, so a caller may memoise its matches by the list's identity.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from spyglass.domain.access import ProjectScope
from spyglass.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from spyglass.domain.pricing import UNITS, InvalidPattern, ModelDefinition, PricingTier, compile_pattern, legacy_prices
from spyglass.domain.queries import Page
from spyglass.domain.values import datetime_from_micros, parse_timestamp
from spyglass.storage.oltp.default_models import load_default_models
from spyglass.storage.oltp.store import OltpStore

log = logging.getLogger(__name__)

MATCHING_CACHE_TTL_SECONDS: Final = 30.0
MATCHING_CACHE_MAX_PROJECTS: Final = 10_000

DEFAULT_TIER_NAME: Final = "Standard"
TOKENIZERS: Final = ("openai", "claude")
USAGE_OPERATORS: Final = ("gt", "gte", "lt", "lte", "eq", "neq")
ATTRIBUTE_SOURCES: Final = ("model_parameters", "metadata")
# What the price column holds: 12 decimal places, below 10^18.
MIN_PRICE: Final = Decimal("1e-12")
MAX_PRICE: Final = Decimal("1e12")
MAX_NAME_LENGTH: Final = 255
MAX_TIER_NAME_LENGTH: Final = 100
MAX_PRIORITY: Final = 999
MAX_CONDITION_KEY_LENGTH: Final = 200
_FLAT_PRICES: Final = (("inputPrice", "input"), ("outputPrice", "output"), ("totalPrice", "total"))


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    models: list[ModelDefinition]


class ModelService:
    def __init__(
        self,
        store: OltpStore,
        *,
        defaults: Callable[[], list[ModelDefinition]] = load_default_models,
        clock: Callable[[], float] = time.monotonic,
        cache_ttl: float = MATCHING_CACHE_TTL_SECONDS,
        cache_max_projects: int = MATCHING_CACHE_MAX_PROJECTS,
    ) -> None:
        self._store = store
        self._defaults = defaults
        self._clock = clock
        self._ttl = cache_ttl
        self._max_projects = cache_max_projects
        self._lock = threading.Lock()
        self._managed: _Entry | None = None
        self._catalogues: dict[str, _Entry] = {}

    # -- managed defaults ------------------------------------------------------------

    def sync_defaults(self) -> int:
        """Upsert the shipped price table as the managed models; returns how many changed.

        Another process starting at the same time may insert the same rows first; the
        conflict that follows is retried once, and then finds nothing left to do.
        """
        definitions = self._defaults()
        for attempt in (1, 2):
            try:
                with self._store.session() as uow:
                    changed = uow.models.sync_managed(definitions)
                break
            except Conflict:
                if attempt == 2:
                    raise
                log.info("managed model prices changed concurrently; syncing again")
        if changed:
            log.info("model prices: %d managed model definition(s) added, updated or removed", changed)
        self.invalidate()
        return changed

    # -- the public API --------------------------------------------------------------

    def list_models(self, scope: ProjectScope, page: int, limit: int) -> tuple[list[ModelDefinition], int]:
        """One page of the project's own and the managed models, and how many there are in all."""
        with self._store.session() as uow:
            return uow.models.list_for_project(scope.project_id, Page(page=page, limit=limit))

    def get_model(self, scope: ProjectScope, model_id: str) -> ModelDefinition:
        with self._store.session() as uow:
            return uow.models.get(model_id, scope.project_id)

    def create_model(self, scope: ProjectScope, body: Mapping[str, Any]) -> ModelDefinition:
        """Validate a `CreateModelRequest` body and store it as one of the project's models."""
        model = new_model(scope.project_id, body)
        with self._store.session() as uow:
            if uow.models.find_by_name(scope.project_id, model.model_name) is not None:
                raise InvalidInput(f"Model name '{model.model_name}' already exists in project")
            created = uow.models.create(model)
        self.invalidate(scope.project_id)
        return created

    def delete_model(self, scope: ProjectScope, model_id: str) -> None:
        """Delete one of the project's models; managed and other projects' models are not found."""
        with self._store.session() as uow:
            model = uow.models.get(model_id, scope.project_id)
            if model.project_id is None:
                # Langfuse answers 404 here too; the message says why.
                raise NotFound(
                    f"Model {model_id} ({model.model_name}) is a built-in model and cannot be deleted. "
                    "To change its prices, create a model with the same modelName in your project: "
                    "your own definition takes precedence."
                )
            uow.models.delete(model_id, scope.project_id)
        self.invalidate(scope.project_id)

    # -- the catalogue for pricing -----------------------------------------------------

    def models_for_matching(self, project_id: str) -> list[ModelDefinition]:
        """The project's own models and the managed ones (a cached list: do not modify it)."""
        now = self._clock()
        with self._lock:
            entry = self._catalogues.get(project_id)
        if entry is not None and entry.expires > now:
            return entry.models
        try:
            managed = self._managed_models(now)
            with self._store.session() as uow:
                owned = uow.models.for_matching(project_id)
        except Unavailable:
            if entry is None:
                raise
            log.warning("OLTP database unavailable; pricing project %s with its last known models", project_id)
            return entry.models
        return self._remember(project_id, owned + managed, now)

    def prices_of(self, project_id: str, model_ids: set[str]) -> dict[str, dict[str, Any]]:
        """The flat legacy prices of the given models, as observation reads show them."""
        return {model.id: legacy_prices(model) for model in self.models_for_matching(project_id)
                if model.id in model_ids}

    def invalidate(self, project_id: str | None = None) -> None:
        """Forget one project's catalogue, or everything (also the managed models) for None."""
        with self._lock:
            if project_id is None:
                self._managed = None
                self._catalogues.clear()
            else:
                self._catalogues.pop(project_id, None)

    def _managed_models(self, now: float) -> list[ModelDefinition]:
        with self._lock:
            entry = self._managed
        if entry is not None and entry.expires > now:
            return entry.models
        with self._store.session() as uow:
            models = uow.models.for_matching(None)
        with self._lock:
            if entry is not None and _fingerprint(entry.models) == _fingerprint(models):
                models = entry.models
            self._managed = _Entry(now + self._ttl, models)
        return models

    def _remember(self, project_id: str, models: list[ModelDefinition], now: float) -> list[ModelDefinition]:
        with self._lock:
            old = self._catalogues.get(project_id)
            if old is not None and _fingerprint(old.models) == _fingerprint(models):
                models = old.models  # unchanged: keep the identity callers may memoise by
            elif old is None and len(self._catalogues) >= self._max_projects:
                self._catalogues = {key: e for key, e in self._catalogues.items() if e.expires > now}
                if len(self._catalogues) >= self._max_projects:
                    self._catalogues.clear()
            self._catalogues[project_id] = _Entry(now + self._ttl, models)
        return models


def _fingerprint(models: Sequence[ModelDefinition]) -> list[tuple[str, object]]:
    return [(model.id, model.updated_at) for model in models]


# -- validation of a CreateModelRequest -------------------------------------------------


def new_model(project_id: str, body: Mapping[str, Any]) -> ModelDefinition:
    """The model a `POST /api/public/models` body describes (ids generated), or `InvalidInput`.

    Langfuse's rules: flat `inputPrice`/`outputPrice`/`totalPrice` or `pricingTiers`, not
    both and not neither; `totalPrice` only alone; exactly one default tier (priority 0, no
    conditions); every other tier with conditions, a unique priority and name, and the
    default tier's usage types.
    """
    if not isinstance(body, Mapping):
        raise InvalidInput("Request body must be a JSON object")
    model_name = _text(body.get("modelName"), "modelName", MAX_NAME_LENGTH)
    match_pattern = _text(body.get("matchPattern"), "matchPattern", None)
    try:
        compile_pattern(match_pattern)
    except InvalidPattern as exc:
        raise InvalidInput(str(exc)) from None
    unit = body.get("unit")
    if unit is not None and unit not in UNITS:
        raise InvalidInput(f"unit must be one of {', '.join(UNITS)} (or null), got {unit!r}")
    tokenizer_id = body.get("tokenizerId")
    if tokenizer_id is not None and tokenizer_id not in TOKENIZERS:
        raise InvalidInput(f"tokenizerId must be one of {', '.join(TOKENIZERS)} (or null), got {tokenizer_id!r}")
    tokenizer_config = body.get("tokenizerConfig")
    if tokenizer_config is not None and not isinstance(tokenizer_config, dict):
        raise InvalidInput("tokenizerConfig must be a JSON object (or null)")

    model_id = str(uuid.uuid4())
    flat = {usage: _price(body[name], name) for name, usage in _FLAT_PRICES if body.get(name) is not None}
    tiers_body = body.get("pricingTiers")
    if tiers_body is not None and not isinstance(tiers_body, list):
        raise InvalidInput("pricingTiers must be a list of pricing tiers (or null)")
    if flat and tiers_body:
        raise InvalidInput("Cannot provide both flat prices (inputPrice/outputPrice/totalPrice) and pricingTiers")
    if tiers_body:
        tiers = _tiers(tiers_body)
    elif flat:
        if "total" in flat and len(flat) > 1:
            raise InvalidInput("totalPrice cannot be set together with inputPrice or outputPrice")
        tiers = (PricingTier(id=f"{model_id}_tier_default", name=DEFAULT_TIER_NAME, is_default=True, priority=0,
                             conditions=(), prices=flat),)
    else:
        raise InvalidInput("Must provide either flat prices (inputPrice/outputPrice/totalPrice) or pricingTiers")

    return ModelDefinition(
        id=model_id,
        project_id=project_id,
        model_name=model_name,
        match_pattern=match_pattern,
        pricing_tiers=tiers,
        start_date=_start_date(body.get("startDate")),
        unit=unit,
        tokenizer_id=tokenizer_id,
        tokenizer_config=tokenizer_config,
    )


def _tiers(items: list[Any]) -> tuple[PricingTier, ...]:
    tiers = tuple(_tier(item, f"pricingTiers[{index}]") for index, item in enumerate(items))
    defaults = [tier for tier in tiers if tier.is_default]
    if len(defaults) != 1:
        raise InvalidInput(
            f"pricingTiers must contain exactly one default tier (isDefault: true), found {len(defaults)}"
        )
    default = defaults[0]
    if default.priority != 0:
        raise InvalidInput(f'The default pricing tier "{default.name}" must have priority 0')
    if default.conditions:
        raise InvalidInput(f'The default pricing tier "{default.name}" must have no conditions')
    for tier in tiers:
        if not tier.is_default and not tier.conditions:
            raise InvalidInput(
                f'Pricing tier "{tier.name}" is not the default tier, so it needs at least one condition'
            )
    if len({tier.priority for tier in tiers}) != len(tiers):
        raise InvalidInput("Pricing tier priorities must be unique within a model")
    if len({tier.name for tier in tiers}) != len(tiers):
        raise InvalidInput("Pricing tier names must be unique within a model")
    expected = sorted(default.prices)
    for tier in tiers:
        if sorted(tier.prices) != expected:
            raise InvalidInput(
                f'Pricing tier "{tier.name}" must price the same usage types as the default tier: '
                f"expected [{', '.join(expected)}], got [{', '.join(sorted(tier.prices))}]"
            )
    # Stored and shown in evaluation order.
    return tuple(sorted(tiers, key=lambda tier: tier.priority))


def _tier(item: Any, where: str) -> PricingTier:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object")
    name = _text(item.get("name"), f"{where}.name", MAX_TIER_NAME_LENGTH).strip()
    is_default = item.get("isDefault", False)
    if not isinstance(is_default, bool):
        raise InvalidInput(f"{where}.isDefault must be true or false")
    priority = item.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        raise InvalidInput(f"{where}.priority must be an integer from 0 to {MAX_PRIORITY}")
    conditions = item.get("conditions", [])
    if not isinstance(conditions, list):
        raise InvalidInput(f"{where}.conditions must be a list")
    prices = item.get("prices")
    if not isinstance(prices, Mapping):
        raise InvalidInput(f"{where}.prices must be an object of usage type → price (USD per unit)")
    if not prices:
        raise InvalidInput(f'Pricing tier "{name}" must define at least one price')
    for usage_type in prices:
        if not usage_type or len(usage_type) > MAX_NAME_LENGTH:
            raise InvalidInput(f"{where}.prices: usage types must be 1 to {MAX_NAME_LENGTH} characters")
    return PricingTier(
        id=str(uuid.uuid4()),
        name=name,
        is_default=is_default,
        priority=priority,
        conditions=tuple(_condition(c, f"{where}.conditions[{i}]") for i, c in enumerate(conditions)),
        prices={usage_type: _price(price, f"{where}.prices.{usage_type}") for usage_type, price in prices.items()},
    )


def _condition(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object")
    if "usageDetailPattern" in item:
        pattern = item["usageDetailPattern"]
        if not isinstance(pattern, str):
            raise InvalidInput(f"{where}.usageDetailPattern must be a string")
        try:
            compile_pattern(pattern)
        except InvalidPattern as exc:
            # compile_pattern speaks of matchPattern; here it is the usage pattern.
            raise InvalidInput(f"{where}: {str(exc).replace('matchPattern', 'usageDetailPattern')}") from None
        operator = item.get("operator")
        if operator not in USAGE_OPERATORS:
            raise InvalidInput(f"{where}.operator must be one of {', '.join(USAGE_OPERATORS)}, got {operator!r}")
        value = item.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidInput(f"{where}.value must be a non-negative number")
        case_sensitive = item.get("caseSensitive", False)
        if not isinstance(case_sensitive, bool):
            raise InvalidInput(f"{where}.caseSensitive must be true or false")
        return {"usageDetailPattern": pattern, "operator": operator, "value": value, "caseSensitive": case_sensitive}
    if "source" in item:
        source = item["source"]
        if source not in ATTRIBUTE_SOURCES:
            raise InvalidInput(f"{where}.source must be one of {', '.join(ATTRIBUTE_SOURCES)}, got {source!r}")
        key = item.get("key")
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_CONDITION_KEY_LENGTH:
            raise InvalidInput(f"{where}.key must be a string of 1 to {MAX_CONDITION_KEY_LENGTH} characters")
        if item.get("operator") != "in":
            raise InvalidInput(f'{where}.operator must be "in" for a {source} condition')
        values = item.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise InvalidInput(f"{where}.values must be a non-empty list of non-empty strings")
        return {"source": source, "key": key, "operator": "in", "values": list(values)}
    raise InvalidInput(
        f"{where} must be a usage condition (usageDetailPattern, operator, value) or an attribute condition "
        '(source, key, operator "in", values)'
    )


def _text(value: Any, name: str, max_length: int | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is required and must be a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{name} must be at most {max_length} characters")
    return value


def _price(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number (USD per unit), got {value!r}")
    # str() of a float is its shortest repr: 2.5e-06 becomes exactly 0.0000025.
    price = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not price.is_finite():
        raise InvalidInput(f"{name} must be a finite number")
    if price < 0:
        raise InvalidInput(f"{name} must not be negative, got {value}")
    if price > MAX_PRICE:
        raise InvalidInput(f"{name} must be at most {MAX_PRICE:f} USD per unit, got {value}")
    if 0 < price < MIN_PRICE:
        raise InvalidInput(f"{name} is below the smallest supported price of 1e-12 USD per unit, got {value}")
    return price


def _start_date(value: Any) -> datetime | None:
    if value is None:
        return None
    micros = parse_timestamp(value) if isinstance(value, str) else None
    if micros is None:
        raise InvalidInput(f"startDate must be an ISO 8601 date-time (or null), got {value!r}")
    return datetime_from_micros(micros)
