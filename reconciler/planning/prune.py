"""Prune: owned leftovers, deleted only when asked (--prune or policy.prune)."""

from __future__ import annotations

from reconciler.desired import TAG_PROJECT
from reconciler.errors import warning
from reconciler.live import LiveDeployment
from reconciler.planning.state import Planning
from reconciler.plans import Address, DeleteDeployment, DeleteFile, Kind, Reason, Why


def plan_prune(p: Planning) -> None:
    wanted = {(d.account, d.deployment_name) for d in p.desired.deployments}
    for account in p.desired.accounts:
        for dep in p.account(account).deployments:
            if dep.tags.get(TAG_PROJECT) == p.desired.project and (account, dep.name) not in wanted:
                _prune_deployment(p, account, dep)
        _prune_files(p, account)


def _prune_deployment(p: Planning, account: str, dep: LiveDeployment) -> None:
    address = Address(kind=Kind.DEPLOYMENT, account=account, name=dep.name)
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
    reason = Reason(why=Why.PRUNE, detail="not in the specs any more")
    p.add(DeleteDeployment(address=address, reason=reason, deployment_name=dep.name))


def _prune_files(p: Planning, account: str) -> None:
    if not (p.options.prune or p.desired.policy.prune):
        return
    wanted = {f.filename for f in p.desired.files if f.account == account}
    acct = p.account(account)
    running = [j for j in acct.jobs if not j.is_terminal]
    in_use = {j.training_file for j in running} | {j.validation_file for j in running}
    ours = tuple(f"{name}." for name in p.desired.datasets)
    for f in acct.files:
        if (
            f.filename.startswith(ours)
            and f.filename not in wanted
            and f.id not in in_use
            and f.purpose == "fine-tune"
        ):
            p.add(
                DeleteFile(
                    address=Address(kind=Kind.FILE, account=account, name=f.filename),
                    reason=Reason(why=Why.PRUNE, detail="an old dataset version nothing needs"),
                    file_id=f.id,
                    filename=f.filename,
                )
            )
