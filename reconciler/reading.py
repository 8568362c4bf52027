"""Read the live state that a plan is computed from: one list call per account per resource
type, accounts in parallel. Local runs are read from their run directories."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reconciler.desired import DesiredState
from reconciler.live import MAX_ACCOUNT_WORKERS, AccountLive, LiveState, LocalRunLive
from reconciler.providers import CloudProvider

LocalReader = Callable[[str, str, dict[str, Any] | None], LocalRunLive]  # name, key, placement


def with_metrics(live: LiveState, desired: DesiredState, cloud: CloudProvider) -> LiveState:
    """`live` with the latest metrics of each fine-tune's finished current job (running ones
    have theirs): what a receipt records, without listing everything again."""
    current = _current_suffixes(desired)

    def account(name: str) -> AccountLive:
        acct = live.accounts[name]
        wanted = current.get(name, frozenset())
        jobs = tuple(
            cloud.with_progress(name, j) if j.is_terminal and j.suffix in wanted else j
            for j in acct.jobs
        )
        return acct.model_copy(update={"jobs": jobs})

    names = sorted(live.accounts)
    if not names:
        return live
    with ThreadPoolExecutor(max_workers=min(MAX_ACCOUNT_WORKERS, len(names))) as pool:
        accounts = dict(zip(names, pool.map(account, names), strict=True))
    return live.model_copy(update={"accounts": accounts})


def with_usages(live: LiveState, cloud: CloudProvider, accounts: frozenset[str]) -> LiveState:
    """`live` with the usages of `accounts` read (those not read yet), in parallel."""
    unread = sorted(a for a in accounts if a in live.accounts and live.accounts[a].usages is None)
    if not unread:
        return live
    with ThreadPoolExecutor(max_workers=min(MAX_ACCOUNT_WORKERS, len(unread))) as pool:
        usages = dict(zip(unread, pool.map(cloud.read_usages, unread), strict=True))
    accounts_now = {
        name: acct.model_copy(update={"usages": usages[name]}) if name in usages else acct
        for name, acct in live.accounts.items()
    }
    return live.model_copy(update={"accounts": accounts_now})


def read_live(
    desired: DesiredState,
    cloud: CloudProvider | None,
    local: LocalReader | None = None,
    *,
    metrics: bool = False,
) -> LiveState:
    """With `metrics`, also the latest metrics of each fine-tune's current job (for `status`)."""
    accounts = _accounts_in_use(desired)
    checkpoints = _checkpoint_suffixes(desired)
    current = _current_suffixes(desired) if metrics else {}
    live_accounts: dict[str, AccountLive] = {}
    if accounts and cloud is not None:
        with ThreadPoolExecutor(max_workers=min(MAX_ACCOUNT_WORKERS, len(accounts))) as pool:
            futures = {
                a: pool.submit(
                    cloud.read_account,
                    a,
                    checkpoints_for=checkpoints.get(a, frozenset()),
                    metrics_for=current.get(a, frozenset()),
                )
                for a in accounts
            }
            live_accounts = {a: f.result() for a, f in futures.items()}
    runs = {r.name: local(r.name, r.key, r.placement) for r in desired.local_runs} if local else {}
    return LiveState(accounts=live_accounts, local_runs=runs, read_at=int(time.time()))


def _accounts_in_use(desired: DesiredState) -> list[str]:
    """Every declared account and ML workspace (prune needs the ones nothing targets any more,
    too)."""
    return sorted([*desired.accounts, *desired.hubs])


def _current_suffixes(desired: DesiredState) -> dict[str, frozenset[str]]:
    wanted: dict[str, set[str]] = {}
    for ft in desired.fine_tunes:
        wanted.setdefault(ft.account, set()).add(ft.suffix)
    return {a: frozenset(s) for a, s in wanted.items()}


def _checkpoint_suffixes(desired: DesiredState) -> dict[str, frozenset[str]]:
    """Checkpoints are read only for jobs that a checkpoint deployment needs."""
    wanted: dict[str, set[str]] = {}
    for d in desired.deployments:
        if d.fine_tune and d.checkpoint_epoch is not None:
            ft = desired.fine_tune(d.fine_tune)
            wanted.setdefault(ft.account, set()).add(ft.suffix)
    return {a: frozenset(s) for a, s in wanted.items()}
