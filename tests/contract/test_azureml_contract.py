"""The emulator's Azure ML plane and blob service, driven by the real `azure-ai-ml` and
`azure-storage-blob` clients over HTTP (through ftops's own `providers.azureml`), every response
checked against the vendored Microsoft.MachineLearningServices swagger (stable 2024-04-01).

One module-scoped scenario: a workspace and its default datastore, a cluster, data and code
asset versions, an environment, command jobs that run for real here (one that completes, one on
two instances, one cancelled while it runs), and the errors a client meets (absent resources,
an asset version registered twice with different content).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("azure.ai.ml")

from azure.core.exceptions import ResourceNotFoundError

from reconciler.emulator import server as emulator_server
from reconciler.emulator.routing import ML_MFE_SWAGGER, ML_WORKSPACE_SWAGGER
from reconciler.errors import FtopsError
from reconciler.providers.azureml import MLWorkspace, ensure_emulator_workspaces
from reconciler.specs.models import MLWorkspaceSpec
from tests.contract import swagger as sw

SPEC = MLWorkspaceSpec.model_validate(
    {
        "subscription": "00000000-0000-0000-0000-0000000000c1",
        "resourceGroup": "rg-contract",
        "workspaceName": "contract-ws",
        "region": "eastus2",
    }
)
ML = "Microsoft.MachineLearningServices"


@dataclass
class Scenario:
    url: str
    listed: list[dict[str, Any]]
    log: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def _get(url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{url}{path}", timeout=30) as reply:
        return json.loads(reply.read())


def _until_done(ws: MLWorkspace, name: str, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        job = ws.job(name)
        assert job is not None
        if not job.running:
            return job.status
        assert time.monotonic() < deadline, f"{name} still {job.status}"
        time.sleep(0.2)


def _job(name: str, command: str, inputs: dict[str, Any], **extra: Any) -> Any:
    from azure.ai.ml import Output
    from azure.ai.ml import command as command_job
    from azure.ai.ml.entities import Environment

    return command_job(
        name=name,
        command=command,
        inputs=inputs,
        outputs={
            "out": Output(
                type="uri_folder",
                path=f"azureml://datastores/workspaceblobstore/paths/contract/{name}/",
            )
        },
        environment=Environment(image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"),
        compute="cpu",
        **extra,
    )


def _drive(url: str, scenario: Scenario, tmp: Path) -> None:
    from azure.ai.ml import Input
    from azure.ai.ml.entities import Environment
    from azure.ai.ml.entities._assets import Code

    ensure_emulator_workspaces(url, {"ws": SPEC})  # Workspaces_Get 404, then CreateOrUpdate
    ws = MLWorkspace(SPEC, emulator_url=url)
    assert ws.exists()
    assert ws.ml.datastores.get("workspaceblobstore").container_name.startswith("azureml-")
    assert ws.cluster("cpu") is None
    ws.create_cluster("cpu", "Standard_D4s_v3", 2)
    cluster = ws.cluster("cpu")
    assert cluster is not None and cluster.size == "Standard_D4s_v3" and cluster.max_instances == 2

    data = tmp / "numbers.txt"
    data.write_text("1\n2\n3\n")
    assert ws.put_file(data, "contract/files/numbers.txt")
    assert not ws.put_file(data, "contract/files/numbers.txt"), "present: not uploaded again"
    uri = ws.datastore_uri("contract/files/numbers.txt")
    assert not ws.data_version("numbers", "1")
    ws.register_data("numbers", "1", uri, folder=False)
    assert ws.data_version("numbers", "1")
    assert [d.version for d in ws.ml.data.list(name="numbers")] == ["1"]
    ws.register_data("numbers", "1", uri, folder=False)  # the same again: accepted
    with pytest.raises(FtopsError) as conflict:
        ws.register_data("numbers", "1", ws.datastore_uri("contract/other.txt"), folder=False)
    scenario.facts["conflict"] = str(conflict.value)

    source = tmp / "src"
    source.mkdir()
    (source / "total.py").write_text(
        "import os, sys\n"
        "numbers = open(sys.argv[1]).read().split()\n"
        "rank = os.environ.get('RANK', '0')\n"
        "world = os.environ.get('WORLD_SIZE', '1')\n"
        "os.makedirs(sys.argv[2], exist_ok=True)\n"
        "with open(os.path.join(sys.argv[2], f'rank-{rank}.txt'), 'w') as f:\n"
        "    f.write(f\"{sum(map(int, numbers))} {rank}/{world} {os.environ['NODE_RANK']}\")\n"
    )
    ws.ml._code.create_or_update(Code(name="contract-code", version="1", path=str(source)))
    assert ws.ml._code.get("contract-code", "1").version == "1"
    ws.ml.environments.create_or_update(
        Environment(name="contract-env", version="1", image="mcr.microsoft.com/azureml/minimal")
    )
    assert ws.ml.environments.get("contract-env", version="1").image
    code_id = f"{ws.arm_id}/codes/contract-code/versions/1"
    numbers = {"numbers": Input(type="uri_file", path="azureml:numbers:1")}
    run = "python total.py ${{inputs.numbers}} ${{outputs.out}}"

    ws.submit(_job("contract-sum", run, numbers, code=code_id))
    ws.submit(_job("contract-sum", run, numbers, code=code_id))  # the same name: found, kept
    scenario.facts["sum"] = _until_done(ws, "contract-sum")
    ws.download_prefix("contract/contract-sum/", tmp / "sum")
    scenario.facts["sum_output"] = (tmp / "sum" / "rank-0.txt").read_text()

    two = _job(
        "contract-two",
        run,
        numbers,
        code=code_id,
        instance_count=2,
        distribution={"type": "pytorch", "process_count_per_instance": 1},
    )
    ws.submit(two)
    scenario.facts["two"] = _until_done(ws, "contract-two")
    ws.download_prefix("contract/contract-two/", tmp / "two")
    scenario.facts["two_outputs"] = sorted(p.read_text() for p in (tmp / "two").glob("*.txt"))

    ws.submit(_job("contract-sleep", "sleep 600", {}, code=code_id))
    deadline = time.monotonic() + 60
    while (job := ws.job("contract-sleep")) is not None and job.status != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ws.cancel("contract-sleep")
    scenario.facts["cancelled"] = _until_done(ws, "contract-sleep")
    scenario.facts["failing"] = _failing_job(ws, code_id)
    scenario.facts["jobs"] = sorted(j.name for j in ws.ml.jobs.list())
    for missing in (lambda: ws.ml.jobs.get("absent"), lambda: ws.ml.data.get("absent", "1")):
        with pytest.raises(ResourceNotFoundError):
            missing()


def _drive_serverless(url: str, scenario: Scenario, tmp: Path) -> None:
    """Models as a service through ftops's HubProvider: a data asset, a FineTuning job (and one
    the service refuses), its registered model, and a serverless endpoint that answers."""
    from reconciler.plans import Address, DeploymentTarget, Kind, Reason, TrainJob, Why
    from reconciler.providers.hub import HubProvider
    from reconciler.specs.models import Method, Sku

    hub = HubProvider({"hub": SPEC}, project="contract", emulator_url=url, root=tmp)
    ws = MLWorkspace(SPEC, emulator_url=url)
    data = tmp / "travel.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    filename = "contract.travel.0123456789abcdef.jsonl"
    file_id = hub.upload_file("hub", filename, data)

    def job(model: str) -> TrainJob:
        return TrainJob(
            address=Address(kind=Kind.FINETUNE, account="hub", name="travel"),
            reason=Reason(why=Why.NEW),
            fine_tune="travel",
            suffix="travel-0123abcd",
            base_model=model,
            training_file=filename,
            file_ids={filename: file_id},
            method=Method(),
            key="0123abcd" * 8,
            project="contract",
        )

    with pytest.raises(FtopsError) as refused:
        hub.create_job("hub", job("gpt-4o"))
    scenario.facts["serverless_refused"] = str(refused.value)
    hub.create_job("hub", job("Phi-4-mini-instruct"))
    scenario.facts["serverless_queued"] = hub.read_account("hub").jobs[0].status
    urllib.request.urlopen(
        urllib.request.Request(
            f"{url}/_emulator/clock",
            data=b'{"advance_seconds": 7200}',
            method="POST",
            headers={"Content-Type": "application/json"},
        ),
        timeout=30,
    ).read()
    [trained] = hub.read_account("hub").jobs
    scenario.facts["serverless_trained"] = (trained.status, trained.fine_tuned_model)
    model = ws.ml.models.get("travel-0123abcd", version="1")
    scenario.facts["serverless_model_job"] = model.job_name
    assert [m.version for m in ws.ml.models.list(name="travel-0123abcd")] == ["1"]
    target = DeploymentTarget(
        name="travel",
        model=trained.fine_tuned_model,
        model_version="1",
        sku=Sku(name="Consumption"),
        project="contract",
        key="k" * 16,
    )
    hub.put_deployment("hub", target)
    scenario.facts["serverless_endpoints"] = [d.name for d in hub.read_account("hub").deployments]
    scenario.facts["serverless_answer"] = hub.complete(
        "hub", "travel", [{"role": "user", "content": "Lisbon?"}]
    )
    assert ws.ml.serverless_endpoints.get("travel").model_id == trained.fine_tuned_model
    hub.delete_deployment("hub", "travel")
    scenario.facts["serverless_after_delete"] = list(ws.ml.serverless_endpoints.list())


ECHO_SCORE = """
import json, os, pathlib

def init():
    global weights
    weights = (pathlib.Path(os.environ["AZUREML_MODEL_DIR"]) / "weights.txt").read_text()

def run(raw):
    return {"echo": json.loads(raw), "weights": weights}
"""


def _drive_online(url: str, scenario: Scenario) -> None:
    """A managed online endpoint through azure-ai-ml alone: a model and a code asset in the
    datastore, the endpoint and a deployment as long-running operations, traffic, a scoring
    request answered by the deployment's own scoring script, then the deletes."""
    from azure.ai.ml.entities import (
        CodeConfiguration,
        Environment,
        ManagedOnlineDeployment,
        ManagedOnlineEndpoint,
    )

    ws = MLWorkspace(SPEC, emulator_url=url)
    ws.container.upload_blob("online/model/weights.txt", b"42", overwrite=True)
    ws.container.upload_blob("online/code/score.py", ECHO_SCORE.encode(), overwrite=True)
    ws.register_model("echo", "1", ws.datastore_uri("online/model/"), {"origin": "contract"})
    ws.register_code("echo-code", "1", ws.datastore_uri("online/code/"))
    ws.register_environment(Environment(name="echo-env", version="1", image="python:3.11"))
    ml = ws.ml
    endpoint = ManagedOnlineEndpoint(name="echo", auth_mode="key", tags={"origin": "contract"})
    ws.wait(lambda: ml.online_endpoints.begin_create_or_update(endpoint).result(), "create")

    def deploy(name: str, model: str, instances: int) -> None:
        deployment = ManagedOnlineDeployment(
            name=name,
            endpoint_name="echo",
            model=model,
            environment="azureml:echo-env:1",
            code_configuration=CodeConfiguration(
                code=f"{ws.arm_id}/codes/echo-code/versions/1", scoring_script="score.py"
            ),
            instance_type="Standard_DS3_v2",
            instance_count=instances,
        )
        ws.wait(lambda: ml.online_deployments.begin_create_or_update(deployment).result(), name)

    with pytest.raises(FtopsError) as refused:  # a model that is not registered
        deploy("bad", f"{ws.arm_id}/models/absent/versions/1", 1)
    scenario.facts["online_refused"] = str(refused.value)
    deploy("blue", "azureml:echo:1", 2)
    endpoint = ml.online_endpoints.get("echo")
    endpoint.traffic = {"blue": 100}
    ws.wait(lambda: ml.online_endpoints.begin_create_or_update(endpoint).result(), "route")
    found = ml.online_endpoints.get("echo")
    scenario.facts["online_state"] = (found.provisioning_state, found.traffic)
    scenario.facts["online_deployments"] = [
        (d.name, d.instance_count, d.provisioning_state) for d in ml.online_deployments.list("echo")
    ]
    keys = ml.online_endpoints.get_keys("echo")
    request = urllib.request.Request(
        str(found.scoring_uri),
        data=b'{"messages": [{"role": "user", "content": "hi"}]}',
        headers={"Authorization": f"Bearer {keys.primary_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        scenario.facts["online_answer"] = json.loads(reply.read())
    endpoint.traffic = {"blue": 0}
    ws.wait(lambda: ml.online_endpoints.begin_create_or_update(endpoint).result(), "unroute")
    ws.wait(lambda: ml.online_deployments.begin_delete("blue", "echo").result(), "delete")
    scenario.facts["online_after_deployment_delete"] = list(ml.online_deployments.list("echo"))
    ws.wait(lambda: ml.online_endpoints.begin_delete("echo").result(), "delete")
    scenario.facts["online_after_delete"] = [e.name for e in ml.online_endpoints.list()]


def _drive_blobs(url: str, scenario: Scenario) -> None:
    """The embedded blob service through azure-storage-blob alone: blocks, ranges, deletes."""
    from azure.core.credentials import AzureSasCredential
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient(
        f"{url}/blob/scratchaccount",
        credential=AzureSasCredential("sv=2025-01-05&sig=test"),
        max_single_put_size=1024,  # force Put Block + Put Block List
        max_block_size=1024,
    )
    container = service.create_container("scratch")
    with pytest.raises(ResourceExistsError):
        service.create_container("scratch")
    payload = bytes(range(256)) * 20  # 5,120 bytes: five blocks
    container.upload_blob("dir/big.bin", payload, metadata={"origin": "contract"})
    blob = container.get_blob_client("dir/big.bin")
    scenario.facts["blob_whole"] = blob.download_blob().readall() == payload
    scenario.facts["blob_range"] = blob.download_blob(offset=1000, length=100).readall()
    scenario.facts["blob_metadata"] = blob.get_blob_properties().metadata
    scenario.facts["blob_listed"] = [b.name for b in container.list_blobs(name_starts_with="dir/")]
    blob.delete_blob()
    scenario.facts["blob_deleted"] = not blob.exists()


def _failing_job(ws: MLWorkspace, code_id: str) -> tuple[str, str | None]:
    ws.submit(_job("contract-fails", "python -c 'raise SystemExit(7)'", {}, code=code_id))
    status = _until_done(ws, "contract-fails")
    job = ws.job("contract-fails")
    return status, job.error if job else None


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = Path(tmp_path_factory.mktemp("azureml-contract"))
    emu = emulator_server.start_background(state=tmp / "emulator.sqlite", record_bodies=True)
    try:
        listed = _get(emu.url, "/_emulator/operations")["operations"]
        result = Scenario(emu.url, listed)
        result.facts["state"] = str(tmp / "emulator.sqlite")
        _drive(emu.url, result, tmp)
        _drive_serverless(emu.url, result, tmp)
        _drive_online(emu.url, result)
        _drive_blobs(emu.url, result)
        log = _get(emu.url, "/_emulator/requests")["requests"]
        planes = ("/blob/", "/serverless/", "/online/")
        result.log = [e for e in log if ML in e["path"] or e["path"].startswith(planes)]
        yield result
    finally:
        emu.stop()


def _ml_routes(scenario: Scenario, *, swagger: bool = True) -> list[dict[str, Any]]:
    """The Azure ML routes; with `swagger`, those that are operations of the swagger (not the
    long-running operations' status routes, which follow ARM's convention)."""
    routes = [e for e in scenario.listed if ML in str(e.get("path", ""))]
    return [r for r in routes if bool(r["swagger"]) or not swagger]


def test_jobs_run_here_complete_fail_and_cancel(scenario: Scenario) -> None:
    facts = scenario.facts
    assert facts["sum"] == "Completed" and facts["sum_output"] == "6 0/1 0"
    assert facts["two"] == "Completed"
    assert facts["two_outputs"] == ["6 0/2 0", "6 1/2 1"]  # one process per instance
    assert facts["cancelled"] == "Canceled"
    status, error = facts["failing"]
    assert status == "Failed" and error and "exited with 7" in error
    assert facts["jobs"] == ["contract-fails", "contract-sleep", "contract-sum", "contract-two"]
    assert "already exists with different content" in facts["conflict"]


def test_serverless_fine_tuning_registers_a_model_that_an_endpoint_serves(
    scenario: Scenario,
) -> None:
    facts = scenario.facts
    assert "cannot be fine-tuned serverless" in facts["serverless_refused"]
    # Read right after submitting: queued, or already running on a slow machine (the simulated
    # clock runs 300 times faster than this one), never done before the clock is advanced.
    assert facts["serverless_queued"] in ("queued", "running")
    status, model = facts["serverless_trained"]
    assert status == "succeeded"
    assert model.startswith("azureml://locations/eastus2/workspaces/")
    assert model.endswith("/models/travel-0123abcd/versions/1")
    assert facts["serverless_model_job"] == "travel-0123abcd"
    assert facts["serverless_endpoints"] == ["travel"]
    assert "Lisbon?" in facts["serverless_answer"]
    assert facts["serverless_after_delete"] == []


def test_the_blob_service_answers_the_blob_client(scenario: Scenario) -> None:
    facts = scenario.facts
    assert facts["blob_whole"] is True
    assert facts["blob_range"] == (bytes(range(256)) * 20)[1000:1100]
    assert facts["blob_metadata"] == {"origin": "contract"}
    assert facts["blob_listed"] == ["dir/big.bin"]
    assert facts["blob_deleted"] is True


def test_an_online_endpoint_serves_through_its_scoring_script(scenario: Scenario) -> None:
    facts = scenario.facts
    assert "Model absent:1 was not found" in facts["online_refused"]
    assert facts["online_state"] == ("Succeeded", {"blue": 100})
    assert facts["online_deployments"] == [("blue", 2, "Succeeded")]
    answer = facts["online_answer"]  # init() read the model folder; run() got the body
    assert answer == {"echo": {"messages": [{"role": "user", "content": "hi"}]}, "weights": "42"}
    assert facts["online_after_deployment_delete"] == []
    assert facts["online_after_delete"] == []


def test_a_cancelled_job_leaves_no_process(scenario: Scenario) -> None:
    import sqlite3

    with sqlite3.connect(scenario.facts["state"]) as db:
        [(body,)] = db.execute(
            "SELECT body FROM ml_resources WHERE kind = 'run' AND name = 'contract-sleep'"
        ).fetchall()
    pid = int(json.loads(body)["pid"])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"the cancelled job's launcher {pid} still runs"


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is this process's child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_every_ml_route_is_exercised(scenario: Scenario) -> None:
    ok = {e["operation"] for e in scenario.log if 200 <= int(e["status"]) < 300}
    missing = sorted({r["operation"] for r in _ml_routes(scenario, swagger=False)} - ok)
    blob = {r["operation"] for r in scenario.listed if r.get("plane") in ("blob", "serverless")}
    assert not missing, f"listed but never answered with success: {missing}"
    assert blob - ok == set(), f"blob or endpoint routes never exercised: {sorted(blob - ok)}"


def test_ml_routes_are_operations_of_the_vendored_swagger(scenario: Scenario) -> None:
    problems = []
    for route in _ml_routes(scenario):
        [rel] = route["swagger"]
        assert rel in (ML_MFE_SWAGGER, ML_WORKSPACE_SWAGGER)
        doc = sw.swagger(rel)
        op = route["operation"]
        if op not in doc.operations:
            problems.append(f"{op} is not in {rel}")
        elif doc.operation(op).method != route["method"].upper():
            problems.append(f"{op}: {route['method']} != {doc.operation(op).method}")
        elif _template(doc.operation(op).path) != _template(route["swagger_path"]):
            problems.append(f"{op}: {route['swagger_path']} != {doc.operation(op).path}")
    assert not problems, problems


def _template(path: str) -> str:
    import re

    return re.sub(r"\{[^}]+\}", "{}", path).lower()


ML_PREVIEW_MFE = ML_MFE_SWAGGER.replace("stable/2024-04-01", "preview/2024-04-01-preview")


def _contract_of(stable: str, body: Any) -> str:
    """FineTuning jobs are defined in the preview contract only: their bodies are checked
    against it (lists of jobs too, whose other jobs it defines as well)."""
    return ML_PREVIEW_MFE if '"FineTuning"' in json.dumps(body) else stable


def test_every_ml_response_follows_the_swagger(scenario: Scenario) -> None:
    routes = {r["operation"]: r for r in _ml_routes(scenario)}
    checked, drift = 0, []
    for entry in scenario.log:
        op = entry.get("operation")
        if op not in routes:
            continue
        status, body = int(entry["status"]), entry.get("response_body")
        body = json.loads(body) if isinstance(body, str) else body
        doc = sw.swagger(_contract_of(routes[op]["swagger"][0], body))
        errors = doc.validate_response(op, status, body, strict_enums=True)
        if status >= 400:
            errors += sw.arm_error_validator().errors(body)
        checked += 1
        drift += [f"{entry['method']} {entry['path']} → {status} ({op}): {e}" for e in errors]
    assert checked >= 30, f"only {checked} Azure ML responses were checked"
    assert not drift, "\n".join(drift[:20])
