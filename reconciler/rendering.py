"""Plans, diagnostics and status as text, JSON and markdown. Formats only; decides nothing."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.live import LiveState
from reconciler.plans import PLAN_FORMAT_VERSION, Action, Change, Plan, TrainingEstimate

NO_CHANGES = "No changes. The live state matches the specs."


# --- diagnostics --------------------------------------------------------------------------


def diagnostics_text(diagnostics: Iterable[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        where = f"{d.location}: " if d.location else ""
        lines.append(f"{where}{d.code} {d.severity.value}: {d.message}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
    return "\n".join(lines)


def diagnostics_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.as_json() for d in diagnostics], indent=2)


def diagnostics_summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = sum(1 for d in diagnostics if d.severity.value == "warning")
    return f"Found {errors} error(s) and {warnings} warning(s)."


# --- plans --------------------------------------------------------------------------------


def plan_text(plan: Plan, *, show_noops: bool = False) -> str:
    shown = [c for c in plan.changes if show_noops or c.action is not Action.NOOP]
    if not plan.pending and not plan.waits:
        body = [NO_CHANGES]
    else:
        body = [f"ftops will perform the following actions (project {plan.project}):", ""]
        for change in shown:
            body.extend(_change_lines(change))
    body.extend(_estimate_lines(plan))
    body.append("")
    body.append(_summary_line(plan))
    return "\n".join(body)


def _change_lines(change: Change) -> list[str]:
    lines = [
        f"  {change.action.symbol} {change.address}  {change.action.value}",
        f"      reason: {change.reason}",
    ]
    if change.progress:
        lines.append(f"      progress: {change.progress}")
    for f in change.fields:
        if f.before is None:
            lines.append(f"      {f.path}: {_value(f.after)}")
        else:
            suffix = "  # forces replacement" if f.forces_replacement else ""
            lines.append(f"      {f.path}: {_value(f.before)} → {_value(f.after)}{suffix}")
    if change.depends_on:
        lines.append(f"      after: {', '.join(change.depends_on)}")
    lines.append("")
    return lines


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _estimate_lines(plan: Plan) -> list[str]:
    est = plan.estimates
    if not est.training and not est.hosting and not est.data_diffs:
        return []
    lines = ["", "Estimates (not a quote):"]
    lines.extend(_training_line(t) for t in est.training)
    for h in est.hosting:
        rate = f"${h.usd_per_hour:,.2f}/h" if h.usd_per_hour is not None else "rate unknown"
        lines.append(f"  host {h.deployment}: {rate} while deployed")
    for d in est.data_diffs:
        delta = f", {d.token_delta:+,} tokens" if d.token_delta is not None else ""
        lines.append(
            f"  data {d.dataset}: +{d.added_examples} / -{d.removed_examples} examples{delta}"
        )
    if est.training:
        lines.append(
            f"  total training ≈ ${est.training_cost_usd:,.2f}; validation tokens are not billed"
        )
    sources = sorted(
        {t.price_source for t in est.training if t.price_source}
        | {h.price_source for h in est.hosting if h.price_source}
    )
    for source in sources:
        lines.append(f"  price source: {source}")
    return lines


def _training_line(t: TrainingEstimate) -> str:
    """`train x on m: 10 examples, 1,160 billable tokens × 3 epochs = 3,480 tokens ≈ $0.01`"""
    examples = f"{t.examples} examples" if t.examples is not None else "examples unknown"
    tokens = (
        f"{t.billable_tokens:,} billable tokens"
        if t.billable_tokens is not None
        else "tokens not counted"
    )
    epochs = f"{t.epochs} epochs" if t.epochs else "epochs unknown"
    if t.epochs and t.epochs_heuristic:
        epochs += " (heuristic; Azure chooses)"
    total = f" = {t.trained_tokens:,} tokens" if t.trained_tokens is not None else ""
    cost = f" ≈ ${t.cost_usd:,.2f}" if t.cost_usd is not None else ", cost unknown"
    return f"  train {t.fine_tune} on {t.base_model}: {examples}, {tokens} × {epochs}{total}{cost}"


def _summary_line(plan: Plan) -> str:
    c = plan.counts()
    return (
        f"Plan: {c['upload']} to upload, {c['train']} to train, {c['create']} to create, "
        f"{c['update']} to update, {c['replace']} to replace, {c['delete']} to delete; "
        f"{c['wait']} waiting."
    )


def plan_json(plan: Plan) -> str:
    data = json.loads(plan.to_json())
    data["summary"] = plan.counts()
    data["has_changes"] = plan.has_changes
    data["format_version"] = PLAN_FORMAT_VERSION
    return json.dumps(data, indent=2)


def plan_markdown(plan: Plan) -> str:
    if not plan.pending and not plan.waits:
        return f"### ftops plan: `{plan.project}`\n\n{NO_CHANGES}\n"
    rows = ["| | address | action | reason |", "|---|---|---|---|"]
    for c in plan.changes:
        if c.action is not Action.NOOP:
            rows.append(
                f"| `{c.action.symbol}` | `{c.address}` | {c.action.value} | "
                f"{c.reason.replace('|', '/')} |"
            )
    details = "\n".join(_estimate_lines(plan)).strip()
    est = (
        f"\n\n<details><summary>Estimates</summary>\n\n```\n{details}\n```\n</details>"
        if details
        else ""
    )
    return (
        f"### ftops plan: `{plan.project}`\n\n"
        + "\n".join(rows)
        + f"\n\n{_summary_line(plan)}{est}\n"
    )


# --- status -------------------------------------------------------------------------------


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
        lines.append(
            f"  {c.action.symbol} {c.address}: {c.reason}"
            + (f" ({c.progress})" if c.progress else "")
        )
    return "\n".join(lines)
