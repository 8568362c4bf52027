"""The command line: argument parsing, output and exit codes. The only module that prints.

Exit codes (all commands): 0 success, 1 error, 2 plan --detailed-exitcode with changes,
3 apply made progress but has not converged yet, 4 refused by a guard or policy.
Data goes to stdout; messages and progress to stderr.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from reconciler import rendering  # its modules load on first use
from reconciler.bootstrap import EMULATOR_URL_ENV
from reconciler.errors import (
    Diagnostic,
    ExitCode,
    FtopsError,
    GuardError,
    Location,
    error,
    has_errors,
)

if TYPE_CHECKING:
    from reconciler.applying import Applier, ApplyResult
    from reconciler.plans import Change, Plan, Wait
    from reconciler.workspace import Workspace

# Each command imports what it needs where it runs: `validate data.jsonl` never loads the
# planner, the renderers of plans or the SDKs, and starts in a fraction of the time.

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def run() -> None:
    """The `ftops` command: main(), then an exit that spares the collector's last pass over
    every object a large fleet's plan made (about 0.3 s for 1,000 deployments)."""
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    gc.unfreeze()  # a process that runs main() again (the tests) gets the last run's objects back
    # The SDKs' own warnings (azure-identity lists every credential it tried) would repeat, at
    # length, what the diagnostic says in one line.
    logging.getLogger("azure").setLevel(logging.CRITICAL)
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
        return ExitCode.ERROR


DESCRIPTION = """\
Declarative GitOps for fine-tuned models: commit YAML specs (datasets, base models,
hyperparameters, fine-tune chains, local LoRA runs, deployments across Azure regions), then
`ftops plan` shows what would change, why and what it costs, and `ftops apply` converges the
live Azure OpenAI state to them. Add --emulator to try any command on a local Azure."""

EPILOG = """\
exit codes:
  0  success: valid, no changes, converged
  1  error: invalid specs or data, an API failure, apply did not converge
  2  plan --detailed-exitcode: there are changes (or drift, with --refresh-only)
  3  apply: progress made, not converged yet (training in flight): run it again
  4  refused by a guard or policy before anything changed (budget, maxDeletes, protect,
     stale saved plan, another apply running)

Data goes to stdout, messages and progress to stderr. Secrets are never printed."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftops",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction, nargs=0, help="print the version")
    sub = parser.add_subparsers(dest="command", required=True)
    _validate_parser(sub)
    _plan_parser(sub)
    _apply_parser(sub)
    _destroy_parser(sub)
    _status_parser(sub)
    _report_parser(sub)
    _emulator_parser(sub)
    return parser


class VersionAction(argparse.Action):
    """argparse's own version action needs the text up front: reading the installed version
    imports importlib.metadata (30 ms of every command's start)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.exit(message=f"ftops {_version()}\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ftops")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _common(p: argparse.ArgumentParser, *, cloud: bool = True) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path(".")],
        help="spec files or directories (default: the current directory)",
    )
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
    p.add_argument(
        "--force",
        action="store_true",
        help="allow more deletes than maxDeletes, and deleting protected leftovers",
    )
    p.add_argument("--show-noops", action="store_true", help="list up-to-date resources too")
    p.add_argument(
        "--refresh-only",
        action="store_true",
        help="only what changed outside ftops (drift); for the nightly job",
    )
    p.add_argument("--destroy", action="store_true", help="plan deleting everything owned")
    p.set_defaults(handler=cmd_plan)


def _apply_parser(sub: Any) -> None:
    p = sub.add_parser("apply", help="make the live state match the specs; safe to re-run")
    _changing(p)
    p.add_argument("--wait", action="store_true", help="wait for training to finish")
    p.add_argument("--timeout", type=float, help="with --wait: give up after S seconds (exit 3)")
    p.add_argument("--plan", type=Path, dest="saved_plan", help="apply exactly this saved plan")
    p.add_argument("--prune", action="store_true", help="delete owned leftovers")
    p.add_argument("--retry-failed", action="store_true", help="train failed jobs again")
    p.set_defaults(handler=cmd_apply)


def _changing(p: argparse.ArgumentParser) -> None:
    """What apply and destroy share: paths, confirmation, --force, the receipt, the format."""
    _common(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--force",
        action="store_true",
        help="allow more deletes than maxDeletes, and deleting protected deployments",
    )
    p.add_argument("--receipt", type=Path, help="write a JSON receipt of what was done")
    p.add_argument("--format", choices=["text", "json"], default="text")


def _report_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="plots (PNG) and a markdown summary of a fine-tune's or training run's results",
    )
    p.add_argument("name", help="the FineTune or TrainingRun (LocalRun) (metadata.name)")
    _common(p)
    p.add_argument(
        "--out", type=Path, help="directory for the report (default: .ftops/reports/NAME)"
    )
    p.set_defaults(handler=cmd_report)


def _destroy_parser(sub: Any) -> None:
    p = sub.add_parser(
        "destroy", help="delete every deployment and file this project owns (protect respected)"
    )
    _changing(p)
    p.set_defaults(handler=cmd_apply, destroy=True, saved_plan=None, wait=False)


def _status_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="live view per account: jobs, deployments, drift")
    _common(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("--all", action="store_true", help="list superseded jobs too")
    p.add_argument("--watch", action="store_true", help="refresh until in sync (or Ctrl-C)")
    p.add_argument(
        "--interval", type=float, default=2.0, help="with --watch: seconds between reads"
    )
    p.add_argument(
        "--detailed-exitcode", action="store_true", help="exit 2 when out of sync, 0 when in sync"
    )
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
        from reconciler.workspace import check_workspace

        diagnostics.extend(check_workspace(specs, count_tokens=not args.no_tokens))
    report_diagnostics(diagnostics, args.format)
    if args.format == "text" and not diagnostics:
        err.print("Valid: no problems found.")
    return ExitCode.ERROR if has_errors(diagnostics) else ExitCode.OK


def _validate_jsonl(path: Path, count_tokens: bool) -> list[Diagnostic]:
    from reconciler.datasets import inspect_dataset

    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        return [error("FILE_NOT_FOUND", f"{path} {what}", Location.of_file(path), "check the path")]
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
    from reconciler.preloading import load_beside_sdks

    ws = load_beside_sdks(list(args.paths), count_tokens=not getattr(args, "no_tokens", False))
    gc.freeze()  # the specs live until exit: later collections need not walk them again
    if ws.warnings and getattr(args, "format", "text") == "text":
        err.print(rendering.diagnostics_text(ws.warnings), markup=False)
    return ws


def _connected(ws: Workspace, args: argparse.Namespace) -> Any:
    from reconciler.bootstrap import connected

    return connected(ws.desired, emulator=args.emulator, state_dir=ws.state_dir)


def _applier(
    ws: Workspace,
    provider: Any,
    args: argparse.Namespace,
    progress: Any,
    saved: Plan | None = None,
) -> Applier:
    from reconciler.applying import ApplyOptions
    from reconciler.planning import PlanOptions
    from reconciler.session import applier_for

    options = ApplyOptions(
        wait=getattr(args, "wait", False),
        timeout_s=getattr(args, "timeout", None),
        force=getattr(args, "force", False),
        saved_plan=saved,
        final_metrics=bool(getattr(args, "receipt", None)) or getattr(args, "format", "") == "json",
        plan_options=PlanOptions(
            prune=getattr(args, "prune", False),
            retry_failed=getattr(args, "retry_failed", False),
            force=getattr(args, "force", False),
            destroy=getattr(args, "destroy", False),
            refresh_only=getattr(args, "refresh_only", False),
        ),
    )
    return applier_for(ws, provider, progress, options, on_local_progress=_show_local_progress)


def _show_local_progress(name: str, state: Any) -> None:
    err.print(f"localrun/{name}: {state.describe()}", markup=False)


def cmd_plan(args: argparse.Namespace) -> int:
    from reconciler.datadiffs import with_data_diffs

    ws = _workspace(args)
    with _connected(ws, args) as provider:
        review = _applier(ws, provider, args, _Progress(quiet=True)).review()
        cache = ws.state_dir / "cache"
        plan = with_data_diffs(ws.desired, review.plan, review.live, provider, cache)
    if has_errors(plan.diagnostics):  # pre-flight failed: the problems, not an action list
        report_diagnostics(list(plan.diagnostics), args.format)
        return ExitCode.ERROR
    if args.out:
        args.out.write_text(plan.to_json())
    _print_plan(plan, args.format, args.show_noops)
    if review.guards:
        report_diagnostics(list(review.guards), "text")
        return ExitCode.GUARD
    if args.detailed_exitcode and not plan.is_converged:
        return ExitCode.CHANGES
    return ExitCode.OK


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
    from reconciler.locking import project_lock

    ws = _workspace(args)
    saved = _saved_plan(args.saved_plan) if args.saved_plan else None
    lock = project_lock(ws.desired.project_spec.lock, ws.state_dir, emulator=args.emulator)
    command = "destroy" if getattr(args, "destroy", False) else "apply"
    progress = _Progress(quiet=args.format == "json", confirm=None if args.yes else command)
    try:
        with lock, _connected(ws, args) as provider:
            result = _applier(ws, provider, args, progress, saved).run()
    finally:
        progress.close()
    _finish_apply(ws, args, result)
    return result.exit_code


def _saved_plan(path: Path) -> Plan:
    from pydantic import ValidationError

    from reconciler.plans import Plan

    try:
        return Plan.from_json(path.read_text())
    except (OSError, ValidationError) as exc:
        raise GuardError(
            f"{path} is not a saved plan of this version of ftops: {str(exc).splitlines()[0]}",
            code="GUARD_BAD_SAVED_PLAN",
            location=Location.of_file(path),
            hint="run 'ftops plan --out FILE' again and review the new plan",
        ) from exc


def _finish_apply(ws: Workspace, args: argparse.Namespace, result: ApplyResult) -> None:
    from reconciler.receipts import receipt

    record = receipt(ws, result)
    if args.receipt:
        args.receipt.write_text(json.dumps(record, indent=2))
    if args.format == "json":
        out.print(json.dumps(record, indent=2), markup=False)
    else:
        err.print(_apply_summary(args, result), markup=False)


def _apply_summary(args: argparse.Namespace, result: ApplyResult) -> str:
    """The last line of apply: what was made, and whether the live state now matches."""
    from reconciler.plans import Wait

    made = rendering.plural(len(result.done), "change")
    final = result.final
    if final.held and not final.waits and not final.pending:
        names = ", ".join(str(c.address) for c in final.held)
        return (
            f"Apply made {made}; held by a paused job, and left so until the spec says "
            f"`paused: false`: {names}."
        )
    if result.exit_code == ExitCode.IN_PROGRESS:
        waiting = [
            f"{c.address}" + (f" ({c.progress})" if isinstance(c, Wait) and c.progress else "")
            for c in final.changes
            if c.action.value in ("wait", "train", "create", "update")
        ]
        return (
            f"Apply made progress ({made}); still in flight: {', '.join(waiting)}.\n"
            "Run apply again (or apply --wait) to continue."
        )
    if getattr(args, "destroy", False):
        return f"Destroy complete: {made} made."
    if final.absent:
        names = ", ".join(str(c.address) for c in final.absent)
        return (
            f"Apply complete: {made} made, but declared deployments are missing and not "
            f"recreated (onMissing: warn): {names}."
        )
    if not final.is_converged:  # a saved plan is done; something outside it is not
        left = rendering.plural(len(final.pending), "change")
        return (
            f"Apply complete: {made} of the saved plan made; {left} outside it: run 'ftops plan'."
        )
    return f"Apply complete: {made} made. The live state matches the specs."


def cmd_status(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    with _connected(ws, args) as provider:
        applier = _applier(ws, provider, args, _Progress(quiet=True))
        in_sync = _watch(ws, applier, args) if args.watch else _status_once(ws, applier, args)
    return ExitCode.CHANGES if args.detailed_exitcode and not in_sync else ExitCode.OK


def _status_view(
    ws: Workspace, applier: Applier, args: argparse.Namespace
) -> tuple[Any, bool, Any]:
    from reconciler.rendering.status import status_rows

    live, plan = applier.observe(metrics=True)
    return status_rows(ws.desired, live, plan, show_all=args.all), plan.is_converged, live


def _status_once(ws: Workspace, applier: Applier, args: argparse.Namespace) -> bool:
    from reconciler.rendering.status import status_json, status_table, status_text

    rows, in_sync, live = _status_view(ws, applier, args)
    project = ws.desired.project
    if args.format == "json":
        out.print(json.dumps(status_json(project, rows, in_sync, live), indent=2), markup=False)
    elif _fancy(out):
        out.print(status_table(project, rows, in_sync))
    else:
        out.print(status_text(project, rows, in_sync), markup=False)
    return in_sync


def _watch(ws: Workspace, applier: Applier, args: argparse.Namespace) -> bool:
    """Redraw in place on a terminal; elsewhere print the table again whenever it changes."""
    from rich.live import Live

    from reconciler.rendering.status import status_table, status_text

    project, shown, in_sync = ws.desired.project, "", False
    live_view = Live(console=out, auto_refresh=False) if _fancy(out) else None
    try:
        if live_view is not None:
            live_view.start()
        while True:
            rows, in_sync, _ = _status_view(ws, applier, args)
            if live_view is not None:
                live_view.update(status_table(project, rows, in_sync), refresh=True)
            elif (text := status_text(project, rows, in_sync)) != shown:
                shown = text
                out.print(f"[{time.strftime('%H:%M:%S')}] {text}", markup=False)
            if in_sync:
                return True
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return in_sync
    finally:
        if live_view is not None:
            live_view.stop()


def _fancy(console: Console) -> bool:
    """Colours, tables and bars only on a terminal, and never in CI logs."""
    return console.is_terminal and not os.environ.get("CI")


def cmd_report(args: argparse.Namespace) -> int:
    from reconciler.reporting import read_results, summary_markdown
    from reconciler.reporting.plots import draw
    from reconciler.reporting.sources import azure_run, local_run

    ws = _workspace(args)
    fine_tune = next((f for f in ws.desired.fine_tunes if f.name == args.name), None)
    run = next((r for r in ws.desired.local_runs if r.name == args.name), None)
    if fine_tune is None and run is None:
        names = [f.name for f in ws.desired.fine_tunes] + [r.name for r in ws.desired.local_runs]
        raise FtopsError(
            f"no FineTune or TrainingRun named {args.name!r}",
            code="REPORT_UNKNOWN",
            hint=f"declared: {', '.join(names)}" if names else "declare a FineTune or TrainingRun",
        )
    if fine_tune is not None:
        with _connected(ws, args) as provider:
            serverless = fine_tune.account in ws.desired.hubs
            text, facts = azure_run(provider, fine_tune, serverless=serverless)
    else:
        assert run is not None
        text, facts = local_run(ws.root, run)
    out_dir = args.out or ws.state_dir / "reports" / args.name
    out_dir.mkdir(parents=True, exist_ok=True)
    results = read_results(text)
    (out_dir / "results.csv").write_text(text, encoding="utf-8")
    pngs, _ = draw(results, args.name, out_dir)
    summary = out_dir / "report.md"
    summary.write_text(summary_markdown(facts, results, [p.name for p in pngs]), encoding="utf-8")
    for path in (summary, *pngs):
        out.print(str(path), markup=False)
    return ExitCode.OK


class _Progress:
    """Apply's progress on stderr: bars on a terminal (one per job, run or deployment in
    flight), timestamped lines in a pipe or CI; asks for confirmation before the first change."""

    def __init__(self, *, quiet: bool = False, confirm: str | None = None) -> None:
        self.quiet = quiet
        self.confirm = confirm
        self.shown: dict[str, str] = {}
        self.bars: Any = None
        self.tasks: dict[str, Any] = {}

    def planned(self, plan: Plan) -> None:
        if not self.quiet:
            err.print(rendering.plan_text(plan), markup=False)
            warnings = [d for d in plan.diagnostics if not d.is_error]
            if warnings:
                err.print(rendering.diagnostics_text(warnings), markup=False)
        if self.confirm and plan.has_changes:
            _confirm(self.confirm)

    def started(self, change: Change) -> None:
        self._say(f"{change.address}: {change.action.value}…")

    def finished(self, change: Change, detail: str) -> None:
        self._say(f"{change.address}: {detail}")

    def waiting(self, plan: Plan) -> None:
        """Each wait's progress whenever it moves: status, step of total, loss."""
        if self.quiet:
            return
        if _fancy(err):
            self._bars(plan.waits)
            return
        for c in plan.waits:
            line = c.progress or rendering.reason_text(c.reason)
            if self.shown.get(str(c.address)) != line:
                self.shown[str(c.address)] = line
                self._say(f"waiting: {c.address}: {line}")

    def finished_smoke_test(self, address: Any, answer: str, latency_ms: int) -> None:
        self._say(f"{address}: smoke test answered in {latency_ms} ms: {answer}")

    def _say(self, line: str) -> None:
        if self.quiet:
            return
        if self.bars is not None:
            self.bars.console.print(line, markup=False, highlight=False)
        elif _fancy(err):
            err.print(line, markup=False)
        else:
            err.print(f"[{time.strftime('%H:%M:%S')}] {line}", markup=False)

    def _bars(self, waits: tuple[Wait, ...]) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self.bars is None:
            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            )
            self.bars.start()
        for c in waits:
            key = str(c.address)
            detail = c.progress or rendering.reason_text(c.reason)
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(key, total=c.total, detail=detail)
            self.bars.update(self.tasks[key], completed=c.step or 0, total=c.total, detail=detail)

    def close(self) -> None:
        if self.bars is not None:
            for task in self.tasks.values():
                total = self.bars.tasks[task].total
                if total:
                    self.bars.update(task, completed=total)
            self.bars.stop()
            self.bars = None


def _confirm(command: str) -> None:
    if not sys.stdin.isatty():
        raise GuardError(
            f"{command} needs confirmation, and there is no terminal to ask on",
            code="GUARD_CONFIRM",
            hint=f"review the plan above and run 'ftops {command} --yes'",
        )
    answer = input(f"Do you want to {command} these changes? Only 'yes' will be accepted: ")
    if answer.strip() != "yes":
        raise GuardError(f"{command} cancelled", code="GUARD_CANCELLED", hint="nothing was changed")
