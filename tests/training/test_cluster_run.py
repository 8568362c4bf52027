"""A TrainingRun placed on an Azure ML compute cluster, end to end on the emulator: the real
`azure-ai-ml` and `azure-storage-blob` clients over HTTP, the job executed for real (the same
trainer, on the tiny model), its outputs downloaded into the run directory."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
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

pytestmark = pytest.mark.local

NAME = "calc"
PLACEMENT = {
    "workspace": "ml",
    "cluster": "cpu-cluster",
    "instanceType": "Standard_D4s_v3",
    "instanceCount": 1,
}


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    running = emulator_server.start_background(state=tmp_path / "emulator.sqlite")
    monkeypatch.setenv("FTOPS_EMULATOR_URL", running.url)
    try:
        yield running.url
    finally:
        running.stop()


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as reply:
        return dict(json.loads(reply.read())["operations"])


def writes(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as reply:
        return int(json.loads(reply.read())["writes"])


def write_specs(ws: Workspace, compute: dict[str, Any], kind: str = "TrainingRun") -> Path:
    body = ws.spec(compute=compute).model_dump(by_alias=True, mode="json", exclude_none=True)
    docs = [
        {"kind": "Project", "metadata": {"name": "placed"}},
        {"kind": "Dataset", "metadata": {"name": "train"}, "spec": {"path": ws.train}},
        {"kind": "Dataset", "metadata": {"name": "valid"}, "spec": {"path": ws.valid}},
        {
            "kind": "MLWorkspace",
            "metadata": {"name": "ml"},
            "spec": {
                "subscription": "00000000-0000-0000-0000-0000000000a1",
                "resourceGroup": "rg-ml",
                "workspaceName": "ftops-ml",
                "region": "eastus2",
            },
        },
        {"kind": kind, "metadata": {"name": NAME}, "spec": body},
    ]
    path = ws.root / "ftops.yaml"
    path.write_text(yaml.safe_dump_all([{"apiVersion": "ftops/v1", **d} for d in docs]))
    return path


def apply(ws: Workspace, specs: Path, *, wait: bool = True) -> Any:
    """What `ftops apply --emulator --yes [--wait]` does; the first plan."""
    from reconciler.applying import ApplyOptions
    from reconciler.bootstrap import connected
    from reconciler.session import Quiet, applier_for
    from reconciler.workspace import load_workspace

    loaded = load_workspace([specs], count_tokens=False)
    progress = Quiet()
    desired = loaded.desired
    with connected(
        desired.accounts,
        emulator=True,
        state_dir=loaded.state_dir,
        workspaces=desired.placed_workspaces,
    ) as provider:
        options = ApplyOptions(wait=wait, timeout_s=300)
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
    key, _, run = workspace.resolve(NAME, workspace.spec(compute={"device": "cpu"}))
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
