"""Pre-flight: the plan against Azure's per-account limits, counting live usage plus what the
plan itself adds, so that a plan that passes does not fail halfway through apply.

The numbers are Azure's documented fine-tuning limits per resource (quotas-limits page, as
read in research/anchors-mission.md); where the account reports a usage with its own limit
(`Accounts_ListUsages`), that limit wins: quotas can be raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import Diagnostic, error
from reconciler.live import AccountLive, LiveState
from reconciler.planning.state import Planning
from reconciler.plans import (
    Action,
    Change,
    DeleteDeployment,
    DeleteFile,
    PutDeployment,
    TrainJob,
    UploadFile,
)

SOURCE = "https://learn.microsoft.com/azure/ai-foundry/openai/quotas-limits (fine-tuning limits)"
FINE_TUNED_MARK = ".ft-"  # Azure's fine-tuned model ids: {base}.ft-{job}[-{suffix}]


@dataclass(frozen=True)
class Limit:
    code: str
    what: str
    default: float
    usage: str | None = None  # the ARM usage name that reports it, when there is one
    unit: str = ""


DEPLOYMENTS = Limit(
    "LIMIT_FINE_TUNED_DEPLOYMENTS", "fine-tuned deployments", 5, "OpenAI.FineTunedDeployments"
)
FILES = Limit("LIMIT_FILES", "fine-tuning files", 50, "OpenAI.Files")
FILE_BYTES = Limit("LIMIT_FILE_BYTES", "bytes of fine-tuning files", 1_000_000_000, unit=" bytes")
QUEUED_JOBS = Limit("LIMIT_QUEUED_JOBS", "queued or running fine-tuning jobs", 20)
JOBS = Limit("LIMIT_JOBS", "fine-tuning jobs", 100)


def check_limits(p: Planning) -> None:
    for account in p.desired.accounts:
        acct = p.account(account)
        changes = [c for c in p.changes if c.account == account]
        for limit, live, added in _counts(acct, changes):
            _check(p, account, acct, limit, live, added)


def usages_needed(live: LiveState, changes: tuple[Change, ...]) -> frozenset[str]:
    """The accounts whose reported usages `check_limits` consults: those the plan adds to a
    limit Azure reports a usage for. The usages of the rest are never read."""
    return frozenset(
        name
        for name, acct in live.accounts.items()
        if any(
            limit.usage and added > 0
            for limit, _, added in _counts(acct, [c for c in changes if c.account == name])
        )
    )


def _counts(acct: AccountLive, changes: list[Change]) -> list[tuple[Limit, float, float]]:
    fine_tuned = [d for d in acct.deployments if FINE_TUNED_MARK in (d.model_name or "")]
    by_name = {d.name for d in fine_tuned}
    files = [f for f in acct.files if f.purpose == "fine-tune" and f.status != "deleted"]
    by_id = {f.id: f for f in files}
    uploads = [c for c in changes if isinstance(c, UploadFile)]
    deleted = [
        by_id[c.file_id] for c in changes if isinstance(c, DeleteFile) and c.file_id in by_id
    ]
    trains = sum(1 for c in changes if isinstance(c, TrainJob))
    created = sum(
        1
        for c in changes
        if isinstance(c, PutDeployment) and c.action is Action.CREATE and c.fine_tune
    )
    removed = sum(
        1 for c in changes if isinstance(c, DeleteDeployment) and c.deployment_name in by_name
    )
    return [
        (DEPLOYMENTS, len(fine_tuned), created - removed),
        (FILES, len(files), len(uploads) - len(deleted)),
        (
            FILE_BYTES,
            sum(f.bytes or 0 for f in files),
            sum(c.bytes or 0 for c in uploads) - sum(f.bytes or 0 for f in deleted),
        ),
        (QUEUED_JOBS, sum(1 for j in acct.jobs if not j.is_terminal), trains),
        (JOBS, len(acct.jobs), trains),
    ]


def _check(
    p: Planning, account: str, acct: AccountLive, limit: Limit, live: float, added: float
) -> None:
    reported = acct.usages.get(limit.usage) if limit.usage and acct.usages else None
    used = reported.current if reported is not None else live
    cap = reported.limit if reported is not None and reported.limit else limit.default
    source = f"account usage {limit.usage}" if reported is not None and reported.limit else SOURCE
    if added <= 0 or used + added <= cap:
        return
    p.diagnostics.append(_exceeded(limit, account, used, added, cap, source))


def _exceeded(
    limit: Limit, account: str, used: float, added: float, cap: float, source: str
) -> Diagnostic:
    return error(
        limit.code,
        f"account {account!r}: the plan needs {used + added:,.0f}{limit.unit} {limit.what} "
        f"({used:,.0f} in use + {added:,.0f} planned); the limit is {cap:,.0f} (source: {source})",
        None,
        "delete what is no longer needed (apply --prune), spread the work over accounts, or ask "
        "Azure for a higher quota",
    )
