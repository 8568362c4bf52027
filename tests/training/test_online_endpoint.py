"""examples/azureml-cluster-lora end to end on the emulator through the CLI, with the tiny
model: the run trains on the emulated cluster, the model asset is put together in the datastore
(the base copied there, the adapter uploaded), the managed online endpoint and its deployment
converge as long-running operations, and the smoke test's answer comes from the deployment's own
scoring script (`reconciler/training/score.py`) loading base and adapter."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("azure.ai.ml")

from reconciler import localruns as lr
from tests.training.emulated import (
    control,
    kill_apply_after_write,
    stats,
    write_operations,
    writes,
)

pytestmark = pytest.mark.local

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "azureml-cluster-lora"
RUN = "travel-phi3-qlora"
ENDPOINT = "travel-assistant"


def example_on_tiny(tiny_source: Path, tmp_path: Path) -> Path:
    """examples/azureml-cluster-lora as committed, with the tiny model and a CPU LoRA in place of
    Phi-3-mini QLoRA on an A100 (the emulator runs the job, and the scoring, on this CPU)."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    shutil.copytree(EXAMPLE, repo / "example", ignore=shutil.ignore_patterns("models", ".ftops"))
    shutil.copytree(tiny_source / "models" / "tiny", repo / "example" / "models" / "tiny")
    specs = repo / "example" / "ftops.yaml"
    docs = list(yaml.safe_load_all(specs.read_text()))
    [run] = [d for d in docs if d["kind"] == "TrainingRun"]
    run["spec"]["baseModel"]["path"] = "models/tiny"
    run["spec"]["adapter"] = {"type": "lora", "r": 8, "alpha": 16, "dropout": 0.0}
    hp = run["spec"]["hyperparameters"]
    hp.update({"epochs": 1, "maxSteps": 3, "batchSize": 4, "precision": "fp32"})
    hp.update({"maxSeqLen": 512, "gradientCheckpointing": False})  # the tiny model's most
    run["spec"]["compute"]["device"] = "cpu"
    run["spec"]["compute"]["azureML"]["instanceType"] = "Standard_D4s_v3"
    specs.write_text(yaml.safe_dump_all(docs))
    return specs


def _deployment(specs: Path) -> dict[str, Any]:
    docs = list(yaml.safe_load_all(specs.read_text()))
    [found] = [d for d in docs if d["kind"] == "Deployment"]
    return dict(found)


def _edit_deployment(specs: Path, **sku: Any) -> None:
    docs = list(yaml.safe_load_all(specs.read_text()))
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["sku"].update(sku)
    specs.write_text(yaml.safe_dump_all(docs))


def _plan_json(main: Any, folder: str, capsys: pytest.CaptureFixture[str], *extra: str) -> Any:
    code = main(["plan", folder, "--emulator", "--format", "json", *extra])
    return code, json.loads(capsys.readouterr().out)


def _change(plan: dict[str, Any], address: str) -> dict[str, Any]:
    return next(c for c in plan["changes"] if c["address"] == address)


def _workspace() -> Any:
    from reconciler.providers.azureml import MLWorkspace
    from reconciler.specs.models import MLWorkspaceSpec

    docs = list(yaml.safe_load_all((EXAMPLE / "ftops.yaml").read_text()))
    [spec] = [d["spec"] for d in docs if d["kind"] == "MLWorkspace"]
    url = os.environ["FTOPS_EMULATOR_URL"]
    return MLWorkspace(MLWorkspaceSpec.model_validate(spec), emulator_url=url)


def test_the_adapter_is_served_by_a_managed_online_endpoint(
    tiny_source: Path, tmp_path: Path, emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.cli import main

    specs = example_on_tiny(tiny_source, tmp_path)
    folder = str(specs.parent)
    wanted = _deployment(specs)
    assert wanted["spec"]["workspace"] == "training"
    assert wanted["spec"]["model"] == {"trainingRun": RUN}
    assert wanted["spec"]["sku"]["name"].startswith("Standard_NC")  # what the example ships
    _edit_deployment(specs, name="Standard_DS3_v2")  # a CPU instance: the tiny model
    assert main(["validate", folder]) == 0, capsys.readouterr().err
    code, first = _plan_json(main, folder, capsys, "--detailed-exitcode")
    assert code == 2
    created = _change(first, f"deployment/training/{ENDPOINT}")
    assert created["action"] == "create"
    assert created["depends_on"] == [f"trainingrun/{RUN}"]  # known once the run has trained

    # Apply trains, downloads, then puts the endpoint together and smoke-tests it.
    assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert f"deployment/training/{ENDPOINT}: smoke test answered in " in err, err
    ops = stats(emulator)
    assert ops["OnlineEndpoints_CreateOrUpdate"] == 2  # created, then its traffic routed
    assert ops["OnlineDeployments_CreateOrUpdate"] == 1
    assert ops["ModelVersions_CreateOrUpdate"] == 1
    assert ops.get("OnlineEndpoints_Score", 0) == 1  # the smoke test, answered by score.py

    ws = _workspace()
    endpoint = ws.ml.online_endpoints.get(ENDPOINT)
    assert endpoint.traffic == {"ftops": 100}
    assert endpoint.tags["ftops-project"] == "azureml-cluster-lora"
    deployment = ws.ml.online_deployments.get("ftops", ENDPOINT)
    assert deployment.instance_type == "Standard_DS3_v2"
    assert deployment.instance_count == wanted["spec"]["sku"]["capacity"]
    assert deployment.code_configuration.scoring_script == "reconciler/training/score.py"
    model = str(deployment.model)
    assert f"/models/ftops-{RUN}-" in model and model.endswith("/versions/1")
    # The model asset holds the base (copied in the datastore), the adapter and the manifest.
    registered = ws.ml.models.get(model.split("/models/")[1].split("/")[0], "1")
    prefix = str(registered.path).split("/paths/", 1)[1]
    names = {b.name[len(prefix) :] for b in ws.container.list_blobs(name_starts_with=prefix)}
    assert "serving.json" in names
    assert "base/config.json" in names and "adapter/adapter_model.safetensors" in names
    # The scoring URI answers with score.py's chat completion, from the manifest's model.
    keys = ws.ml.online_endpoints.get_keys(ENDPOINT)
    request = urllib.request.Request(
        str(endpoint.scoring_uri),
        data=json.dumps(
            {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        ).encode(),
        headers={"Authorization": f"Bearer {keys.primary_key}"},
    )
    with urllib.request.urlopen(request, timeout=300) as reply:
        answer = json.loads(reply.read())
    assert answer["model"] == registered.name and answer["object"] == "chat.completion"
    assert answer["usage"]["prompt_tokens"] > 0 and answer["usage"]["completion_tokens"] <= 4

    runs = list((specs.parents[1] / ".ftops" / "runs" / RUN).iterdir())
    assert len(runs) == 1 and lr.read_run_state(runs[0], verify=True).phase == "succeeded"
    assert main(["status", folder, "--emulator"]) == 0
    status = capsys.readouterr().out
    assert "online endpoint, Standard_DS3_v2 × 1, 100% traffic" in status, status

    # Converged: a plan without changes, and a re-apply that writes nothing.
    assert main(["plan", folder, "--emulator", "--detailed-exitcode"]) == 0, capsys.readouterr()
    capsys.readouterr()
    before = writes(emulator)
    assert main(["apply", folder, "--emulator", "--yes"]) == 0
    assert writes(emulator) == before, "a converged re-apply wrote"
    capsys.readouterr()

    # The rest reconciles; each smoke test would load the model again (seconds each).
    docs = list(yaml.safe_load_all(specs.read_text()))
    for doc in docs:
        if doc["kind"] == "Deployment":
            del doc["spec"]["smokeTest"]
    specs.write_text(yaml.safe_dump_all(docs))
    assert main(["plan", folder, "--emulator", "--detailed-exitcode"]) == 0  # behaviour only
    capsys.readouterr()

    # A capacity change is an update in place: the instance count, no replacement.
    _edit_deployment(specs, capacity=3)
    code, scaled = _plan_json(main, folder, capsys, "--detailed-exitcode")
    change = _change(scaled, f"deployment/training/{ENDPOINT}")
    assert change["action"] == "update"
    [field] = change["reason"]["fields"]
    assert (field["path"], field["before"], field["after"]) == ("sku.capacity", 1, 3)
    assert not field["forces_replacement"]
    deployed = stats(emulator).get("OnlineDeployments_CreateOrUpdate", 0)
    assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert ws.ml.online_deployments.get("ftops", ENDPOINT).instance_count == 3
    assert stats(emulator).get("OnlineEndpoints_Delete", 0) == 0  # in place: nothing deleted
    assert stats(emulator)["OnlineDeployments_CreateOrUpdate"] == deployed + 1
    assert main(["plan", folder, "--emulator", "--detailed-exitcode"]) == 0
    capsys.readouterr()

    # Another instance type replaces the deployment (Azure changes it in no other way).
    _edit_deployment(specs, name="Standard_DS4_v2")
    code, moved = _plan_json(main, folder, capsys, "--detailed-exitcode")
    change = _change(moved, f"deployment/training/{ENDPOINT}")
    assert change["action"] == "replace"
    [field] = change["reason"]["fields"]
    assert (field["path"], field["forces_replacement"]) == ("sku.name", True)
    _edit_deployment(specs, name="Standard_DS3_v2")

    # Traffic moved outside ftops is drift, named by its field.
    endpoint = ws.ml.online_endpoints.get(ENDPOINT)
    endpoint.traffic = {"ftops": 0}
    ws.ml.online_endpoints.begin_create_or_update(endpoint).result()
    capsys.readouterr()  # the SDK's polling dots
    code, drifted = _plan_json(main, folder, capsys, "--refresh-only", "--detailed-exitcode")
    assert code == 2
    change = _change(drifted, f"deployment/training/{ENDPOINT}")
    [field] = change["reason"]["fields"]
    assert (field["path"], field["before"], field["after"], field["why"]) == (
        "traffic",
        0,
        100,
        "drifted",
    )
    assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0, capsys.readouterr().err
    capsys.readouterr()

    # Deleted outside ftops: drift with its reason, then recreated.
    ws.ml.online_endpoints.begin_delete(ENDPOINT).result()
    capsys.readouterr()
    code, missing = _plan_json(main, folder, capsys, "--refresh-only", "--detailed-exitcode")
    assert code == 2
    change = _change(missing, f"deployment/training/{ENDPOINT}")
    assert change["reason"]["why"] == "missing"
    assert "not found in the workspace" in change["reason"]["detail"]
    assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["plan", folder, "--emulator", "--detailed-exitcode"]) == 0
    capsys.readouterr()

    # Destroy deletes the endpoint (and its deployment with it).
    assert main(["destroy", folder, "--emulator", "--yes", "--force"]) == 0, capsys.readouterr().err
    assert [e.name for e in ws.ml.online_endpoints.list()] == []


ML_WRITES = (
    "ModelVersions_CreateOrUpdate",
    "EnvironmentVersions_CreateOrUpdate",
    "OnlineEndpoints_CreateOrUpdate",
    "OnlineDeployments_CreateOrUpdate",
)


@pytest.mark.slow
def test_an_apply_killed_after_each_step_of_the_endpoint_ends_with_one_of_each(
    tiny_source: Path, tmp_path: Path, emulator: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed (-9) after its first blob write and after each Azure ML write of putting the
    endpoint together, the next apply ends with one model version, one environment version, one
    endpoint with one deployment taking all the traffic, and a converged plan."""
    from reconciler.cli import main

    specs = example_on_tiny(tiny_source, tmp_path)
    _edit_deployment(specs, name="Standard_DS3_v2")
    docs = list(yaml.safe_load_all(specs.read_text()))
    for doc in docs:
        if doc["kind"] == "Deployment":
            del doc["spec"]["smokeTest"]  # each would load the model again
    specs.write_text(yaml.safe_dump_all(docs))
    folder = str(specs.parent)
    assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    # The endpoint's writes in a fresh world (the run stays trained in its run directory, so
    # apply puts only the endpoint together, the base model uploaded from here again).
    control(emulator, "reset")
    assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    operations = write_operations(emulator)
    points = [1] + [i + 1 for i, op in enumerate(operations) if op in ML_WRITES]
    print(f"{len(operations)} writes; kill points {points}")
    assert len(points) >= 6, operations  # model, environment, endpoint ×2, deployment
    ws = _workspace()
    for k in points:
        control(emulator, "reset")
        kill_apply_after_write(emulator, k, [folder, "--wait"])
        after = operations[k - 1]
        assert main(["apply", folder, "--emulator", "--yes", "--wait"]) == 0, (k, after)
        capsys.readouterr()
        [endpoint] = list(ws.ml.online_endpoints.list())
        assert endpoint.traffic == {"ftops": 100}, (k, after)
        assert [d.name for d in ws.ml.online_deployments.list(ENDPOINT)] == ["ftops"], (k, after)
        [model] = {
            str(d.model).split("/models/")[1] for d in ws.ml.online_deployments.list(ENDPOINT)
        }
        assert [m.version for m in ws.ml.models.list(name=model.split("/")[0])] == ["1"]
        assert main(["plan", folder, "--emulator", "--detailed-exitcode"]) == 0, (k, after)
        capsys.readouterr()
