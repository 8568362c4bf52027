"""A TrainingRun placed on an Azure ML compute cluster, end to end on the emulator: the real
`azure-ai-ml` and `azure-storage-blob` clients over HTTP, the job executed for real (the same
trainer, on the tiny model), its outputs downloaded into the run directory."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("azure.ai.ml")

from reconciler import localruns as lr
from reconciler.emulator import server as emulator_server
from reconciler.fileio import read_json
from reconciler.plans import Action
from tests.training.conftest import Workspace
from tests.training.emulated import (
    control,
    kill_apply_after_write,
    stats,
    write_operations,
    writes,
)

pytestmark = pytest.mark.local

NAME = "calc"
ML_WORKSPACE = {
    "subscription": "00000000-0000-0000-0000-0000000000a1",
    "resourceGroup": "rg-ml",
    "workspaceName": "ftops-ml",
    "region": "eastus2",
}
PLACEMENT = {
    "workspace": "ml",
    "cluster": "cpu-cluster",
    "instanceType": "Standard_D4s_v3",
    "instanceCount": 1,
}


def write_specs(
    ws: Workspace, compute: dict[str, Any], kind: str = "TrainingRun", **overrides: Any
) -> Path:
    spec = ws.spec(compute=compute, **overrides)
    body = spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    docs = [
        {"kind": "Project", "metadata": {"name": "placed"}},
        {"kind": "Dataset", "metadata": {"name": "train"}, "spec": {"path": ws.train}},
        {"kind": "Dataset", "metadata": {"name": "valid"}, "spec": {"path": ws.valid}},
        {"kind": "MLWorkspace", "metadata": {"name": "ml"}, "spec": ML_WORKSPACE},
        {"kind": kind, "metadata": {"name": NAME}, "spec": body},
    ]
    path = ws.root / "ftops.yaml"
    path.write_text(yaml.safe_dump_all([{"apiVersion": "ftops/v1", **d} for d in docs]))
    return path


def apply(ws: Workspace, specs: Path, *, wait: bool = True, retry_failed: bool = False) -> Any:
    """What `ftops apply --emulator --yes [--wait] [--retry-failed]` does; the first plan."""
    from reconciler.applying import ApplyOptions
    from reconciler.bootstrap import connected
    from reconciler.planning import PlanOptions
    from reconciler.session import Quiet, applier_for
    from reconciler.workspace import load_workspace

    loaded = load_workspace([specs], count_tokens=False)
    progress = Quiet()
    desired = loaded.desired
    with connected(desired, emulator=True, state_dir=loaded.state_dir) as provider:
        options = ApplyOptions(
            wait=wait, timeout_s=300, plan_options=PlanOptions(retry_failed=retry_failed)
        )
        applier = applier_for(loaded, provider, progress, options, local_env={})
        applier.run()
    return progress.first


def test_a_run_on_a_cluster_trains_there_and_lands_in_the_run_directory(
    workspace: Workspace, emulator: str
) -> None:
    specs = write_specs(workspace, {"device": "cpu", "azureML": PLACEMENT})
    first = apply(workspace, specs)
    [change] = [c for c in first.changes if str(c.address) == f"trainingrun/{NAME}"]
    assert change.action is Action.TRAIN
    _, _, run = workspace.resolve(NAME, workspace.spec(compute={"device": "cpu"}))
    state = lr.read_run_state(run, verify=True)
    assert state.phase == "succeeded", state
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    rows = (run / lr.RESULTS).read_text().splitlines()
    assert rows[0].startswith("step,train_loss") and len(rows) == 13  # 12 steps
    lock = read_json(run / lr.SPEC_LOCK)
    assert lock is not None and lock["paths"]["training"] == str(workspace.root / workspace.train)
    operations = stats(emulator)
    assert operations["Jobs_CreateOrUpdate"] == 1
    assert operations["DataVersions_CreateOrUpdate"] == 3  # base model, train, valid
    assert operations["CodeVersions_CreateOrUpdate"] == 1

    before = writes(emulator)
    again = apply(workspace, specs)
    assert again.is_converged, [str(c.address) for c in again.changes]
    assert writes(emulator) == before, "a converged re-apply wrote to Azure ML"

    # Placement is not identity: the same recipe placed back here is the same finished run.
    local = write_specs(workspace, {"device": "cpu"}, kind="LocalRun")
    assert apply(workspace, local).is_converged


def test_an_apply_without_wait_submits_once_and_a_later_apply_downloads(
    workspace: Workspace, emulator: str
) -> None:
    specs = write_specs(workspace, {"device": "cpu", "azureML": PLACEMENT})
    apply(workspace, specs, wait=False)
    second = apply(workspace, specs, wait=True)  # waits on the running job, then downloads
    assert stats(emulator)["Jobs_CreateOrUpdate"] == 1
    [change] = [c for c in second.changes if str(c.address) == f"trainingrun/{NAME}"]
    assert change.action in (Action.WAIT, Action.TRAIN)
    _, _, run = workspace.resolve(NAME, workspace.spec(compute={"device": "cpu"}))
    assert lr.read_run_state(run, verify=True).phase == "succeeded"


NO_DROPOUT = {"dropout": 0.0}  # dropout draws its masks per process: no two splits share them


def test_a_job_that_fails_on_the_cluster_is_an_error_until_retried_as_a_new_job(
    workspace: Workspace, emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.cli import main

    specs = write_specs(workspace, {"device": "cpu", "azureML": PLACEMENT})
    apply(workspace, specs, wait=False)
    key, _, run = workspace.resolve(NAME, workspace.spec(compute={"device": "cpu"}))
    first = f"ftops-{NAME}-{key[:12]}"
    control(emulator, f"mljobs/{first}/fail")
    capsys.readouterr()
    assert main(["plan", str(specs), "--emulator"]) == 1
    err = capsys.readouterr().err
    assert "LOCALRUN_FAILED" in err and "the node was lost" in err, err
    assert "apply --retry-failed submits it again, as a new job" in err
    again = apply(workspace, specs, retry_failed=True)
    [change] = [c for c in again.changes if str(c.address) == f"trainingrun/{NAME}"]
    assert change.reason.why.value == "retry"
    assert lr.read_run_state(run, verify=True).phase == "succeeded"
    assert _assets(emulator)["jobs"] == 2  # the failed one stays, for its logs
    assert apply(workspace, specs).is_converged


def test_plan_refuses_a_cluster_too_small_for_the_run_before_uploading_anything(
    workspace: Workspace, emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.cli import main
    from reconciler.providers.azureml import MLWorkspace, ensure_emulator_workspaces
    from reconciler.specs.models import MLWorkspaceSpec

    spec = MLWorkspaceSpec.model_validate(ML_WORKSPACE)
    ensure_emulator_workspaces(emulator, {"ml": spec})
    MLWorkspace(spec, emulator_url=emulator).create_cluster("cpu-cluster", "Standard_D2s_v3", 1)
    before = writes(emulator)
    specs = write_specs(workspace, {"device": "cpu", "azureML": {**PLACEMENT, "instanceCount": 2}})
    capsys.readouterr()
    assert main(["plan", str(specs), "--emulator"]) == 1
    err = capsys.readouterr().err
    assert "AML_CLUSTER_MISMATCH" in err and "Standard_D2s_v3 with at most 1 nodes" in err, err
    assert "resize the cluster" in err
    assert main(["apply", str(specs), "--emulator", "--yes"]) == 1
    assert writes(emulator) == before, "nothing is uploaded for a run its cluster cannot take"


def _adapter(run: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(run / "adapter" / "adapter_model.safetensors"))


@pytest.mark.slow
def test_two_instances_through_torchrun_train_the_adapter_one_process_trains(
    tiny_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two emulated instances (torchrun on each, gloo on CPU), a micro-batch of 4 on each, make
    the adapter that one process makes with two micro-batches of 4 accumulated: the effective
    batch (8) is the recipe; how it is split is placement. Tolerance: 1e-4 absolute.

    Each run has an Azure of its own: in one workspace the second would find the first's job
    (same recipe, same job) and train nothing."""
    import shutil

    import torch

    runs = {}
    for label, compute in (
        ("one", {"device": "cpu", "azureML": PLACEMENT}),
        ("two", {"device": "cpu", "azureML": {**PLACEMENT, "instanceCount": 2}}),
    ):
        root = tmp_path / label
        shutil.copytree(tiny_source, root)
        ws = Workspace(root=root)
        running = emulator_server.start_background(state=tmp_path / f"{label}.sqlite")
        monkeypatch.setenv("FTOPS_EMULATOR_URL", running.url)
        try:
            apply(ws, write_specs(ws, compute, adapter=NO_DROPOUT))
        finally:
            running.stop()
        _, _, run = ws.resolve(NAME, ws.spec(compute={"device": "cpu"}, adapter=NO_DROPOUT))
        state = lr.read_run_state(run, verify=True)
        assert state.phase == "succeeded", state
        runs[label] = (run, state)
    (one, one_state), (two, two_state) = runs["one"], runs["two"]
    assert two_state.outputs["device"]["worldSize"] == 2
    assert one_state.outputs["device"]["worldSize"] == 1
    assert read_json(two / lr.SPEC_LOCK)["plan"]["gradientAccumulation"] == 1  # type: ignore[index]
    assert read_json(one / lr.SPEC_LOCK)["plan"]["gradientAccumulation"] == 2  # type: ignore[index]
    a, b = _adapter(one), _adapter(two)
    assert a.keys() == b.keys() and a
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    moved = max(float(t.abs().max()) for t in a.values())
    assert moved > 1e-3, "the adapter did not train"
    print(f"largest difference {worst:.2e} (largest weight {moved:.2e})")
    assert worst <= 1e-4, f"two instances differ from one process by {worst:.2e}"
    assert all(torch.isfinite(t).all() for t in b.values())


def _kill_points(operations: list[str]) -> list[int]:
    """After the first write, and after the last write of each run of one operation."""
    points = {1}
    for i, operation in enumerate(operations):
        if i + 1 == len(operations) or operations[i + 1] != operation:
            points.add(i + 1)
    return sorted(points)


def _assets(url: str) -> dict[str, int]:
    """How many jobs and asset versions the workspace holds."""
    from reconciler.providers.azureml import MLWorkspace
    from reconciler.specs.models import MLWorkspaceSpec

    ws = MLWorkspace(MLWorkspaceSpec.model_validate(ML_WORKSPACE), emulator_url=url)
    ml = ws.ml
    counts = {"jobs": len(list(ml.jobs.list()))}
    versions = urllib.request.Request(  # azure-ai-ml lists no code versions
        f"{url}{ws.arm_id}/codes/ftops-trainer/versions?api-version=2024-04-01",
        headers={"Authorization": "Bearer test"},
    )
    with urllib.request.urlopen(versions, timeout=10) as reply:
        counts["code"] = len(json.loads(reply.read())["value"])
    for name in ("ftops-base", "ftops-train", "ftops-valid"):
        counts[name] = len(list(ml.data.list(name=name)))
    return counts


@pytest.mark.slow
def test_an_apply_killed_after_each_write_of_the_submission_ends_with_one_job(
    workspace: Workspace, emulator: str
) -> None:
    import shutil

    short = {"hyperparameters": {"maxSteps": 2}, "outputs": {"evalEverySteps": 1}}
    specs = write_specs(workspace, {"device": "cpu", "azureML": PLACEMENT}, **short)
    apply(workspace, specs)
    operations = write_operations(emulator)
    print(f"{len(operations)} writes; kill points {_kill_points(operations)}")
    assert "Jobs_CreateOrUpdate" in operations, operations
    expected = {"jobs": 1, "code": 1, "ftops-base": 1, "ftops-train": 1, "ftops-valid": 1}
    assert _assets(emulator) == expected
    points = _kill_points(operations)
    assert len(points) >= 8, points
    for k in points:
        control(emulator, "reset")
        shutil.rmtree(workspace.root / ".ftops" / "runs", ignore_errors=True)
        kill_apply_after_write(emulator, k, [str(specs)])
        # The next apply submits what is missing and returns (no --wait): every kill point
        # ends with one job and one set of assets; the last one is also trained to the end.
        last = k == points[-1]
        apply(workspace, specs, wait=last)
        assert _assets(emulator) == expected, f"killed after write {k} ({operations[k - 1]})"
        if not last:
            _cancel(emulator)  # its training would compete with the next round for the cores
    _, _, run = workspace.resolve(NAME, workspace.spec(compute={"device": "cpu"}, **short))
    assert lr.read_run_state(run, verify=True).phase == "succeeded"


def _cancel(url: str) -> None:
    from reconciler.providers.azureml import MLWorkspace
    from reconciler.specs.models import MLWorkspaceSpec

    ws = MLWorkspace(MLWorkspaceSpec.model_validate(ML_WORKSPACE), emulator_url=url)
    for job in ws.ml.jobs.list():
        ws.cancel(job.name)
