"""`ftops status`: the live objects per account, then what is out of sync and why."""

from __future__ import annotations

from reconciler.live import LiveState
from reconciler.plans import Action, Plan, Wait
from reconciler.rendering.reasons import reason_text


def status_text(plan: Plan, live: LiveState) -> str:
    lines = [f"Project {plan.project}", ""]
    for account, acct in sorted(live.accounts.items()):
        lines.append(f"account {account}")
        for job in sorted(acct.jobs, key=lambda j: j.created_at or 0):
            model = f" → {job.fine_tuned_model}" if job.fine_tuned_model else ""
            lines.append(f"  job {job.id} {job.status:<10} {job.suffix or ''}{model}")
        for dep in acct.deployments:
            owner = dep.tags.get("ftops-project", "-")
            lines.append(
                f"  deployment {dep.name} {dep.provisioning_state or ''} "
                f"{dep.model_name} {dep.sku_name}×{dep.capacity} (owner {owner})"
            )
        lines.append("")
    for name, run in sorted(live.local_runs.items()):
        step = f" step {run.step}/{run.max_steps}" if run.step else ""
        lines.append(f"local run {name} {run.phase}{step}")
    drift = [c for c in plan.changes if c.action is not Action.NOOP]
    lines.append("In sync." if not drift else "Out of sync:")
    for c in drift:
        progress = f" ({c.progress})" if isinstance(c, Wait) and c.progress else ""
        lines.append(
            f"  {c.action.symbol} {c.address}: {reason_text(c.reason, plan.estimates)}{progress}"
        )
    return "\n".join(lines)
