"""Execute a plan through the providers, re-reading and re-planning until the live state matches.

Each round reads live state, plans, and runs every change whose dependencies are met: accounts
in parallel, one account's changes in order (ARM answers 409 to concurrent child operations).
Every step is idempotent and discoverable from live state, so a crash anywhere is repaired by
running apply again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from reconciler.desired import DesiredState
from reconciler.errors import ConvergenceError, GuardError, SpecError
from reconciler.estimating import CatalogLike
from reconciler.live import LiveState
from reconciler.planning import PlanOptions, check_guards, plan
from reconciler.plans import UNKNOWN, Action, Change, Plan
from reconciler.providers import CloudProvider
from reconciler.reading import LocalReader, read_live

EXIT_CONVERGED = 0
EXIT_IN_PROGRESS = 3


class Progress(Protocol):
    def planned(self, plan: Plan) -> None: ...

    def started(self, change: Change) -> None: ...

    def finished(self, change: Change, detail: str) -> None: ...

    def waiting(self, plan: Plan) -> None: ...


class LocalStarter(Protocol):
    def __call__(self, change: Change, *, wait: bool) -> str: ...


@dataclass(frozen=True)
class ApplyOptions:
    wait: bool = False
    timeout_s: float | None = None
    poll_s: float = 2.0
    force: bool = False
    plan_options: PlanOptions = PlanOptions()
    saved_plan: Plan | None = None
    # Files and deployments settle in seconds to minutes: worth waiting for even without --wait.
    short_wait_s: float = 600.0


@dataclass
class ApplyResult:
    exit_code: int
    final: Plan
    done: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Applier:
    desired: DesiredState
    cloud: CloudProvider | None
    progress: Progress
    options: ApplyOptions = ApplyOptions()
    catalog: CatalogLike | None = None
    local_reader: LocalReader | None = None
    local_starter: LocalStarter | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _executed: dict[str, str] = field(default_factory=dict)

    def observe(self) -> tuple[LiveState, Plan]:
        live = read_live(self.desired, self.cloud, self.local_reader)
        return live, plan(self.desired, live, self.options.plan_options, self.catalog)

    def run(self) -> ApplyResult:
        start = self.clock()
        done: list[dict[str, Any]] = []
        first = True
        while True:
            _, current = self.observe()
            if first:
                self._preflight(current)
                self.progress.planned(current)
                first = False
            _raise_on_errors(current)
            runnable = self._runnable(current)
            if runnable:
                done.extend(self._execute(runnable))
                continue
            if not current.pending and not current.waits:
                return ApplyResult(EXIT_CONVERGED, current, done)
            if not self._keep_waiting(current, self.clock() - start):
                return ApplyResult(EXIT_IN_PROGRESS, current, done)
            self.progress.waiting(current)
            self.sleep(self.options.poll_s)

    def _preflight(self, current: Plan) -> None:
        saved = self.options.saved_plan
        if saved is not None and saved.live_fingerprint != current.live_fingerprint:
            raise GuardError(
                "the saved plan is stale: the live state changed since it was computed",
                code="GUARD_STALE_PLAN",
                hint="run 'ftops plan --out FILE' again and review the new plan",
            )
        guards = check_guards(current, self.desired, force=self.options.force)
        if guards:
            raise _GuardErrors(guards)

    def _runnable(self, current: Plan) -> list[Change]:
        blocking = {c.address for c in current.changes if c.action is not Action.NOOP}
        allowed = (
            {c.address for c in self.options.saved_plan.changes}
            if self.options.saved_plan
            else None
        )
        runnable = []
        for change in current.pending:
            if any(dep in blocking for dep in change.depends_on) or _model_unknown(change):
                continue
            if allowed is not None and change.address not in allowed:
                continue
            self._check_not_repeated(change)
            runnable.append(change)
        return runnable

    def _check_not_repeated(self, change: Change) -> None:
        """A change that comes back after it was applied means the provider did not converge."""
        signature = change.model_dump_json(include={"action", "fields", "payload"})
        if self._executed.get(change.address) == signature:
            raise ConvergenceError(
                f"{change.address} still needs '{change.action}' after it was applied",
                code="NOT_CONVERGED",
                hint="the live state did not take the change; this is a bug in ftops or in the "
                "service's contract: please report it with the plan JSON",
            )
        self._executed[change.address] = signature

    def _execute(self, changes: list[Change]) -> list[dict[str, Any]]:
        by_account: dict[str, list[Change]] = {}
        for change in changes:
            by_account.setdefault(change.account or f"local:{change.address}", []).append(change)
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(by_account)))) as pool:
            results = pool.map(self._execute_in_order, by_account.values())
            return [item for batch in results for item in batch]

    def _execute_in_order(self, changes: list[Change]) -> list[dict[str, Any]]:
        done = []
        for change in changes:
            self.progress.started(change)
            detail = self._execute_one(change)
            self.progress.finished(change, detail)
            done.append(
                {"address": change.address, "action": change.action.value, "detail": detail}
            )
        return done

    def _execute_one(self, change: Change) -> str:
        if change.kind == "localrun":
            assert self.local_starter is not None, "local runs need the local provider"
            return self.local_starter(change, wait=self.options.wait)
        assert self.cloud is not None and change.account is not None
        return _CloudSteps(self.cloud, change.account).run(change)

    def _keep_waiting(self, current: Plan, elapsed: float) -> bool:
        if self.options.timeout_s is not None and elapsed > self.options.timeout_s:
            return False
        if self.options.wait:
            return True
        return not _long_running(current) and elapsed < self.options.short_wait_s


class _GuardErrors(GuardError):
    def __init__(self, diagnostics: list[Any]) -> None:
        first = diagnostics[0]
        super().__init__(first.message, code=first.code, location=first.location, hint=first.hint)
        self.all = diagnostics

    def diagnostics(self) -> list[Any]:
        return list(self.all)


def _raise_on_errors(current: Plan) -> None:
    errors = [d for d in current.diagnostics if d.is_error]
    if errors:
        raise SpecError(list(current.diagnostics))


def _model_unknown(change: Change) -> bool:
    """A model known only after training: the change waits for its upstream."""
    body = change.payload.get("body")
    if body:
        return bool(body["properties"]["model"]["name"] == UNKNOWN)
    return change.payload.get("model") == UNKNOWN


def _long_running(current: Plan) -> bool:
    """Training in flight (or queued behind training): not worth holding CI for."""
    training = {
        c.address
        for c in current.changes
        if c.kind in ("finetune", "localrun") and c.action is not Action.NOOP
    }
    if training & {c.address for c in current.waits}:
        return True
    return any(set(c.depends_on) & training for c in current.pending)


@dataclass
class _CloudSteps:
    """Turns one change into provider calls."""

    cloud: CloudProvider
    account: str

    def run(self, change: Change) -> str:
        handler = getattr(self, f"_{change.kind}_{change.action.value}")
        return str(handler(change))

    def _file_upload(self, change: Change) -> str:
        p = change.payload
        file_id = self.cloud.upload_file(self.account, p["filename"], Path(p["path"]))
        return f"uploaded {p['filename']} as {file_id}"

    def _file_delete(self, change: Change) -> str:
        self.cloud.delete_file(self.account, change.payload["file_id"])
        return f"deleted {change.payload['file_id']}"

    def _finetune_train(self, change: Change) -> str:
        job = self.cloud.create_job(self.account, self._job_request(change))
        return f"started job {job.id}"

    def _job_request(self, change: Change) -> dict[str, Any]:
        p = change.payload
        ids = p["file_ids"]  # complete: a train runs only once its files are processed
        request: dict[str, Any] = {
            "model": p["model"],
            "training_file": ids[p["training_file"]],
            "suffix": p["suffix"],
            "method": _method(p["method"]),
        }
        if p["validation_file"]:
            request["validation_file"] = ids[p["validation_file"]]
        if p["seed"] is not None:
            request["seed"] = p["seed"]
        return request

    def _deployment_create(self, change: Change) -> str:
        p = change.payload
        self.cloud.put_deployment(self.account, p["deployment_name"], p["body"])
        return f"deployed {p['body']['properties']['model']['name']}"

    def _deployment_update(self, change: Change) -> str:
        p = change.payload
        steps = p.get("steps") or ["put"]
        if steps[0] == "put-keep-capacity":
            body = {**p["body"], "sku": {**p["body"]["sku"], "capacity": p["live_capacity"]}}
            self.cloud.put_deployment(self.account, p["deployment_name"], body)
            self.cloud.patch_deployment_sku(self.account, p["deployment_name"], p["body"]["sku"])
            return "updated the model, then the capacity (two calls: Azure refuses both at once)"
        self.cloud.put_deployment(self.account, p["deployment_name"], p["body"])
        return "updated"

    def _deployment_replace(self, change: Change) -> str:
        p = change.payload
        self.cloud.delete_deployment(self.account, p["deployment_name"])
        self.cloud.put_deployment(self.account, p["deployment_name"], p["body"])
        return "replaced"

    def _deployment_delete(self, change: Change) -> str:
        self.cloud.delete_deployment(self.account, change.payload["deployment_name"])
        return "deleted"


_HYPERPARAMETER_NAMES = {
    "epochs": "n_epochs",
    "batchSize": "batch_size",
    "learningRateMultiplier": "learning_rate_multiplier",
    "beta": "beta",
}


def _method(method: dict[str, Any]) -> dict[str, Any]:
    """The spec's method in the service's shape; 'auto' is left for the service to choose."""
    kind = method.get("type", "supervised")
    hyper = {
        _HYPERPARAMETER_NAMES[k]: v
        for k, v in method.get("hyperparameters", {}).items()
        if v != "auto" and v is not None
    }
    return {"type": kind, kind: {"hyperparameters": hyper}}
