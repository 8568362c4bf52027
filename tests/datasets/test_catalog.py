"""The catalog: every figure sourced, ids and aliases, regions, overrides; and the datasets
package's fallback table (used for bare model ids) agrees with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.catalog import CatalogError, load_catalog
from reconciler.datasets import fallback_profile, inspect_dataset

from .helpers import write_jsonl


def test_every_figure_names_a_known_source() -> None:
    catalog = load_catalog()
    assert catalog.ids()
    for info in catalog.models.values():
        assert set(info.sources) >= {
            "encoding",
            "example_token_limit",
            "training_usd_per_1m_tokens",
            "hosting_usd_per_hour",
            "regions",
            "methods",
            "vision",
        }
        for figure in info.sources.values():
            source = catalog.sources[figure.source]
            assert source.url.startswith("https://") and source.date


def test_prices_not_stated_by_azure_are_marked_as_assumptions() -> None:
    for info in load_catalog().models.values():
        price = info.sources["training_usd_per_1m_tokens"]
        if price.source == "openai-pricing":
            assert price.assumption


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-4.1", "gpt-4.1-2025-04-14"),
        ("gpt-4o-2099-01-01", None),
        ("llama", None),
    ],
)
def test_model_lookup(model_id: str, expected: str | None) -> None:
    info = load_catalog().model(model_id)
    assert (info.id if info else None) == expected


def test_limits_encodings_and_methods() -> None:
    catalog = load_catalog()
    nano, gpt4o, babbage = (catalog.model(m) for m in ("gpt-4.1-nano", "gpt-4o", "babbage-002"))
    assert nano and gpt4o and babbage
    assert (nano.example_token_limit, nano.encoding) == (32_768, "o200k_base")
    assert babbage.encoding == "cl100k_base"
    assert "dpo" in gpt4o.methods and gpt4o.vision
    assert gpt4o.training_cost_usd(1_000_000, 2) == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("model", "region", "vision", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", "North Central US", False, True),  # standard training
        ("gpt-4o-mini", "westus", False, True),  # global training
        ("o4-mini", "westus", False, False),  # no global training
        ("o4-mini", "eastus2", False, True),
        ("gpt-4.1-nano", "polandcentral", False, False),  # excluded there
        ("gpt-4o", "japaneast", True, False),  # no vision there
        ("gpt-4o", "japaneast", False, True),
        ("gpt-4o", "antarctica", False, False),
        ("unknown-model", "eastus2", False, False),
    ],
)
def test_fine_tunable_in(model: str, region: str, vision: bool, expected: bool) -> None:
    assert load_catalog().fine_tunable_in(model, region, vision=vision) is expected


def test_override_replaces_and_adds(tmp_path: Path) -> None:
    override = tmp_path / "catalog.yaml"
    override.write_text(
        """
sources:
  contract: {url: "https://example.com/our-agreement", date: "2026-01-01"}
models:
  - id: gpt-4o-mini-2024-07-18
    aliases: [gpt-4o-mini]
    encoding: {value: o200k_base, source: contract}
    exampleTokenLimit: {value: 65536, source: contract}
    methods: {value: [supervised], source: contract}
    vision: {value: false, source: contract}
    regions: {value: [westeurope], source: contract}
    globalTraining: {value: false, source: contract}
    trainingUsdPer1mTokens: {value: 2.5, source: contract}
    hostingUsdPerHour: {value: 1.0, source: contract}
  - id: my-model
    encoding: {value: o200k_base, source: contract}
    exampleTokenLimit: {value: 1000, source: contract}
    methods: {value: [supervised], source: contract}
    vision: {value: false, source: contract}
    regions: {value: [westeurope], source: contract}
    globalTraining: {value: false, source: contract}
    trainingUsdPer1mTokens: {value: null, source: contract}
    hostingUsdPerHour: {value: null, source: contract}
"""
    )
    catalog = load_catalog(override)
    mini = catalog.model("gpt-4o-mini")
    assert mini and mini.training_usd_per_1m_tokens == 2.5
    assert catalog.fine_tunable_in("gpt-4o-mini", "West Europe")
    assert not catalog.fine_tunable_in("gpt-4o-mini", "northcentralus")
    assert catalog.model("my-model") and catalog.model("gpt-4o-2024-08-06")


def test_invalid_override_is_a_located_error(tmp_path: Path) -> None:
    override = tmp_path / "catalog.yaml"
    override.write_text("models: [{id: x}]\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(override)
    assert caught.value.code == "CATALOG_INVALID" and caught.value.location
    with pytest.raises(CatalogError):
        load_catalog(tmp_path / "missing.yaml")


def test_fallback_profiles_agree_with_the_catalog() -> None:
    for info in load_catalog().models.values():
        for model_id in (info.id, *info.aliases):
            fallback = fallback_profile(model_id)
            assert fallback is not None, model_id
            assert fallback.encoding == info.encoding, model_id
            assert fallback.example_token_limit == info.example_token_limit, model_id
            assert set(fallback.methods) == set(info.methods), model_id
            assert fallback.vision == info.vision, model_id


def test_model_info_is_accepted_as_base_model(tmp_path: Path) -> None:
    info = load_catalog().model("gpt-35-turbo-0613")
    path = write_jsonl(tmp_path / "x.jsonl", [])
    report = inspect_dataset(path, base_model=info)
    assert report.tokens is not None
    assert (report.tokens.encoding, report.tokens.limit) == ("cl100k_base", 4096)
