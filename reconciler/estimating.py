"""Pure: estimates (training tokens × epochs, cost, hosting) and catalog pre-flight checks.

Always labelled as estimates where they are shown. Prices come from the catalog, which cites
its sources; the default-epoch rule is the OpenAI cookbook's heuristic, not Azure's own.
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol

from pydantic.alias_generators import to_camel

from reconciler.catalog.models import normalize_region
from reconciler.datasets import default_epochs
from reconciler.desired import DesiredFineTune, DesiredState
from reconciler.errors import Diagnostic, error, warning
from reconciler.plans import (
    Action,
    Estimates,
    HostingEstimate,
    Keep,
    Kind,
    Plan,
    PutDeployment,
    ResumeJob,
    TrainingEstimate,
    TrainJob,
    Why,
)
from reconciler.specs.models import Hyperparameters


class ModelFacts(Protocol):
    id: str
    training_usd_per_1m_tokens: float | None
    hosting_usd_per_hour: float | None
    methods: Any
    sources: Any


class CatalogLike(Protocol):
    # Sourced figures, or None when the catalog has none.
    tier_price_factors: Any
    rft_cost_cap_usd: Any
    rft_tokens_per_hour: Any

    def model(self, model_id: str) -> Any: ...

    def fine_tunable_in(self, model_id: str, region: str) -> bool: ...

    def trains_on_tier(self, info: Any, tier: str, region: str) -> bool: ...

    def tier_regions(self, info: Any, tier: str) -> list[str]: ...

    def tier_price_factor(self, tier: str | None) -> float: ...

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
    training += tuple(
        _training(desired, desired.fine_tune(c.address.name), catalog, resume=True).model_copy(
            update={"choice": isinstance(c, Keep)}
        )
        for c in plan.changes
        if c.kind is Kind.FINETUNE
        and (isinstance(c, ResumeJob) or (isinstance(c, Keep) and c.reason.why is Why.PAUSED))
    )
    hosting = tuple(
        _hosting(desired, c, catalog)
        for c in plan.changes
        if isinstance(c, PutDeployment)
        and c.action in (Action.CREATE, Action.REPLACE)
        and (c.fine_tune is not None or c.target.adapter is not None)
    )
    return plan.model_copy(update={"estimates": Estimates(training=training, hosting=hosting)})


def _training(
    desired: DesiredState, ft: DesiredFineTune, catalog: CatalogLike, *, resume: bool = False
) -> TrainingEstimate:
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
    common = {
        "fine_tune": ft.name,
        "base_model": base,
        "examples": facts.examples,
        "billable_tokens": facts.billable_tokens,
        "epochs": epochs,
        "epochs_heuristic": not isinstance(given, int),
        "trained_tokens": trained,
        "tier": ft.training_type,
        "resume": resume,
    }
    if ft.method.type == "reinforcement":
        return TrainingEstimate(**common, **_by_the_hour(ft, info, trained, catalog))
    price = info.training_usd_per_1m_tokens if info else None
    factor = catalog.tier_price_factor(ft.training_type)
    cost = trained / 1e6 * price * factor if trained is not None and price is not None else None
    source = _source(catalog, info, "training_usd_per_1m_tokens")
    if ft.training_type and source:
        source += f"; {ft.training_type} tier: × {factor:g} ({_tier_source(catalog)})"
    return TrainingEstimate(**common, cost_usd=cost, price_source=source)


def _by_the_hour(
    ft: DesiredFineTune, info: Any, trained: int | None, catalog: CatalogLike
) -> dict[str, Any]:
    """RFT is billed per hour of training, and Azure pauses a job once it has cost the cap."""
    per_hour = info.training_usd_per_hour if info else None
    rate, cap = catalog.rft_tokens_per_hour, catalog.rft_cost_cap_usd
    multiplier = ft.method.hyperparameters.compute_multiplier
    scale = multiplier if isinstance(multiplier, int | float) else 1.0
    hours = max(1.0, trained * scale / rate.value) if trained is not None and rate else None
    cost = hours * per_hour if hours is not None and per_hour is not None else None
    cap_usd = cap.value if cap else None
    source = _source(catalog, info, "training_usd_per_hour")
    if source and rate and rate.assumption:
        source += f"; hours: {rate.assumption}"
    return {
        "hours": hours,
        "usd_per_hour": per_hour,
        "cost_usd": min(cost, cap_usd) if cost is not None and cap_usd else cost,
        "cost_cap_usd": cap_usd,
        "price_source": source,
    }


def _tier_source(catalog: CatalogLike) -> str:
    factors = catalog.tier_price_factors
    if factors is None:
        return "no tier factors in the catalog"
    return "the catalog's tierPriceFactors" + (", an assumption" if factors.assumption else "")


def _hosting(desired: DesiredState, change: PutDeployment, catalog: CatalogLike) -> HostingEstimate:
    if change.fine_tune is None:  # an adapter on Azure ML instances: the catalog prices none
        return HostingEstimate(deployment=str(change.address), usd_per_hour=None)
    info = catalog.model(root_base_model(desired, desired.fine_tune(change.fine_tune)))
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
    targets = [*desired.accounts, *desired.hubs]
    problems = [p for name in targets for p in _region(desired, name, catalog)]
    for ft in desired.fine_tunes:
        if not ft.upstream:  # a chain continues its upstream's model: the root was checked
            problems.extend(_base_model(desired, ft, catalog))
        if ft.account in desired.hubs:
            problems.extend(_serverless_hyperparameters(ft))
    return problems


# What serverless fine-tuning in a hub project takes of the spec's hyperparameters.
SERVERLESS_HYPERPARAMETERS = ("epochs", "batch_size")


def _serverless_hyperparameters(ft: DesiredFineTune) -> list[Diagnostic]:
    values, defaults = ft.method.hyperparameters, Hyperparameters()
    extra = [
        name
        for name in Hyperparameters.model_fields
        if name not in SERVERLESS_HYPERPARAMETERS
        and getattr(values, name) != getattr(defaults, name)
    ]
    if not extra:
        return []
    names = ", ".join(to_camel(n) for n in extra)
    return [
        error(
            "PREFLIGHT_HYPERPARAMETER",
            f"FineTune {ft.name!r}: serverless fine-tuning in workspace {ft.account!r} has no "
            f"setting for {names}",
            ft.location,
            "in a hub project, set epochs and batchSize only (and seed)",
        )
    ]


def _region(desired: DesiredState, name: str, catalog: CatalogLike) -> list[Diagnostic]:
    region = desired.region_of(name)
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
            f"{'Account' if name in desired.accounts else 'MLWorkspace'} {name!r}: {region!r} "
            "is not a region the catalog knows",
            desired.account_locations.get(name),
            hint,
        )
    ]


def _base_model(
    desired: DesiredState, ft: DesiredFineTune, catalog: CatalogLike
) -> list[Diagnostic]:
    region = desired.region_of(ft.account)
    info = catalog.model(ft.base_model or "")
    if info is None:
        close = difflib.get_close_matches(ft.base_model or "", catalog.ids(), n=3)
        return [
            error(
                "PREFLIGHT_UNKNOWN_MODEL",
                f"FineTune {ft.name!r}: base model "
                f"{ft.base_model!r} is not a fine-tunable model in the catalog",
                ft.location,
                _unknown_model_hint(ft.base_model or "", close),
            )
        ]
    if ft.account in desired.hubs and not info.account_kinds:
        return [
            error(
                "PREFLIGHT_ACCOUNT_KIND",
                f"FineTune {ft.name!r}: {info.id} fine-tunes on Azure OpenAI accounts, not in "
                f"ML workspace {ft.account!r}",
                ft.location,
                "train it with `account:` (an Account); workspaces fine-tune Phi models",
            )
        ]
    if ft.training_type or info.account_kinds:
        return _tier_and_kind(desired, ft, info, catalog) or _method_and_price(ft, info)
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
    return _method_and_price(ft, info)


def _tier_and_kind(
    desired: DesiredState, ft: DesiredFineTune, info: Any, catalog: CatalogLike
) -> list[Diagnostic]:
    """The catalog's model × tier × region × account kind rules."""
    kind, region = desired.kind_of(ft.account), desired.region_of(ft.account)
    if info.account_kinds and kind not in info.account_kinds:
        return [_wrong_kind(ft, info, kind)]
    if kind == "MLWorkspace":
        return _serverless_region(ft, info, region, catalog)
    tier = ft.training_type or (info.tiers[0] if len(info.tiers) == 1 else None)
    if tier is None:
        return []
    if tier not in info.tiers:
        return [
            error(
                "PREFLIGHT_TIER",
                f"FineTune {ft.name!r}: {info.id} does not train on the {tier} tier",
                ft.location,
                f"its tiers: {', '.join(info.tiers)}",
            )
        ]
    if ft.training_type is None and tier != "Standard":  # Standard is Azure's default
        return [
            error(
                "PREFLIGHT_TIER",
                f"FineTune {ft.name!r}: {info.id} trains only on the {tier} tier, and Azure's "
                "default is Standard",
                ft.location,
                f"add trainingType: {tier}",
            )
        ]
    if not catalog.trains_on_tier(info, tier, region):
        regions = catalog.tier_regions(info, tier)
        return [
            error(
                "PREFLIGHT_REGION",
                f"FineTune {ft.name!r}: {info.id} cannot train on the {tier} tier from region "
                f"{region!r} ({_target_label(desired, ft.account)})",
                ft.location,
                f"{tier} training of {info.id} runs from: {', '.join(regions) or 'no region'}",
            )
        ]
    return []


def _serverless_region(
    ft: DesiredFineTune, info: Any, region: str, catalog: CatalogLike
) -> list[Diagnostic]:
    if catalog.trains_on_tier(info, "Standard", region):
        return []
    return [
        error(
            "PREFLIGHT_REGION",
            f"FineTune {ft.name!r}: {info.id} cannot be fine-tuned serverless from region "
            f"{region!r} (workspace {ft.account!r})",
            ft.location,
            f"serverless fine-tuning of {info.id} runs in hub projects in: "
            f"{', '.join(info.regions)}",
        )
    ]


def _wrong_kind(ft: DesiredFineTune, info: Any, kind: str) -> Diagnostic:
    if "MLWorkspace" in info.account_kinds:
        return error(
            "PREFLIGHT_ACCOUNT_KIND",
            f"FineTune {ft.name!r}: {info.id} fine-tunes serverless in an Azure ML hub project, "
            f"not on account {ft.account!r}",
            ft.location,
            "declare an MLWorkspace for the hub project and train with `workspace:`",
        )
    where = "ML workspace" if kind == "MLWorkspace" else f"{kind} account"
    return error(
        "PREFLIGHT_ACCOUNT_KIND",
        f"FineTune {ft.name!r}: {info.id} fine-tunes only on "
        f"{' or '.join(info.account_kinds)} accounts; {ft.account!r} is an {where}",
        ft.location,
        "open models train on Microsoft Foundry resources: declare an Account with "
        "kind: AIServices",
    )


def _target_label(desired: DesiredState, target: str) -> str:
    return f"account {target!r}" if target in desired.accounts else f"workspace {target!r}"


def _method_and_price(ft: DesiredFineTune, info: Any) -> list[Diagnostic]:
    method = ft.method.type
    if method == "reinforcement" and ft.validation_dataset is None:
        return [
            error(
                "PREFLIGHT_RFT_VALIDATION",
                f"FineTune {ft.name!r}: reinforcement fine-tuning needs validationData",
                ft.location,
                "add a validation Dataset in the same format (Azure requires both files for RFT)",
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
    if method == "reinforcement" and info.training_usd_per_hour is not None:
        return []
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


def _unknown_model_hint(model: str, close: list[str]) -> str:
    if model.lower().startswith("phi-") and close:
        return (
            f"did you mean {' or '.join(close)}? Phi models fine-tune serverless in a hub "
            "project: a FineTune with `workspace:`"
        )
    return (f"did you mean {' or '.join(close)}? " if close else "") + (
        "use a model listed in reconciler/catalog, or add it with Project.spec.catalog"
    )


def _methods(info: Any) -> set[str]:
    return {str(m) for m in (info.methods or ())}
