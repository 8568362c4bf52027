"""The receipt of an apply: what was applied, from which commit and spec files, with what result.

It records digests and live identifiers, never a secret: no URL of a dataset, no key.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from reconciler.applying import ApplyResult
from reconciler.workspace import Workspace

RECEIPT_FORMAT_VERSION = 1


def receipt(ws: Workspace, result: ApplyResult) -> dict[str, Any]:
    return {
        "format_version": RECEIPT_FORMAT_VERSION,
        "project": ws.desired.project,
        "git_commit": git_commit(ws.root),
        "specs": spec_digests(ws),
        "exit_code": int(result.exit_code),
        "converged": result.final.is_converged,
        "datasets": {n: f.digest for n, f in ws.desired.facts.items()},
        "done": result.done,
        "resources": [
            {"address": str(c.address), "action": c.action.value, **c.ids()}
            for c in result.final.changes
        ],
    }


def spec_digests(ws: Workspace) -> dict[str, str]:
    """sha256 of every spec file read, by path relative to the repository: what was applied."""
    files = sorted({doc.source.resolve() for doc in ws.documents})
    return {
        str(f.relative_to(ws.root.resolve()))
        if f.is_relative_to(ws.root.resolve())
        else str(f): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in files
    }


def git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return out.stdout.strip() or None
