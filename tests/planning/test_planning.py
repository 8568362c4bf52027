"""The planner is a pure function: desired + live in, frozen plan out. No emulator needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import DatasetFacts, DesiredState, build_desired, file_name
from reconciler.live import (
    AccountLive,
    LiveCheckpoint,
    LiveDeployment,
    LiveFile,
    LiveJob,
    LiveState,
)
from reconciler.planning import PlanOptions, check_guards, plan
from reconciler.plans import Action, Plan, PutDeployment, Step, Why
from reconciler.providers.azure import arm_deployment, arm_id
from reconciler.rendering import reason_text
from reconciler.specs.loading import load_paths
from reconciler.specs.references import check_references

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGEST = "ab" * 32


def desired_of(directory: Path, **digests: str) -> DesiredState:
    loaded = load_paths([directory])
    assert not loaded.diagnostics and not check_references(loaded.documents)
    datasets = [d.name for d in loaded.documents if d.kind == "Dataset"]
    facts = {
        n: DatasetFacts(
            name=n,
            digest=digests.get(n, DIGEST),
            path=f"/data/{n}.jsonl",
            examples=10,
            billable_tokens=1000,
        )
        for n in datasets
    }
    return build_desired(loaded.documents, facts)


def actions(p: Plan) -> dict[str, str]:
    return {str(c.address): c.action.value for c in p.changes}


def change_at(p: Plan, address: str) -> Any:
    return next(c for c in p.changes if str(c.address) == address)


@pytest.fixture
def quickstart() -> DesiredState:
    return desired_of(EXAMPLES / "quickstart")


def trained(d: DesiredState, name: str, status: str = "succeeded", **kw: object) -> LiveJob:
    ft = d.fine_tune(name)
    return LiveJob(
        id=f"ftjob-{name}",
        status=status,
        model="gpt-4o-mini-2024-07-18",
        suffix=ft.suffix,
        created_at=1,
        fine_tuned_model=f"gpt-4o-mini-2024-07-18.ft-{name}" if status == "succeeded" else None,
        **kw,
    )  # type: ignore[arg-type]


def owned(d: DesiredState, name: str, model: str, **kw: object) -> LiveDeployment:
    dep = next(x for x in d.deployments if x.deployment_name == name)
    fields: dict[str, object] = {
        "name": name,
        "model_name": model,
        "model_version": "1",
        "model_format": "OpenAI",
        "sku_name": "Standard",
        "capacity": 1,
        "provisioning_state": "Succeeded",
        "tags": {"ftops-project": d.project, "ftops-key": dep.key, "ftops-spec": dep.spec_key},
    }
    fields.update(kw)
    return LiveDeployment(**fields)  # type: ignore[arg-type]


def test_fresh_account_plans_upload_train_and_create(quickstart: DesiredState) -> None:
    p = plan(quickstart, LiveState())
    assert actions(p) == {
        "file/main/travel": "upload",
        "finetune/main/travel-v1": "train",
        "deployment/main/travel": "create",
    }
    assert [reason_text(c.reason) for c in p.changes] == [
        "new: not uploaded to this account yet",
        "new",
        "new",
    ]
    create = p.changes[2]
    assert isinstance(create, PutDeployment) and create.target.model is None
    assert [str(a) for a in create.depends_on] == ["finetune/main/travel-v1"]


def test_converged_live_state_is_a_noop(quickstart: DesiredState) -> None:
    job = trained(quickstart, "travel-v1")
    live = LiveState(
        accounts={
            "main": AccountLive(
                account="main",
                jobs=(job,),
                deployments=(owned(quickstart, "travel", job.fine_tuned_model or ""),),
            )
        }
    )
    p = plan(quickstart, live)
    assert not p.has_changes and not p.waits
    # the job exists, so the training file is not needed even if it was deleted
    assert "file/main/travel" not in actions(p)


def test_running_job_is_a_wait_with_progress(quickstart: DesiredState) -> None:
    filename = file_name("quickstart", "travel", DIGEST)
    live = LiveState(
        accounts={
            "main": AccountLive(
                account="main",
                files=(LiveFile(id="file-1", filename=filename, status="processed"),),
                jobs=(trained(quickstart, "travel-v1", status="running"),),
            )
        }
    )
    p = plan(quickstart, live)
    assert actions(p)["finetune/main/travel-v1"] == "wait"
    assert actions(p)["deployment/main/travel"] == "create"
    assert change_at(p, "deployment/main/travel").target.model is None


def test_changed_data_trains_a_new_job_and_cascades_to_the_deployment() -> None:
    old = desired_of(EXAMPLES / "quickstart")
    new = desired_of(EXAMPLES / "quickstart", travel="cd" * 32)
    job = trained(old, "travel-v1", training_file="file-1", seed=42)
    live = LiveState(
        accounts={
            "main": AccountLive(
                account="main",
                jobs=(job,),
                files=(
                    LiveFile(
                        id="file-1",
                        filename=file_name("quickstart", "travel", DIGEST),
                        status="processed",
                    ),
                ),
                deployments=(owned(old, "travel", job.fine_tuned_model or ""),),
            )
        }
    )
    p = plan(new, live)
    assert actions(p) == {
        "file/main/travel": "upload",
        "finetune/main/travel-v1": "train",
        "deployment/main/travel": "update",
    }
    upload, train, update = p.changes
    assert reason_text(upload.reason) == "spec changed: content: travel (sha abababab → cdcdcdcd)"
    [data] = train.reason.fields
    assert (data.path, data.before, data.after) == ("trainingData", "ab" * 8, "cd" * 8)
    assert update.reason.why is Why.UPSTREAM_CHANGED
    assert reason_text(update.reason) == (
        "model: upstream fine-tune travel-v1 retrains (known after training)"
    )
    assert [str(a) for a in update.depends_on] == ["finetune/main/travel-v1"]


def test_model_and_capacity_change_is_split_into_two_ordered_calls(
    quickstart: DesiredState,
) -> None:
    job = trained(quickstart, "travel-v1")
    live = LiveState(
        accounts={
            "main": AccountLive(
                account="main",
                jobs=(job,),
                deployments=(owned(quickstart, "travel", "some-older-model", capacity=5),),
            )
        }
    )
    [change] = plan(quickstart, live).pending
    assert change.action is Action.UPDATE and isinstance(change, PutDeployment)
    assert change.steps == (Step.PUT_KEEP_CAPACITY, Step.PATCH_SKU)
    assert change.reason.why is Why.DRIFTED  # the ftops-key tag matches: the portal moved it
    assert "sku.capacity 5 (live) → 1 (spec)" in reason_text(change.reason)


def test_sku_name_change_forces_replacement_and_protect_refuses_it(tmp_path: Path) -> None:
    d = desired_of(EXAMPLES / "quickstart")
    job = trained(d, "travel-v1")
    live = LiveState(
        accounts={
            "main": AccountLive(
                account="main",
                jobs=(job,),
                deployments=(
                    owned(d, "travel", job.fine_tuned_model or "", sku_name="GlobalStandard"),
                ),
            )
        }
    )
    [change] = plan(d, live).pending
    assert change.action is Action.REPLACE
    assert "sku.name forces replacement" in reason_text(change.reason)
    protected = d.model_copy(
        update={"deployments": tuple(x.model_copy(update={"protect": True}) for x in d.deployments)}
    )
    guards = check_guards(plan(protected, live), protected)
    assert [g.code for g in guards] == ["GUARD_PROTECTED"]


def test_deployment_owned_by_someone_else_is_an_error(quickstart: DesiredState) -> None:
    job = trained(quickstart, "travel-v1")
    foreign = owned(quickstart, "travel", "x", tags={"ftops-project": "other"})
    live = LiveState(
        accounts={"main": AccountLive(account="main", jobs=(job,), deployments=(foreign,))}
    )
    p = plan(quickstart, live)
    assert [d.code for d in p.diagnostics] == ["DEPLOYMENT_NOT_OWNED"]


def test_failed_job_is_reported_not_retried_unless_asked(quickstart: DesiredState) -> None:
    failed = trained(quickstart, "travel-v1", status="failed", error="bad data")
    live = LiveState(accounts={"main": AccountLive(account="main", jobs=(failed,))})
    p = plan(quickstart, live)
    assert [d.code for d in p.diagnostics] == ["FINETUNE_FAILED"]
    assert "bad data" in p.diagnostics[0].message
    retry = plan(quickstart, live, PlanOptions(retry_failed=True))
    assert actions(retry)["finetune/main/travel-v1"] == "train"
    assert not retry.diagnostics


def test_prune_deletes_owned_leftovers_only_when_asked(quickstart: DesiredState) -> None:
    job = trained(quickstart, "travel-v1")
    leftover = owned(quickstart, "travel", job.fine_tuned_model or "").model_copy(
        update={"name": "old-travel"}
    )
    theirs = leftover.model_copy(update={"name": "theirs", "tags": {}})
    live = LiveState(
        accounts={
            "main": AccountLive(
                account="main",
                jobs=(job,),
                deployments=(
                    owned(quickstart, "travel", job.fine_tuned_model or ""),
                    leftover,
                    theirs,
                ),
            )
        }
    )
    assert not plan(quickstart, live).has_changes
    pruned = plan(quickstart, live, PlanOptions(prune=True))
    assert actions(pruned) == {
        "finetune/main/travel-v1": "noop",
        "deployment/main/travel": "noop",
        "deployment/main/old-travel": "delete",
    }
    assert len(check_guards(pruned, quickstart)) == 0


def test_chain_and_cross_region_copy() -> None:
    d = desired_of(EXAMPLES / "chain-and-regions")
    p = plan(d, LiveState())
    assert actions(p)["finetune/eastus2/travel-hotel"] == "train"
    downstream = change_at(p, "finetune/eastus2/travel-hotel")
    assert (
        reason_text(downstream.reason)
        == "new: upstream fine-tune travel-base will be trained first"
    )
    assert "finetune/eastus2/travel-base" in [str(a) for a in downstream.depends_on]
    base = trained(d, "travel-base")
    hotel = trained(d, "travel-hotel")
    live = LiveState(accounts={"eastus2": AccountLive(account="eastus2", jobs=(base, hotel))})
    p = plan(d, live)
    sweden = change_at(p, "deployment/swedencentral/hotel")
    assert sweden.target.model == hotel.fine_tuned_model
    assert sweden.target.trained_in == "eastus2"
    source = d.accounts["eastus2"]
    body = arm_deployment(sweden.target, source, cross_tenant=False, capacity=None)
    assert (
        body.properties.model.source
        == arm_id(source)
        == (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups"
            "/ftops-chain/providers/Microsoft.CognitiveServices/accounts/"
            "ftops-chain-eastus2"
        )
    )


def test_upstream_key_change_changes_downstream_key() -> None:
    a = desired_of(EXAMPLES / "chain-and-regions")
    b = desired_of(EXAMPLES / "chain-and-regions", travel="cd" * 32)
    assert a.fine_tune("travel-base").key != b.fine_tune("travel-base").key
    assert a.fine_tune("travel-hotel").key != b.fine_tune("travel-hotel").key
    assert len(a.fine_tune("travel-hotel").suffix) <= 40


def test_checkpoint_epoch_maps_to_the_checkpoint_model(quickstart: DesiredState) -> None:
    d = quickstart.model_copy(
        update={
            "deployments": tuple(
                x.model_copy(update={"checkpoint_epoch": 2}) for x in quickstart.deployments
            )
        }
    )
    job = trained(
        d,
        "travel-v1",
        hyperparameters={"epochs": 3},
        checkpoints=tuple(
            LiveCheckpoint(id=f"ftckpt_{s}", step_number=s, model=f"m:ckpt-step-{s}")
            for s in (10, 20, 30)
        ),
    )
    live = LiveState(accounts={"main": AccountLive(account="main", jobs=(job,))})
    [create] = plan(d, live).pending
    assert isinstance(create, PutDeployment) and create.target.model == "m:ckpt-step-20"


def test_plan_round_trips_through_json(quickstart: DesiredState) -> None:
    p = plan(quickstart, LiveState())
    assert Plan.from_json(p.to_json()) == p


def test_file_bytes_and_total_jobs_are_checked_against_live_usage(
    quickstart: DesiredState,
) -> None:
    big = LiveFile(id="f-big", filename="quickstart.old.ab.jsonl", status="processed", bytes=10**9)
    history = tuple(
        LiveJob(id=f"j{i}", status="succeeded", model="m", suffix=f"old-{i:08x}")
        for i in range(100)
    )
    d = quickstart.model_copy(
        update={"files": tuple(f.model_copy(update={"bytes": 5}) for f in quickstart.files)}
    )
    live = LiveState(accounts={"main": AccountLive(account="main", files=(big,), jobs=history)})
    codes = {x.code: x.message for x in plan(d, live).diagnostics}
    assert "the limit is 1,000,000,000" in codes["LIMIT_FILE_BYTES"]
    assert "(1,000,000,000 in use + 5 planned)" in codes["LIMIT_FILE_BYTES"]
    assert (
        "needs 101 fine-tuning jobs (100 in use + 1 planned); the limit is 100"
        in codes["LIMIT_JOBS"]
    )
