"""State survives `kill -9`: a subprocess emulator is killed and restarted on the same file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from reconciler.emulator.server import RunningEmulator, start_background
from tests.emulator.conftest import (
    RG,
    Url,
    advance,
    chat_lines,
    control,
    create_account,
    deployment_body,
    emulator_process,
)
from tests.helpers import arm_client, openai_client


def test_kill_9_and_restart_loses_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with emulator_process(state) as (process, url):
        arm = arm_client(url)
        create_account(arm, "acct")
        client = openai_client(url, "acct")
        uploaded = client.files.create(
            file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
        )
        advance(Url(url), 120)
        job = client.fine_tuning.jobs.create(
            model="gpt-4o-mini-2024-07-18", training_file=uploaded.id
        )
        arm.deployments.begin_create_or_update(
            RG, "acct", "d", deployment_body("gpt-4o-mini")
        ).result()
        clock_before = control(Url(url), "clock")["now"]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with emulator_process(state) as (_, url):
        arm = arm_client(url)
        client = openai_client(url, "acct")
        assert arm.accounts.get(RG, "acct").name == "acct"
        assert client.files.retrieve(uploaded.id).status == "processed"
        assert client.fine_tuning.jobs.retrieve(job.id).model == "gpt-4o-mini-2024-07-18"
        assert arm.deployments.get(RG, "acct", "d").properties.provisioning_state == "Succeeded"
        assert control(Url(url), "clock")["now"] >= clock_before
        advance(Url(url), 5000)
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
