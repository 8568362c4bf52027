"""Deleting what the project owns: prune (leftovers that left the specs, only when asked with
--prune or policy.prune) and destroy (everything owned). Owned means tagged `ftops-project` with
this project (deployments) or named `{project}.…` (files); a deployment protected in the specs
or by its live `ftops-protect` tag is kept unless --force."""

from __future__ import annotations

from reconciler.desired import TAG_PROJECT, TAG_PROTECT, file_prefix
from reconciler.errors import warning
from reconciler.live import LiveDeployment
from reconciler.planning.state import Planning
from reconciler.plans import Address, DeleteDeployment, DeleteFile, Kind, Reason, Why


def plan_prune(p: Planning) -> None:
    deployments = {(d.account, d.deployment_name) for d in p.desired.deployments}
    files = {f.filename for f in p.desired.files}
    asked = p.options.prune or p.desired.policy.prune
    _delete_owned(p, deployments, files, asked=asked, detail="not in the specs any more")


def plan_destroy(p: Planning) -> None:
    _delete_owned(p, set(), set(), asked=True, detail="destroy: owned by this project")


def _delete_owned(
    p: Planning, keep: set[tuple[str, str]], keep_files: set[str], *, asked: bool, detail: str
) -> None:
    reason = Reason(why=Why.PRUNE, detail=detail)
    for account in [*p.desired.accounts, *p.desired.hubs]:
        for dep in p.account(account).deployments:
            if dep.tags.get(TAG_PROJECT) == p.desired.project and (account, dep.name) not in keep:
                _delete_deployment(p, account, dep, asked, reason)
        # A hub project's data assets are versions Azure ML keeps (archived, never deleted).
        if asked and account in p.desired.accounts:
            _delete_files(p, account, keep_files, reason)


def _protected(p: Planning, account: str, dep: LiveDeployment) -> bool:
    declared = any(
        d.protect
        for d in p.desired.deployments
        if (d.account, d.deployment_name) == (account, dep.name)
    )
    return declared or dep.tags.get(TAG_PROTECT) == "true"


def _delete_deployment(
    p: Planning, account: str, dep: LiveDeployment, asked: bool, reason: Reason
) -> None:
    address = Address(kind=Kind.DEPLOYMENT, account=account, name=dep.name)
    if _protected(p, account, dep) and not p.options.force:
        p.diagnostics.append(
            warning(
                "DELETE_PROTECTED",
                f"{address} is protected (protect: true, tag {TAG_PROTECT}): kept",
                None,
                "to delete it, apply protect: false on it first, or pass --force",
            )
        )
        return
    if not asked:
        p.diagnostics.append(
            warning(
                "PRUNE_CANDIDATE",
                f"{address} is owned by this project but no longer in the specs",
                None,
                "apply --prune (or policy.prune: true) deletes it",
            )
        )
        return
    p.add(DeleteDeployment(address=address, reason=reason, deployment_name=dep.name))


def _delete_files(p: Planning, account: str, keep: set[str], reason: Reason) -> None:
    acct = p.account(account)
    running = [j for j in acct.jobs if not j.is_terminal]
    in_use = {j.training_file for j in running} | {j.validation_file for j in running}
    ours = file_prefix(p.desired.project)  # removed datasets' files too, never another project's
    for f in acct.files:
        if f.filename.startswith(ours) and f.filename not in keep and f.id not in in_use:
            p.add(
                DeleteFile(
                    address=Address(kind=Kind.FILE, account=account, name=f.filename),
                    reason=reason,
                    file_id=f.id,
                    filename=f.filename,
                )
            )
