"""Data diffs: for each dataset about to be uploaded in a new version, compare it with the
version the account has (downloaded once): +N / −M examples, token delta, new problem codes."""

from __future__ import annotations

from pathlib import Path

from reconciler.desired import DesiredState, file_prefix
from reconciler.live import AccountLive, LiveFile, LiveState
from reconciler.plans import DataDiff, Plan, UploadFile
from reconciler.providers import CloudProvider


def with_data_diffs(
    desired: DesiredState,
    plan: Plan,
    live: LiveState,
    cloud: CloudProvider | None,
    cache_dir: Path,
) -> Plan:
    from reconciler.datasets import data_diff

    if cloud is None:  # no accounts: nothing is uploaded
        return plan
    diffs = []
    for change in plan.changes:
        acct = live.accounts.get(change.account or "")
        if not isinstance(change, UploadFile) or acct is None:
            continue
        prefix = file_prefix(desired.project, change.dataset)
        previous = _previous_version(acct, prefix, change.filename)
        if previous is None:
            continue
        old = cloud.download_file(acct.account, previous.id)
        diff = data_diff(
            [old],
            Path(change.path),
            base_model=_base_model_of(desired, change.dataset),
            cache_dir=cache_dir,
        )
        diffs.append(
            DataDiff(
                dataset=change.dataset,
                account=acct.account,
                previous_file=previous.filename,
                added_examples=diff.added_examples,
                removed_examples=diff.removed_examples,
                token_delta=diff.token_delta,
                new_problems=tuple(diff.new_problem_codes),
            )
        )
    if not diffs:
        return plan
    estimates = plan.estimates.model_copy(update={"data_diffs": tuple(diffs)})
    return plan.model_copy(update={"estimates": estimates})


def _previous_version(acct: AccountLive, prefix: str, filename: str) -> LiveFile | None:
    older = [
        f
        for f in acct.files
        if f.filename.startswith(prefix) and f.filename != filename and f.status == "processed"
    ]
    return max(older, key=lambda f: f.created_at or 0, default=None)


def _base_model_of(desired: DesiredState, dataset: str) -> str | None:
    return next(
        (
            ft.base_model
            for ft in desired.fine_tunes
            if ft.training_dataset == dataset and ft.base_model
        ),
        None,
    )
