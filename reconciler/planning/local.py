"""Local runs: the run directory's phase decides train, resume, wait or nothing."""

from __future__ import annotations

from reconciler.desired import (
    DesiredLocalRun,
)
from reconciler.errors import error
from reconciler.planning.state import Planning
from reconciler.plans import Action, Change


def plan_local_runs(p: Planning) -> None:
    for run in p.desired.local_runs:
        p.add(_local_run_change(p, run))


def _local_run_change(p: Planning, run: DesiredLocalRun) -> Change:
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
