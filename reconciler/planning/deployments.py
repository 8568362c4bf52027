"""Deployments: create, update in place (model and capacity as two calls), or replace.

Each differing field is attributed to the side that moved: the spec (the `ftops-key` tag on the
live deployment no longer matches), an upstream fine-tune that retrains, or the live object
(the tag matches, so someone changed it outside ftops).
"""

from __future__ import annotations

from typing import Any

from reconciler.desired import (
    TAG_KEY,
    TAG_PROJECT,
    TAG_PROTECT,
    TAG_SPEC,
    DesiredDeployment,
    DesiredLocalRun,
    adapter_model_name,
)
from reconciler.errors import error, warning
from reconciler.live import LiveDeployment, LiveJob
from reconciler.planning.diffing import field_diffs
from reconciler.planning.state import Planning
from reconciler.plans import (
    UNKNOWN,
    Action,
    DeploymentTarget,
    FieldDiff,
    Keep,
    PutDeployment,
    Reason,
    ServedAdapter,
    Step,
    Wait,
    Why,
)
from reconciler.specs.models import DeploymentSpec

FIFTEEN_DAYS_NOTE = "Azure removes fine-tuned deployments after 15 days without traffic"
FIFTEEN_DAYS_S = 15 * 24 * 3600
DEVELOPER_SKU = "DeveloperTier"
DEVELOPER_LIFETIME_S = 24 * 3600
DEVELOPER_EXPIRY_NOTE = "Developer deployments last 24 hours"
# A managed online endpoint sends all its traffic to the one deployment ftops keeps in it.
FULL_TRAFFIC = 100
# Under these options Azure moves a base-model deployment to newer versions by itself.
AUTO_UPGRADES = frozenset({"OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired"})


def plan_deployments(p: Planning) -> None:
    for d in p.desired.deployments:
        p.add(_deployment_change(p, d))


def _desired_model(p: Planning, d: DesiredDeployment) -> str | None:
    if d.base_model:
        return d.base_model
    if d.training_run:
        run, live = _run(p, d), p.live.local_runs.get(d.training_run)
        done = live is not None and live.phase == "succeeded"
        return adapter_model_name(run.name, run.key) if done else None
    assert d.fine_tune is not None
    model = p.models.get(d.fine_tune)
    job = p.jobs.get(d.fine_tune)
    if d.checkpoint_epoch is None or job is None or (model is None and not job.is_paused):
        return model
    return _checkpoint_model(job, d.checkpoint_epoch)


def _checkpoint_model(job: LiveJob, epoch: int) -> str | None:
    """Azure keeps checkpoints of the last epochs, one per epoch, newest has the highest step.
    A paused job has trained as many epochs as it has checkpoints (while fewer than three)."""
    ordered = sorted(job.checkpoints, key=lambda c: c.step_number, reverse=True)
    epochs = job.hyperparameters.get("epochs")
    trained = epochs if isinstance(epochs, int) and not job.is_paused else len(ordered)
    back = trained - epoch
    return ordered[back].model if 0 <= back < len(ordered) else None


def _run(p: Planning, d: DesiredDeployment) -> DesiredLocalRun:
    return next(r for r in p.desired.local_runs if r.name == d.training_run)


def _adapter(p: Planning, d: DesiredDeployment) -> ServedAdapter | None:
    if d.training_run is None:
        return None
    run = _run(p, d)
    image = (run.placement or {}).get("image", "")
    return ServedAdapter(run=run.name, run_key=run.key, image=str(image))


def _target(p: Planning, d: DesiredDeployment, model: str | None) -> DeploymentTarget:
    trained_in = p.desired.fine_tune(d.fine_tune).account if d.fine_tune else None
    return DeploymentTarget(
        adapter=_adapter(p, d),
        name=d.deployment_name,
        model=model,
        model_version=d.base_version or "1",
        trained_in=trained_in if trained_in != d.account else None,
        sku=d.sku,
        rai_policy=d.rai_policy,
        version_upgrade_option=d.version_upgrade_option,
        project=p.desired.project,
        key=d.key,
        spec_key=d.spec_key,
        protect=d.protect,
    )


def _deployment_change(p: Planning, d: DesiredDeployment) -> PutDeployment | Wait | Keep:
    model = _desired_model(p, d)
    if model is None and d.checkpoint_epoch is not None and p.models.get(d.fine_tune or ""):
        p.diagnostics.append(
            error(
                "DEPLOYMENT_NO_CHECKPOINT",
                f"fine-tune {d.fine_tune!r} has no checkpoint for epoch {d.checkpoint_epoch}",
                d.location,
                "Azure keeps checkpoints of the last three epochs; pick one of those",
            )
        )
        return Keep(address=d.address, reason=Reason(why=Why.FAILED, detail="no such checkpoint"))
    target = _target(p, d, model)
    live = p.account(d.account).deployment(d.deployment_name)
    upstream = p.jobs.get(d.fine_tune or "")
    if live is None and model is None and upstream is not None and upstream.is_paused:
        detail = f"waits for fine-tune {d.fine_tune}, whose job {upstream.id} is paused"
        return Keep(address=d.address, reason=Reason(why=Why.PAUSED, detail=detail))
    if live is None:
        return _create(p, d, target)
    if live.tags.get(TAG_PROJECT) != p.desired.project:
        p.diagnostics.append(
            error(
                "DEPLOYMENT_NOT_OWNED",
                f"deployment {d.deployment_name!r} exists in account "
                f"{d.account!r} but is not owned by project {p.desired.project!r} "
                f"(tag {TAG_PROJECT}={live.tags.get(TAG_PROJECT)!r})",
                d.location,
                "pick another deploymentName, or delete the existing deployment",
            )
        )
        return Keep(address=d.address, reason=Reason(why=Why.NOT_OWNED))
    if not live.is_settled:
        return Wait(
            address=d.address,
            reason=Reason(why=Why.IN_PROGRESS, detail=f"deployment is {live.provisioning_state}"),
            progress=live.provisioning_state,
        )
    return _update(p, d, live, target)


def _model_age(p: Planning, account: str, job: LiveJob) -> float | None:
    """How long ago the job finished, by the service's clock when it sent one (the emulator's
    runs ahead of this machine's), else by this machine's."""
    now = p.account(account).read_at or p.live.read_at
    return None if now is None or job.finished_at is None else now - job.finished_at


def _developer_expired(p: Planning, d: DesiredDeployment, job: LiveJob) -> bool:
    """A Developer deployment of a model finished over 24 hours ago may have been removed by
    Azure; of a younger model it is new."""
    age = _model_age(p, d.account, job)
    return age is not None and age >= DEVELOPER_LIFETIME_S


def _maybe_expired(p: Planning, d: DesiredDeployment, job: LiveJob) -> bool:
    """Azure's 15-day rule can only have removed a deployment of a model at least 15 days old:
    a younger one is missing because it is new (or a person deleted it), so it is created."""
    age = _model_age(p, d.account, job)
    return age is not None and age >= FIFTEEN_DAYS_S


def _trained(p: Planning, d: DesiredDeployment) -> bool:
    """The model exists (so a missing deployment was there once, or is new)."""
    return d.fine_tune in p.jobs or d.training_run is not None


def _depends(p: Planning, d: DesiredDeployment, target: DeploymentTarget) -> tuple[Any, ...]:
    if target.model is not None:
        return ()
    if d.training_run is not None:
        return (_run(p, d).address,)
    if d.fine_tune is None:
        return ()
    return (p.desired.fine_tune(d.fine_tune).address,)


def _create(p: Planning, d: DesiredDeployment, target: DeploymentTarget) -> PutDeployment | Keep:
    reason = Reason(why=Why.NEW)
    if d.sku.name == DEVELOPER_SKU and d.fine_tune in p.jobs and target.model is not None:
        if _developer_expired(p, d, p.jobs[d.fine_tune or ""]):
            if d.on_missing == "warn":
                detail = f"not recreated (onMissing: warn): {DEVELOPER_EXPIRY_NOTE}"
                return Keep(address=d.address, reason=Reason(why=Why.MISSING, detail=detail))
            reason = Reason(why=Why.EXPIRED, detail=DEVELOPER_EXPIRY_NOTE)
    elif d.account in p.desired.hubs and _trained(p, d) and target.model is not None:
        detail = "not found in the workspace (new, or deleted outside ftops)"
        reason = Reason(why=Why.MISSING, detail=detail)
    elif d.fine_tune is not None and d.fine_tune in p.jobs and target.model is not None:
        detail = f"not found in the account (new, or deleted outside ftops: {FIFTEEN_DAYS_NOTE})"
        reason = Reason(why=Why.MISSING, detail=detail)
        if d.on_missing == "warn" and _maybe_expired(p, d, p.jobs[d.fine_tune]):
            p.diagnostics.append(
                warning(
                    "DEPLOYMENT_MISSING",
                    f"deployment {d.deployment_name!r} is missing from account {d.account!r}, "
                    f"maybe removed by Azure ({FIFTEEN_DAYS_NOTE}); onMissing: warn, so it is "
                    "not recreated and the plan is not converged",
                    d.location,
                    "set onMissing: recreate, or remove the Deployment from the specs",
                )
            )
            detail = f"not recreated (onMissing: warn): {FIFTEEN_DAYS_NOTE}"
            return Keep(address=d.address, reason=Reason(why=Why.MISSING, detail=detail))
    return PutDeployment(
        address=d.address,
        action=Action.CREATE,
        reason=reason,
        depends_on=_depends(p, d, target),
        target=target,
        fine_tune=d.fine_tune,
    )


def _view(
    model: str | None,
    version: str | None,
    trained_in: str | None,
    sku: tuple[Any, Any],
    rai: str | None,
    upgrade: str | None,
    traffic: int | None = None,
) -> dict[str, Any]:
    """A deployment as spec paths: the shape both sides are compared in (a managed online
    endpoint's traffic too)."""
    view = {
        "model": model,
        "modelVersion": version,
        "trainedIn": trained_in,
        "sku": {"name": sku[0], "capacity": sku[1]},
        "raiPolicy": rai,
        "versionUpgradeOption": upgrade,
    }
    return view if traffic is None else view | {"traffic": traffic}


def _live_view(live: LiveDeployment) -> dict[str, Any]:
    return _view(
        live.model_name,
        live.model_version,
        live.trained_in,
        (live.sku_name, live.capacity),
        live.rai_policy,
        live.version_upgrade_option,
        live.traffic,
    )


def _wanted_view(d: DesiredDeployment, live: LiveDeployment, t: DeploymentTarget) -> dict[str, Any]:
    return _view(
        t.model or UNKNOWN,
        _wanted_version(d, live, t),
        t.trained_in,
        (t.sku.name, t.sku.capacity),
        t.rai_policy or live.rai_policy,  # unset in the spec: whatever Azure chose
        t.version_upgrade_option or live.version_upgrade_option,
        FULL_TRAFFIC if d.training_run else None,
    )


def _wanted_version(d: DesiredDeployment, live: LiveDeployment, t: DeploymentTarget) -> str:
    """A version Azure upgraded to under an auto-upgrade option is what the spec asked for."""
    upgraded = (live.model_version or "") > t.model_version
    if d.base_model and d.version_upgrade_option in AUTO_UPGRADES and upgraded:
        return live.model_version or t.model_version
    return t.model_version


def _update(
    p: Planning, d: DesiredDeployment, live: LiveDeployment, target: DeploymentTarget
) -> PutDeployment | Keep:
    why = Why.DRIFTED if _own_fields_unchanged(d, live) else Why.SPEC_CHANGED
    diffs = field_diffs(DeploymentSpec, _live_view(live), _wanted_view(d, live, target), why)
    diffs = tuple(_settable(f) for f in diffs)
    diffs = (*(_attribute_model(p, d, live, f) for f in diffs), *_protect_diff(d, live))
    tags = _tag_diffs(d, live)
    if not diffs and not tags:
        return Keep(address=d.address, reason=Reason(why=Why.UP_TO_DATE), live_id=live.name)
    diffs = diffs or tags
    replace = any(f.forces_replacement for f in diffs)
    return PutDeployment(
        address=d.address,
        action=Action.REPLACE if replace else Action.UPDATE,
        reason=Reason(why=_overall(diffs), fields=diffs),
        depends_on=_depends(p, d, target),
        target=target,
        steps=_steps(diffs),
        live_capacity=live.capacity,
        fine_tune=d.fine_tune,
    )


def _settable(diff: FieldDiff) -> FieldDiff:
    """A field that has no live value has nothing to replace: it is set in place. (An online
    endpoint whose deployment an apply did not get to create has no instance type yet.)"""
    if diff.forces_replacement and diff.before is None:
        return diff.model_copy(update={"forces_replacement": False})
    return diff


def _own_fields_unchanged(d: DesiredDeployment, live: LiveDeployment) -> bool:
    """The spec of this deployment is as it was at the last apply: from the `ftops-spec` tag (or,
    on deployments from before it, the `ftops-key` tag, which an upstream retrain moves too)."""
    if TAG_SPEC in live.tags:
        return live.tags[TAG_SPEC] == d.spec_key
    return live.tags.get(TAG_KEY) == d.key


def _tag_diffs(d: DesiredDeployment, live: LiveDeployment) -> tuple[FieldDiff, ...]:
    wanted = {TAG_KEY: d.key, TAG_SPEC: d.spec_key}
    return tuple(
        FieldDiff(path=f"tags.{tag}", before=live.tags.get(tag), after=value)
        for tag, value in wanted.items()
        if live.tags.get(tag) != value
    )


def _protect_diff(d: DesiredDeployment, live: LiveDeployment) -> tuple[FieldDiff, ...]:
    """`protect` lives in a tag, so that it outlives the YAML; the spec is its only source."""
    protected = live.tags.get(TAG_PROTECT) == "true"
    return (
        ()
        if protected == d.protect
        else (FieldDiff(path="protect", before=protected, after=d.protect),)
    )


def _attribute_model(
    p: Planning, d: DesiredDeployment, live: LiveDeployment, diff: FieldDiff
) -> FieldDiff:
    """A fine-tuned model that changes because its fine-tune (re)trains is the upstream's doing."""
    if diff.path == "model" and d.training_run is not None:
        return _attribute_adapter(d.training_run, live, diff)
    if diff.path != "model" or d.fine_tune is None:
        return diff
    ft = p.desired.fine_tune(d.fine_tune)
    if diff.after == UNKNOWN:
        note = f"upstream fine-tune {ft.name} retrains"
    elif _model_of_label(p, ft.account, ft.label, live.model_name):
        note = f"upstream fine-tune {ft.name} was retrained"
    else:
        return diff
    return diff.model_copy(update={"why": Why.UPSTREAM_CHANGED, "note": note})


def _attribute_adapter(run: str, live: LiveDeployment, diff: FieldDiff) -> FieldDiff:
    """An adapter model of the same run, under another run key: the run trains anew."""
    if diff.after == UNKNOWN:
        note = f"upstream training run {run} retrains"
    elif (live.model_name or "").startswith(adapter_model_name(run, "")):
        note = f"upstream training run {run} was retrained"
    else:
        return diff
    return diff.model_copy(update={"why": Why.UPSTREAM_CHANGED, "note": note})


def _model_of_label(p: Planning, account: str, label: str, model: str | None) -> bool:
    return any(j.fine_tuned_model == model and j.label == label for j in p.account(account).jobs)


def _overall(diffs: tuple[FieldDiff, ...]) -> Why:
    """The reason's class: the spec's when the spec moved at all, else the upstream's or drift."""
    classes = {f.why for f in diffs}
    for why in (Why.SPEC_CHANGED, Why.UPSTREAM_CHANGED, Why.DRIFTED):
        if why in classes:
            return why
    return Why.SPEC_CHANGED


def _steps(diffs: tuple[FieldDiff, ...]) -> tuple[Step, ...]:
    """Azure refuses a model change and a capacity change in one call: split them, in order."""
    if any(f.forces_replacement for f in diffs):
        return (Step.DELETE, Step.PUT)
    paths = {f.path for f in diffs}
    if paths & {"model", "modelVersion", "trainedIn"} and "sku.capacity" in paths:
        return (Step.PUT_KEEP_CAPACITY, Step.PATCH_SKU)
    return (Step.PUT,)
