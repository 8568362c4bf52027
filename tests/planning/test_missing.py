"""onMissing: a declared deployment that is absent is never "converged". `warn` leaves it missing
only when Azure's 15-day rule can have removed it (its model is at least 15 days old); a
younger model's deployment is new (or deleted by a person) and is created."""

from __future__ import annotations

import pytest

from reconciler import rendering
from reconciler.live import AccountLive, LiveState
from reconciler.planning import plan
from reconciler.plans import Action, Why
from tests.planning.test_planning import EXAMPLES, desired_of, trained

DAY = 24 * 3600
NOW = 1_800_000_000


def warned(days_old: float) -> tuple[object, object]:
    d = desired_of(EXAMPLES / "quickstart")
    d = d.model_copy(
        update={
            "deployments": tuple(x.model_copy(update={"on_missing": "warn"}) for x in d.deployments)
        }
    )
    job = trained(d, "travel-v1", finished_at=int(NOW - days_old * DAY))
    live = LiveState(accounts={"main": AccountLive(account="main", jobs=(job,))}, read_at=NOW)
    p = plan(d, live)
    return p, next(c for c in p.changes if str(c.address) == "deployment/main/travel")


@pytest.mark.parametrize("days_old", [0, 3, 14.9])
def test_warn_creates_the_deployment_of_a_younger_model(days_old: float) -> None:
    p, change = warned(days_old)
    assert change.action is Action.CREATE and change.reason.why is Why.MISSING
    assert not p.is_converged and not p.diagnostics


def test_warn_leaves_it_missing_but_never_converged_when_azure_may_have_removed_it() -> None:
    p, change = warned(16)
    assert change.action is Action.NOOP and change.reason.why is Why.MISSING
    assert [d.code for d in p.diagnostics] == ["DEPLOYMENT_MISSING"]
    assert not p.is_converged and p.absent == (change,)
    text = rendering.plan_text(p)
    assert rendering.NO_CHANGES not in text
    assert (
        "deployment/main/travel  noop\n      reason: missing: not recreated (onMissing: warn)"
        in text
    )
    assert "1 missing and left so (onMissing: warn)." in text
    assert "deployment/main/travel" in rendering.plan_markdown(p)


def test_recreate_creates_it_whatever_its_age() -> None:
    d = desired_of(EXAMPLES / "quickstart")
    job = trained(d, "travel-v1", finished_at=NOW - 100 * DAY)
    live = LiveState(accounts={"main": AccountLive(account="main", jobs=(job,))}, read_at=NOW)
    [change] = [c for c in plan(d, live).pending]
    assert change.action is Action.CREATE and change.reason.why is Why.MISSING
