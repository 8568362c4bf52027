"""Reinforcement fine-tuning: graders, RFT data, hours of training billed by the hour, and the
cost cap that pauses a job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from reconciler.emulator.server import RunningEmulator, start_background
from reconciler.emulator.training import RFT_BASE_SECONDS, RFT_TRAINED_TOKENS_PER_SECOND
from tests.emulator.conftest import (
    BASE_MODEL,
    advance,
    chat_lines,
    control,
    create_account,
    upload_processed,
)
from tests.helpers import arm_client, openai_client

O4_MINI = "o4-mini-2025-04-16"
GRADER = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
COST_PAUSE = "Job paused: the cost limit"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A slow clock: the job phases here are driven by advance() alone, not by wall time."""
    running = start_background(tmp_path / "emulator.sqlite", time_scale=10.0, record_bodies=True)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEmulator, Any]]:
    """One emulator and account for the create checks: every create there is refused."""
    path = tmp_path_factory.mktemp("rft-checks") / "emulator.sqlite"
    running = start_background(path, time_scale=10.0)
    create_account(arm_client(running.url), "acct")
    yield running, openai_client(running.url, "acct")
    running.stop()


def rft_lines(count: int = 10) -> bytes:
    """Prompts (the last message is the user's) with a field the grader reads as {{item.answer}}."""
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}
        )
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def rft_method(**hyperparameters: Any) -> dict[str, Any]:
    section = {"grader": GRADER, "hyperparameters": hyperparameters}
    return {"type": "reinforcement", "reinforcement": section}


def start_rft(emulator: Any, client: Any, **hyperparameters: Any) -> Any:
    training_file = upload_processed(emulator, client, rft_lines())
    return client.fine_tuning.jobs.create(
        model=O4_MINI, training_file=training_file.id, method=rft_method(**hyperparameters)
    )


def _events(client: Any, job_id: str) -> list[Any]:
    return list(client.fine_tuning.jobs.list_events(job_id, limit=100))


def test_a_reinforcement_job_trains_for_hours(emulator: Any, client: Any) -> None:
    job = start_rft(emulator, client, reasoning_effort="low", compute_multiplier=2)
    assert job.method.type == "reinforcement"
    assert job.method.reinforcement.grader.model_dump() == GRADER
    hyperparameters = job.method.reinforcement.hyperparameters
    assert hyperparameters.reasoning_effort == "low" and hyperparameters.n_epochs == -1  # auto
    advance(emulator, 5 * 3600)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"  # SFT of this file would be done long ago
    assert running.method.reinforcement.hyperparameters.eval_samples == 1  # resolved
    advance(emulator, 10 * 3600)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.fine_tuned_model.startswith(f"{O4_MINI}.ft-")
    events = {e.message.split(":")[0].split(".")[0]: e for e in _events(client, job.id)}
    trained = events["Training completed"].created_at - events["Training started"].created_at
    expected = (RFT_BASE_SECONDS + done.trained_tokens / RFT_TRAINED_TOKENS_PER_SECOND) * 2
    assert abs(trained - expected) <= 2
    hours = trained / 3600
    assert events["Training hours billed"].message.startswith(f"Training hours billed: {hours:.2f}")
    assert f"${hours * 100:,.2f}" in events["Training hours billed"].message  # $100 an hour
    steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert steps == [30, 20, 10]  # every epoch (SFT keeps only the last three)


def test_the_cost_cap_pauses_the_job_and_keeps_its_checkpoints(emulator: Any, client: Any) -> None:
    assert control(emulator, "settings") == {"rft_cost_cap_usd": 5000.0}  # Azure's default
    control(emulator, "settings", {"rft_cost_cap_usd": 150})  # 1.5 training hours
    job = start_rft(emulator, client)
    advance(emulator, 4 * 3600)
    paused = client.fine_tuning.jobs.retrieve(job.id)
    assert paused.status == "paused"
    newest = _events(client, job.id)[0].message
    assert newest.startswith(f"{COST_PAUSE} of $150.00 was reached at step 14")
    assert "$150.00 (1.50 training hours)" in newest
    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [14, 10]  # the paused step, epoch 1
    assert checkpoints[0].fine_tuned_model_checkpoint.endswith(":ckpt-step-14")
    advance(emulator, 10 * 3600)  # a paused job accrues no time and no cost
    assert _events(client, job.id)[0].message == newest
    control(emulator, "settings", {"rft_cost_cap_usd": 5000})
    client.fine_tuning.jobs.resume(job.id)
    advance(emulator, 10 * 3600)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
    messages = [e.message for e in _events(client, job.id)]
    assert "Job resumed from step 14." in messages
    assert messages.count("Training started.") == 1  # not evaluated again
    steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert steps == [30, 20, 14, 10]


def test_a_resume_allows_another_cap(emulator: Any, client: Any) -> None:
    control(emulator, "settings", {"rft_cost_cap_usd": 100})
    job = start_rft(emulator, client)
    advance(emulator, 4 * 3600)
    client.fine_tuning.jobs.resume(job.id)
    advance(emulator, 4 * 3600)
    newest = _events(client, job.id)[0].message
    assert newest.startswith(f"{COST_PAUSE} of $100.00") and "has cost $200.00" in newest


def test_lowering_the_cap_pauses_a_job_now(emulator: Any, client: Any) -> None:
    job = start_rft(emulator, client)
    advance(emulator, 2 * 3600)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    now = control(emulator, "clock")["now"]
    control(emulator, "settings", {"rft_cost_cap_usd": 10})  # already spent more than that
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    newest = _events(client, job.id)[0]
    assert newest.message.startswith(COST_PAUSE) and newest.created_at >= int(now)


def test_the_cap_is_persisted_like_the_clock(tmp_path: Path) -> None:
    first = start_background(tmp_path / "state.sqlite")
    control(first, "settings", {"rft_cost_cap_usd": 1234.5})
    first.stop()
    second = start_background(tmp_path / "state.sqlite")
    try:
        assert control(second, "settings") == {"rft_cost_cap_usd": 1234.5}
        control(second, "reset", {})
        assert control(second, "settings") == {"rft_cost_cap_usd": 5000.0}
    finally:
        second.stop()


@pytest.mark.parametrize(
    ("model", "data", "method", "target"),
    [
        (O4_MINI, "rft", {"type": "supervised"}, "method"),
        (BASE_MODEL, "rft", rft_method(), "method"),
        (O4_MINI, "chat", rft_method(), "training_file"),
        (BASE_MODEL, "rft", {"type": "supervised"}, "training_file"),
        (O4_MINI, "rft", rft_method(reasoning_effort="max"), "hyperparameters.reasoning_effort"),
        (O4_MINI, "rft", rft_method(beta=0.1), "beta"),
        (
            O4_MINI,
            "rft",
            {
                "type": "reinforcement",
                "reinforcement": {"grader": {**GRADER, "operation": "equals"}},
            },
            "method.reinforcement.grader.operation",
        ),
        (
            O4_MINI,
            "rft",
            {"type": "reinforcement", "reinforcement": {}},
            "method.reinforcement.grader",
        ),
    ],
    ids=[
        "o4-mini-sft",
        "gpt-4o-mini-rft",
        "chat-data",
        "rft-data-for-sft",
        "reasoning-effort",
        "dpo-hyperparameter",
        "bad-grader",
        "no-grader",
    ],
)
def test_create_is_checked(
    checker: tuple[RunningEmulator, Any],
    model: str,
    data: str,
    method: dict[str, Any],
    target: str,
) -> None:
    emulator, client = checker
    content = rft_lines() if data == "rft" else chat_lines()
    training_file = upload_processed(emulator, client, content)
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=model, training_file=training_file.id, method=method)
    assert caught.value.body["target"] == target


def test_rft_data_is_a_valid_fine_tune_file(checker: tuple[RunningEmulator, Any]) -> None:
    emulator, client = checker
    mixed = rft_lines(5) + chat_lines(5)
    assert upload_processed(emulator, client, rft_lines()).status == "processed"
    failed = upload_processed(emulator, client, mixed)
    assert failed.status == "error" and "mixes 'reinforcement' and 'chat'" in failed.status_details
