"""The receipt says what was applied: the real commit (null before the first one) and whether the
work tree differed from it, each deployment as it is live, and the file → job → model →
deployment lineage."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.e2e.conftest import EXAMPLES


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def apply(specs: Path, receipt: Path) -> dict:  # type: ignore[type-arg]
    assert (
        main(["apply", str(specs), "--emulator", "--yes", "--wait", "--receipt", str(receipt)]) == 0
    )
    return json.loads(receipt.read_text())


def test_receipt_names_the_commit_the_dirt_and_the_lineage(
    tmp_path: Path, use_emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "quickstart", repo / "quickstart")
    git(repo, "init", "-q")
    monkeypatch.chdir(tmp_path)
    first = apply(repo / "quickstart", tmp_path / "r1.json")
    assert first["git_commit"] is None and first["dirty"] is True  # no commit yet

    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "specs")
    clean = apply(repo / "quickstart", tmp_path / "r2.json")
    assert clean["git_commit"] == git(repo, "rev-parse", "HEAD") and clean["dirty"] is False

    [dep] = clean["deployments"]
    assert dep["name"] == "travel" and (dep["sku"], dep["capacity"]) == ("Standard", 1)
    assert dep["state"] == "Succeeded" and dep["source"] is None  # trained in this account
    [line] = clean["lineage"]
    assert line["fine_tune"] == "finetune/main/travel-v1" and line["job_status"] == "succeeded"
    assert line["files"][0]["filename"].startswith("quickstart.travel.")
    assert line["files"][0]["file_id"].startswith("file-")
    assert line["model"] == dep["model"] and line["deployments"] == ["deployment/main/travel"]
    assert 0 < line["train_loss"] < 3 and line["trained_tokens"] > 0  # the job's final metrics

    spec = repo / "quickstart" / "ftops.yaml"
    spec.write_text(spec.read_text() + "\n")  # an uncommitted edit
    assert apply(repo / "quickstart", tmp_path / "r3.json")["dirty"] is True
