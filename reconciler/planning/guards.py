"""Policy checks that refuse a plan before anything changes (exit 4)."""

from __future__ import annotations

from reconciler.desired import DesiredState
from reconciler.errors import Diagnostic, error
from reconciler.plans import Action, Plan


def check_guards(plan: Plan, desired: DesiredState, *, force: bool = False) -> list[Diagnostic]:
    """Policy checks that refuse a plan before anything changes (exit 4)."""
    policy = desired.policy
    problems = []
    deletes = [c for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)]
    if len(deletes) > policy.max_deletes and not force:
        problems.append(
            error(
                "GUARD_MAX_DELETES",
                f"the plan deletes or replaces {len(deletes)} resources; "
                f"policy.maxDeletes is {policy.max_deletes}",
                None,
                "review the plan; apply --force allows it once, or raise policy.maxDeletes",
            )
        )
    protected = {d.address: d for d in desired.deployments if d.protect}
    for change in deletes:
        if change.address in protected and not force:
            problems.append(
                error(
                    "GUARD_PROTECTED",
                    f"{change.address} is protected and the plan would "
                    f"{change.action.value} it ({change.reason.why.value})",
                    protected[change.address].location,
                    "set protect: false on the Deployment first if this is intended (or --force)",
                )
            )
    problems.extend(_budget_problems(plan, desired))
    return problems


def _budget_problems(plan: Plan, desired: DesiredState) -> list[Diagnostic]:
    budget = desired.policy.budget
    problems = []
    training = plan.estimates.training_cost_usd
    if budget.max_training_cost_usd is not None and training > budget.max_training_cost_usd:
        problems.append(
            error(
                "GUARD_BUDGET",
                f"estimated training cost ${training:,.2f} is over the budget "
                f"${budget.max_training_cost_usd:,.2f} (policy.budget.maxTrainingCostUsd)",
                None,
                "reduce epochs or data, or raise the budget",
            )
        )
    hosting = plan.estimates.hosting_usd_per_hour
    limit = budget.max_hosting_cost_usd_per_hour
    if limit is not None and hosting > limit:
        problems.append(
            error(
                "GUARD_BUDGET",
                f"estimated hosting cost ${hosting:,.2f}/h of new fine-tuned "
                f"deployments is over the budget ${limit:,.2f}/h "
                "(policy.budget.maxHostingCostUsdPerHour)",
                None,
                "deploy fewer fine-tuned models, or raise the budget",
            )
        )
    return problems
