"""Pure: estimates (training tokens × epochs, cost, hosting) and catalog pre-flight checks.

Always labelled as estimates where they are shown. Prices come from the catalog, which cites
its sources; the default-epoch rule is the OpenAI cookbook's heuristic, not Azure's own.
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol

from reconciler.catalog.models import normalize_region
from reconciler.datasets import default_epochs
from reconciler.desired import DesiredFineTune, DesiredState
from reconciler.errors import Diagnostic, error, warning
from reconciler.plans import (
    Action,
    Estimates,
    HostingEstimate,
    Plan,
    PutDeployment,
    TrainingEstimate,
    TrainJob,
)


class ModelFacts(Protocol):
    id: str
    training_usd_per_1m_tokens: float | None
    hosting_usd_per_hour: float | None
    methods: Any
    sources: Any


class CatalogLike(Protocol):
    def model(self, model_id: str) -> Any: ...

    def fine_tunable_in(self, model_id: str, region: str) -> bool: ...

    def known_regions(self) -> frozenset[str]: ...

    def ids(self) -> list[str]: ...


# The cost-management page: Developer Tier deployments carry no hourly hosting fee.
DEVELOPER_TIER = "DeveloperTier"


def root_base_model(desired: DesiredState, ft: DesiredFineTune) -> str:
    """The base model a chain starts from: its prices and limits apply to every step."""
    while ft.upstream:
        ft = desired.fine_tune(ft.upstream)
    return ft.base_model or ""


def estimate(plan: Plan, desired: DesiredState, catalog: CatalogLike) -> Plan:
    training = tuple(
        _training(desired, desired.fine_tune(c.fine_tune), catalog)
        for c in plan.changes
        if isinstance(c, TrainJob)
    )
    hosting = tuple(
        _hosting(desired, c, c.fine_tune, catalog)
        for c in plan.changes
        if isinstance(c, PutDeployment)
        and c.action in (Action.CREATE, Action.REPLACE)
        and c.fine_tune is not None
    )
    return plan.model_copy(update={"estimates": Estimates(training=training, hosting=hosting)})


def _training(desired: DesiredState, ft: DesiredFineTune, catalog: CatalogLike) -> TrainingEstimate:
    base = root_base_model(desired, ft)
    info = catalog.model(base)
    facts = desired.facts[ft.training_dataset]
    given = ft.method.hyperparameters.epochs
    epochs = (
        given
        if isinstance(given, int)
        else (default_epochs(facts.examples) if facts.examples else None)
    )
    trained = facts.billable_tokens * epochs if facts.billable_tokens and epochs else None
    price = info.training_usd_per_1m_tokens if info else None
    cost = trained / 1e6 * price if trained is not None and price is not None else None
    return TrainingEstimate(
        fine_tune=ft.name,
        base_model=base,
        examples=facts.examples,
        billable_tokens=facts.billable_tokens,
        epochs=epochs,
        epochs_heuristic=not isinstance(given, int),
        trained_tokens=trained,
        cost_usd=cost,
        price_source=_source(catalog, info, "training_usd_per_1m_tokens"),
    )


def _hosting(
    desired: DesiredState, change: PutDeployment, fine_tune: str, catalog: CatalogLike
) -> HostingEstimate:
    info = catalog.model(root_base_model(desired, desired.fine_tune(fine_tune)))
    if change.target.sku.name == DEVELOPER_TIER:
        return HostingEstimate(
            deployment=str(change.address),
            usd_per_hour=0.0,
            price_source=_source(catalog, info, "hosting_usd_per_hour"),
        )
    return HostingEstimate(
        deployment=str(change.address),
        usd_per_hour=info.hosting_usd_per_hour if info else None,
        price_source=_source(catalog, info, "hosting_usd_per_hour"),
    )


def _source(catalog: CatalogLike, info: Any, figure: str) -> str | None:
    """Where a price comes from: the catalog's citation (page and date), and any assumption."""
    sourced = (info.sources or {}).get(figure) if info is not None else None
    if sourced is None:
        return None
    cited = getattr(catalog, "sources", {}).get(sourced.source)
    text = f"{cited.url} ({cited.date})" if cited else str(sourced.source)
    return f"{text}; {sourced.assumption}" if sourced.assumption else text


def preflight(desired: DesiredState, catalog: CatalogLike) -> list[Diagnostic]:
    """The catalog's checks, offline: `validate` runs them as `plan` does."""
    problems = [p for name in desired.accounts for p in _region(desired, name, catalog)]
    for ft in desired.fine_tunes:
        if not ft.upstream:  # a chain continues its upstream's model: the root was checked
            problems.extend(_base_model(desired, ft, catalog))
    return problems


def _region(desired: DesiredState, name: str, catalog: CatalogLike) -> list[Diagnostic]:
    region = desired.accounts[name].region
    known = catalog.known_regions()
    if normalize_region(region) in known:
        return []
    close = difflib.get_close_matches(normalize_region(region), sorted(known), n=3)
    hint = (
        f"did you mean {' or '.join(close)}?" if close else "use an Azure region name, e.g. eastus2"
    )
    return [
        error(
            "PREFLIGHT_UNKNOWN_REGION",
            f"Account {name!r}: {region!r} is not an Azure OpenAI region the catalog knows",
            desired.account_locations.get(name),
            hint,
        )
    ]


def _base_model(
    desired: DesiredState, ft: DesiredFineTune, catalog: CatalogLike
) -> list[Diagnostic]:
    region = desired.accounts[ft.account].region
    info = catalog.model(ft.base_model or "")
    method = ft.method.type
    if info is None:
        close = difflib.get_close_matches(ft.base_model or "", catalog.ids(), n=3)
        return [
            error(
                "PREFLIGHT_UNKNOWN_MODEL",
                f"FineTune {ft.name!r}: base model "
                f"{ft.base_model!r} is not a fine-tunable model in the catalog",
                ft.location,
                (f"did you mean {' or '.join(close)}? " if close else "")
                + "use a model listed in reconciler/catalog, or add it with Project.spec.catalog",
            )
        ]
    if not catalog.fine_tunable_in(ft.base_model or "", region):
        return [
            error(
                "PREFLIGHT_REGION",
                f"FineTune {ft.name!r}: {ft.base_model} cannot be "
                f"fine-tuned in region {region!r} (account {ft.account!r})",
                ft.location,
                "train in an account in a supported region and deploy the result anywhere",
            )
        ]
    if method not in _methods(info):
        return [
            error(
                "PREFLIGHT_METHOD",
                f"FineTune {ft.name!r}: {ft.base_model} does not support method {method!r}",
                ft.location,
                f"supported methods: {', '.join(sorted(_methods(info)))}",
            )
        ]
    if info.training_usd_per_1m_tokens is None:
        return [
            warning(
                "PREFLIGHT_NO_PRICE",
                f"no training price for {ft.base_model} in the catalog",
                ft.location,
                "the cost estimate is left out",
            )
        ]
    return []


def _methods(info: Any) -> set[str]:
    return {str(m) for m in (info.methods or ())}
