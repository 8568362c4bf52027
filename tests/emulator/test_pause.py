"""Who paused a job: the user (FineTuning_Pause) or Azure (Developer-tier preemption, the RFT cost
cap in test_rft.py). The newest event says which; resume continues from the paused step."""

from __future__ import annotations

import re
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator.server import RunningEmulator, start_background
from tests.emulator.conftest import BASE_MODEL, advance, chat_lines, control, upload_processed


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A slow clock: the job phases here are driven by advance() alone, not by wall time."""
    running = start_background(tmp_path / "emulator.sqlite", time_scale=10.0, record_bodies=True)
    yield running
    running.stop()


def running_job(emulator: Any, client: Any, **kwargs: Any) -> Any:
    """A job about 10 steps into its 30 (SFT of 10 examples: 15 simulated seconds a step)."""
    training_file = upload_processed(emulator, client, chat_lines())
    job = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=training_file.id, **kwargs)
    advance(emulator, 60 + 120 + 150)
    return client.fine_tuning.jobs.retrieve(job.id)


def newest_event(client: Any, job_id: str) -> str:
    return str(next(iter(client.fine_tuning.jobs.list_events(job_id, limit=1))).message)


def paused_step(message: str, prefix: str) -> int:
    found = re.fullmatch(rf"{re.escape(prefix)} at step (\d+)\.", message)
    assert found, message
    return int(found.group(1))


def test_the_user_pauses(emulator: Any, client: Any) -> None:
    job = running_job(emulator, client)
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    step = paused_step(newest_event(client, job.id), "Job paused by the user")
    assert 5 <= step <= 15
    newest = next(iter(client.fine_tuning.jobs.checkpoints.list(job.id)))
    assert newest.step_number == step  # deployable from where it stopped


def test_developer_capacity_is_reclaimed(emulator: Any, client: Any) -> None:
    job = running_job(emulator, client, extra_body={"trainingType": "developer"})
    assert job.model_extra["trainingType"] == "developer"
    paused = control(emulator, f"jobs/{job.id}/preempt", {})
    assert paused["status"] == "paused"
    prefix = "Job paused: Developer-tier capacity was reclaimed (preempted)"
    assert 5 <= paused_step(newest_event(client, job.id), prefix) <= 15
    with pytest.raises(urllib.error.HTTPError) as caught:  # not running any more
        control(emulator, f"jobs/{job.id}/preempt", {})
    assert caught.value.code == 400


def test_only_developer_jobs_are_preempted(emulator: Any, client: Any) -> None:
    job = running_job(emulator, client, extra_body={"trainingType": "GlobalStandard"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        control(emulator, f"jobs/{job.id}/preempt", {})
    assert caught.value.code == 400 and b"Developer" in caught.value.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        control(emulator, "jobs/ftjob-nope/preempt", {})
    assert missing.value.code == 404


@pytest.mark.parametrize("cause", ["user", "preempted"])
def test_resume_continues_from_the_paused_step(emulator: Any, client: Any, cause: str) -> None:
    job = running_job(emulator, client, extra_body={"trainingType": "developer"})
    if cause == "user":
        client.fine_tuning.jobs.pause(job.id)
    else:
        control(emulator, f"jobs/{job.id}/preempt", {})
    step = int(newest_event(client, job.id).rsplit(" ", 1)[1].rstrip("."))
    advance(emulator, 100_000)  # paused: no progress, nothing accrues
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    client.fine_tuning.jobs.resume(job.id)
    advance(emulator, 5000)
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    assert events[0].message == "Job succeeded."
    assert f"Job resumed from step {step}." in [e.message for e in events]
    steps = [e.data["step"] for e in events if e.type == "metrics"]
    assert sorted(steps) == list(range(1, 31))  # each step trained once
