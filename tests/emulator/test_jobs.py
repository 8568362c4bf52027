"""Fine-tuning jobs through the real openai client, driven by the simulated clock."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from reconciler.emulator.server import RunningEmulator, start_background
from tests.emulator.conftest import (
    BASE_MODEL,
    advance,
    chat_lines,
    trained_job,
    upload_processed,
)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A slow clock: the job phases here are driven by advance() alone, not by wall time."""
    running = start_background(tmp_path / "emulator.sqlite", time_scale=10.0, record_bodies=True)
    yield running
    running.stop()


FINE_TUNED = re.compile(rf"^{re.escape(BASE_MODEL)}\.ft-[0-9a-f]{{32}}-travel$")


def test_lifecycle_pending_running_succeeded(emulator: Any, client: Any) -> None:
    training_file = upload_processed(emulator, client, chat_lines())
    job = client.fine_tuning.jobs.create(
        model=BASE_MODEL,
        training_file=training_file.id,
        suffix="travel",
        seed=42,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    )
    assert job.status == "pending" and job.id.startswith("ftjob-")
    assert job.hyperparameters.n_epochs == 3 and job.hyperparameters.batch_size == -1  # auto
    assert job.method.type == "supervised"
    assert job.fine_tuned_model is None
    advance(emulator, 200)
    running = client.fine_tuning.jobs.retrieve(job.id)
    assert running.status == "running"
    assert running.hyperparameters.batch_size == 1  # resolved once started
    advance(emulator, 5000)
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert FINE_TUNED.match(done.fine_tuned_model)
    assert done.fine_tuned_model.split(".ft-")[1].startswith(job.id.removeprefix("ftjob-"))
    assert done.trained_tokens > 0 and done.finished_at > done.created_at
    assert len(done.result_files) == 1 and done.seed == 42


def test_events_checkpoints_and_results_csv(emulator: Any, client: Any) -> None:
    job = trained_job(emulator, client, hyperparameters={"n_epochs": 4})
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=7))  # pages through `after`
    messages = [e.message for e in events]
    assert messages[0] == "Job succeeded." and messages[-1].startswith("Job enqueued")
    metrics = [e for e in events if e.type == "metrics"]
    assert metrics and {"step", "train_loss", "train_mean_token_accuracy"} <= set(metrics[0].data)

    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [40, 30, 20]  # the last 3 of 4 epochs
    assert all(c.id.startswith("ftckpt_") for c in checkpoints)
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-40"

    result = client.files.retrieve(job.result_files[0])
    assert result.purpose == "fine-tune-results" and result.status == "processed"
    rows = list(csv.DictReader(io.StringIO(client.files.content(result.id).text)))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "validation_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    ]
    losses = [float(r["train_loss"]) for r in rows]
    assert len(rows) == 40 and sum(losses[-5:]) < sum(losses[:5]) / 3


def test_validation_file_gives_validation_metrics(emulator: Any, client: Any) -> None:
    train = upload_processed(emulator, client, chat_lines())
    valid = upload_processed(emulator, client, chat_lines(10), "valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model=BASE_MODEL, training_file=train.id, validation_file=valid.id
    )
    advance(emulator, 5000)
    done = client.fine_tuning.jobs.retrieve(job.id)
    rows = list(csv.DictReader(io.StringIO(client.files.content(done.result_files[0]).text)))
    assert all(r["valid_loss"] for r in rows)
    assert rows[9]["full_valid_loss"] and not rows[8]["full_valid_loss"]  # at epoch ends


def test_one_running_job_per_account(emulator: Any, client: Any) -> None:
    training_file = upload_processed(emulator, client, chat_lines())
    first = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=training_file.id)
    second = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=training_file.id)
    advance(emulator, 300)
    assert client.fine_tuning.jobs.retrieve(first.id).status == "running"
    assert client.fine_tuning.jobs.retrieve(second.id).status == "pending"
    assert [j.id for j in client.fine_tuning.jobs.list()] == [second.id, first.id]
    client.fine_tuning.jobs.cancel(first.id)
    advance(emulator, 10)
    assert client.fine_tuning.jobs.retrieve(second.id).status == "running"


def test_pause_resume_and_cancel(emulator: Any, client: Any) -> None:
    training_file = upload_processed(emulator, client, chat_lines())
    job = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=training_file.id)
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.pause(job.id)  # not training yet
    advance(emulator, 400)
    paused = client.fine_tuning.jobs.pause(job.id)
    assert paused.status == "paused"
    advance(emulator, 10_000)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    assert client.fine_tuning.jobs.resume(job.id).status == "resuming"
    advance(emulator, 60)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    advance(emulator, 10_000)
    final = client.fine_tuning.jobs.retrieve(job.id)
    assert final.status == "cancelled" and final.fine_tuned_model is None
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


@pytest.mark.parametrize(
    ("marker", "code", "message"),
    [
        ("FTOPS_EMULATOR_UNSAFE_DATA", "invalidTrainingFile", "failed RAI checks"),
        ("FTOPS_EMULATOR_UNSAFE_MODEL", "modelEvaluationFailed", "Model evaluation identified"),
    ],
    ids=["data", "model"],
)
def test_safety_evaluation_failures(
    emulator: Any, client: Any, marker: str, code: str, message: str
) -> None:
    training_file = upload_processed(emulator, client, chat_lines(10, marker))
    job = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=training_file.id)
    advance(emulator, 5000)
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error.code == code and message in failed.error.message
    assert failed.fine_tuned_model is None
    levels = [e.level for e in client.fine_tuning.jobs.list_events(job.id)]
    assert "error" in levels


@pytest.mark.parametrize(
    ("changes", "target"),
    [
        ({"model": "gpt-4o-2024-11-20"}, "model"),
        ({"suffix": "x" * 41}, "suffix"),
        ({"suffix": "bad suffix!"}, "suffix"),
        ({"training_file": "file-missing"}, "training_file"),
        ({"method": {"type": "reinforcement"}}, "method"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"method": {"type": "dpo"}}, "training_file"),
    ],
    ids=[
        "not-fine-tunable",
        "long-suffix",
        "bad-suffix",
        "no-file",
        "method",
        "epochs",
        "dpo-data",
    ],
)
def test_create_is_validated(
    emulator: Any, client: Any, changes: dict[str, Any], target: str
) -> None:
    training_file = upload_processed(emulator, client, chat_lines())
    request = {"model": BASE_MODEL, "training_file": training_file.id, **changes}
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(**request)
    assert caught.value.body["target"] == target


def test_unprocessed_file_is_refused(client: Any) -> None:
    uploaded = client.files.create(
        file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=uploaded.id)
    assert caught.value.code == "unexpectedEntityState"


def test_continuous_fine_tuning_and_models(emulator: Any, client: Any) -> None:
    parent = trained_job(emulator, client)
    child = trained_job(emulator, client, model=parent.fine_tuned_model, suffix="step2")
    assert child.model == parent.fine_tuned_model
    assert child.fine_tuned_model.startswith(
        f"{BASE_MODEL}.ft-"
    ) and child.fine_tuned_model.endswith("-step2")
    models = {m.id: m.model_extra for m in client.models.list()}
    assert models[BASE_MODEL]["capabilities"]["fine_tune"] is True
    assert models[child.fine_tuned_model]["fine_tune"] == child.id
    assert models[child.fine_tuned_model]["model"] == BASE_MODEL
    assert client.models.retrieve(parent.fine_tuned_model).id == parent.fine_tuned_model
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_delete_job(emulator: Any, client: Any) -> None:
    job = trained_job(emulator, client)
    assert job.fine_tuned_model in {m.id for m in client.models.list()}  # listed before the delete
    response = client.delete(f"/fine_tuning/jobs/{job.id}", cast_to=httpx2.Response)
    assert response.status_code == 204
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve(job.id)
    assert job.fine_tuned_model not in {m.id for m in client.models.list()}


def dpo_lines(count: int = 10) -> bytes:
    import json

    line = {
        "input": {"messages": [{"role": "user", "content": "Plan a trip"}]},
        "preferred_output": [{"role": "assistant", "content": "Here is a plan."}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
    }
    return "".join(json.dumps(line) + "\n" for _ in range(count)).encode()


def test_dpo_job_reports_beta(emulator: Any, client: Any) -> None:
    training_file = upload_processed(emulator, client, dpo_lines())
    method = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 2}}}
    job = client.fine_tuning.jobs.create(
        model=BASE_MODEL, training_file=training_file.id, method=method
    )
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.2
    advance(emulator, 5000)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
    with pytest.raises(openai.BadRequestError):  # DPO needs a model that supports it
        client.fine_tuning.jobs.create(
            model="gpt-35-turbo-0125", training_file=training_file.id, method=method
        )
