"""Foundry fine-tuning today, in the planner: paused jobs, training tiers, job metadata,
reinforcement cost and Developer deployments that expire. Pure: no emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.catalog import load_catalog
from reconciler.desired import DesiredState
from reconciler.estimating import estimate, preflight
from reconciler.live import AccountLive, LiveCheckpoint, LiveJob, LiveState
from reconciler.planning import plan
from reconciler.plans import Action, Keep, PauseJob, ResumeJob, TrainJob, Why
from reconciler.rendering import plan_text, reason_text
from tests.planning.test_planning import EXAMPLES, change_at, desired_of, owned, trained

CATALOG = load_catalog()
COST_CAP = "Azure pauses the job at $5,000"


def _with(tmp_path: Path, example: str, old: str, new: str) -> DesiredState:
    folder = tmp_path / example
    shutil.copytree(EXAMPLES / example, folder)
    spec = folder / "ftops.yaml"
    text = spec.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in examples/{example}"
    spec.write_text(text.replace(old, new), encoding="utf-8")
    return desired_of(folder)


def _live(account: str, *jobs: LiveJob, deployments: tuple = ()) -> LiveState:  # type: ignore[type-arg]
    return LiveState(
        accounts={account: AccountLive(account=account, jobs=jobs, deployments=deployments)},
        read_at=10**9,
    )


def _paused_rft(d: DesiredState, by: str) -> LiveJob:
    reason = {
        "azure": "Job paused: the cost limit of $5,000.00 was reached at step 40.",
        "person": "Job paused by the user at step 12.",
    }[by]
    return trained(
        d,
        "maths-rft",
        status="paused",
        paused_by=by,
        pause_reason=reason,
        checkpoints=(LiveCheckpoint(id="ck1", step_number=40, model="o4-mini.ft-x:ckpt-step-40"),),
    )


# --- paused jobs --------------------------------------------------------------------------


def test_a_job_paused_by_azure_is_held_with_its_reason_and_the_choices() -> None:
    d = desired_of(EXAMPLES / "rft")
    p = estimate(plan(d, _live("east", _paused_rft(d, "azure"))), d, CATALOG)
    held = change_at(p, "finetune/east/maths-rft")
    assert isinstance(held, Keep) and held.reason.why is Why.PAUSED
    detail = held.reason.detail or ""
    assert "paused by Azure: Job paused: the cost limit of $5,000.00" in detail
    assert "set `paused: false`" in detail
    assert "checkpoint: {epoch: 1}" in detail
    # the deployment of its final model waits, and is not a change apply could make
    assert change_at(p, "deployment/east/maths-rft").reason.why is Why.PAUSED
    assert not p.pending and not p.is_converged and len(p.held) == 2
    text = plan_text(p)
    assert "resume maths-rft on o4-mini-2025-04-16" in text and "at most" in text
    assert p.estimates.training_cost_usd == 0  # resuming is a choice, not this plan's cost


def test_a_paused_job_is_resumed_only_when_the_spec_says_so(tmp_path: Path) -> None:
    d = _with(tmp_path, "rft", "  seed: 11", "  seed: 11\n  paused: false")
    p = plan(d, _live("east", _paused_rft(d, "person")))
    resume = change_at(p, "finetune/east/maths-rft")
    assert isinstance(resume, ResumeJob) and resume.job_id == "ftjob-maths-rft"
    assert "paused by a person: Job paused by the user" in (resume.reason.detail or "")
    assert [f.path for f in resume.reason.fields] == ["paused"]


def test_paused_true_pauses_a_running_job_and_keeps_a_paused_one(tmp_path: Path) -> None:
    d = _with(tmp_path, "rft", "  seed: 11", "  seed: 11\n  paused: true")
    running = trained(d, "maths-rft", status="running")
    assert isinstance(
        change_at(plan(d, _live("east", running)), "finetune/east/maths-rft"), PauseJob
    )
    queued = trained(d, "maths-rft", status="queued")  # only a training job can be paused
    assert (
        change_at(plan(d, _live("east", queued)), "finetune/east/maths-rft").action is Action.WAIT
    )
    kept = change_at(plan(d, _live("east", _paused_rft(d, "person"))), "finetune/east/maths-rft")
    assert isinstance(kept, Keep) and kept.reason.why is Why.UP_TO_DATE


def test_a_checkpoint_of_a_paused_job_can_be_deployed(tmp_path: Path) -> None:
    d = _with(
        tmp_path,
        "rft",
        "    fineTune: maths-rft\n",
        "    fineTune: maths-rft\n    checkpoint: {epoch: 1}\n",
    )
    p = plan(d, _live("east", _paused_rft(d, "azure")))
    create = change_at(p, "deployment/east/maths-rft")
    assert create.action is Action.CREATE
    assert create.target.model == "o4-mini.ft-x:ckpt-step-40"


# --- job identity -------------------------------------------------------------------------


def test_a_job_is_found_by_the_key_in_its_metadata_before_its_suffix(tmp_path: Path) -> None:
    d = desired_of(EXAMPLES / "quickstart")
    ft = d.fine_tune("travel-v1")
    renamed = trained(d, "travel-v1").model_copy(
        update={"suffix": "someone-renamed-it", "metadata": {"ftops-key": ft.key}}
    )
    p = plan(d, _live("main", renamed))
    assert change_at(p, "finetune/main/travel-v1").reason.why is Why.UP_TO_DATE
    request = plan(d, LiveState()).changes[1]
    assert isinstance(request, TrainJob) and (request.key, request.project) == (ft.key, d.project)


# --- training tiers -----------------------------------------------------------------------


def test_the_tier_is_placement_a_change_does_not_retrain(tmp_path: Path) -> None:
    d = desired_of(EXAMPLES / "global-training")
    moved = _with(tmp_path, "global-training", "trainingType: Global", "trainingType: Standard")
    assert d.fine_tune("travel-global").key == moved.fine_tune("travel-global").key
    job = trained(d, "travel-global")
    assert change_at(plan(moved, _live("west", job)), "finetune/west/travel-global").action is (
        Action.NOOP
    )


@pytest.mark.parametrize(
    ("tier", "factor"), [("Standard", 1.0), ("Global", 0.8), ("Developer", 0.4)]
)
def test_the_cost_estimate_follows_the_tier(tmp_path: Path, tier: str, factor: float) -> None:
    d = _with(tmp_path, "global-training", "trainingType: Global", f"trainingType: {tier}")
    p = estimate(plan(d, LiveState()), d, CATALOG)
    (training,) = p.estimates.training
    # 1,000 billable tokens × 2 epochs at gpt-4.1's $25 per 1M tokens, times the tier's factor
    assert training.tier == tier
    assert training.cost_usd == pytest.approx(2000 / 1e6 * 25.0 * factor)
    assert f"({tier} tier)" in plan_text(p)


@pytest.mark.parametrize(
    ("example", "old", "new", "code"),
    [
        ("developer-tier", "gpt-4.1-mini-2025-04-14", "gpt-35-turbo-0125", "PREFLIGHT_TIER"),
        ("global-training", "trainingType: Global", "trainingType: DataZone", None),
        ("global-training", "region: westus3", "region: swedencentral", None),
        ("global-training", "trainingType: Global", "trainingType: Developer", None),
        ("open-model", "  kind: AIServices\n", "", "PREFLIGHT_ACCOUNT_KIND"),
        ("open-model", "trainingType: Global", "trainingType: Standard", "PREFLIGHT_TIER"),
        ("open-model", "  trainingType: Global\n", "", "PREFLIGHT_TIER"),
        ("rft", "  validationData: maths-validation  #", "  # was:", "PREFLIGHT_RFT_VALIDATION"),
    ],
)
def test_the_catalog_rules_out_model_tier_region_and_kind(
    tmp_path: Path, example: str, old: str, new: str, code: str | None
) -> None:
    d = _with(tmp_path, example, old, new)
    problems = preflight(d, CATALOG)
    assert [p.code for p in problems] == ([code] if code else [])
    assert all(p.location is not None and p.location.line for p in problems)


def test_data_zone_training_outside_the_data_zone_is_refused(tmp_path: Path) -> None:
    d = _with(tmp_path, "global-training", "trainingType: Global", "trainingType: DataZone")
    d = d.model_copy(
        update={
            "accounts": {"west": d.accounts["west"].model_copy(update={"region": "swedencentral"})}
        }
    )
    (problem,) = preflight(d, CATALOG)
    assert problem.code == "PREFLIGHT_REGION" and "eastus2" in (problem.hint or "")


# --- reinforcement cost -------------------------------------------------------------------


def test_reinforcement_is_estimated_by_the_hour_with_the_cost_cap_shown() -> None:
    d = desired_of(EXAMPLES / "rft")
    p = estimate(plan(d, LiveState()), d, CATALOG)
    (training,) = p.estimates.training
    assert (training.hours, training.usd_per_hour, training.cost_cap_usd) == (1.0, 100.0, 5000.0)
    assert training.cost_usd == 100.0
    assert COST_CAP in plan_text(p)


def test_a_reinforcement_estimate_never_exceeds_the_cap(tmp_path: Path) -> None:
    d = _with(tmp_path, "rft", "computeMultiplier: 1", "computeMultiplier: 20000")
    (training,) = estimate(plan(d, LiveState()), d, CATALOG).estimates.training
    assert training.hours == pytest.approx(1000 * 20000 / 200_000)
    assert training.cost_usd == 5000.0


# --- Developer deployments ----------------------------------------------------------------


def test_a_missing_developer_deployment_of_an_old_model_is_expired() -> None:
    d = desired_of(EXAMPLES / "developer-tier")
    old = trained(d, "travel-dev", finished_at=10**9 - 25 * 3600)
    p = plan(d, _live("north", old))
    create = change_at(p, "deployment/north/travel-dev")
    assert create.action is Action.CREATE and create.reason.why is Why.EXPIRED
    assert reason_text(create.reason) == "expired: Developer deployments last 24 hours"
    young = trained(d, "travel-dev", finished_at=10**9 - 3600)
    assert change_at(plan(d, _live("north", young)), "deployment/north/travel-dev").reason.why is (
        Why.NEW
    )
    live = owned(d, "travel-dev", old.fine_tuned_model or "", sku_name="DeveloperTier")
    assert not plan(d, _live("north", old, deployments=(live,))).has_changes
