"""examples/phi-serverless end to end on the emulator: a Phi fine-tune trained serverless in a
hub project and served from a serverless endpoint, through the CLI and the real azure-ai-ml
client over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("azure.ai.ml")

from reconciler import catalog as catalog_module
from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from reconciler.providers.azureml import MLWorkspace
from reconciler.specs.models import MLWorkspaceSpec
from tests.e2e.conftest import stats

FINE_TUNE = "finetune/phi-project/travel-phi4-mini"
DEPLOYMENT = "deployment/phi-project/travel-phi4-mini"


def _workspace(specs: Path, url: str) -> MLWorkspace:
    docs = yaml.safe_load_all((specs / "ftops.yaml").read_text())
    [spec] = [d["spec"] for d in docs if d["kind"] == "MLWorkspace"]
    return MLWorkspace(MLWorkspaceSpec.model_validate(spec), emulator_url=url)


def _plan(specs: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    main(["plan", str(specs), "--emulator", "--format", "json"])
    return json.loads(capsys.readouterr().out)


def _edited(specs: Path, **changes: object) -> None:
    """The MLWorkspace's spec with `changes`."""
    path = specs / "ftops.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    for doc in docs:
        if doc["kind"] == "MLWorkspace":
            doc["spec"].update(changes)
    path.write_text(yaml.safe_dump_all(docs))


@pytest.fixture
def applied(use_emulator: RunningEmulator, example, capsys) -> Path:  # type: ignore[no-untyped-def]
    specs = example("phi-serverless")
    assert main(["apply", str(specs), "--emulator", "--yes", "--wait", "--timeout", "120"]) == 0
    err = capsys.readouterr().err
    assert f"{DEPLOYMENT}: smoke test answered in " in err and "Lisbon" in err, err  # by its key
    return specs


def test_the_fine_tune_and_its_endpoint_converge_and_reapply_nothing(
    applied: Path, use_emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(applied), "--emulator", "--detailed-exitcode"]) == 0
    writes = stats(use_emulator)["writes"]
    assert main(["apply", str(applied), "--emulator", "--yes", "--wait"]) == 0
    assert stats(use_emulator)["writes"] == writes

    ws = _workspace(applied, use_emulator.url)
    [job] = [j for j in ws.ml.jobs.list() if j.tags.get("ftops-project") == "phi-serverless"]
    assert job.status == "Completed" and job.hyperparameters == {
        "num_train_epochs": "2",
        "per_device_train_batch_size": "4",
        "seed": "7",
    }
    [endpoint] = ws.ml.serverless_endpoints.list()
    model = job.outputs["registered_model"].path
    assert endpoint.name == "travel-phi4-mini" and endpoint.model_id == model
    assert model.endswith("/models/travel-" + job.tags["ftops-key"][:8] + "/versions/1")
    assert main(["status", str(applied), "--emulator"]) == 0
    out = capsys.readouterr().out
    assert "Azure ML phi-project" in out and "serverless" in out and "in sync" in out
    assert "32m elapsed" in out  # queued 2 min and trained 30 on the emulator's clock
    assert main(["report", "travel-phi4-mini", str(applied), "--emulator"]) == 1
    err = capsys.readouterr().err
    assert "REPORT_NO_RESULTS" in err and "Metrics tab" in err


def test_an_endpoint_deleted_outside_ftops_is_drift_and_is_recreated(
    applied: Path, use_emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = _workspace(applied, use_emulator.url)
    ws.ml.serverless_endpoints.begin_delete("travel-phi4-mini").result()
    [change] = [c for c in _plan(applied, capsys)["changes"] if c["action"] != "noop"]
    assert change["address"] == DEPLOYMENT and change["action"] == "create"
    assert change["reason"]["why"] == "missing"
    assert "not found in the workspace" in change["reason"]["text"]
    assert main(["plan", str(applied), "--emulator", "--refresh-only", "--detailed-exitcode"]) == 2
    capsys.readouterr()
    assert main(["apply", str(applied), "--emulator", "--yes", "--wait"]) == 0
    assert main(["plan", str(applied), "--emulator", "--detailed-exitcode"]) == 0


def test_a_retrain_names_what_changed_and_keeps_the_first_model(
    applied: Path, use_emulator: RunningEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = applied / "ftops.yaml"
    path.write_text(path.read_text().replace("epochs: 2 ", "epochs: 3 "))
    changes = {c["address"]: c for c in _plan(applied, capsys)["changes"]}
    train = changes[FINE_TUNE]
    assert train["action"] == "train" and train["reason"]["why"] == "spec-changed"
    fields = {f["path"]: (f["before"], f["after"]) for f in train["reason"]["fields"]}
    assert fields["method.hyperparameters.epochs"] == (2, 3)
    assert changes[DEPLOYMENT]["action"] == "update"  # to the new model, once trained
    data = applied / "data" / "travel.jsonl"
    original = data.read_bytes()
    assert b"helpful" in original
    data.write_bytes(original.replace(b"helpful", b"kind", 1))  # other bytes: a new key
    train = {c["address"]: c for c in _plan(applied, capsys)["changes"]}[FINE_TUNE]
    fields = {f["path"]: f for f in train["reason"]["fields"]}
    assert fields["trainingData"]["dataset"] == "travel"
    assert fields["trainingData"]["before"] != fields["trainingData"]["after"]
    data.write_bytes(original)
    assert main(["apply", str(applied), "--emulator", "--yes", "--wait"]) == 0
    assert main(["plan", str(applied), "--emulator", "--detailed-exitcode"]) == 0
    ws = _workspace(applied, use_emulator.url)
    assert len([j for j in ws.ml.jobs.list()]) == 2  # the first job stays, with its model


def test_destroy_deletes_the_endpoint(applied: Path, use_emulator: RunningEmulator) -> None:
    assert main(["destroy", str(applied), "--emulator", "--yes", "--force"]) == 0
    assert list(_workspace(applied, use_emulator.url).ml.serverless_endpoints.list()) == []


@pytest.mark.parametrize("region", ["westeurope", "swedencentral"])
def test_a_region_outside_the_catalogs_list_fails_validate_and_plan(
    region: str,
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    specs = example("phi-serverless")
    _edited(specs, region=region)
    assert main(["validate", str(specs)]) == 1
    assert "PREFLIGHT_REGION" in capsys.readouterr().err
    assert main(["plan", str(specs), "--emulator"]) == 1
    err = capsys.readouterr().err
    assert "cannot be fine-tuned serverless from region" in err and "eastus2" in err
    assert stats(use_emulator)["writes"] == 0


def test_the_emulator_refuses_a_region_outside_the_offer_too(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The service's own check, should a catalog override let a job through (Phi-3 trains
    serverless from East US 2 only)."""
    specs = example("phi-serverless")
    path = specs / "ftops.yaml"
    path.write_text(path.read_text().replace("Phi-4-mini-instruct", "Phi-3-mini-4k-instruct"))
    _edited(specs, region="westus3")
    packaged = json.loads((Path(catalog_module.__file__).parent / "catalog.json").read_text())
    [entry] = [m for m in packaged["models"] if m["id"] == "Phi-3-mini-4k-instruct"]
    entry["regions"]["value"] = ["eastus2", "westus3"]
    (specs / "catalog.json").write_text(json.dumps({"models": [entry]}))
    project = path.read_text().replace("  policy:\n", "  catalog: catalog.json\n  policy:\n", 1)
    path.write_text(project)
    code = main(["apply", str(specs), "--emulator", "--yes"])
    err = capsys.readouterr().err
    assert code == 1 and "not available in region 'westus3'" in err, err


def test_a_failed_job_is_an_error_until_retried_as_the_next_attempt(
    use_emulator: RunningEmulator,
    example,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    import httpx2 as httpx

    specs = example("phi-serverless")
    assert main(["apply", str(specs), "--emulator", "--yes"]) == 3  # training: in flight
    ws = _workspace(specs, use_emulator.url)
    [first] = [j.name for j in ws.ml.jobs.list()]
    httpx.post(f"{use_emulator.url}/_emulator/mljobs/{first}/fail").raise_for_status()
    capsys.readouterr()
    assert main(["plan", str(specs), "--emulator"]) == 1
    err = capsys.readouterr().err
    assert "FINETUNE_FAILED" in err and "the node was lost" in err and "--retry-failed" in err
    assert main(["apply", str(specs), "--emulator", "--yes", "--retry-failed", "--wait"]) == 0
    assert sorted(j.name for j in ws.ml.jobs.list()) == [first, f"{first}-2"]
    assert main(["plan", str(specs), "--emulator", "--detailed-exitcode"]) == 0
