"""The command line: argument parsing, output and exit codes. The only module that prints.

Exit codes (all commands): 0 success, 1 error, 2 plan --detailed-exitcode with changes,
3 apply made progress but has not converged yet, 4 refused by a guard or policy.
Data goes to stdout; messages and progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from filelock import FileLock, Timeout
from rich.console import Console

from reconciler import rendering
from reconciler.applying import Applier, ApplyOptions, ApplyResult
from reconciler.errors import Diagnostic, FtopsError, GuardError, Location, error, has_errors
from reconciler.live import LocalRunLive
from reconciler.planning import PlanOptions, check_guards
from reconciler.plans import Change, Plan
from reconciler.workspace import (
    Workspace,
    git_commit,
    open_workspace,
    spec_digests,
    with_data_diffs,
)

if TYPE_CHECKING:  # the SDKs take a second to import: `ftops validate` never needs them
    from reconciler.providers.azure import AzureProvider

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_IN_PROGRESS, EXIT_GUARD = 0, 1, 2, 3, 4
EMULATOR_URL_ENV = "FTOPS_EMULATOR_URL"

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        return cmd_emulator(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except FtopsError as exc:
        report_diagnostics(exc.diagnostics(), getattr(args, "format", "text"))
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to resume")
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _validate_parser(sub)
    _plan_parser(sub)
    _apply_parser(sub)
    _status_parser(sub)
    _emulator_parser(sub)
    return parser


def _common(p: argparse.ArgumentParser, *, cloud: bool = True) -> None:
    p.add_argument("paths", nargs="+", type=Path, help="spec files or directories")
    if cloud:
        p.add_argument(
            "--emulator",
            action="store_true",
            help=f"talk to the emulator at ${EMULATOR_URL_ENV}, or start an embedded "
            "one with its state under .ftops/emulator/",
        )
        p.add_argument("--no-tokens", action="store_true", help=argparse.SUPPRESS)


def _validate_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help="check specs and datasets; every problem at once")
    _common(p, cloud=False)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument(
        "--no-tokens", action="store_true", help="skip token counting: structure and digest only"
    )
    p.set_defaults(handler=cmd_validate)


def _plan_parser(sub: Any) -> None:
    p = sub.add_parser("plan", help="show what apply would change, why, and what it costs")
    _common(p)
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes, 0 when there are none",
    )
    p.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    p.add_argument("--out", type=Path, help="save the plan for 'apply --plan'")
    p.add_argument("--prune", action="store_true", help="plan deletes of owned leftovers")
    p.add_argument("--retry-failed", action="store_true", help="train failed jobs again")
    p.add_argument("--force", action="store_true", help="allow more deletes than maxDeletes")
    p.add_argument("--show-noops", action="store_true", help="list up-to-date resources too")
    p.set_defaults(handler=cmd_plan)


def _apply_parser(sub: Any) -> None:
    p = sub.add_parser("apply", help="make the live state match the specs; safe to re-run")
    _common(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--wait", action="store_true", help="wait for training to finish")
    p.add_argument("--timeout", type=float, help="with --wait: give up after S seconds (exit 3)")
    p.add_argument("--plan", type=Path, dest="saved_plan", help="apply exactly this saved plan")
    p.add_argument("--prune", action="store_true", help="delete owned leftovers")
    p.add_argument("--retry-failed", action="store_true", help="train failed jobs again")
    p.add_argument("--force", action="store_true", help="allow more deletes than maxDeletes")
    p.add_argument("--receipt", type=Path, help="write a JSON receipt of what was applied")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=cmd_apply)


def _status_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="live view: jobs, deployments, drift")
    _common(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=cmd_status)


def _emulator_parser(sub: Any) -> None:
    # `main` hands `ftops emulator …` to cmd_emulator before this parser sees it, so starlette
    # and uvicorn stay unimported for every other command.
    sub.add_parser("emulator", help="run a local Azure (data plane + ARM); see --help")


def cmd_emulator(argv: Sequence[str]) -> int:
    from reconciler.emulator import server

    parser = argparse.ArgumentParser(
        prog="ftops emulator",
        description="A local Azure: the data plane per account and ARM, for trying and testing.",
    )
    server.add_arguments(parser)
    return int(server.run(parser.parse_args(argv)))


# --- validate -----------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    diagnostics: list[Diagnostic] = []
    jsonl = [p for p in args.paths if p.suffix == ".jsonl"]
    specs = [p for p in args.paths if p.suffix != ".jsonl"]
    for path in jsonl:
        diagnostics.extend(_validate_jsonl(path, not args.no_tokens))
    if specs:
        diagnostics.extend(open_workspace(specs, count_tokens=not args.no_tokens).diagnostics)
    report_diagnostics(diagnostics, args.format)
    if args.format == "text" and not diagnostics:
        err.print("Valid: no problems found.")
    return EXIT_ERROR if has_errors(diagnostics) else EXIT_OK


def _validate_jsonl(path: Path, count_tokens: bool) -> list[Diagnostic]:
    from reconciler.datasets import inspect_dataset

    if not path.is_file():
        return [
            error(
                "FILE_NOT_FOUND", f"{path} does not exist", Location.of_file(path), "check the path"
            )
        ]
    report = inspect_dataset(path, count_tokens=count_tokens, display_path=str(path))
    return list(report.diagnostics)


def report_diagnostics(diagnostics: list[Diagnostic], fmt: str) -> None:
    if fmt == "json":
        out.print(rendering.diagnostics_json(diagnostics), markup=False)
        return
    if diagnostics:
        err.print(rendering.diagnostics_text(diagnostics), markup=False)
        err.print(rendering.diagnostics_summary(diagnostics), markup=False)


# --- plan, apply, status ------------------------------------------------------------------


def _workspace(args: argparse.Namespace) -> Workspace:
    ws = open_workspace(
        list(args.paths),
        count_tokens=not getattr(args, "no_tokens", False),
    )
    if not ws.ok or ws.desired is None:
        raise _SpecErrors(ws.diagnostics)
    warnings = [d for d in ws.diagnostics if not d.is_error]
    if warnings and getattr(args, "format", "text") == "text":
        err.print(rendering.diagnostics_text(warnings), markup=False)
    return ws


class _SpecErrors(FtopsError):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("invalid specs", code="SPEC_INVALID")
        self.all = diagnostics

    def diagnostics(self) -> list[Diagnostic]:
        return list(self.all)


@contextmanager
def _connected(ws: Workspace, use_emulator: bool) -> Iterator[AzureProvider]:
    from reconciler.providers.azure import AzureProvider

    assert ws.desired is not None
    if not use_emulator:
        yield AzureProvider(ws.desired.accounts)
        return
    url = os.environ.get(EMULATOR_URL_ENV)
    handle = None
    if not url:
        from reconciler.emulator.server import start_background

        handle = start_background(state=ws.state_dir / "emulator" / "state.sqlite")
        url = handle.url
    try:
        provider = AzureProvider(ws.desired.accounts, emulator_url=url)
        for account in ws.desired.accounts:
            provider.ensure_account(account)
        yield provider
    finally:
        if handle is not None:
            handle.stop()


def _applier(
    ws: Workspace,
    provider: AzureProvider,
    args: argparse.Namespace,
    progress: Any,
    saved: Plan | None = None,
) -> Applier:
    assert ws.desired is not None
    options = ApplyOptions(
        wait=getattr(args, "wait", False),
        timeout_s=getattr(args, "timeout", None),
        force=args.force if hasattr(args, "force") else False,
        saved_plan=saved,
        plan_options=PlanOptions(
            prune=getattr(args, "prune", False), retry_failed=getattr(args, "retry_failed", False)
        ),
    )
    local = _local_provider(ws, getattr(args, "timeout", None))
    return Applier(
        desired=ws.desired,
        cloud=provider if ws.desired.accounts else None,
        progress=progress,
        options=options,
        catalog=ws.catalog,
        local_reader=local.read if local else None,
        local_starter=local.start if local else None,
    )


def cmd_plan(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    with _connected(ws, args.emulator) as provider:
        live, plan = _applier(ws, provider, args, _Progress(quiet=True)).observe()
        plan = with_data_diffs(ws, plan, live, provider)
    if args.out:
        args.out.write_text(plan.to_json())
    _print_plan(plan, args.format, args.show_noops)
    assert ws.desired is not None
    guards = check_guards(plan, ws.desired, force=args.force)
    if has_errors(plan.diagnostics):
        report_diagnostics([d for d in plan.diagnostics if d.is_error], "text")
        return EXIT_ERROR
    if guards:
        report_diagnostics(guards, "text")
        return EXIT_GUARD
    if args.detailed_exitcode and (plan.has_changes or plan.waits):
        return EXIT_CHANGES
    return EXIT_OK


def _print_plan(plan: Plan, fmt: str, show_noops: bool = False) -> None:
    if fmt == "json":
        out.print(rendering.plan_json(plan), markup=False)
    elif fmt == "markdown":
        out.print(rendering.plan_markdown(plan), markup=False)
    else:
        out.print(rendering.plan_text(plan, show_noops=show_noops), markup=False)
    warnings = [d for d in plan.diagnostics if not d.is_error]
    if warnings and fmt == "text":
        err.print(rendering.diagnostics_text(warnings), markup=False)


def cmd_apply(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    saved = Plan.from_json(args.saved_plan.read_text()) if args.saved_plan else None
    with _project_lock(ws, args.emulator), _connected(ws, args.emulator) as provider:
        progress = _Progress(quiet=args.format == "json", confirm=not args.yes)
        result = _applier(ws, provider, args, progress, saved).run()
    _finish_apply(ws, args, result)
    return result.exit_code


STORAGE_KEY_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def _project_lock(ws: Workspace, emulator: bool) -> AbstractContextManager[Any]:
    """One apply of a project at a time: an Azure Blob lease when the Project asks for one (CI
    runners on different machines), else a file lock in .ftops/."""
    from reconciler.providers.blob import BlobLeaseLock, is_loopback_host

    assert ws.desired is not None
    blob = ws.desired.project_spec.lock.azure_blob
    if blob is not None and (not emulator or is_loopback_host(urlsplit(blob.account_url).hostname)):
        key_env = STORAGE_KEY_ENV if os.environ.get(STORAGE_KEY_ENV) else None
        return BlobLeaseLock.from_spec(blob, key_env=key_env)
    return _file_lock(ws.state_dir / "apply.lock")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise GuardError(
            "another apply of this project is running",
            code="GUARD_LOCKED",
            hint=f"wait for it to finish (lock: {path})",
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _finish_apply(ws: Workspace, args: argparse.Namespace, result: ApplyResult) -> None:
    receipt = _receipt(ws, result)
    if args.receipt:
        args.receipt.write_text(json.dumps(receipt, indent=2))
    if args.format == "json":
        out.print(json.dumps(receipt, indent=2), markup=False)
    elif result.exit_code == EXIT_IN_PROGRESS:
        waiting = [
            c.address + (f" ({c.progress})" if c.progress else "")
            for c in result.final.changes
            if c.action.value in ("wait", "train", "create", "update")
        ]
        err.print("Apply made progress; still in flight: " + ", ".join(waiting), markup=False)
        err.print("Run apply again (or apply --wait) to continue.", markup=False)
    else:
        err.print(
            f"Apply complete: {len(result.done)} change(s) made. " + rendering.NO_CHANGES,
            markup=False,
        )


def _receipt(ws: Workspace, result: ApplyResult) -> dict[str, Any]:
    assert ws.desired is not None
    return {
        "format_version": 1,
        "project": ws.desired.project,
        "git_commit": git_commit(ws.root),
        "specs": spec_digests(ws),
        "exit_code": result.exit_code,
        "converged": result.final.is_converged,
        "datasets": {n: f.digest for n, f in ws.desired.facts.items()},
        "done": result.done,
        "resources": [
            {"address": c.address, "action": c.action.value, **_ids(c)}
            for c in result.final.changes
        ],
    }


def _ids(change: Change) -> dict[str, Any]:
    keys = ("file_id", "job_id", "fine_tuned_model", "deployment_name", "key")
    return {k: change.payload[k] for k in keys if change.payload.get(k)}


def cmd_status(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    with _connected(ws, args.emulator) as provider:
        live, plan = _applier(ws, provider, args, _Progress(quiet=True)).observe()
    if args.format == "json":
        out.print(
            json.dumps({"live": live.summary(), "plan": json.loads(plan.to_json())}, indent=2),
            markup=False,
        )
    else:
        out.print(rendering.status_text(plan, live), markup=False)
    return EXIT_OK


class _Progress:
    """Apply's progress on stderr; asks for confirmation before the first change."""

    def __init__(self, *, quiet: bool = False, confirm: bool = False) -> None:
        self.quiet = quiet
        self.confirm = confirm
        self.shown: dict[str, str] = {}

    def planned(self, plan: Plan) -> None:
        if not self.quiet:
            err.print(rendering.plan_text(plan), markup=False)
        if self.confirm and plan.has_changes:
            _confirm()

    def started(self, change: Change) -> None:
        if not self.quiet:
            err.print(f"{change.address}: {change.action.value}…", markup=False)

    def finished(self, change: Change, detail: str) -> None:
        if not self.quiet:
            err.print(f"{change.address}: {detail}", markup=False)

    def waiting(self, plan: Plan) -> None:
        """One line per wait whenever its progress moves: status, step, loss."""
        if self.quiet:
            return
        for c in plan.waits:
            line = c.progress or c.reason
            if self.shown.get(c.address) != line:
                self.shown[c.address] = line
                err.print(f"waiting: {c.address}: {line}", markup=False)


def _confirm() -> None:
    if not sys.stdin.isatty():
        raise GuardError(
            "apply needs confirmation",
            code="GUARD_CONFIRM",
            hint="review 'ftops plan' and pass --yes",
        )
    answer = input("Do you want to apply these changes? Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise GuardError("apply cancelled", code="GUARD_CANCELLED", hint="nothing was changed")


# --- local runs (the optional [local] extra) ----------------------------------------------


class _LocalRuns:
    """Local runs read from and started in their run directories under .ftops/runs/."""

    def __init__(self, ws: Workspace, timeout_s: float | None) -> None:
        from reconciler.providers.local import LocalRunner

        self.root = ws.root
        self.runner = LocalRunner()
        self.timeout_s = timeout_s

    def read(self, name: str, key: str) -> LocalRunLive:
        from reconciler import localruns

        state = self.runner.state(localruns.run_dir(self.root, name, key), verify=True)
        return LocalRunLive(
            name=name,
            key=key,
            phase=state.phase,
            step=state.step,
            max_steps=state.max_steps,
            detail=state.error or state.describe(),
        )

    def start(self, change: Change, *, wait: bool) -> str:
        from reconciler import localruns
        from reconciler.providers.local import log_tail

        p = change.payload
        run_dir = localruns.run_dir(self.root, p["name"], p["key"])
        self.runner.start(p["name"], p["key"], p["spec"], run_dir, detach=not wait)
        if not wait:
            return f"training in the background (log: {run_dir / localruns.TRAIN_LOG})"
        state = self.runner.wait(run_dir, self._progress(p["name"]), timeout_s=self.timeout_s)
        if state.phase != "succeeded":
            raise FtopsError(
                f"local run {p['name']} ended {state.describe()}",
                code="LOCALRUN_FAILED",
                hint=log_tail(run_dir, 5) or None,
            )
        return state.describe()

    @staticmethod
    def _progress(name: str) -> Any:
        def show(state: Any) -> None:
            err.print(f"localrun/{name}: {state.describe()}", markup=False)

        return show


def _local_provider(ws: Workspace, timeout_s: float | None = None) -> _LocalRuns | None:
    assert ws.desired is not None
    return _LocalRuns(ws, timeout_s) if ws.desired.local_runs else None
