"""Loading the packaged catalog and merging a project's override file onto it."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.errors import FtopsError, Location

from .models import CatalogFile, ModelInfo, Source, normalize_region


class CatalogError(FtopsError):
    pass


class Catalog:
    def __init__(self, data: CatalogFile) -> None:
        self.data = data
        self.sources: dict[str, Source] = dict(data.sources)
        self.models: dict[str, ModelInfo] = {e.id: ModelInfo.of(e) for e in data.models}
        regions = data.global_training_regions
        self.global_training_regions = frozenset(
            normalize_region(r) for r in (regions.value if regions else [])
        )
        exclusions = data.global_training_exclusions
        self.global_training_exclusions = {
            normalize_region(r): frozenset(ids)
            for r, ids in (exclusions.value if exclusions else {}).items()
        }
        zone = data.data_zone_regions
        self.data_zone_regions = frozenset(
            normalize_region(r) for r in (zone.value if zone else [])
        )
        self.tier_price_factors = data.tier_price_factors
        self.rft_cost_cap_usd = data.rft_cost_cap_usd
        self.rft_tokens_per_hour = data.rft_tokens_per_hour

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Sourced[T] is a generic pydantic model, which pickle cannot name: send the file's JSON.
        return _catalog_of_json, (self.data.model_dump_json(by_alias=True),)

    def model(self, model_id: str) -> ModelInfo | None:
        """The model by versioned id (`gpt-4o-mini-2024-07-18`) or by alias (`gpt-4o-mini`,
        the current fine-tunable version). A version the catalog does not list is None."""
        if model_id in self.models:
            return self.models[model_id]
        return next((m for m in self.models.values() if model_id in m.aliases), None)

    def fine_tunable_in(self, model: str | ModelInfo, region: str, *, vision: bool = False) -> bool:
        """Whether a job for `model` can run from an account in `region` (standard regional
        training there, or global training offered there)."""
        info = self.model(model) if isinstance(model, str) else model
        if info is None:
            return False
        where = normalize_region(region)
        if where in (normalize_region(r) for r in info.regions):
            return True
        excluded = self.global_training_exclusions.get(where, frozenset())
        if info.id in excluded or (vision and "vision" in excluded):
            return False
        return info.global_training and where in self.global_training_regions

    def trains_on_tier(self, info: ModelInfo, tier: str, region: str) -> bool:
        """Whether a job of `info` on this training tier can run from an account in `region`."""
        if tier not in info.tiers:
            return False
        where = normalize_region(region)
        if tier == "Standard":
            return where in (normalize_region(r) for r in info.regions)
        if info.id in self.global_training_exclusions.get(where, frozenset()):
            return False
        if tier == "DataZone":
            return where in self.data_zone_regions
        return where in self.global_training_regions  # Global, Developer

    def tier_regions(self, info: ModelInfo, tier: str) -> list[str]:
        """The regions a tier trains `info` from, for a hint."""
        candidates = {normalize_region(r) for r in info.regions} | self.global_training_regions
        return sorted(r for r in candidates if self.trains_on_tier(info, tier, r))

    def tier_price_factor(self, tier: str | None) -> float:
        factors = self.tier_price_factors.value if self.tier_price_factors else {}
        return factors.get(tier or "Standard", 1.0)

    def ids(self) -> list[str]:
        return sorted(self.models)

    def known_regions(self) -> frozenset[str]:
        """Every region the catalog names: a model's training region, or global training's."""
        regional = {normalize_region(r) for m in self.models.values() for r in m.regions}
        return frozenset(regional) | self.global_training_regions


def _catalog_of_json(text: str) -> Catalog:
    return Catalog(CatalogFile.model_validate_json(text))


def load_catalog(override: Path | None = None) -> Catalog:
    """The packaged catalog, with `override`'s models replacing or adding entries by id."""
    data = packaged()
    if override is not None:
        data = merged(data, read_file(override))
    return Catalog(data)


@cache
def packaged() -> CatalogFile:
    text = (resources.files(__package__) / "catalog.json").read_text(encoding="utf-8")
    return CatalogFile.model_validate(json.loads(text))


def read_file(path: Path) -> CatalogFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
        return CatalogFile.model_validate(raw or {})
    except OSError as exc:
        raise CatalogError(
            f"cannot read the catalog override: {exc}",
            code="CATALOG_NOT_FOUND",
            location=Location.of_file(path),
        ) from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise CatalogError(
            f"invalid catalog override: {exc}",
            code="CATALOG_INVALID",
            location=Location.of_file(path),
            hint="Use the shape of reconciler/catalog/catalog.json; every figure needs a source.",
        ) from exc


def merged(base: CatalogFile, extra: CatalogFile) -> CatalogFile:
    models = {m.id: m for m in base.models}
    models.update({m.id: m for m in extra.models})
    return base.model_copy(
        update={
            "sources": {**base.sources, **extra.sources},
            "global_training_regions": extra.global_training_regions
            or base.global_training_regions,
            "global_training_exclusions": extra.global_training_exclusions
            or base.global_training_exclusions,
            "tier_price_factors": extra.tier_price_factors or base.tier_price_factors,
            "data_zone_regions": extra.data_zone_regions or base.data_zone_regions,
            "rft_cost_cap_usd": extra.rft_cost_cap_usd or base.rft_cost_cap_usd,
            "rft_tokens_per_hour": extra.rft_tokens_per_hour or base.rft_tokens_per_hour,
            "models": list(models.values()),
        }
    )
