"""The v1 API: every data-plane operation at `/{account}/openai/v1/...`, no api-version, through
`openai.OpenAI(base_url=...)` (as Azure documents for v1)."""

from __future__ import annotations

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
    control,
    deploy,
    deployment_body,
)


@pytest.fixture
def emulator(tmp_path: Path) -> Any:
    """A slow clock: the job phases here are driven by advance() alone, not by wall time."""
    running = start_background(tmp_path / "emulator.sqlite", time_scale=10.0, record_bodies=True)
    yield running
    running.stop()


@pytest.fixture
def v1(emulator: RunningEmulator, account: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{emulator.url}/{account}/openai/v1", api_key="any-key", max_retries=0
    )


def test_files_jobs_and_models_without_api_version(emulator: Any, v1: openai.OpenAI) -> None:
    uploaded = v1.files.create(
        file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
    )
    advance(emulator, 120)
    assert v1.files.retrieve(uploaded.id).status == "processed"
    assert v1.files.content(uploaded.id).read() == chat_lines()
    assert [f.id for f in v1.files.list()] == [uploaded.id]
    job = v1.fine_tuning.jobs.create(model=BASE_MODEL, training_file=uploaded.id, suffix="v1")
    assert job.method is not None and job.method.type == "supervised"  # v1 has the preview's shape
    advance(emulator, 400)
    assert v1.fine_tuning.jobs.pause(job.id).status == "paused"  # pause/resume: preview and v1
    assert v1.fine_tuning.jobs.resume(job.id).status == "resuming"
    advance(emulator, 5000)
    done = v1.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert [j.id for j in v1.fine_tuning.jobs.list()] == [job.id]
    assert next(iter(v1.fine_tuning.jobs.list_events(job.id))).message == "Job succeeded."
    assert list(v1.fine_tuning.jobs.checkpoints.list(job.id))
    assert v1.models.retrieve(done.fine_tuned_model).id == done.fine_tuned_model
    assert BASE_MODEL in {m.id for m in v1.models.list()}
    log = control(emulator, "requests")["requests"]
    data_plane = [r for r in log if r["plane"] == "data"]
    assert all("/openai/v1/" in r["path"] and "api-version" not in r["query"] for r in data_plane)


def test_locations_stay_in_v1(emulator: Any, v1: openai.OpenAI) -> None:
    response = v1.files.with_raw_response.create(
        file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
    )
    location = response.headers["location"]
    assert location.endswith(f"/openai/v1/files/{response.parse().id}")


def test_chat_by_path_and_by_model(
    emulator: Any, arm: Any, v1: openai.OpenAI, account: str
) -> None:
    deploy(emulator, arm, account, "chat", deployment_body("gpt-4o-mini"))
    answer = v1.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert "deployment 'chat'" in (answer.choices[0].message.content or "")
    by_path = v1.post(
        "/deployments/chat/chat/completions",
        body={"messages": [{"role": "user", "content": "hi"}]},
        cast_to=httpx2.Response,
    )
    assert by_path.status_code == 200
    with pytest.raises(openai.NotFoundError):
        v1.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])


def test_errors_cancel_and_delete(emulator: Any, v1: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        v1.fine_tuning.jobs.retrieve("ftjob-00000000000000000000000000000000")
    uploaded = v1.files.create(
        file=("t.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
    )
    advance(emulator, 120)
    job = v1.fine_tuning.jobs.create(model=BASE_MODEL, training_file=uploaded.id)
    assert v1.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    assert v1.delete(f"/fine_tuning/jobs/{job.id}", cast_to=httpx2.Response).status_code == 204
    assert v1.files.delete(uploaded.id).deleted


def test_operations_list_v1_routes(emulator: Any) -> None:
    operations = control(emulator, "operations")["operations"]
    v1_routes = [o for o in operations if o["api_versions"] == ["v1"]]
    versioned = {o["operation"] for o in operations if o["plane"] == "data" and o not in v1_routes}
    assert {o["operation"] for o in v1_routes} == versioned  # same operationIds, every one
    assert all(o["path"].startswith("/{accountName}/openai/v1/") for o in v1_routes)
    pause = [o for o in operations if o["operation"] == "FineTuning_Pause"]
    assert sorted(tuple(o["api_versions"]) for o in pause) == [("2025-04-01-preview",), ("v1",)]


def test_v1_needs_auth_but_no_api_version(emulator: Any, account: str) -> None:
    anonymous = httpx2.get(f"{emulator.url}/{account}/openai/v1/models")
    assert anonymous.status_code == 401
    with_version = httpx2.get(
        f"{emulator.url}/{account}/openai/v1/models?api-version=2099-01-01",
        headers={"api-key": "k"},
    )
    assert with_version.status_code == 200  # ignored
