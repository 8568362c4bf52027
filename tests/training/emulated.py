"""The emulator's test controls, as the Azure ML tests here use them: its counts, its request
log, and an `ftops apply` killed (-9) once the emulator has taken its k-th write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as reply:
        return dict(json.loads(reply.read())["operations"])


def writes(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as reply:
        return int(json.loads(reply.read())["writes"])


def write_operations(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/_emulator/requests", timeout=10) as reply:
        log = json.loads(reply.read())["requests"]
    return [
        str(e["operation"])
        for e in log
        if e["method"] != "GET" and e["method"] != "HEAD" and not e["path"].startswith("/_")
    ]


def control(url: str, what: str, body: dict[str, Any] | None = None) -> None:
    request = urllib.request.Request(
        f"{url}/_emulator/{what}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()


def kill_apply_after_write(url: str, k: int, arguments: list[str]) -> None:
    """`ftops apply ARGUMENTS` in a process of its own, killed once the emulator has taken k
    writes (its next write waits, frozen, so exactly k happened); the emulator thawed after."""
    control(url, "freeze", {"after_writes": k})
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", *arguments, "--emulator", "--yes"],
        # azure-ai-ml names its cloud process-wide (AZUREML_CURRENT_CLOUD); a new process that
        # inherits the name of a cloud it has not registered fails to import the SDK.
        env={
            **{n: v for n, v in os.environ.items() if n != "AZUREML_CURRENT_CLOUD"},
            "FTOPS_EMULATOR_URL": url,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while writes(url) < k:
        if process.poll() is not None:
            raise AssertionError(f"k={k}: apply ended early: {process.communicate()[1]}")
        assert time.monotonic() < deadline, f"k={k}: apply never reached write {k}"
        time.sleep(0.05)
    time.sleep(0.2)  # its next write now waits in the emulator
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    control(url, "freeze", {"after_writes": None})
