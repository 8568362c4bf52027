"""Pure: (desired, live, options) → Plan. No I/O, no SDK.

Pairs each desired resource with its live counterpart by identity (content-addressed file names,
the job key in the suffix, the deployment name), picks an action and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.desired import (
    TAG_KEY,
    TAG_PROJECT,
    DesiredDeployment,
    DesiredFile,
    DesiredFineTune,
    DesiredLocalRun,
    DesiredState,
)
from reconciler.errors import Diagnostic, error, warning
from reconciler.estimating import CatalogLike, estimate
from reconciler.live import AccountLive, LiveDeployment, LiveJob, LiveState
from reconciler.plans import UNKNOWN, Action, Change, FieldChange, Plan, fingerprint

FIFTEEN_DAYS_NOTE = "Azure removes fine-tuned deployments after 15 days without traffic"


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    retry_failed: bool = False


@dataclass
class _Planning:
    desired: DesiredState
    live: LiveState
    options: PlanOptions
    changes: list[Change] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # fine-tune name → its model id when it exists now, None while it is still to come
    models: dict[str, str | None] = field(default_factory=dict)
    jobs: dict[str, LiveJob] = field(default_factory=dict)

    def account(self, name: str) -> AccountLive:
        return self.live.accounts.get(name) or AccountLive(account=name)

    def add(self, change: Change) -> None:
        self.changes.append(change)

    def blocked(self, address: str) -> bool:
        return any(c.address == address and c.action is not Action.NOOP for c in self.changes)


def plan(
    desired: DesiredState,
    live: LiveState,
    options: PlanOptions = PlanOptions(),
    catalog: CatalogLike | None = None,
) -> Plan:
    """The plan; with a catalog, also its estimates and the catalog's pre-flight checks."""
    p = _Planning(desired, live, options)
    _plan_fine_tune_jobs(p)
    _plan_files(p)
    _plan_deployments(p)
    _plan_local_runs(p)
    _plan_prune(p)
    result = Plan(
        project=desired.project,
        changes=tuple(_ordered(p.changes)),
        diagnostics=tuple(p.diagnostics),
        live_fingerprint=live_fingerprint(live),
    )
    return estimate(result, desired, catalog) if catalog is not None else result


def live_fingerprint(live: LiveState) -> str:
    """What a saved plan was computed from; volatile progress fields are left out."""
    view = {
        name: {
            "files": sorted((f.id, f.filename, f.status) for f in acct.files),
            "jobs": sorted(
                (j.id, j.suffix or "", j.status, j.fine_tuned_model or "") for j in acct.jobs
            ),
            "deployments": sorted(d.model_dump_json() for d in acct.deployments),
        }
        for name, acct in live.accounts.items()
    }
    view["local"] = {k: v.phase for k, v in live.local_runs.items()}
    return fingerprint(view)


_ORDER = {
    Action.UPLOAD: 0,
    Action.TRAIN: 1,
    Action.WAIT: 2,
    Action.CREATE: 3,
    Action.UPDATE: 3,
    Action.REPLACE: 3,
    Action.NOOP: 4,
    Action.DELETE: 5,
}
_DELETE_ORDER = {"deployment": 0, "model": 1, "file": 2}


def _ordered(changes: list[Change]) -> list[Change]:
    """Creates in dependency order (the planners emit them so); deletes last and in order."""
    indexed = list(enumerate(changes))
    indexed.sort(
        key=lambda ic: (
            _ORDER[ic[1].action],
            _DELETE_ORDER.get(ic[1].kind, 9) if ic[1].action is Action.DELETE else 0,
            ic[0],
        )
    )
    return [c for _, c in indexed]


# --- fine-tune jobs -----------------------------------------------------------------------


def _plan_fine_tune_jobs(p: _Planning) -> None:
    for ft in p.desired.fine_tunes:  # upstream before downstream
        job = p.account(ft.account).job_with_suffix(ft.suffix)
        if job:
            p.jobs[ft.name] = job
        if job and job.status == "succeeded":
            p.models[ft.name] = job.fine_tuned_model
            p.add(_job_change(ft, Action.NOOP, "up to date", job=job))
        elif job and not job.is_terminal:
            p.models[ft.name] = None
            p.add(
                _job_change(
                    ft,
                    Action.WAIT,
                    f"training: job {job.id} is {job.status}",
                    job=job,
                    progress=_job_progress(job),
                )
            )
        elif job and not p.options.retry_failed:
            p.models[ft.name] = None
            p.diagnostics.append(
                error(
                    "FINETUNE_FAILED",
                    f"fine-tune {ft.name!r}: job {job.id} {job.status}: "
                    f"{job.error or 'no error given'}",
                    ft.location,
                    "fix the data or hyperparameters (a new key trains anew), or run apply with "
                    "--retry-failed to train the same inputs again",
                )
            )
            p.add(_job_change(ft, Action.NOOP, f"job {job.id} {job.status}", job=job))
        else:
            p.models[ft.name] = None
            p.add(_train(p, ft, job))


def _job_change(
    ft: DesiredFineTune,
    action: Action,
    reason: str,
    *,
    job: LiveJob | None = None,
    progress: str | None = None,
) -> Change:
    payload = {"job_id": job.id, "fine_tuned_model": job.fine_tuned_model} if job else {}
    return Change(
        address=ft.address,
        kind="finetune",
        account=ft.account,
        action=action,
        reason=reason,
        payload=payload,
        progress=progress,
    )


def _job_progress(job: LiveJob) -> str:
    parts = [job.status]
    if job.step is not None:
        parts.append(f"step {job.step}")
    if job.train_loss is not None:
        parts.append(f"loss {job.train_loss:.4f}")
    if job.trained_tokens:
        parts.append(f"{job.trained_tokens} tokens")
    return ", ".join(parts)


def _train(p: _Planning, ft: DesiredFineTune, failed: LiveJob | None) -> Change:
    base = ft.base_model or p.models.get(ft.upstream or "") or UNKNOWN
    depends = [f"file/{ft.account}/{d}" for d in (ft.training_dataset, ft.validation_dataset) if d]
    if ft.upstream:
        depends.append(p.desired.fine_tune(ft.upstream).address)
    fields = [
        FieldChange(path="baseModel", after=base),
        FieldChange(path="trainingFile", after=ft.training_file),
        FieldChange(path="suffix", after=ft.suffix),
    ]
    if ft.validation_file:
        fields.append(FieldChange(path="validationFile", after=ft.validation_file))
    fields.append(FieldChange(path="fineTunedModel", after=UNKNOWN))
    payload: dict[str, Any] = {
        "name": ft.name,
        "suffix": ft.suffix,
        "model": base,
        "upstream": ft.upstream,
        "training_file": ft.training_file,
        "validation_file": ft.validation_file,
        "file_ids": _processed_file_ids(p.account(ft.account), ft),
        "method": ft.method,
        "seed": ft.seed,
    }
    return Change(
        address=ft.address,
        kind="finetune",
        account=ft.account,
        action=Action.TRAIN,
        reason=_train_reason(p, ft, failed),
        fields=tuple(fields),
        depends_on=tuple(depends),
        payload=payload,
    )


def _processed_file_ids(acct: AccountLive, ft: DesiredFineTune) -> dict[str, str]:
    """Ids of the job's files that are ready now; the rest are still to upload or process."""
    ids = {}
    for name in filter(None, (ft.training_file, ft.validation_file)):
        found = acct.file_named(name)
        if found is not None and found.status == "processed":
            ids[name] = found.id
    return ids


def _train_reason(p: _Planning, ft: DesiredFineTune, failed: LiveJob | None) -> str:
    if failed:
        return f"retrying: job {failed.id} {failed.status} (--retry-failed)"
    if ft.upstream and p.models.get(ft.upstream) is None:
        return f"upstream fine-tune {ft.upstream} will be trained first"
    label = ft.suffix.rsplit("-", 1)[0]
    previous = [
        j
        for j in p.account(ft.account).jobs
        if (j.suffix or "").rsplit("-", 1)[0] == label and j.suffix != ft.suffix
    ]
    if previous:
        return "spec or data changed: new job key " + ft.suffix.rsplit("-", 1)[1]
    return "new"


# --- files --------------------------------------------------------------------------------


def _plan_files(p: _Planning) -> None:
    """A file is needed only by a job still to start: once a job exists, its file may go."""
    to_train = {c.address for c in p.changes if c.action is Action.TRAIN}
    for f in p.desired.files:
        if any(
            ft.address in to_train
            for ft in p.desired.fine_tunes
            if ft.account == f.account and f.dataset in (ft.training_dataset, ft.validation_dataset)
        ):
            p.add(_file_change(p, f))


def _file_change(p: _Planning, f: DesiredFile) -> Change:
    acct = p.account(f.account)
    live = acct.file_named(f.filename)
    base = {"address": f.address, "kind": "file", "account": f.account}
    if live is None:
        payload = {"filename": f.filename, "path": f.path, "digest": f.digest, "dataset": f.dataset}
        fields = (FieldChange(path="filename", after=f.filename),)
        return Change(
            **base,
            action=Action.UPLOAD,
            reason=_upload_reason(acct, f),
            fields=fields,
            payload=payload,
        )
    if live.status == "processed":
        return Change(
            **base,
            action=Action.NOOP,
            reason="uploaded and processed",
            payload={"file_id": live.id},
        )
    if live.status == "error":
        p.diagnostics.append(
            error(
                "FILE_PROCESSING_FAILED",
                f"file {live.filename} ({live.id}) failed processing in "
                f"account {f.account}: {live.status_details or 'no details'}",
                None,
                "run 'ftops validate' on the dataset, fix it and apply again (new bytes, new file)",
            )
        )
        return Change(
            **base, action=Action.NOOP, reason="processing failed", payload={"file_id": live.id}
        )
    return Change(
        **base,
        action=Action.WAIT,
        reason=f"file {live.id} is {live.status}",
        payload={"file_id": live.id},
        progress=live.status,
    )


def _upload_reason(acct: AccountLive, f: DesiredFile) -> str:
    older = [x.filename for x in acct.files if x.filename.startswith(f"{f.dataset}.")]
    if older:
        return f"dataset changed: {older[0]} → {f.filename}"
    return "new: not uploaded to this account yet"


# --- deployments --------------------------------------------------------------------------


def _plan_deployments(p: _Planning) -> None:
    for d in p.desired.deployments:
        p.add(_deployment_change(p, d))


def _desired_model(p: _Planning, d: DesiredDeployment) -> str | None:
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


def _source(p: _Planning, d: DesiredDeployment) -> tuple[str | None, bool]:
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


def _deployment_change(p: _Planning, d: DesiredDeployment) -> Change:
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
    p: _Planning, d: DesiredDeployment, model: str | None, source: str | None, cross_tenant: bool
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
    p: _Planning,
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


# --- local runs ---------------------------------------------------------------------------


def _plan_local_runs(p: _Planning) -> None:
    for run in p.desired.local_runs:
        p.add(_local_run_change(p, run))


def _local_run_change(p: _Planning, run: DesiredLocalRun) -> Change:
    live = p.live.local_runs.get(run.name)
    phase = live.phase if live else "missing"
    base = {
        "address": run.address,
        "kind": "localrun",
        "account": None,
        "payload": {"name": run.name, "key": run.key, "spec": run.spec},
    }
    if phase == "succeeded":
        return Change(**base, action=Action.NOOP, reason="up to date: outputs.json committed")
    if phase == "running":
        step = f"step {live.step}/{live.max_steps}" if live and live.step else "running"
        return Change(**base, action=Action.WAIT, reason="training locally", progress=step)
    if phase == "partial":
        at = f" (step {live.step})" if live and live.step else ""
        return Change(
            **base, action=Action.TRAIN, reason=f"resume from the last complete checkpoint{at}"
        )
    if phase == "failed" and not p.options.retry_failed:
        p.diagnostics.append(
            error(
                "LOCALRUN_FAILED",
                f"local run {run.name!r} failed: {live.detail if live else ''}",
                run.location,
                "see train.log in the run directory; apply --retry-failed trains it again",
            )
        )
        return Change(**base, action=Action.NOOP, reason="failed")
    return Change(**base, action=Action.TRAIN, reason="new run key " + run.key[:16])


# --- prune --------------------------------------------------------------------------------


def _plan_prune(p: _Planning) -> None:
    wanted = {(d.account, d.deployment_name) for d in p.desired.deployments}
    for account in p.desired.accounts:
        for dep in p.account(account).deployments:
            if dep.tags.get(TAG_PROJECT) == p.desired.project and (account, dep.name) not in wanted:
                _prune_deployment(p, account, dep)
        _prune_files(p, account)


def _prune_deployment(p: _Planning, account: str, dep: LiveDeployment) -> None:
    address = f"deployment/{account}/{dep.name}"
    if not (p.options.prune or p.desired.policy.prune):
        p.diagnostics.append(
            warning(
                "PRUNE_CANDIDATE",
                f"{address} is owned by this project but no longer in the specs",
                None,
                "apply --prune (or policy.prune: true) deletes it",
            )
        )
        return
    p.add(
        Change(
            address=address,
            kind="deployment",
            account=account,
            action=Action.DELETE,
            reason="not in the specs any more (prune)",
            payload={"deployment_name": dep.name},
        )
    )


def _prune_files(p: _Planning, account: str) -> None:
    if not (p.options.prune or p.desired.policy.prune):
        return
    wanted = {f.filename for f in p.desired.files if f.account == account}
    acct = p.account(account)
    in_use = {j.training_file for j in acct.jobs if not j.is_terminal} | {
        j.validation_file for j in acct.jobs if not j.is_terminal
    }
    ours = tuple(f"{name}." for name in p.desired.datasets)
    for f in acct.files:
        if (
            f.filename.startswith(ours)
            and f.filename not in wanted
            and f.id not in in_use
            and f.purpose == "fine-tune"
        ):
            p.add(
                Change(
                    address=f"file/{account}/{f.filename}",
                    kind="file",
                    account=account,
                    action=Action.DELETE,
                    reason="old dataset version nothing needs (prune)",
                    payload={"file_id": f.id},
                )
            )


# --- guards -------------------------------------------------------------------------------


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
        if change.address in protected:
            problems.append(
                error(
                    "GUARD_PROTECTED",
                    f"{change.address} is protected and the plan would "
                    f"{change.action.value} it ({change.reason})",
                    protected[change.address].location,
                    "set protect: false on the Deployment first if this is intended",
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
