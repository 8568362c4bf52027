"""The catalog's types: a sourced figure, a fine-tunable base model, and the catalog itself."""

from __future__ import annotations

import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

VERSION_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class Sourced(BaseModel, Generic[T]):
    """A figure and where it comes from; `assumption` says why an unstated figure is used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: T
    source: str
    assumption: str | None = None


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    date: str
    what: str = ""


class ModelEntry(BaseModel):
    """One model as the catalog file writes it (camelCase, every figure sourced)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str
    aliases: list[str] = []
    encoding: Sourced[str]
    example_token_limit: Sourced[int] = Field(alias="exampleTokenLimit")
    methods: Sourced[list[str]]
    vision: Sourced[bool]
    regions: Sourced[list[str]]
    global_training: Sourced[bool] = Field(alias="globalTraining")
    training_usd_per_1m_tokens: Sourced[float | None] = Field(alias="trainingUsdPer1mTokens")
    hosting_usd_per_hour: Sourced[float | None] = Field(alias="hostingUsdPerHour")
    # The training tiers (trainingType) a model offers; unset: Standard, and Global where
    # `globalTraining` says so.
    training_tiers: Sourced[list[str]] | None = Field(None, alias="trainingTiers")
    # The account kinds that can fine-tune it (open models: AIServices only); unset: any.
    account_kinds: Sourced[list[str]] | None = Field(None, alias="accountKinds")
    # Reinforcement fine-tuning is billed by the hour of training, not by the token.
    training_usd_per_hour: Sourced[float | None] | None = Field(None, alias="trainingUsdPerHour")


class ModelInfo(BaseModel):
    """A fine-tunable base model, flattened for callers; `sources` says where each figure is from.

    It satisfies `reconciler.datasets.ModelProfile`, so it can be passed as `base_model`.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    aliases: tuple[str, ...] = ()
    encoding: str
    example_token_limit: int
    methods: tuple[str, ...]
    vision: bool
    regions: tuple[str, ...]
    global_training: bool
    training_usd_per_1m_tokens: float | None
    hosting_usd_per_hour: float | None
    training_tiers: tuple[str, ...] | None = None
    account_kinds: tuple[str, ...] | None = None
    training_usd_per_hour: float | None = None
    sources: dict[str, Sourced[Any]]

    @property
    def tiers(self) -> tuple[str, ...]:
        if self.training_tiers is not None:
            return self.training_tiers
        return ("Standard", "Global") if self.global_training else ("Standard",)

    @classmethod
    def of(cls, entry: ModelEntry) -> ModelInfo:
        figures = {
            name: getattr(entry, name)
            for name in ModelEntry.model_fields
            if name not in ("id", "aliases") and getattr(entry, name) is not None
        }
        return cls(
            id=entry.id,
            aliases=tuple(entry.aliases),
            sources=figures,
            **{
                name: tuple(f.value) if isinstance(f.value, list) else f.value
                for name, f in figures.items()
            },
        )

    def training_cost_usd(self, billable_tokens: int, epochs: int) -> float | None:
        """price = training tokens x epochs x price per token (Azure's cost page)."""
        if self.training_usd_per_1m_tokens is None:
            return None
        return billable_tokens * epochs * self.training_usd_per_1m_tokens / 1_000_000


class CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    about: str = ""
    sources: dict[str, Source] = {}
    global_training_regions: Sourced[list[str]] | None = Field(None, alias="globalTrainingRegions")
    # region -> model ids (or "vision") that global training there does not cover
    global_training_exclusions: Sourced[dict[str, list[str]]] | None = Field(
        None, alias="globalTrainingExclusions"
    )
    # Training tiers: the price of each relative to Standard, and where DataZone training runs.
    tier_price_factors: Sourced[dict[str, float]] | None = Field(None, alias="tierPriceFactors")
    data_zone_regions: Sourced[list[str]] | None = Field(None, alias="dataZoneRegions")
    rft_cost_cap_usd: Sourced[float] | None = Field(None, alias="rftCostCapUsd")
    rft_tokens_per_hour: Sourced[float] | None = Field(None, alias="rftTokensPerHour")
    models: list[ModelEntry] = []


def normalize_region(region: str) -> str:
    """'North Central US' and 'northcentralus' are the same Azure region."""
    return region.replace(" ", "").replace("-", "").lower()


def base_id(model_id: str) -> str:
    """`gpt-4o-mini-2024-07-18` -> `gpt-4o-mini`; ids without a version are unchanged."""
    return VERSION_SUFFIX.sub("", model_id)
