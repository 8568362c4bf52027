"""State survives `kill -9`: a subprocess emulator is killed and restarted on the same file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler.emulator.server import RunningEmulator, start_background
from tests.emulator.conftest import (
    RG,
    advance,
    chat_lines,
    control,
    create_account,
    deployment_body,
)
from tests.helpers import arm_client, openai_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator_process(state: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "reconciler.emulator",
        "--state",
        str(state),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_emulator/clock", timeout=1)  # loopback
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("emulator subprocess did not start")


class _Url:
    """Just enough of RunningEmulator for the control helpers."""

    def __init__(self, url: str) -> None:
        self.url = url


def test_kill_9_and_restart_loses_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with emulator_process(state) as (process, url):
        arm = arm_client(url)
        create_account(arm, "acct")
        client = openai_client(url, "acct")
        uploaded = client.files.create(
            file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
        )
        advance(_Url(url), 120)
        job = client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18", training_file=uploaded.id
        )
        arm.deployments.begin_create_or_update(
            RG, "acct", "d", deployment_body("gpt-4o-mini")
        ).result()
        clock_before = control(_Url(url), "clock")["now"]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with emulator_process(state) as (_, url):
        arm = arm_client(url)
        client = openai_client(url, "acct")
        assert arm.accounts.get(RG, "acct").name == "acct"
        assert client.files.retrieve(uploaded.id).status == "processed"
        assert client.fine_tuning.jobs.retrieve(job.id).model == "gpt-4o-mini-2024-07-18"
        assert arm.deployments.get(RG, "acct", "d").properties.provisioning_state == "Succeeded"
        assert control(_Url(url), "clock")["now"] >= clock_before
        advance(_Url(url), 5000)
        assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"


def test_sequential_embedded_emulators_share_one_world(tmp_path: Path) -> None:
    """What the CLI does: one embedded emulator per command on the same state file."""
    state = tmp_path / "state.sqlite"
    first: RunningEmulator = start_background(state)
    create_account(arm_client(first.url), "acct")
    advance(first, 1000)
    now = control(first, "clock")["now"]
    first.stop()
    second = start_background(state)
    try:
        assert openai_client(second.url, "acct").files.list().data == []
        assert control(second, "clock")["now"] >= now
    finally:
        second.stop()
