"""End to end on CPU: the real training subprocess on a tiny model (research/local-runs.md §3.6)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")

from reconciler import localruns as lr
from reconciler.fileio import read_json
from reconciler.plans import Action, Why
from reconciler.providers.local import LocalRunner, log_tail
from tests.training.conftest import Workspace, apply_run

pytestmark = pytest.mark.local

NAME = "calc"


def run_to_end(ws: Workspace, name: str = NAME, **overrides) -> tuple[Path, lr.LocalRunState]:
    """`ftops apply --wait` of a new LocalRun: planned as a new run, trained to the end."""
    spec = ws.spec(**overrides)
    applied = apply_run(ws, name, spec, env={"FTOPS_TORCH_THREADS": "2"})
    assert applied.change.action is Action.TRAIN and applied.change.reason.why is Why.NEW
    assert applied.run == ws.resolve(name, spec)[2]
    assert applied.state.phase == "succeeded", log_tail(applied.run, 40)
    return applied.run, applied.state


@pytest.fixture(scope="module")
def reference(
    tiny_source: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Workspace, Path]:
    """One uninterrupted SFT run, shared by the tests below."""
    import shutil

    root = tmp_path_factory.mktemp("reference") / "repo"
    shutil.copytree(tiny_source, root)
    ws = Workspace(root=root)
    run, _ = run_to_end(ws)
    return ws, run


def read_rows(run: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (run / lr.RESULTS).open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_sft_run_commits_adapter_results_and_outputs(reference) -> None:
    ws, run = reference
    outputs = read_json(run / lr.OUTPUTS)
    assert outputs is not None and outputs["key"].startswith(run.name)
    assert set(outputs["adapter"]["files"]) >= {"adapter_model.safetensors", "adapter_config.json"}
    assert lr.read_run_state(run, verify=True).phase == "succeeded"
    assert not (run / "adapter.tmp").exists()
    config = read_json(run / "adapter/adapter_config.json")
    assert config is not None and config["base_model_name_or_path"] == ws.base
    metrics = outputs["metrics"]
    assert metrics["global_step"] == 12 and metrics["train_tokens"] > 0
    assert metrics["tokens_per_s"] > 0 and outputs["engines"]["trl"] == "1.16.0"

    header, rows = read_rows(run)
    assert header == list(lr.RESULTS_COLUMNS)
    assert [int(r["step"]) for r in rows] == list(range(1, 13))  # one row per logged step
    assert all(r["train_loss"] and r["train_mean_token_accuracy"] for r in rows)
    evaluated = [int(r["step"]) for r in rows if r["valid_loss"]]
    assert evaluated == [4, 8, 12]  # evalEverySteps
    full = [int(r["step"]) for r in rows if r["full_valid_loss"]]
    assert full == [8, 12]  # end of epoch 1 (64 rows / batch 8) and the end of training
    assert all(r["full_valid_mean_token_accuracy"] for r in rows if r["full_valid_loss"])


def test_reapply_is_a_noop(reference, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, run = reference
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("spawned a trainer"))
    applied = apply_run(ws, NAME, ws.spec())
    assert applied.run == run
    assert applied.change.action is Action.NOOP and applied.change.reason.why is Why.UP_TO_DATE
    assert applied.state.phase == "succeeded"


def test_kill_9_then_apply_resumes_to_the_same_adapter(reference, workspace: Workspace) -> None:
    _, reference_run = reference
    spec = workspace.spec()
    key, resolved, run = workspace.resolve(NAME, spec)
    assert run.name == reference_run.name  # same content → same key, another repo

    slow = LocalRunner(env={"FTOPS_TORCH_THREADS": "2", "FTOPS_TRAINING_STEP_DELAY_S": "0.25"})
    handle = slow.start(NAME, key, resolved, run)
    checkpoint = run / "checkpoints/checkpoint-4/trainer_state.json"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert time.monotonic() < deadline, log_tail(run, 40)
        assert slow.state(run).phase == "running", log_tail(run, 40)
        time.sleep(0.05)
    os.kill(handle.pid, signal.SIGKILL)
    state = slow.wait(run, timeout_s=30)
    assert state.phase == "partial" and not (run / lr.OUTPUTS).exists()
    assert state.last_checkpoint == 4

    # An interrupted save above it (no trainer_state.json) must be ignored, not resumed from.
    planted = run / "checkpoints/checkpoint-8"
    planted.mkdir(parents=True, exist_ok=True)
    (planted / "adapter_model.safetensors").write_bytes(b"garbage")
    applied = apply_run(workspace, NAME, spec, env={"FTOPS_TORCH_THREADS": "2"})
    assert applied.change.action is Action.TRAIN
    assert (applied.change.reason.why, applied.change.reason.detail) == (
        Why.RESUME,
        "from checkpoint 4",
    )
    assert applied.state.phase == "succeeded", log_tail(run, 40)
    outputs = read_json(run / lr.OUTPUTS)
    assert outputs is not None and outputs["resumedFrom"] == "checkpoint-4"
    adapter = "adapter/adapter_model.safetensors"
    assert (run / adapter).read_bytes() == (reference_run / adapter).read_bytes()
    assert read_rows(run) == read_rows(reference_run)


def test_dpo_runs(workspace: Workspace) -> None:
    run, state = run_to_end(
        workspace,
        name="calc-dpo",
        method="dpo",
        validationData=None,
        hyperparameters={"maxSteps": 4},
        outputs={"saveEverySteps": 100},
    )
    header, rows = read_rows(run)
    assert header == list(lr.RESULTS_COLUMNS)
    assert [int(r["step"]) for r in rows] == list(range(1, 5))
    assert state.outputs["metrics"]["global_step"] == 4
    assert (run / "adapter/adapter_model.safetensors").exists()


@pytest.mark.slow
def test_two_processes_under_accelerate(workspace: Workspace) -> None:
    """DDP through an existing launcher (gloo on CPU); the effective batch stays 8 (4 × 2 × 1)."""
    run, state = run_to_end(
        workspace,
        name="calc-ddp",
        compute={"device": "cpu", "numProcesses": 2, "launcher": "accelerate"},
        outputs={"saveEverySteps": 100},
    )
    assert state.outputs["device"]["worldSize"] == 2
    spec_lock = read_json(run / lr.SPEC_LOCK)
    assert spec_lock is not None and spec_lock["plan"]["gradientAccumulation"] == 1
    assert len(read_rows(run)[1]) == 12


def test_report_of_a_local_run(reference, tmp_path: Path) -> None:
    from reconciler.cli import main
    from tests.e2e.test_report import check_report

    ws, _ = reference
    out = tmp_path / "report"
    assert main(["report", NAME, str(ws.root / "ftops.yaml"), "--out", str(out)]) == 0
    summary = check_report(out, tmp_path)
    assert "local run" in summary and "**succeeded**" in summary
