"""Crash, fault and concurrency proofs on the chain-and-regions example (two accounts, a chain,
a cross-region copy): an apply killed right after its k-th write, for every k, then a normal
apply, ends as an uninterrupted apply does, with no duplicate file, job or deployment; 20% of
requests failing (429 with Retry-After, 500, 503, dropped connections) still converges without
duplicates; two applies at once are serialized by the project lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator, start_background
from tests.e2e.conftest import stats
from tests.helpers import arm_client, openai_client

ACCOUNTS = {  # the example's accounts: (subscription, group, name)
    "eastus2": ("00000000-0000-0000-0000-000000000000", "ftops-chain", "ftops-chain-eastus2"),
    "swedencentral": (
        "11111111-1111-1111-1111-111111111111",
        "ftops-chain",
        "ftops-chain-swedencentral",
    ),
}


def world(url: str) -> dict[str, Any]:
    """Every file, job and deployment, as comparable names (ids differ between runs)."""
    files, jobs, deployments = [], [], []
    for subscription, group, name in ACCOUNTS.values():
        data = openai_client(url, name)
        files += [f.filename for f in data.files.list() if f.filename.endswith(".jsonl")]
        jobs += [j.suffix for j in data.fine_tuning.jobs.list()]
        arm = arm_client(url, subscription)
        deployments += [(name, d.name, d.sku.capacity) for d in arm.deployments.list(group, name)]
    return {"files": Counter(files), "jobs": Counter(jobs), "deployments": Counter(deployments)}


def no_duplicates(state: dict[str, Any]) -> bool:
    return all(n == 1 for part in state.values() for n in part.values())


def ftops_process(specs: str, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FTOPS_EMULATOR_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", specs, "--emulator", "--yes", "--wait"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def control(url: str, what: str, body: dict[str, Any] | None = None) -> None:
    httpx.post(f"{url}/_emulator/{what}", json=body or {}).raise_for_status()


@pytest.fixture
def chain(use_emulator: RunningEmulator, example) -> str:  # type: ignore[no-untyped-def]
    return str(example("chain-and-regions"))


def test_an_apply_killed_after_any_write_is_finished_by_the_next(
    chain: str, use_emulator: RunningEmulator
) -> None:
    url = use_emulator.url
    assert main(["apply", chain, "--emulator", "--yes", "--wait"]) == 0
    expected, writes = world(url), stats(use_emulator)["writes"]
    assert no_duplicates(expected) and writes >= 6
    for k in range(1, writes):
        control(url, "reset")
        control(url, "freeze", {"after_writes": k})
        process = ftops_process(chain, url)
        deadline = time.monotonic() + 60
        while stats(use_emulator)["writes"] < k:
            assert process.poll() is None, f"k={k}: apply ended early: {process.stderr}"
            assert time.monotonic() < deadline, f"k={k}: apply never reached its write"
            time.sleep(0.05)
        time.sleep(0.2)  # its next request is now waiting in the emulator
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert stats(use_emulator)["writes"] == k
        control(url, "freeze", {"after_writes": None})
        assert main(["apply", chain, "--emulator", "--yes", "--wait"]) == 0, f"k={k}"
        after = world(url)
        assert after == expected, f"killed after write {k}: {after} != {expected}"
        assert main(["plan", chain, "--emulator", "--detailed-exitcode"]) == 0, f"k={k}"


def test_twenty_percent_faults_converge_without_duplicates(
    tmp_path: Path, example, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    faults = "429=0.06,500=0.04,503=0.05,drop=0.03,drop_after=0.02,retry_after_ms=20;seed=11"
    emu = start_background(state=tmp_path / "soak.sqlite", faults=faults, arm_page_size=2)
    try:
        monkeypatch.setenv("FTOPS_EMULATOR_URL", emu.url)
        specs = str(example("chain-and-regions"))
        for _ in range(6):  # a fault the SDKs do not retry ends an apply: the next one resumes
            if main(["apply", specs, "--emulator", "--yes", "--wait"]) == 0:
                break
        else:
            pytest.fail("six applies did not converge through 20% faults")
        log = httpx.get(f"{emu.url}/_emulator/requests").json()["requests"]
        faulted = Counter(r["fault"] for r in log if r["fault"])
        assert set(faulted) >= {"429", "500", "503", "drop"}, faulted
        control(emu.url, "faults", {"spec": ""})
        state = world(emu.url)
        assert no_duplicates(state), state
        assert main(["plan", specs, "--emulator", "--detailed-exitcode"]) == 0
    finally:
        emu.stop()


def test_two_applies_at_once_are_serialized(chain: str, use_emulator: RunningEmulator) -> None:
    control(use_emulator.url, "freeze", {"after_writes": 0})  # the first holds the lock, waiting
    first = ftops_process(chain, use_emulator.url)
    time.sleep(1.5)
    try:
        second = ftops_process(chain, use_emulator.url)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 4, err
        assert "GUARD_LOCKED" in err and "another apply of this project is running" in err
    finally:
        control(use_emulator.url, "freeze", {"after_writes": None})
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert no_duplicates(world(use_emulator.url))
