"""Deployments: create, update in place (model and capacity as two calls), or replace."""

from __future__ import annotations

from typing import Any

from reconciler.desired import (
    TAG_KEY,
    TAG_PROJECT,
    DesiredDeployment,
)
from reconciler.errors import error, warning
from reconciler.live import LiveDeployment, LiveJob
from reconciler.planning.state import Planning
from reconciler.plans import UNKNOWN, Action, Change, FieldChange

FIFTEEN_DAYS_NOTE = "Azure removes fine-tuned deployments after 15 days without traffic"


def plan_deployments(p: Planning) -> None:
    for d in p.desired.deployments:
        p.add(_deployment_change(p, d))


def _desired_model(p: Planning, d: DesiredDeployment) -> str | None:
    if d.base_model:
        return d.base_model
    assert d.fine_tune is not None
    model = p.models.get(d.fine_tune)
    if model is None or d.checkpoint_epoch is None:
        return model
    job = p.jobs[d.fine_tune]
    return _checkpoint_model(job, d.checkpoint_epoch)


def _checkpoint_model(job: LiveJob, epoch: int) -> str | None:
    """Azure keeps checkpoints of the last epochs, one per epoch, newest has the highest step."""
    ordered = sorted(job.checkpoints, key=lambda c: c.step_number, reverse=True)
    back = (job.n_epochs or len(ordered)) - epoch
    return ordered[back].model if 0 <= back < len(ordered) else None


def _source(p: Planning, d: DesiredDeployment) -> tuple[str | None, bool]:
    """ARM id of the training account for a copy, and whether it crosses tenants."""
    if not d.fine_tune:
        return None, False
    trained_in = p.desired.fine_tune(d.fine_tune).account
    if trained_in == d.account:
        return None, False
    src, dst = p.desired.accounts[trained_in], p.desired.accounts[d.account]
    arm_id = (
        f"/subscriptions/{src.subscription}/resourceGroups/{src.resource_group}"
        f"/providers/Microsoft.CognitiveServices/accounts/{src.account_name}"
    )
    return arm_id, (src.tenant or "") != (dst.tenant or "")


def _deployment_change(p: Planning, d: DesiredDeployment) -> Change:
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
        return Change(
            address=d.address,
            kind="deployment",
            account=d.account,
            action=Action.NOOP,
            reason="no such checkpoint",
        )
    source, cross_tenant = _source(p, d)
    body = _deployment_body(p, d, model, source, cross_tenant)
    base = {"address": d.address, "kind": "deployment", "account": d.account}
    depends = (p.desired.fine_tune(d.fine_tune).address,) if d.fine_tune else ()
    live = p.account(d.account).deployment(d.deployment_name)
    if live is None:
        return _create_deployment(p, d, base, body, depends, model)
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
        return Change(**base, action=Action.NOOP, reason="not owned")
    if not live.is_settled:
        return Change(
            **base,
            action=Action.WAIT,
            reason=f"deployment is {live.provisioning_state}",
            progress=live.provisioning_state,
        )
    return _update_deployment(d, live, base, body, depends, model)


def _deployment_body(
    p: Planning, d: DesiredDeployment, model: str | None, source: str | None, cross_tenant: bool
) -> dict[str, Any]:
    model_part: dict[str, Any] = {
        "format": "OpenAI",
        "name": model or UNKNOWN,
        "version": d.base_version or "1",
    }
    if source:
        model_part["sourceAccount" if cross_tenant else "source"] = source
    properties: dict[str, Any] = {"model": model_part}
    if d.rai_policy:
        properties["raiPolicyName"] = d.rai_policy
    if d.version_upgrade_option:
        properties["versionUpgradeOption"] = d.version_upgrade_option
    return {
        "sku": {"name": d.sku_name, "capacity": d.capacity},
        "tags": {TAG_PROJECT: p.desired.project, TAG_KEY: d.key},
        "properties": properties,
        "crossTenantSource": source if cross_tenant else None,
    }


def _create_deployment(
    p: Planning,
    d: DesiredDeployment,
    base: dict[str, Any],
    body: dict[str, Any],
    depends: tuple[str, ...],
    model: str | None,
) -> Change:
    job_existed = d.fine_tune is not None and d.fine_tune in p.jobs and model is not None
    reason = "new"
    if job_existed:
        reason = (
            f"missing: not found in the account (new, or deleted outside ftops: "
            f"{FIFTEEN_DAYS_NOTE})"
        )
        if d.on_missing == "warn":
            p.diagnostics.append(
                warning(
                    "DEPLOYMENT_MISSING",
                    f"deployment {d.deployment_name!r} is missing from "
                    f"account {d.account!r}; onMissing: warn, so it is not recreated",
                    d.location,
                    "set onMissing: recreate, or remove the Deployment from the specs",
                )
            )
            return Change(**base, action=Action.NOOP, reason="missing (onMissing: warn)")
    fields = (
        FieldChange(path="model.name", after=model or UNKNOWN),
        FieldChange(path="sku", after=f"{d.sku_name} × {d.capacity}"),
    )
    return Change(
        **base,
        action=Action.CREATE,
        reason=reason,
        fields=fields,
        depends_on=depends if model is None else (),
        payload={
            "deployment_name": d.deployment_name,
            "body": body,
            "fine_tune": d.fine_tune,
            "checkpoint_epoch": d.checkpoint_epoch,
        },
    )


def _update_deployment(
    d: DesiredDeployment,
    live: LiveDeployment,
    base: dict[str, Any],
    body: dict[str, Any],
    depends: tuple[str, ...],
    model: str | None,
) -> Change:
    props, model_part = body["properties"], body["properties"]["model"]
    wanted = {
        "model.name": model_part["name"],
        "model.version": model_part["version"],
        "model.source": model_part.get("source") or model_part.get("sourceAccount"),
        "sku.name": d.sku_name,
        "sku.capacity": d.capacity,
        "raiPolicyName": props.get("raiPolicyName", live.rai_policy),
        "versionUpgradeOption": props.get("versionUpgradeOption", live.version_upgrade_option),
        "tags.ftops-key": d.key,
    }
    have = {
        "model.name": live.model_name,
        "model.version": live.model_version,
        "model.source": live.source or live.source_account,
        "sku.name": live.sku_name,
        "sku.capacity": live.capacity,
        "raiPolicyName": live.rai_policy,
        "versionUpgradeOption": live.version_upgrade_option,
        "tags.ftops-key": live.tags.get(TAG_KEY),
    }
    diffs = tuple(
        FieldChange(path=k, before=have[k], after=v, forces_replacement=k == "sku.name")
        for k, v in wanted.items()
        if have[k] != v
    )
    if not diffs:
        return Change(**base, action=Action.NOOP, reason="up to date")
    payload = {
        "deployment_name": d.deployment_name,
        "body": body,
        "fine_tune": d.fine_tune,
        "checkpoint_epoch": d.checkpoint_epoch,
        "steps": _update_steps(diffs),
        "live_capacity": live.capacity,
    }
    replace = any(f.forces_replacement for f in diffs)
    action = Action.REPLACE if replace else Action.UPDATE
    reason = "spec changed: " + ", ".join(
        f"{f.path} {_short(f.before)} → {_short(f.after)}"
        for f in diffs
        if f.path != "tags.ftops-key"
    )
    if reason == "spec changed: ":
        reason = "ownership tag out of date"
    if replace:
        reason += " (sku.name forces replacement)"
    return Change(
        **base,
        action=action,
        reason=reason,
        fields=diffs,
        depends_on=depends if model is None else (),
        payload=payload,
    )


def _update_steps(diffs: tuple[FieldChange, ...]) -> list[str]:
    """Azure refuses a model change and a capacity change in one call: split them, in order."""
    paths = {f.path for f in diffs}
    if any(f.forces_replacement for f in diffs):
        return ["delete", "put"]
    model_change = bool(paths & {"model.name", "model.version", "model.source"})
    if model_change and "sku.capacity" in paths:
        return ["put-keep-capacity", "patch-sku"]
    return ["put"]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 48 else text[:45] + "…"
