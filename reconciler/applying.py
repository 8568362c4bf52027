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
from reconciler.errors import (
    ConvergenceError,
    Diagnostic,
    ExitCode,
    FtopsError,
    GuardError,
    SpecError,
    error,
)
from reconciler.estimating import CatalogLike
from reconciler.live import MAX_ACCOUNT_WORKERS, LiveState, LocalRunLive
from reconciler.planning import check_guards, plan, usages_needed
from reconciler.plans import (
    Action,
    Address,
    Change,
    DeleteDeployment,
    DeleteFile,
    GraderCheck,
    Kind,
    PauseJob,
    Plan,
    PlanOptions,
    PutDeployment,
    ResumeJob,
    StartLocalRun,
    Step,
    TrainJob,
    UploadFile,
    same_change,
)
from reconciler.providers import CloudProvider
from reconciler.reading import read_live, with_metrics, with_usages


class Progress(Protocol):
    def planned(self, plan: Plan) -> None: ...

    def started(self, change: Change) -> None: ...

    def finished(self, change: Change, detail: str) -> None: ...

    def waiting(self, plan: Plan) -> None: ...

    def finished_smoke_test(self, address: Address, answer: str, latency_ms: int) -> None: ...


class LocalRuns(Protocol):
    """Local runs: read from and started in their run directories."""

    def read(
        self, name: str, key: str, placement: dict[str, Any] | None = None
    ) -> LocalRunLive: ...

    def start(self, change: StartLocalRun, *, wait: bool) -> str: ...


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
    final_metrics: bool = False  # read the jobs' final metrics once converged (for a receipt)


@dataclass(frozen=True)
class Review:
    """One plan and its guard verdict, computed once: what `plan` prints and `apply` executes."""

    live: LiveState
    plan: Plan
    guards: tuple[Diagnostic, ...]


@dataclass
class ApplyResult:
    exit_code: int
    final: Plan
    done: list[dict[str, Any]] = field(default_factory=list)
    live: LiveState = field(default_factory=LiveState)  # what the final plan was computed from
    smoke_tests: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Applier:
    desired: DesiredState
    cloud: CloudProvider | None
    progress: Progress
    options: ApplyOptions = ApplyOptions()
    catalog: CatalogLike | None = None
    local: LocalRuns | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _executed: dict[Address, str] = field(default_factory=dict)

    @property
    def plan_options(self) -> PlanOptions:
        """A saved plan is applied with the options it was planned with."""
        saved = self.options.saved_plan
        return saved.options if saved is not None else self.options.plan_options

    def observe(self, *, metrics: bool = False) -> tuple[LiveState, Plan]:
        """The live state and the plan from it. Usages are read only for the accounts the plan
        adds to (a converged fleet reads none), and then the plan is made again with them."""
        reader = self.local.read if self.local else None
        live = read_live(self.desired, self.cloud, reader, metrics=metrics)
        current = plan(self.desired, live, self.plan_options, self.catalog)
        if self.cloud is not None:
            counted = with_usages(live, self.cloud, usages_needed(live, current.changes))
            if counted is not live:
                live = counted
                current = plan(self.desired, live, self.plan_options, self.catalog)
        return live, current

    def review(self) -> Review:
        live, current = self.observe()
        if self.cloud is not None:
            current = with_grader_checks(current, self.desired, self.cloud)
        guards = check_guards(current, self.desired, force=self.options.force)
        return Review(live, current, tuple(guards))

    def run(self) -> ApplyResult:
        start = self.clock()
        done: list[dict[str, Any]] = []
        live, current = self._first_round()
        while True:
            _raise_on_errors(current)
            runnable = self._runnable(current)
            if runnable:
                done.extend(self._execute(runnable))
            elif self._finished(current):
                smoke = self._smoke_tests(done)
                if self.options.final_metrics and self.cloud is not None:
                    live = with_metrics(live, self.desired, self.cloud)  # the receipt's lineage
                # A paused job waits for a person's decision: not done, nothing to wait for.
                code = ExitCode.IN_PROGRESS if current.held else ExitCode.OK
                return ApplyResult(code, current, done, live, smoke)
            elif not self._keep_waiting(current, self.clock() - start):
                return ApplyResult(ExitCode.IN_PROGRESS, current, done, live)
            else:
                self.progress.waiting(current)
                self.sleep(self.options.poll_s)
            live, current = self.observe()

    def _smoke_tests(self, done: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One chat completion to each deployment this apply created or changed (not deleted:
        a destroy's deployments are gone) that asks for it."""
        changed = {d["address"] for d in done if d["action"] != Action.DELETE.value}
        results = []
        for d in self.desired.deployments:
            test = d.smoke_test
            if test is None or str(d.address) not in changed or self.cloud is None:
                continue
            messages = [m.model_dump() for m in test.messages]
            started = self.clock()
            answer = self.cloud.complete(d.account, d.deployment_name, messages)
            latency_ms = round((self.clock() - started) * 1000)
            first = (answer.strip().splitlines() or [""])[0][:200]
            result = {"address": str(d.address), "answer": first, "latency_ms": latency_ms}
            if test.expect is not None and test.expect.lower() not in answer.lower():
                raise SmokeTestError(
                    f"{d.address}: the smoke test's answer lacks {test.expect!r}: {first!r}",
                    code="SMOKE_TEST_FAILED",
                    location=d.location,
                    hint="the deployment is live but answers wrongly: check the model it serves "
                    "(ftops status), or the smokeTest's expect",
                )
            self.progress.finished_smoke_test(d.address, first, latency_ms)
            results.append(result)
        return results

    def _first_round(self) -> tuple[LiveState, Plan]:
        review = self.review()
        if self.options.saved_plan is not None:
            check_saved_plan(self.options.saved_plan, review.plan)
        if review.guards:
            raise GuardError.of(review.guards)
        self.progress.planned(review.plan)
        return review.live, review.plan

    def _finished(self, current: Plan) -> bool:
        """Nothing left to do or wait for (a deployment left missing on purpose is reported, not
        waited for); with a saved plan, nothing of *that* plan."""
        saved = self.options.saved_plan
        if saved is None:
            return not current.pending and not current.waits
        promised = {c.address for c in saved.changes if c.action is not Action.NOOP}
        left = [c for c in (*current.pending, *current.waits) if c.address in promised]
        return not left

    def _runnable(self, current: Plan) -> list[Change]:
        blocking = {c.address for c in current.changes if c.action is not Action.NOOP}
        saved = self.options.saved_plan
        runnable = []
        for change in current.pending:
            if any(dep in blocking for dep in change.depends_on) or not _ready(change):
                continue
            if saved is not None and not _promised(saved, change):
                continue
            self._check_not_repeated(change)
            runnable.append(change)
        return runnable

    def _check_not_repeated(self, change: Change) -> None:
        """A change that comes back after it was applied means the provider did not converge."""
        signature = change.model_dump_json(exclude={"reason", "depends_on"})
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
        workers = max(1, min(MAX_ACCOUNT_WORKERS, len(by_account)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = pool.map(self._execute_in_order, by_account.values())
            return [item for batch in results for item in batch]

    def _execute_in_order(self, changes: list[Change]) -> list[dict[str, Any]]:
        done = []
        for change in changes:
            self.progress.started(change)
            detail = self._execute_one(change)
            self.progress.finished(change, detail)
            done.append(
                {"address": str(change.address), "action": change.action.value, "detail": detail}
            )
        return done

    def _execute_one(self, change: Change) -> str:
        if isinstance(change, StartLocalRun):
            assert self.local is not None, "local runs need the local provider"
            return self.local.start(change, wait=self.options.wait)
        assert self.cloud is not None and change.account is not None
        return execute_cloud_change(self.cloud, change.account, change)

    def _keep_waiting(self, current: Plan, elapsed: float) -> bool:
        if self.options.timeout_s is not None and elapsed > self.options.timeout_s:
            return False
        if self.options.wait:
            return True
        return not _long_running(current) and elapsed < self.options.short_wait_s


class SmokeTestError(FtopsError):
    """A deployment converged, but its smoke test's answer is wrong."""


def with_grader_checks(current: Plan, desired: DesiredState, cloud: CloudProvider) -> Plan:
    """Every grader of a job about to be created, checked by the service's grader validation
    first: an invalid one fails the plan before anything is uploaded or paid for."""
    checks, problems = [], []
    for change in current.changes:
        if not isinstance(change, TrainJob) or change.method.grader is None:
            continue
        grader = change.method.grader
        assert change.account is not None
        verdict = cloud.validate_grader(change.account, grader)
        name = f"{grader.type} grader {grader.name!r}"
        checks.append(GraderCheck(fine_tune=change.fine_tune, grader=name, valid=verdict is None))
        if verdict is not None:
            checks[-1] = checks[-1].model_copy(update={"message": verdict})
            problems.append(
                error(
                    "GRADER_INVALID",
                    f"fine-tune {change.fine_tune!r}: the service rejects its {name}: {verdict}",
                    desired.fine_tune(change.fine_tune).location,
                    "fix method.grader; Azure validated it before any job was created",
                )
            )
    return current.model_copy(
        update={
            "grader_checks": tuple(checks),
            "diagnostics": (*current.diagnostics, *problems),
        }
    )


def check_saved_plan(saved: Plan, current: Plan) -> None:
    """Refuse (exit 4) a saved plan whose inputs moved, naming the side that moved."""
    hint = "run 'ftops plan --out FILE' again and review the new plan"
    if saved.project != current.project:
        raise GuardError(
            f"the saved plan is for project {saved.project!r}, these specs are {current.project!r}",
            code="GUARD_STALE_PLAN",
            hint=hint,
        )
    if saved.desired_fingerprint != current.desired_fingerprint:
        raise GuardError(
            "the saved plan is stale: the specs or their data changed since it was computed",
            code="GUARD_STALE_PLAN",
            hint=hint,
        )
    if saved.live_fingerprint != current.live_fingerprint:
        raise GuardError(
            "the saved plan is stale: the live state changed since it was computed",
            code="GUARD_STALE_PLAN",
            hint=hint,
        )


def _promised(saved: Plan, change: Change) -> bool:
    return any(same_change(s, change) for s in saved.changes if s.address == change.address)


def execute_cloud_change(cloud: CloudProvider, account: str, change: Change) -> str:
    """One change as provider calls, dispatched on its type."""
    match change:
        case UploadFile():
            file_id = cloud.upload_file(account, change.filename, Path(change.path))
            return f"uploaded {change.filename} as {file_id}"
        case DeleteFile():
            cloud.delete_file(account, change.file_id)
            return f"deleted {change.file_id}"
        case TrainJob():
            return f"started job {cloud.create_job(account, change).id}"
        case PauseJob():
            cloud.pause_job(account, change.job_id)
            return f"paused job {change.job_id}"
        case ResumeJob():
            cloud.resume_job(account, change.job_id)
            return f"resumed job {change.job_id}"
        case PutDeployment():
            return _put_deployment(cloud, account, change)
        case DeleteDeployment():
            cloud.delete_deployment(account, change.deployment_name)
            return "deleted"
    raise AssertionError(f"{change.address}: nothing to execute for {change.action}")


def _put_deployment(cloud: CloudProvider, account: str, change: PutDeployment) -> str:
    target = change.target
    for step in change.steps:
        match step:
            case Step.DELETE:
                cloud.delete_deployment(account, target.name)
            case Step.PUT:
                cloud.put_deployment(account, target)
            case Step.PUT_KEEP_CAPACITY:
                cloud.put_deployment(account, target, capacity=change.live_capacity)
            case Step.PATCH_SKU:
                cloud.patch_deployment_sku(account, target.name, target.sku)
    if change.action is Action.CREATE:
        return f"deployed {target.model}"
    if change.steps == (Step.PUT_KEEP_CAPACITY, Step.PATCH_SKU):
        return "updated the model, then the capacity (two calls: Azure refuses both at once)"
    return "replaced" if change.action is Action.REPLACE else "updated"


def _raise_on_errors(current: Plan) -> None:
    if any(d.is_error for d in current.diagnostics):
        raise SpecError.of(current.diagnostics)


def _ready(change: Change) -> bool:
    """A model known only after training: the change waits for its upstream."""
    if isinstance(change, TrainJob):
        return change.ready
    if isinstance(change, PutDeployment):
        return change.target.model is not None
    return True


def _long_running(current: Plan) -> bool:
    """Training in flight: not worth holding CI for. A job not started yet is not: its files
    process in seconds to minutes, and then apply starts it."""
    return any(c.kind in (Kind.FINETUNE, Kind.LOCALRUN, Kind.TRAININGRUN) for c in current.waits)
