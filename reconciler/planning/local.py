"""Local runs: the run directory's phase decides train, resume, wait or nothing."""

from __future__ import annotations

from reconciler.desired import DesiredLocalRun
from reconciler.errors import error
from reconciler.planning.state import Planning
from reconciler.plans import Keep, Reason, StartLocalRun, Wait, Why


def plan_local_runs(p: Planning) -> None:
    for run in p.desired.local_runs:
        p.add(_local_run_change(p, run))


def _start(run: DesiredLocalRun, reason: Reason) -> StartLocalRun:
    return StartLocalRun(
        address=run.address, reason=reason, name=run.name, key=run.key, spec=run.spec
    )


def _local_run_change(p: Planning, run: DesiredLocalRun) -> StartLocalRun | Wait | Keep:
    live = p.live.local_runs.get(run.name)
    phase = live.phase if live else "missing"
    if live and live.problem:
        message, _, hint = (live.detail or "").partition("\n")
        p.diagnostics.append(error(live.problem, message, run.location, hint or None))
        return Keep(address=run.address, reason=Reason(why=Why.FAILED, detail=message))
    if phase == "succeeded":
        reason = Reason(why=Why.UP_TO_DATE, detail="outputs.json committed")
        return Keep(address=run.address, reason=reason, live_id=run.key)
    if phase == "running":
        step = f"step {live.step}/{live.max_steps}" if live and live.step else "running"
        where = live.detail if run.placement and live and live.detail else None
        reason = Reason(why=Why.IN_PROGRESS, detail=where or "training locally")
        return Wait(
            address=run.address,
            reason=reason,
            progress=step,
            step=live.step if live else None,
            total=live.max_steps if live else None,
        )
    if phase == "partial":
        at = live.last_checkpoint if live else None
        detail = f"from checkpoint {at}" if at else "an unfinished run, from the start"
        if run.placement and live and live.detail:  # a completed job: its outputs to download
            detail = live.detail
        return _start(run, Reason(why=Why.RESUME, detail=detail))
    if phase == "failed" and not p.options.retry_failed:
        p.diagnostics.append(
            error(
                "LOCALRUN_FAILED",
                f"local run {run.name!r} failed: {live.detail if live else ''}",
                run.location,
                "see the job's user_logs in Azure ML studio; apply --retry-failed submits it "
                "again, as a new job"
                if run.placement
                else "see train.log in the run directory; apply --retry-failed trains it again",
            )
        )
        return Keep(address=run.address, reason=Reason(why=Why.FAILED))
    if phase == "failed":
        return _start(run, Reason(why=Why.RETRY, detail=live.detail if live else None))
    return _start(run, Reason(why=Why.NEW, detail="run key " + run.key[:16] + _where(run)))


def _where(run: DesiredLocalRun) -> str:
    placed = run.placement
    if not placed:
        return ""
    nodes, per_node = placed["instanceCount"], placed["processesPerInstance"]
    processes = f", {per_node} processes each" if per_node > 1 else ""
    return (
        f", on Azure ML {placed['workspace']}/{placed['cluster']} "
        f"({nodes} × {placed['instanceType']}{processes})"
    )
