"""`ftops status`: per account, every declared resource with its live state, and whether the
account matches the specs. One list of rows feeds the plain text (pipes, CI), the rich table (a
terminal) and the JSON."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from reconciler.desired import DesiredState
from reconciler.live import AccountLive, LiveJob, LiveState
from reconciler.plans import Action, Plan, Wait, Why, kept_because
from reconciler.rendering.reasons import reason_text


@dataclass(frozen=True)
class Row:
    account: str
    resource: str
    state: str
    progress: str = ""
    detail: str = ""
    sync: str = "in sync"


def status_rows(
    desired: DesiredState, live: LiveState, plan: Plan, *, show_all: bool = False
) -> list[Row]:
    syncs = {str(c.address): _sync(plan, c) for c in plan.changes}
    rows: list[Row] = []
    for ft in desired.fine_tunes:
        acct = _account(live, ft.account)
        job = acct.job_for(ft.key, ft.suffix)
        now = float(acct.read_at or time.time())  # the service's clock: timestamps are its
        where = _group(desired, ft.account)
        rows.append(_job_row(where, str(ft.address), job, syncs.get(str(ft.address), ""), now))
        if show_all:
            rows += [
                _job_row(where, f"  {j.suffix}", j, "superseded", now)
                for j in acct.jobs
                if j.label == ft.label and j.suffix != ft.suffix
            ]
    for d in desired.deployments:
        dep = _account(live, d.account).deployment(d.deployment_name)
        sync = syncs.get(str(d.address), "")
        where = _group(desired, d.account)
        if dep is None:
            rows.append(Row(where, str(d.address), "missing", sync=sync or "missing"))
            continue
        source = f", from {dep.trained_in}" if dep.trained_in else ""
        serving = f"{dep.sku_name} × {dep.capacity}"
        if d.training_run:
            serving = f"online endpoint, {serving}, {dep.traffic or 0}% traffic"
        elif d.account in desired.hubs:
            serving = "serverless"
        detail = f"{dep.model_name} · {serving}{source}"
        rows.append(Row(where, str(d.address), dep.provisioning_state or "", "", detail, sync))
    for run in desired.local_runs:
        state = live.local_runs.get(run.name)
        step = f"step {state.step}/{state.max_steps or '?'}" if state and state.step else ""
        placed = run.placement
        rows.append(
            Row(
                f"Azure ML {placed['workspace']}" if placed else "local",
                str(run.address),
                state.phase if state else "missing",
                step,
                (state.detail or "") if state else "",
                syncs.get(str(run.address), ""),
            )
        )
    return [r if r.sync else Row(**{**asdict(r), "sync": "in sync"}) for r in rows]


def _group(desired: DesiredState, target: str) -> str:
    """An account's rows under its name; a hub project's under its workspace's."""
    return f"Azure ML {target}" if target in desired.hubs else target


def _heading(group: str) -> str:
    """Rows are grouped by account; runs by where they train (this machine, a workspace)."""
    if group == "local":
        return "this machine"
    return group if group.startswith("Azure ML ") else f"account {group}"


def _sync(plan: Plan, change: Any) -> str:
    if kept_because(change, Why.PAUSED):
        return "held: paused"
    if change.action is Action.NOOP and not kept_because(change, Why.MISSING):
        return "in sync"
    if isinstance(change, Wait):
        return "in progress"
    return f"{change.action.value}: {reason_text(change.reason, plan.estimates)}"


def _account(live: LiveState, name: str) -> AccountLive:
    return live.accounts.get(name) or AccountLive(account=name)


def _job_row(account: str, resource: str, job: LiveJob | None, sync: str, now: float) -> Row:
    if job is None:
        return Row(account, resource, "not trained", sync=sync)
    detail = job.fine_tuned_model or ""
    if job.status in ("failed", "cancelled"):
        detail = job.error or "no reason given"
    state = job.status
    if job.is_paused:
        state = f"paused by {'a person' if job.paused_by == 'person' else 'Azure'}"
        detail = job.pause_reason or "no reason given"
    if job.training_type:
        detail = f"{detail} · {job.training_type} tier".lstrip(" ·")
    return Row(account, resource, state, _progress(job, now), detail, sync)


def _progress(job: LiveJob, now: float) -> str:
    parts = []
    if job.step is not None:
        total = f"/{job.total_steps}" if job.total_steps else ""
        parts.append(f"step {job.step}{total}")
    if job.train_loss is not None:
        valid = f" (valid {job.valid_loss:.4f})" if job.valid_loss is not None else ""
        parts.append(f"loss {job.train_loss:.4f}{valid}")
    if job.created_at:
        end = job.finished_at or now
        parts.append(f"{_duration(end - job.created_at)} elapsed")
    eta = _eta(job, now)
    if eta:
        parts.append(f"ETA {eta}")
    return ", ".join(parts)


def _eta(job: LiveJob, now: float) -> str:
    if job.is_terminal or job.is_paused:
        return ""
    if job.estimated_finish:
        return _duration(max(0.0, job.estimated_finish - now))
    if job.step and job.total_steps and job.created_at:
        spent = now - job.created_at
        return _duration(spent / job.step * (job.total_steps - job.step))
    return ""


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# --- renderings ---------------------------------------------------------------------------

COLUMNS = ("resource", "state", "progress", "detail", "sync")


def status_text(project: str, rows: list[Row], in_sync: bool) -> str:
    """Plain aligned columns, one block per account: for pipes and CI logs."""
    lines = [f"Project {project}: " + ("in sync." if in_sync else "out of sync.")]
    for account in dict.fromkeys(r.account for r in rows):
        table = [COLUMNS] + [
            tuple(getattr(r, c) for c in COLUMNS) for r in rows if r.account == account
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
        lines += ["", _heading(account)]
        lines += [
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
    return "\n".join(lines)


def status_table(project: str, rows: list[Row], in_sync: bool) -> Any:
    """The same as a rich renderable, for a terminal."""
    from rich.console import Group
    from rich.table import Table

    tables = []
    for account in dict.fromkeys(r.account for r in rows):
        table = Table(title=_heading(account), title_justify="left", expand=False)
        for column in COLUMNS:
            table.add_column(column, overflow="fold")
        for r in rows:
            if r.account == account:
                style = "green" if r.sync == "in sync" else "yellow"
                table.add_row(r.resource, r.state, r.progress, r.detail, f"[{style}]{r.sync}[/]")
        tables.append(table)
    title = f"Project {project}: " + ("[green]in sync[/]" if in_sync else "[yellow]out of sync[/]")
    return Group(title, *tables)


def status_json(
    project: str, rows: list[Row], in_sync: bool, live: LiveState | None = None
) -> dict[str, Any]:
    """The rows, and the live state they were read from (numbers, ids) for scripts."""
    data: dict[str, Any] = {
        "project": project,
        "in_sync": in_sync,
        "resources": [asdict(r) for r in rows],
    }
    if live is not None:
        data["live"] = live.summary()
    return data
