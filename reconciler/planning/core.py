"""Pure: (desired, live, options) → Plan. No I/O, no SDK.

Pairs each desired resource with its live counterpart by identity (content-addressed file names,
the job key in the suffix, the deployment name), picks an action and says why. Each kind of
resource has its own module; they run in dependency order and read what earlier steps decided.
"""

from __future__ import annotations

from reconciler.desired import DesiredState
from reconciler.estimating import CatalogLike, estimate
from reconciler.live import LiveState
from reconciler.planning.deployments import plan_deployments
from reconciler.planning.files import plan_files
from reconciler.planning.jobs import plan_fine_tune_jobs
from reconciler.planning.limits import check_limits
from reconciler.planning.local import plan_local_runs
from reconciler.planning.prune import plan_destroy, plan_prune
from reconciler.planning.state import Planning
from reconciler.plans import Action, Change, Kind, Plan, PlanOptions, Why, fingerprint


def plan(
    desired: DesiredState,
    live: LiveState,
    options: PlanOptions | None = None,
    catalog: CatalogLike | None = None,
) -> Plan:
    """The plan; with a catalog, also its estimates and the catalog's pre-flight checks."""
    options = options or PlanOptions()
    p = Planning(desired, live, options)
    if options.destroy:
        plan_destroy(p)
    else:
        plan_fine_tune_jobs(p)
        plan_files(p)
        plan_deployments(p)
        plan_local_runs(p)
        plan_prune(p)
        check_limits(p)
    changes = (
        [_drift_of(c) for c in p.changes if _is_drift(c)] if options.refresh_only else p.changes
    )
    result = Plan(
        project=desired.project,
        options=options,
        changes=tuple(_ordered(changes)),
        diagnostics=tuple(p.diagnostics),
        desired_fingerprint=desired_fingerprint(desired),
        live_fingerprint=live_fingerprint(live),
    )
    if catalog is None or options.destroy:  # nothing is trained or deployed by a destroy
        return result
    return estimate(result, desired, catalog)


def _is_drift(change: Change) -> bool:
    """Changed outside ftops: a field moved on the live side, or an object gone missing."""
    reason = change.reason
    return reason.why in (Why.DRIFTED, Why.MISSING) or any(
        f.why is Why.DRIFTED for f in reason.fields
    )


def _drift_of(change: Change) -> Change:
    """The change as drift alone: what the spec or an upstream moved is for a full plan."""
    fields = tuple(f for f in change.reason.fields if f.why is Why.DRIFTED)
    if not fields:
        return change
    reason = change.reason.model_copy(update={"why": Why.DRIFTED, "fields": fields})
    return change.model_copy(update={"reason": reason})


def desired_fingerprint(desired: DesiredState) -> str:
    """What a saved plan was computed from on the specs' side: every key, name and setting, and
    the data digests; not where the files are (a CI runner checks out elsewhere) nor their lines."""
    where = {"location", "path", "spec"}
    view = {
        "project": desired.project,
        "policy": desired.project_spec.model_dump(mode="json"),
        "accounts": {n: a.model_dump(mode="json") for n, a in desired.accounts.items()},
        "files": [f.model_dump(mode="json", exclude={"path"}) for f in desired.files],
        "fine_tunes": [f.model_dump(mode="json", exclude=where) for f in desired.fine_tunes],
        "deployments": [d.model_dump(mode="json", exclude=where) for d in desired.deployments],
        "local_runs": [(r.name, r.key) for r in desired.local_runs],
    }
    if desired.hubs:  # only then: a plan saved before hubs existed keeps its fingerprint
        view["hubs"] = {n: w.model_dump(mode="json") for n, w in desired.hubs.items()}
    return fingerprint(view)


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
    Action.PAUSE: 1,
    Action.RESUME: 1,
    Action.WAIT: 2,
    Action.CREATE: 3,
    Action.UPDATE: 3,
    Action.REPLACE: 3,
    Action.NOOP: 4,
    Action.DELETE: 5,
}
_DELETE_ORDER = {Kind.DEPLOYMENT: 0, Kind.FILE: 2}


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
