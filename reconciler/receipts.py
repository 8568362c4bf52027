"""The receipt of an apply: what was applied, from which commit and spec files, with what result,
and the lineage of every fine-tune: its files, its job, its model, the deployments serving it.

It records digests and live identifiers, never a secret: no URL of a dataset, no key.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

from reconciler.applying import ApplyResult
from reconciler.desired import DesiredFineTune, DesiredState
from reconciler.live import AccountLive, LiveState
from reconciler.workspace import Workspace

RECEIPT_FORMAT_VERSION = 2  # 2: git commit or null, dirty, deployment details, lineage
_SHA = re.compile(r"^[0-9a-f]{40,64}$")


def receipt(ws: Workspace, result: ApplyResult) -> dict[str, Any]:
    return {
        "format_version": RECEIPT_FORMAT_VERSION,
        "project": ws.desired.project,
        "git_commit": git_commit(ws.root),
        "dirty": git_dirty(ws.root),
        "specs": spec_digests(ws),
        "exit_code": int(result.exit_code),
        "converged": result.final.is_converged,
        "datasets": {n: f.digest for n, f in ws.desired.facts.items()},
        "done": result.done,
        "resources": [
            {"address": str(c.address), "action": c.action.value, **c.ids()}
            for c in result.final.changes
        ],
        "deployments": deployments(ws.desired, result.live),
        "lineage": [lineage(ws.desired, result.live, ft) for ft in ws.desired.fine_tunes],
        "smoke_tests": result.smoke_tests,
    }


def deployments(desired: DesiredState, live: LiveState) -> list[dict[str, Any]]:
    """Every declared deployment as it is live: model, SKU, capacity, and where it came from."""
    found = []
    for d in desired.deployments:
        dep = _account(live, d.account).deployment(d.deployment_name)
        found.append(
            {
                "address": str(d.address),
                "name": d.deployment_name,
                "model": dep.model_name if dep else None,
                "sku": dep.sku_name if dep else None,
                "capacity": dep.capacity if dep else None,
                "source": dep.trained_in if dep else None,
                "state": dep.provisioning_state if dep else "missing",
            }
        )
    return found


def lineage(desired: DesiredState, live: LiveState, ft: DesiredFineTune) -> dict[str, Any]:
    """file → job → model → deployments, for one fine-tune, from the live state."""
    acct = _account(live, ft.account)
    job = acct.job_for(ft.key, ft.suffix)
    model = job.fine_tuned_model if job else None
    files = [
        {
            "dataset": dataset,
            "filename": name,
            "file_id": f.id if (f := acct.file_named(name)) else None,
        }
        for dataset, name in (
            (ft.training_dataset, ft.training_file),
            (ft.validation_dataset, ft.validation_file),
        )
        if dataset and name
    ]
    served = [
        str(d.address)
        for d in desired.deployments
        if d.fine_tune == ft.name
        and (live_dep := _account(live, d.account).deployment(d.deployment_name)) is not None
        and live_dep.model_name is not None
        and model is not None
        and live_dep.model_name.startswith(model)
    ]
    return {
        "fine_tune": str(ft.address),
        "key": ft.key,
        "files": files,
        "job_id": job.id if job else None,
        "job_status": job.status if job else None,
        "base_model": job.model if job else ft.base_model,
        "model": model,
        "train_loss": job.train_loss if job else None,
        "valid_loss": job.valid_loss if job else None,
        "trained_tokens": job.trained_tokens if job else None,
        "deployments": served,
    }


def _account(live: LiveState, name: str) -> AccountLive:
    return live.accounts.get(name) or AccountLive(account=name)


def spec_digests(ws: Workspace) -> dict[str, str]:
    """sha256 of every spec file read, by path relative to the repository: what was applied."""
    files = sorted({doc.source.resolve() for doc in ws.documents})
    return {
        str(f.relative_to(ws.root.resolve()))
        if f.is_relative_to(ws.root.resolve())
        else str(f): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in files
    }


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit(root: Path) -> str | None:
    """The commit checked out, or None outside git or before the first commit."""
    head = (_git(root, "rev-parse", "--verify", "--quiet", "HEAD") or "").strip()
    return head if _SHA.match(head) else None


def git_dirty(root: Path) -> bool | None:
    """Whether the work tree differs from that commit (what was applied is not all in git)."""
    status = _git(root, "status", "--porcelain", "--untracked-files=normal")
    return None if status is None else bool(status.strip())
