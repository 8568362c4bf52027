"""Golden renderings of every reason class: a retrain names the field that changed against the
inputs Azure recorded on the previous job, a deployment re-pointed by an upstream retrain says
so, and an out-of-band change is drift, not a spec change. Text, markdown and JSON each carry
the field diffs. Regenerate with FTOPS_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import rendering
from reconciler.desired import DesiredState, file_name
from reconciler.live import AccountLive, LiveFile, LiveJob, LiveState
from reconciler.planning import plan
from reconciler.plans import DataDiff, Plan, Why
from tests.golden.test_golden import check
from tests.planning.test_planning import DIGEST, EXAMPLES, desired_of, owned, trained

OLD_MODEL = "gpt-4o-mini-2024-07-18.ft-previous"


def previous_job(d: DesiredState, name: str, **recorded: Any) -> LiveJob:
    """The job an earlier version of the spec trained: its own key, Azure's record of inputs."""
    ft = d.fine_tune(name)
    inputs: dict[str, Any] = {
        "model": ft.base_model or "",
        "training_file": "file-old",
        "method": "supervised",
        "hyperparameters": {"epochs": 3, "batchSize": 1, "learningRateMultiplier": 1.0},
        "seed": 42,
    }
    inputs.update(recorded)
    return LiveJob(
        id=f"ftjob-{name}-old",
        status="succeeded",
        suffix=f"{ft.label}-0000beef",
        created_at=1,
        fine_tuned_model=OLD_MODEL,
        **inputs,
    )


def account_with(d: DesiredState, job: LiveJob, digest: str = DIGEST) -> LiveState:
    """The previous job, its file, and the deployment serving its model (deployed by an older
    spec: its ftops-key tag is not today's)."""
    served = owned(d, "travel", OLD_MODEL, tags={"ftops-project": d.project, "ftops-key": "old"})
    old_name = file_name(d.project, "travel", digest)
    old_file = LiveFile(id="file-old", filename=old_name, status="processed")
    acct = AccountLive(account="main", jobs=(job,), files=(old_file,), deployments=(served,))
    return LiveState(accounts={"main": acct})


def render(name: str, p: Plan) -> None:
    check(f"reason-{name}.plan.txt", rendering.plan_text(p) + "\n")
    check(f"reason-{name}.plan.md", rendering.plan_markdown(p))
    check(f"reason-{name}.plan.json", rendering.plan_json(p) + "\n")


def train_reason(p: Plan, address: str) -> Any:
    return next(c.reason for c in p.changes if str(c.address) == address)


@pytest.mark.parametrize(
    ("case", "recorded", "field", "before", "after"),
    [
        ("epochs", {"hyperparameters": {"epochs": 2}}, "method.hyperparameters.epochs", 2, 3),
        ("seed", {"seed": 7}, "seed", 7, 42),
        ("base-model", {"model": "gpt-4o-2024-08-06"}, "baseModel", "gpt-4o-2024-08-06", None),
    ],
)
def test_a_retrain_names_the_field(
    case: str, recorded: dict[str, Any], field: str, before: Any, after: Any
) -> None:
    d = desired_of(EXAMPLES / "quickstart")
    p = plan(d, account_with(d, previous_job(d, "travel-v1", **recorded)))
    [diff] = train_reason(p, "finetune/main/travel-v1").fields
    expected_after = after if after is not None else d.fine_tune("travel-v1").base_model
    assert (diff.path, diff.before, diff.after, diff.why) == (
        field,
        before,
        expected_after,
        Why.SPEC_CHANGED,
    )
    deployment = train_reason(p, "deployment/main/travel")
    assert deployment.why is Why.UPSTREAM_CHANGED
    render(case, p)


def test_a_retrain_names_the_dataset_with_its_example_diff() -> None:
    d = desired_of(EXAMPLES / "quickstart", travel="cd" * 32)
    p = plan(d, account_with(d, previous_job(d, "travel-v1")))
    diff = DataDiff(
        dataset="travel",
        account="main",
        previous_file=file_name(d.project, "travel", DIGEST),
        added_examples=3,
        removed_examples=1,
        token_delta=250,
    )
    p = p.model_copy(update={"estimates": p.estimates.model_copy(update={"data_diffs": (diff,)})})
    text = rendering.reason_text(train_reason(p, "finetune/main/travel-v1"), p.estimates)
    assert text == "spec changed: trainingData: travel (sha abababab → cdcdcdcd, +3 / −1 examples)"
    render("dataset", p)


def test_an_upstream_retrain_cascades_down_the_chain() -> None:
    old = desired_of(EXAMPLES / "chain-and-regions")
    new = desired_of(EXAMPLES / "chain-and-regions", travel="cd" * 32)
    base = trained(old, "travel-base", training_file="file-travel")
    hotel = trained(old, "travel-hotel")
    old_name = file_name(old.project, "travel", DIGEST)
    travel = LiveFile(id="file-travel", filename=old_name, status="processed")
    hotel = hotel.model_copy(update={"model": base.fine_tuned_model})
    deployed = owned(old, "hotel", hotel.fine_tuned_model or "")
    live = LiveState(
        accounts={
            "eastus2": AccountLive(
                account="eastus2", files=(travel,), jobs=(base, hotel), deployments=(deployed,)
            )
        }
    )
    p = plan(new, live)
    assert rendering.reason_text(train_reason(p, "finetune/eastus2/travel-base")) == (
        "spec changed: trainingData: travel (sha abababab → cdcdcdcd)"
    )
    downstream = train_reason(p, "finetune/eastus2/travel-hotel")
    assert downstream.why is Why.UPSTREAM_CHANGED
    assert rendering.reason_text(downstream) == (
        "baseModel: upstream fine-tune travel-base retrains (known after training)"
    )
    deployment = train_reason(p, "deployment/eastus2/hotel")
    assert rendering.reason_text(deployment) == (
        "model: upstream fine-tune travel-hotel retrains (known after training)"
    )
    render("upstream", p)


def test_a_capacity_changed_in_the_portal_is_drift() -> None:
    d = desired_of(EXAMPLES / "quickstart")
    job = trained(d, "travel-v1")
    moved = owned(d, "travel", job.fine_tuned_model or "", capacity=5)
    live = LiveState(
        accounts={"main": AccountLive(account="main", jobs=(job,), deployments=(moved,))}
    )
    p = plan(d, live)
    [change] = p.pending
    assert change.reason.why is Why.DRIFTED
    assert rendering.reason_text(change.reason) == (
        "changed outside ftops: sku.capacity 5 (live) → 1 (spec)"
    )
    rendered = json.loads(rendering.plan_json(p))["changes"]
    [entry] = [c for c in rendered if c["action"] == "update"]
    assert entry["reason"]["fields"][0]["why"] == "drifted"
    render("drift", p)


BASE_DEPLOYMENT = """\
apiVersion: ftops/v1
kind: Project
metadata: {name: base}
---
apiVersion: ftops/v1
kind: Account
metadata: {name: main}
spec: {subscription: s, resourceGroup: g, accountName: acct-base, region: eastus2}
---
apiVersion: ftops/v1
kind: Deployment
metadata: {name: chat}
spec:
  account: main
  model: {base: gpt-4o, version: "2024-08-06"}
  versionUpgradeOption: %s
"""


@pytest.mark.parametrize(
    ("option", "action"), [("OnceNewDefaultVersionAvailable", "noop"), ("NoAutoUpgrade", "update")]
)
def test_an_auto_upgraded_base_model_version_is_not_drift(
    tmp_path: Path, option: str, action: str
) -> None:
    (tmp_path / "ftops.yaml").write_text(BASE_DEPLOYMENT % option)
    d = desired_of(tmp_path)
    upgraded = owned(d, "chat", "gpt-4o", model_version="2024-11-20", version_upgrade_option=option)
    p = plan(d, LiveState(accounts={"main": AccountLive(account="main", deployments=(upgraded,))}))
    [change] = p.changes
    assert change.action.value == action, rendering.reason_text(change.reason)
    if action == "update":
        assert rendering.reason_text(change.reason) == (
            "changed outside ftops: modelVersion 2024-11-20 (live) → 2024-08-06 (spec)"
        )
