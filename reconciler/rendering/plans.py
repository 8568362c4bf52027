"""Plans as text (Terraform-like), markdown (a PR comment) and JSON."""

from __future__ import annotations

import json

from reconciler.plans import (
    PLAN_FORMAT_VERSION,
    UNKNOWN,
    Action,
    Change,
    Plan,
    PutDeployment,
    TrainingEstimate,
    TrainJob,
    UploadFile,
    Wait,
    Why,
    kept_because,
)
from reconciler.rendering.diagnostics import plural
from reconciler.rendering.reasons import reason_text, value_text

NO_CHANGES = "No changes. The live state matches the specs."
_WHERE = {Why.DRIFTED: "changed outside ftops", Why.UPSTREAM_CHANGED: "upstream"}


def plan_text(plan: Plan, *, show_noops: bool = False) -> str:
    shown = [c for c in plan.changes if show_noops or _worth_showing(plan, c)]
    if plan.is_converged:
        body = [NO_CHANGES]
    else:
        body = [f"ftops will perform the following actions (project {plan.project}):", ""]
        for change in shown:
            body.extend(_change_lines(plan, change))
    body.extend(_grader_lines(plan))
    body.extend(_estimate_lines(plan))
    body.append("")
    body.append(_summary_line(plan))
    return "\n".join(body)


def _worth_showing(plan: Plan, change: Change) -> bool:
    return change.action is not Action.NOOP or kept_because(change, Why.MISSING, Why.PAUSED)


def _change_lines(plan: Plan, change: Change) -> list[str]:
    lines = [
        f"  {change.action.symbol} {change.address}  {change.action.value}",
        f"      reason: {reason_text(change.reason, plan.estimates)}",
    ]
    if isinstance(change, Wait) and change.progress:
        lines.append(f"      progress: {change.progress}")
    lines.extend(f"      {name}: {value}" for name, value in _attributes(change))
    for f in change.reason.fields:
        notes = [_WHERE[f.why]] if f.why in _WHERE else []
        notes += ["forces replacement"] if f.forces_replacement else []
        comment = f"  # {', '.join(notes)}" if notes else ""
        lines.append(f"      {f.path}: {value_text(f.before)} → {value_text(f.after)}{comment}")
    if change.depends_on:
        lines.append(f"      after: {', '.join(str(a) for a in change.depends_on)}")
    lines.append("")
    return lines


def _attributes(change: Change) -> list[tuple[str, str]]:
    """What a new resource will be: shown for uploads, trainings and creates."""
    if isinstance(change, UploadFile):
        return [("filename", change.filename)]
    if isinstance(change, TrainJob):
        rows = [("baseModel", change.base_model or UNKNOWN), ("trainingFile", change.training_file)]
        if change.validation_file:
            rows.append(("validationFile", change.validation_file))
        if change.training_type:
            rows.append(("trainingType", change.training_type))
        if change.method.type != "supervised":
            rows.append(("method", change.method.type))
        return [*rows, ("suffix", change.suffix), ("fineTunedModel", UNKNOWN)]
    if isinstance(change, PutDeployment) and change.action is Action.CREATE:
        sku = change.target.sku
        return [("model", change.target.model or UNKNOWN), ("sku", f"{sku.name} × {sku.capacity}")]
    return []


def _grader_lines(plan: Plan) -> list[str]:
    lines = []
    for g in plan.grader_checks:
        verdict = "valid" if g.valid else f"INVALID: {g.message}"
        lines.append(f"  grader check {g.fine_tune}: {g.grader}: {verdict} (the service's check)")
    return lines  # after the last change's blank line


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
        unknown = sum(t.cost_usd is None for t in est.training)
        total = f"≈ ${est.training_cost_usd:,.2f}" + (
            f" + {plural(unknown, 'job')} of unknown cost" if unknown else ""
        )
        lines.append(f"  total training {total}; validation tokens are not billed")
    sources = sorted(
        {t.price_source for t in est.training if t.price_source}
        | {h.price_source for h in est.hosting if h.price_source}
    )
    for source in sources:
        lines.append(f"  price source: {source}")
    return lines


def _training_line(t: TrainingEstimate) -> str:
    """`train x on m: 10 examples, 1,160 billable tokens × 3 epochs = 3,480 tokens ≈ $0.01`"""
    examples = plural(t.examples, "example") if t.examples is not None else "examples unknown"
    tokens = (
        f"{t.billable_tokens:,} billable tokens"
        if t.billable_tokens is not None
        else "tokens not counted"
    )
    epochs = plural(t.epochs, "epoch") if t.epochs else "epochs unknown"
    if t.epochs and t.epochs_heuristic:
        epochs += " (heuristic; Azure chooses)"
    total = f" = {t.trained_tokens:,} tokens" if t.trained_tokens is not None else ""
    cost = f" ≈ ${t.cost_usd:,.2f}" if t.cost_usd is not None else ", cost unknown"
    verb = "resume" if t.resume else "train"
    tier = f" ({t.tier} tier)" if t.tier else ""
    head = f"  {verb} {t.fine_tune} on {t.base_model}{tier}: {examples}, {tokens} × {epochs}{total}"
    if t.usd_per_hour is None:
        return head + (cost.replace("≈", "≈ at most") if t.resume else cost)
    hours = f"{t.hours:,.1f} h" if t.hours is not None else "hours unknown"
    cap = (
        f"; Azure pauses the job at ${t.cost_cap_usd:,.0f} (deploy a checkpoint or resume)"
        if t.cost_cap_usd
        else ""
    )
    upper = " at most" if t.resume else ""
    return f"{head} → {hours} × ${t.usd_per_hour:,.2f}/h ≈{upper} ${t.cost_usd or 0:,.2f}{cap}"


def _summary_line(plan: Plan) -> str:
    c = plan.counts()
    return (
        f"Plan: {c['upload']} to upload, {c['train']} to train, {c['create']} to create, "
        f"{c['update']} to update, {c['replace']} to replace, {c['delete']} to delete; "
        f"{c['wait']} waiting"
        + "".join(f"; {c[a]} to {a}" for a in ("pause", "resume") if c[a])
        + (f"; {len(plan.absent)} missing and left so (onMissing: warn)" if plan.absent else "")
        + (f"; {len(plan.held)} held by a paused job" if plan.held else "")
        + "."
    )


def plan_json(plan: Plan) -> str:
    """The saved-plan JSON plus, per change, its reason in words; and the counts."""
    data = json.loads(plan.to_json())
    for entry, change in zip(data["changes"], plan.changes, strict=True):
        entry["reason"]["text"] = reason_text(change.reason, plan.estimates)
    data["summary"] = plan.counts()
    data["has_changes"] = plan.has_changes
    data["format_version"] = PLAN_FORMAT_VERSION
    return json.dumps(data, indent=2, ensure_ascii=False)


def plan_markdown(plan: Plan) -> str:
    if plan.is_converged:
        return f"### ftops plan: `{plan.project}`\n\n{NO_CHANGES}\n"
    rows = ["| | address | action | reason |", "|---|---|---|---|"]
    for c in plan.changes:
        if _worth_showing(plan, c):
            rows.append(
                f"| `{c.action.symbol}` | `{c.address}` | {c.action.value} | "
                f"{reason_text(c.reason, plan.estimates).replace('|', '/')} |"
            )
    details = "\n".join([*_grader_lines(plan), *_estimate_lines(plan)]).strip()
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
