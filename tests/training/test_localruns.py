"""The pure side of local runs (no torch): run key, digests, run-dir state, plan-time checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler import fileio
from reconciler import localruns as lr
from reconciler.desired import DesiredLocalRun, DesiredState
from reconciler.errors import Location
from reconciler.live import LiveState
from reconciler.planning import PlanOptions, plan
from reconciler.providers.local import LocalRuns
from reconciler.specs.models import LocalRunSpec, ProjectSpec


def make_spec(**overrides: object) -> LocalRunSpec:
    doc: dict[str, object] = {
        "baseModel": {"path": "models/base"},
        "trainingData": "train",
        "validationData": "valid",
        "hyperparameters": {"maxSteps": 10, "batchSize": 8, "perDeviceBatchSize": 4},
    }
    doc.update(overrides)
    return LocalRunSpec.model_validate(doc)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    base = tmp_path / "models/base"
    base.mkdir(parents=True)
    (base / "config.json").write_text('{"model_type": "llama"}')
    (base / "model.safetensors").write_bytes(b"weights")
    (base / "tokenizer.json").write_text('{"vocab": 1}')
    (base / "tokenizer_config.json").write_text("{}")
    (base / "chat_template.jinja").write_text("{{ messages }}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/train.jsonl").write_text('{"messages": []}\n')
    (tmp_path / "data/valid.jsonl").write_text('{"messages": []}\n')
    return tmp_path


def key_of(repo: Path, spec: LocalRunSpec) -> str:
    digests = lr.compute_digests(spec, repo, repo / "data/train.jsonl", repo / "data/valid.jsonl")
    return lr.run_key(spec, digests)


def test_key_ignores_placement_cadence_and_per_device_split(repo: Path) -> None:
    key = key_of(repo, make_spec())
    same = [
        make_spec(compute={"device": "cuda", "numProcesses": 2, "launcher": "torchrun"}),
        make_spec(outputs={"evalEverySteps": 3, "saveEverySteps": 7}),
        make_spec(
            hyperparameters={
                "maxSteps": 10,
                "batchSize": 8,
                "perDeviceBatchSize": 2,
                "gradientCheckpointing": True,
            }
        ),
        make_spec(hyperparameters={"maxSteps": 10, "batchSize": 8, "beta": 0.5}),  # sft: no beta
        make_spec(adapter={"targetModules": ["v_proj", "q_proj"]}),
    ]
    assert key_of(repo, same[0]) == key
    assert key_of(repo, same[1]) == key
    assert key_of(repo, same[2]) == key
    assert key_of(repo, same[3]) == key
    listed = key_of(repo, same[4])
    assert listed != key
    assert key_of(repo, make_spec(adapter={"targetModules": ["q_proj", "v_proj"]})) == listed


def test_key_follows_everything_that_changes_the_weights(repo: Path) -> None:
    key = key_of(repo, make_spec())
    changed = [
        make_spec(hyperparameters={"maxSteps": 10, "batchSize": 16, "perDeviceBatchSize": 4}),
        make_spec(hyperparameters={"maxSteps": 11, "batchSize": 8}),
        make_spec(adapter={"r": 8}),
        make_spec(lossOn="all"),
        make_spec(method="dpo"),
        make_spec(hyperparameters={"maxSteps": 10, "batchSize": 8, "seed": 1}),
        make_spec(hyperparameters={"maxSteps": 10, "batchSize": 8, "precision": "fp32"}),
    ]
    keys = {key_of(repo, spec) for spec in changed}
    assert key not in keys and len(keys) == len(changed)


def test_key_follows_data_and_base_bytes(repo: Path) -> None:
    spec = make_spec()
    key = key_of(repo, spec)
    train = repo / "data/train.jsonl"
    train.write_text('{"messages": [ ]}\n')
    assert key_of(repo, spec) != key
    train.write_text('{"messages": []}\n')
    assert key_of(repo, spec) == key
    (repo / "models/base/chat_template.jinja").write_text("{{ other }}")
    assert key_of(repo, spec) != key


def test_digest_cache_skips_unchanged_files(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_spec()
    key = key_of(repo, spec)
    assert (repo / ".ftops/cache/digests.json").exists()
    monkeypatch.setattr(fileio, "file_digest", lambda path: pytest.fail(f"re-hashed {path}"))
    assert key_of(repo, spec) == key


def test_gguf_path_is_split_and_hashed_whole(repo: Path) -> None:
    (repo / "models/m.gguf").write_bytes(b"GGUF...")
    spec = make_spec(baseModel={"path": "models/m.gguf"})
    paths = lr.resolve_base_paths(spec, repo)
    assert paths.model_dir == (repo / "models").resolve() and paths.gguf_file == "m.gguf"
    digests = lr.base_model_digests(paths)
    assert digests.weights == digests.tokenizer == digests.chat_template


def test_run_dir_layout(tmp_path: Path) -> None:
    assert lr.run_dir(tmp_path, "bot", "ab" * 32) == tmp_path / ".ftops/runs/bot" / ("ab" * 8)


def write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


KEY = "ab" * 32


def planned(root: Path, *, retry_failed: bool = False) -> tuple[str, str, str | None]:
    """What `plan` decides for a LocalRun whose run directory is in this state: the run is read
    by the local provider and planned by the planner, as `ftops plan` does."""
    run = DesiredLocalRun(name="bot", key=KEY, spec={}, location=Location(file="ftops.yaml"))
    desired = DesiredState(
        project="p",
        project_spec=ProjectSpec(),
        accounts={},
        datasets={},
        facts={},
        files=(),
        fine_tunes=(),
        deployments=(),
        local_runs=(run,),
    )
    live = LiveState(local_runs={"bot": LocalRuns(root).read("bot", KEY)})
    [change] = plan(desired, live, PlanOptions(retry_failed=retry_failed)).changes
    return change.action.value, change.reason.why.value, change.reason.detail


def test_state_phases_and_plan_actions(tmp_path: Path) -> None:
    run = lr.run_dir(tmp_path, "bot", KEY)
    assert lr.read_run_state(run).phase == "missing"
    assert planned(tmp_path)[:2] == ("train", "new")

    write(run / lr.SPEC_LOCK, {"key": "k"})
    assert planned(tmp_path) == ("train", "resume", "an unfinished run, from the start")

    write(run / lr.STATUS, {"phase": "running", "step": 5, "max_steps": 10, "loss": 1.5})
    (run / "checkpoints/checkpoint-4").mkdir(parents=True)
    write(run / "checkpoints/checkpoint-4/trainer_state.json", {"global_step": 4})
    (run / "checkpoints/checkpoint-8").mkdir()  # interrupted save: no trainer_state.json
    state = lr.read_run_state(run)
    assert (state.phase, state.step, state.max_steps, state.loss) == ("partial", 5, 10, 1.5)
    assert state.last_checkpoint == 4
    assert planned(tmp_path) == ("train", "resume", "from checkpoint 4")
    assert lr.latest_complete_checkpoint(run) == run / "checkpoints/checkpoint-4"

    fd = lr.acquire_lock(run / lr.LOCK)
    assert fd is not None
    try:
        state = lr.read_run_state(run)
        assert state.phase == "running" and state.pid == os.getpid()
        assert planned(tmp_path)[:2] == ("wait", "in-progress")
        assert lr.acquire_lock(run / lr.LOCK) is None
    finally:
        os.close(fd)
    assert lr.read_run_state(run).phase == "partial"

    write(run / lr.STATUS, {"phase": "failed", "error": "OOM"})
    state = lr.read_run_state(run)
    assert state.phase == "failed" and state.error == "OOM"
    assert planned(tmp_path)[:2] == ("noop", "failed")
    assert planned(tmp_path, retry_failed=True) == ("train", "retry", "OOM")

    (run / "adapter").mkdir()
    (run / "adapter/adapter_model.safetensors").write_bytes(b"A")
    write(
        run / lr.OUTPUTS,
        {"adapter": {"files": lr.adapter_digests(run / "adapter")}, "metrics": {"train_loss": 1.0}},
    )
    state = lr.read_run_state(run, verify=True)
    assert state.phase == "succeeded" and state.describe() == "succeeded (train loss 1)"
    assert planned(tmp_path)[:2] == ("noop", "up-to-date")
    (run / "adapter/adapter_model.safetensors").write_bytes(b"B")  # corrupted adapter
    assert lr.read_run_state(run, verify=True).phase != "succeeded"


def test_clean_partial_checkpoints(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for step in (2, 4, 6):
        (run / f"checkpoints/checkpoint-{step}").mkdir(parents=True)
    write(run / "checkpoints/checkpoint-2/trainer_state.json", {})
    write(run / "checkpoints/checkpoint-4/trainer_state.json", {})
    (run / "checkpoints/checkpoint-6/trainer_state.json").write_text('{"trunc')
    removed = lr.clean_partial_checkpoints(run)
    assert removed == [run / "checkpoints/checkpoint-6"]
    assert lr.latest_complete_checkpoint(run) == run / "checkpoints/checkpoint-4"


def codes(spec: LocalRunSpec, cuda: bool) -> set[str]:
    return {d.code for d in lr.check_local_run(spec, cuda_available=cuda)}


def test_plan_time_checks() -> None:
    assert codes(make_spec(), cuda=False) == set()
    qlora = make_spec(adapter={"type": "qlora"})
    assert "LOCAL_QLORA_NEEDS_CUDA" in codes(qlora, cuda=False)
    assert "LOCAL_QLORA_NEEDS_CUDA" not in codes(qlora, cuda=True)
    assert "LOCAL_QLORA_NEEDS_CUDA" in codes(
        make_spec(adapter={"type": "qlora"}, compute={"device": "cpu"}), cuda=True
    )
    uneven = make_spec(
        hyperparameters={"maxSteps": 1, "batchSize": 12, "perDeviceBatchSize": 4},
        compute={"numProcesses": 2, "launcher": "accelerate"},
    )
    assert codes(uneven, cuda=True) == {"LOCAL_BATCH_NOT_DIVISIBLE"}
    assert "LOCAL_LAUNCHER_NEEDED" in codes(
        make_spec(
            hyperparameters={"maxSteps": 1, "batchSize": 8, "perDeviceBatchSize": 4},
            compute={"numProcesses": 2},
        ),
        cuda=True,
    )
    fp16 = make_spec(hyperparameters={"maxSteps": 1, "batchSize": 8, "precision": "fp16"})
    assert "LOCAL_FP16_NEEDS_CUDA" in codes(fp16, cuda=False)
    assert lr.gradient_accumulation(uneven, world_size=1) == 3


def test_training_command_per_launcher(tmp_path: Path) -> None:
    import sys

    from reconciler.providers.local import training_command

    def command(n: int, launcher: str) -> list[str]:
        spec = make_spec(compute={"numProcesses": n, "launcher": launcher})
        return training_command(spec.model_dump(by_alias=True), tmp_path)

    tail = ["-m", "reconciler.training", str(tmp_path)]
    assert command(1, "accelerate") == [sys.executable, *tail]
    assert command(2, "accelerate")[2:] == [
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        *tail,
    ]
    assert command(4, "torchrun")[2:] == ["torch.distributed.run", "--nproc_per_node", "4", *tail]
