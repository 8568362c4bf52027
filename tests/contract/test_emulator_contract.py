"""The emulator against the official contracts: every operation it serves, driven by the real SDKs.

One scenario (module-scoped, one emulator) drives ``openai.AzureOpenAI`` at both data-plane
api-versions, ``openai.OpenAI`` on the v1 API (``/{account}/openai/v1``, no api-version) and
``CognitiveServicesManagementClient`` through every operation the emulator lists in
``/_emulator/operations``; the tests then read ``/_emulator/requests`` and check that

* every listed operation was exercised, successfully, at every api-version it is listed for;
* every recorded response body matches the schema of its operation and status in its contract:
  the versioned swaggers, the v1 spec (OpenAPI 3.0, through swagger.from_openapi3) for the v1
  routes (binary bodies skipped; ARM async-operation status bodies against the ARM RPC shape);
* where the emulator serves more than a contract describes, only the deviations named below
  (V1_OUTSIDE_THE_SPEC, V1_CHAT_BY_DEPLOYMENT, CHECKED_AGAINST_V1, V1_WIDENINGS) are let through,
  and each of them is still needed;
* error bodies follow ErrorResponse (data plane, ErrorCode values) / common-types (ARM);
* every official ``x-ms-examples`` request body is accepted and answered in the documented shape.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import openai
import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.cognitiveservices import models as arm_models

from reconciler.emulator import server as emulator_server
from tests.contract import swagger as sw
from tests.helpers import SUBSCRIPTION, arm_client, openai_client

RG = "rg-contract"
ACCOUNT = "acct-contract"
SPARE_ACCOUNT = "acct-spare"
LOCATION = "eastus2"
STABLE = "2024-10-21"
PREVIEW = "2025-04-01-preview"
V1 = sw.V1
CHAT = "ChatCompletions_Create"
ARM_VERSION = "2025-09-01"
ACCOUNT_PREFIX = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.CognitiveServices"
    f"/accounts"
)

#: The emulator's operationId (Azure's swagger names, on every route) → the v1 spec's (OpenAI's
#: names): a v1 answer is checked against the v1 spec's operation of that name.
V1_OPERATION_IDS = {
    "Files_List": "listFiles",
    "Files_Upload": "createFile",
    "Files_Get": "retrieveFile",
    "Files_Delete": "deleteFile",
    "Files_GetContent": "downloadFile",
    "FineTuning_List": "listPaginatedFineTuningJobs",
    "FineTuning_Create": "createFineTuningJob",
    "FineTuning_Get": "retrieveFineTuningJob",
    "FineTuning_Cancel": "cancelFineTuningJob",
    "FineTuning_GetEvents": "listFineTuningEvents",
    "FineTuning_GetCheckpoints": "listFineTuningJobCheckpoints",
    "FineTuning_Pause": "pauseFineTuningJob",
    "FineTuning_Resume": "resumeFineTuningJob",
    "FineTuning_ValidateGrader": "validateGrader",
    "Models_List": "listModels",
    "Models_Get": "retrieveModel",
    "ChatCompletions_Create": "createChatCompletion",
}

# --- The explicit deviations: where the emulator serves more than its official contract -------
#
# Each is named here with its reason and source; anything else that does not match fails.

#: v1 routes the v1 spec has no operation for. The emulator keeps serving them as the versioned
#: API does, and their answers are checked against the 2025-04-01-preview swagger's operation of
#: the same operationId (the only official description).
V1_OUTSIDE_THE_SPEC = {
    # The Uploads API: absent from the v1 spec's paths (and from the v1 preview spec's tags);
    # documented only by the 2025-04-01-preview swagger (/uploads...). The SDK's
    # `client.uploads` sends it to the v1 base URL.
    "UploadFile_Start": "Uploads API not in the v1 spec (2025-04-01-preview swagger only)",
    "UploadFile_Part": "Uploads API not in the v1 spec (2025-04-01-preview swagger only)",
    "UploadFile_Complete": "Uploads API not in the v1 spec (2025-04-01-preview swagger only)",
    "UploadFile_Cancel": "Uploads API not in the v1 spec (2025-04-01-preview swagger only)",
    # Azure's blob import: Files_Import in both versioned swaggers, not in the v1 spec.
    "Files_Import": "POST /files/import not in the v1 spec (versioned swaggers only)",
    # Azure's job delete: FineTuning_Delete in both versioned swaggers, not in the v1 spec.
    "FineTuning_Delete": "DELETE /fine_tuning/jobs/{id} not in the v1 spec (versioned only)",
}
#: v1's chat at the versioned path (`/deployments/{id}/chat/completions`): not a v1 operation (v1
#: names the deployment in the body, /chat/completions); checked like the versioned one, by the
#: hand-written subset of the inference spec (sw.CHAT_COMPLETION_RESPONSE).
V1_CHAT_BY_DEPLOYMENT = "/deployments/{}/chat/completions"

#: Operations the versioned swaggers lack, checked against the v1 spec's operation instead.
CHECKED_AGAINST_V1 = {
    # OpenAI's grader validation: in neither versioned swagger; Azure serves it with the
    # preview's features (reconciler/emulator/graders.py). v1's validateGrader is its contract.
    "FineTuning_ValidateGrader": "validateGrader",
}

#: Where the v1 spec is narrower than what Azure is documented to do: its schemas, widened.
V1_WIDENINGS = (
    # Job states. The v1 spec lists OpenAI's six (validating_files, queued, running, succeeded,
    # failed, cancelled) although v1 has pause and resume; Azure's job states are its
    # FineTuningState (2025-04-01-preview swagger: pending, running, pausing, paused, resuming,
    # succeeded, cancelled, failed), and the emulator keeps them on v1 (it never says `queued`
    # for `pending`): of those outside OpenAI's six, it answers these three.
    sw.Widening(
        "/definitions/OpenAI.FineTuningJob/properties/status",
        {"enum": ["pending", "paused", "resuming"]},
        "Azure's FineTuningState (2025-04-01-preview swagger); pause/resume are v1 operations",
    ),
    # A python grader in method.reinforcement: the v1 job schema (AzureFineTuneReinforcementMethod)
    # allows string_check, text_similarity, score_model and multi only, but Learn's RFT page
    # (how-to/reinforcement-fine-tuning) documents python graders for RFT jobs, and the same spec's
    # validateGrader / runGrader accept OpenAI.GraderPython.
    sw.Widening(
        "/definitions/AzureFineTuneReinforcementMethod/properties/grader",
        {"$ref": "#/definitions/OpenAI.GraderPython"},
        "python graders in RFT jobs (Learn: how-to/reinforcement-fine-tuning)",
    ),
    # An empty file list: AzureListFilesResponse requires first_id and last_id as strings, which
    # no id of an empty page can be; the emulator answers null there, as OpenAI does.
    sw.Widening(
        "/definitions/AzureListFilesResponse/properties/first_id",
        {"type": "null"},
        "an empty page has no first id",
    ),
    sw.Widening(
        "/definitions/AzureListFilesResponse/properties/last_id",
        {"type": "null"},
        "an empty page has no last id",
    ),
)
V1_DOC = sw.SwaggerDoc(sw.V1_SPEC, widenings=V1_WIDENINGS)


def _training_jsonl(n: int = 12) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You answer briefly."},
                    {"role": "user", "content": f"What is {i} plus {i}?"},
                    {"role": "assistant", "content": str(2 * i)},
                ]
            }
        )
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


#: A reinforcement-capable base model of the emulator's catalog, and a grader only v1's schemas
#: for graders (validateGrader) name; in an RFT job it is a listed deviation (V1_WIDENINGS).
RFT_MODEL = "o4-mini-2025-04-16"
PYTHON_GRADER: Any = {
    "type": "python",
    "name": "exact",
    "source": "def grade(sample, item):\n"
    "    return float(sample['output_text'] == item['answer'])\n",
}


def _rft_jsonl(n: int = 10) -> bytes:
    """RFT examples: the last message is the user's, the reference is a field of the item."""
    lines = [
        json.dumps(
            {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}
        )
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


# --------------------------------------------------------------------------------------------------
# The scenario


@dataclass
class RawAnswer:
    what: str
    operation: str
    doc: sw.SwaggerDoc
    request: Any
    status: int
    body: Any
    expected_statuses: tuple[str, ...]
    echo: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    url: str
    listed: list[dict[str, Any]]
    log: list[dict[str, Any]] = field(default_factory=list)
    raw: list[RawAnswer] = field(default_factory=list)
    verbatim: list[RawAnswer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def listed_ops(self) -> set[str]:
        return {op["operation"] for op in self.listed}


def _control(url: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(
        url + path,
        data=data,
        method="GET" if payload is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
    return json.loads(text) if text else None


def _advance(url: str, seconds: float) -> None:
    _control(url, "/_emulator/clock", {"advance_seconds": seconds})


def _until(url: str, probe: Callable[[], Any], done: Callable[[Any], bool], step: float) -> Any:
    """Advance simulated time by ``step`` s until ``done(probe())`` (bounded, fast in wall time)."""
    value = probe()
    for _ in range(60):
        if done(value):
            return value
        _advance(url, step)
        value = probe()
    raise AssertionError(f"never reached the expected state; last: {value!r:.500}")


def _status(obj: Any) -> str:
    return str(getattr(obj, "status", None))


def _raw_openai(client: openai.OpenAI, method: str, path: str, body: Any) -> tuple[int, Any]:
    try:
        if method == "delete":
            resp = client.delete(path, cast_to=httpx2.Response)
        else:
            resp = client.post(path, body=body, cast_to=httpx2.Response)
    except openai.APIStatusError as exc:
        resp = exc.response
    try:
        parsed = resp.json()
    except ValueError:
        parsed = None
    return resp.status_code, parsed


def _raw_arm(arm: Any, method: str, path: str, body: Any) -> tuple[int, Any]:
    request = HttpRequest(method, path, params={"api-version": ARM_VERSION}, json=body)
    resp = arm._send_request(request)
    try:
        parsed = resp.json()
    except ValueError:
        parsed = None
    return resp.status_code, parsed


class _BlobServer(http.server.BaseHTTPRequestHandler):
    """A stand-in for the blob a Files_Import content_url points at (the emulator fetches only
    from loopback)."""

    def do_GET(self) -> None:  # http.server's naming
        body = _training_jsonl()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


BLOB_URL = ""


def _drive(url: str, scenario: Scenario) -> None:
    listed = scenario.listed_ops()
    arm = arm_client(url, SUBSCRIPTION)
    clients: dict[str, openai.OpenAI] = {
        v: openai_client(url, ACCOUNT, api_version=v) for v in (STABLE, PREVIEW)
    }
    # The v1 API as Azure documents it: the plain OpenAI client, no api-version.
    clients[V1] = openai.OpenAI(
        base_url=f"{url}/{ACCOUNT}/openai/v1", api_key="test-key", max_retries=0
    )
    stable, preview, v1 = clients[STABLE], clients[PREVIEW], clients[V1]
    paused_capable = {PREVIEW: preview, V1: v1}  # pause/resume, uploads, graders: preview and v1

    # ---- ARM accounts -------------------------------------------------------------------------
    for name in (ACCOUNT, SPARE_ACCOUNT):
        arm.accounts.begin_create(
            RG,
            name,
            arm_models.Account(
                location=LOCATION,
                kind="OpenAI",
                sku=arm_models.Sku(name="S0"),
                properties=arm_models.AccountProperties(custom_sub_domain_name=name),
            ),
        ).result()
    arm.accounts.get(RG, ACCOUNT)
    list(arm.accounts.list_by_resource_group(RG))
    list(arm.accounts.list())
    arm.accounts.list_keys(RG, ACCOUNT)
    if "Accounts_RegenerateKey" in listed:
        arm.accounts.regenerate_key(
            RG, SPARE_ACCOUNT, arm_models.RegenerateKeyParameters(key_name="Key2")
        )
    if "Accounts_ListModels" in listed:
        list(arm.accounts.list_models(RG, ACCOUNT))
    if "Accounts_ListSkus" in listed:
        arm.accounts.list_skus(RG, ACCOUNT)
    if "Accounts_ListUsages" in listed:
        arm.accounts.list_usages(RG, ACCOUNT)
    if "Models_List" in listed:  # the ARM catalog per location (name clash with the data plane)
        list(arm.models.list(LOCATION))
    if "Accounts_Update" in listed:
        arm.accounts.begin_update(
            RG, SPARE_ACCOUNT, arm_models.Account(tags={"team": "contract"})
        ).result()

    # ---- data plane: models ----------------------------------------------------------------
    base_models = [m.model_dump() for m in stable.models.list()]
    for client in clients.values():
        listed_models = [m.id for m in client.models.list()]
        client.models.retrieve(listed_models[0])
    tunable = [m["id"] for m in base_models if m.get("capabilities", {}).get("fine_tune")]
    assert tunable, "the emulator lists no fine-tunable base model"
    base_model = tunable[0]

    # ---- data plane: files ---------------------------------------------------------------------
    uploaded: dict[str, str] = {}
    for version, client in clients.items():
        f = client.files.create(file=("train.jsonl", _training_jsonl(), "application/jsonl"),
                                purpose="fine-tune")  # fmt: skip
        uploaded[version] = f.id
    rft_file = v1.files.create(file=("rft.jsonl", _rft_jsonl(), "application/jsonl"),
                               purpose="fine-tune").id  # fmt: skip
    _until(url, lambda: [stable.files.retrieve(i) for i in [*uploaded.values(), rft_file]],
           lambda fs: all(_status(f) in ("processed", "error") for f in fs), 60)  # fmt: skip
    for client in clients.values():
        list(client.files.list())
        client.files.retrieve(uploaded[STABLE])
        client.files.content(uploaded[STABLE]).read()
    assert list(v1.files.list(purpose="batch")) == []  # an empty page (see V1_WIDENINGS)
    for version, client in clients.items():
        _raw_openai(client, "post", "/files/import", {
            "purpose": "fine-tune", "filename": f"imported-{version}.jsonl",
            "content_url": f"{BLOB_URL}/trainingdata/imported.jsonl",
        })  # fmt: skip
    versions = list(clients)
    for version, client in clients.items():  # each deletes a file another version uploaded
        other = clients[versions[(versions.index(version) + 1) % len(versions)]]
        throwaway = other.files.create(file=("x.jsonl", _training_jsonl(), "application/jsonl"),
                                       purpose="fine-tune")  # fmt: skip
        client.files.delete(throwaway.id)
    training_file = uploaded[STABLE]

    # ---- data plane: fine-tuning jobs ----------------------------------------------------------
    job = stable.fine_tuning.jobs.create(model=base_model, training_file=training_file,
                                         suffix="contract", seed=7)  # fmt: skip
    job = _until(url, lambda: stable.fine_tuning.jobs.retrieve(job.id),
                 lambda j: _status(j) in ("succeeded", "failed", "cancelled"), 900)  # fmt: skip
    assert _status(job) == "succeeded", job
    fine_tuned_model = job.fine_tuned_model
    assert fine_tuned_model
    for client in clients.values():
        list(client.fine_tuning.jobs.list())
        client.fine_tuning.jobs.retrieve(job.id)
        list(client.fine_tuning.jobs.list_events(job.id))
        list(client.fine_tuning.jobs.checkpoints.list(job.id))
        client.models.retrieve(fine_tuned_model)
    for fid in job.result_files or []:
        stable.files.retrieve(fid)
        stable.files.content(fid).read()

    cancelled = {}
    for version, client in clients.items():
        j = client.fine_tuning.jobs.create(model=base_model, training_file=training_file)
        cancelled[version] = client.fine_tuning.jobs.cancel(j.id)

    # pause / resume (preview and v1) on a running job
    for version, client in paused_capable.items():
        _pause_and_resume(url, scenario, client, version, base_model, uploaded[version])

    for version, client in clients.items():
        _raw_openai(client, "delete", f"/fine_tuning/jobs/{cancelled[version].id}", None)

    for client in paused_capable.values():
        _drive_uploads(client)
        client.fine_tuning.alpha.graders.validate(grader=PYTHON_GRADER)

    # an RFT job graded by Python (v1; see V1_WIDENINGS), after the versioned job lists
    rft_method: Any = {"type": "reinforcement", "reinforcement": {"grader": PYTHON_GRADER}}
    rft = v1.fine_tuning.jobs.create(model=RFT_MODEL, training_file=rft_file, method=rft_method)
    v1.fine_tuning.jobs.cancel(rft.id)

    # ---- ARM deployments + chat ----------------------------------------------------------------
    deployment = arm_models.Deployment(
        sku=arm_models.Sku(name="Standard", capacity=1),
        properties=arm_models.DeploymentProperties(
            model=arm_models.DeploymentModel(format="OpenAI", name=fine_tuned_model, version="1")
        ),
    )
    arm.deployments.begin_create_or_update(RG, ACCOUNT, "ft-dep", deployment).result()
    arm.deployments.get(RG, ACCOUNT, "ft-dep")
    list(arm.deployments.list(RG, ACCOUNT))
    list(arm.deployments.list_skus(RG, ACCOUNT, "ft-dep"))
    arm.deployments.begin_update(
        RG, ACCOUNT, "ft-dep",
        arm_models.PatchResourceTagsAndSku(sku=arm_models.Sku(name="Standard", capacity=2)),
    ).result()  # fmt: skip
    _until(url, lambda: arm.deployments.get(RG, ACCOUNT, "ft-dep"),
           lambda d: d.properties.provisioning_state in ("Succeeded", "Failed"), 30)  # fmt: skip
    messages = [{"role": "user", "content": "What is 2 plus 2?"}]
    for client in clients.values():  # v1: /chat/completions, the deployment named by `model`
        client.chat.completions.create(model="ft-dep", messages=messages)  # type: ignore[arg-type]
    _raw_openai(v1, "post", "/deployments/ft-dep/chat/completions", {"messages": messages})
    arm.deployments.begin_delete(RG, ACCOUNT, "ft-dep").result()

    # ---- errors ----------------------------------------------------------------------------------
    for client in clients.values():
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve("file-00000000000000000000000000000000")
        with pytest.raises(openai.NotFoundError):
            client.fine_tuning.jobs.retrieve("ftjob-00000000000000000000000000000000")
        with pytest.raises(openai.APIStatusError):
            client.fine_tuning.jobs.create(model=base_model, training_file="file-nope")
    with pytest.raises(HttpResponseError):
        arm.deployments.get(RG, ACCOUNT, "no-such-deployment")
    with pytest.raises(HttpResponseError):
        arm.accounts.get(RG, "no-such-account")

    # ---- the official example request bodies --------------------------------------------------
    _send_examples(url, scenario, arm, clients, base_model, training_file)

    # ---- account deletion last ----------------------------------------------------------------
    if "Accounts_Delete" in listed:
        arm.accounts.begin_delete(RG, SPARE_ACCOUNT).result()


def _pause_and_resume(
    url: str, scenario: Scenario, client: openai.OpenAI, version: str, model: str, file: str
) -> None:
    j = client.fine_tuning.jobs.create(
        model=model, training_file=file,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )  # fmt: skip
    j = _until(url, lambda: client.fine_tuning.jobs.retrieve(j.id),
               lambda x: _status(x) != "pending", 30)  # fmt: skip
    if _status(j) != "running":
        scenario.notes.append(f"pause/resume@{version}: job never ran (status {_status(j)})")
        return
    client.fine_tuning.jobs.pause(j.id)
    _until(url, lambda: client.fine_tuning.jobs.retrieve(j.id),
           lambda x: _status(x) in ("paused", "failed", "cancelled"), 30)  # fmt: skip
    client.fine_tuning.jobs.resume(j.id)
    client.fine_tuning.jobs.cancel(j.id)


def _drive_uploads(client: openai.OpenAI) -> None:
    """UploadFile_Start, _Part (twice), _Complete (with md5) and _Cancel (preview and v1)."""
    content = _training_jsonl()
    upload = client.uploads.create(bytes=len(content), filename="parts.jsonl",
                                   mime_type="application/jsonl", purpose="fine-tune")  # fmt: skip
    half = len(content) // 2
    parts = [client.uploads.parts.create(upload.id, data=piece)
             for piece in (content[:half], content[half:])]  # fmt: skip
    done = client.uploads.complete(upload.id, part_ids=[p.id for p in parts],
                                   md5=hashlib.md5(content).hexdigest())  # fmt: skip
    assert done.status == "completed" and done.file and done.file.bytes == len(content), done
    spare = client.uploads.create(bytes=1, filename="spare.jsonl",
                                  mime_type="application/jsonl", purpose="fine-tune")  # fmt: skip
    assert client.uploads.cancel(spare.id).status == "cancelled"


def _send_examples(
    url: str,
    scenario: Scenario,
    arm: Any,
    clients: dict[str, openai.OpenAI],
    base_model: str,
    training_file: str,
) -> None:
    """Send every official example request body; ids of other resources are mapped to live ones."""
    docs = {STABLE: sw.swagger(sw.DATA_PLANE_SWAGGERS[STABLE]),
            PREVIEW: sw.swagger(sw.DATA_PLANE_SWAGGERS[PREVIEW])}  # fmt: skip
    arm_doc = sw.swagger(sw.ARM_SWAGGERS[ARM_VERSION])
    deployable = _deployable_base_model(arm)
    n = 0
    for version, doc in docs.items():
        for ex in doc.examples():
            body = ex.request_body
            if body is None:
                continue
            op = doc.operation(ex.operation_id)
            path = op.path
            mapped = copy.deepcopy(body)
            if ex.operation_id == "FineTuning_Create":
                mapped["model"] = base_model
                mapped["training_file"] = training_file
                if "validation_file" in mapped:
                    mapped["validation_file"] = training_file
            if ex.operation_id == "Files_Import":
                mapped["content_url"] = BLOB_URL + urlsplit(mapped["content_url"]).path
            status, answer = _raw_openai(clients[version], op.method.lower(), path, mapped)
            scenario.raw.append(RawAnswer(
                ex.name, ex.operation_id, doc, mapped, status, answer,
                tuple(s for s in ex.data["responses"] if s != "default"), _echo(ex, mapped),
            ))  # fmt: skip
            status, answer = _raw_openai(clients[version], op.method.lower(), path, body)
            scenario.verbatim.append(RawAnswer(
                ex.name, ex.operation_id, doc, body, status, answer,
                tuple(s for s in ex.data["responses"] if s != "default"),
            ))  # fmt: skip
    for ex in arm_doc.examples():
        body = ex.request_body
        if body is None:
            continue
        n += 1
        name = f"example-{n}"
        path = f"{ACCOUNT_PREFIX}/{ACCOUNT}/deployments/{name}"
        if ex.operation_id == "Deployments_Update":
            # the PATCH example needs an existing deployment
            arm.deployments.begin_create_or_update(
                RG, ACCOUNT, name,
                arm_models.Deployment(
                    sku=arm_models.Sku(name="Standard", capacity=1),
                    properties=arm_models.DeploymentProperties(model=arm_models.DeploymentModel(
                        format="OpenAI", name=deployable[0], version=deployable[1])),
                ),
            ).result()  # fmt: skip
        mapped = copy.deepcopy(body)
        model = mapped.get("properties", {}).get("model")
        if model:
            model["name"], model["version"] = deployable
        method = arm_doc.operation(ex.operation_id).method
        status, answer = _raw_arm(arm, method, path, mapped)
        scenario.raw.append(RawAnswer(
            ex.name, ex.operation_id, arm_doc, mapped, status, answer,
            tuple(s for s in ex.data["responses"] if s != "default"), _echo(ex, mapped),
        ))  # fmt: skip
        _until(url, lambda name=name: arm.deployments.get(RG, ACCOUNT, name),
               lambda d: d.properties.provisioning_state in ("Succeeded", "Failed"),
               30)  # fmt: skip
        verbatim_path = f"{ACCOUNT_PREFIX}/{ACCOUNT}/deployments/{name}-verbatim"
        if ex.operation_id == "Deployments_Update":
            verbatim_path = path
        status, answer = _raw_arm(arm, method, verbatim_path, body)
        scenario.verbatim.append(RawAnswer(
            ex.name, ex.operation_id, arm_doc, body, status, answer,
            tuple(s for s in ex.data["responses"] if s != "default"),
        ))  # fmt: skip
        if 200 <= status < 300:
            _until(url, lambda p=verbatim_path: _raw_arm(arm, "GET", p, None),
                   lambda r: r[0] != 200 or r[1]["properties"].get("provisioningState")
                   in ("Succeeded", "Failed"), 30)  # fmt: skip
        for p in {path, verbatim_path}:
            arm.deployments.begin_delete(RG, ACCOUNT, p.rsplit("/", 1)[-1]).result()


def _echo(ex: sw.Example, request: Any) -> dict[str, Any]:
    """The request fields that the example's documented success response carries back."""

    def keep(req: Any, doc: Any) -> Any:
        if not isinstance(req, dict) or not isinstance(doc, dict):
            return req
        return {k: keep(v, doc[k]) for k, v in req.items() if k in doc}

    for status, body in ex.responses():
        if status.startswith("2") and isinstance(body, dict):
            return keep(request, body)
    return {}


def _deployable_base_model(arm: Any) -> tuple[str, str]:
    """A (name, version) the emulator deploys: from Accounts_ListModels when served."""
    try:
        for m in arm.accounts.list_models(RG, ACCOUNT):
            if m.name and m.version and (m.format or "OpenAI") == "OpenAI":
                return m.name, m.version
    except HttpResponseError:
        pass
    return "gpt-4o-mini", "2024-07-18"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    state = Path(tmp_path_factory.mktemp("contract")) / "emulator.sqlite"
    global BLOB_URL
    blobs = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BlobServer)
    threading.Thread(target=blobs.serve_forever, daemon=True).start()
    BLOB_URL = f"http://127.0.0.1:{blobs.server_address[1]}"
    emu = emulator_server.start_background(state=state, record_bodies=True)
    try:
        listed = _control(emu.url, "/_emulator/operations")["operations"]
        assert listed, "the emulator lists no operations: every check below would pass vacuously"
        result = Scenario(emu.url, listed)
        started = time.monotonic()
        _drive(emu.url, result)
        result.notes.append(f"scenario took {time.monotonic() - started:.1f}s")
        log = _control(emu.url, "/_emulator/requests")["requests"]
        result.log = [e for e in log if not e["path"].startswith("/_emulator")]
        yield result
    finally:
        emu.stop()
        blobs.shutdown()
        blobs.server_close()


# --------------------------------------------------------------------------------------------------
# Reading the log


def _query(entry: dict[str, Any]) -> dict[str, str]:
    q = entry.get("query") or {}
    if isinstance(q, str):
        return {k: v[0] for k, v in parse_qs(q.lstrip("?")).items()}
    return {k: (v[0] if isinstance(v, list) else v) for k, v in q.items()}


def _is_lro_poll(entry: dict[str, Any]) -> bool:
    return _is_status_poll(entry) or _is_result_poll(entry)


def _is_status_poll(entry: dict[str, Any]) -> bool:
    """An Azure-AsyncOperation URL: answers the ARM RPC status body."""
    text = ((entry.get("operation") or "") + " " + entry["path"]).lower()
    return "operationstatus" in text or "asyncoperation" in text


def _is_result_poll(entry: dict[str, Any]) -> bool:
    """A Location URL: 202 while running, then 204 or 200 with the resource."""
    text = ((entry.get("operation") or "") + " " + entry["path"]).lower()
    return "operationresult" in text


def _check_entry(entry: dict[str, Any]) -> list[str]:
    """Drift of one recorded response from its swagger; [] when it matches."""
    op, status, body = entry.get("operation"), int(entry["status"]), entry.get("response_body")
    where = f"{entry['method']} {entry['path']} → {status} ({op})"
    api_version = _query(entry).get("api-version")
    if _is_lro_poll(entry) and sw.is_arm_path(entry["path"]):
        if status >= 400:
            return [f"{where}: {e}" for e in sw.arm_error_validator().errors(body)]
        if _is_status_poll(entry):
            if status != 200:
                return [f"{where}: an async-operation status URL answers 200"]
            return [f"{where}: {e}" for e in sw.lro_status_validator().errors(body)]
        if status in (202, 204):
            return [] if body in (None, "") else [f"{where}: unexpected body {body!r:.100}"]
        if status != 200:
            return [f"{where}: a Location URL answers 202, 204 or 200"]
        arm_doc = sw.swagger(sw.ARM_SWAGGERS[ARM_VERSION])
        kind = str((body or {}).get("type", "")).lower() if isinstance(body, dict) else ""
        final = "Deployments_Get" if kind.endswith("/deployments") else "Accounts_Get"
        errors = arm_doc.validate_response(final, 200, body, strict_enums=True)
        return [f"{where}: final resource as {final}: {e}" for e in errors]
    if sw.contract_version(entry["path"], api_version) == V1:
        return [f"{where}: {e}" for e in _check_v1(entry)]
    if op == "ChatCompletions_Create" and status == 200:
        return [f"{where}: {e}" for e in sw.chat_completion_validator().errors(body)]
    try:
        doc = sw.swagger_for(entry["path"], api_version)
    except sw.ContractError as exc:
        if status >= 400 and body is not None:  # e.g. an unsupported api-version, answered as error
            return _check_error(entry)
        return [f"{where}: {exc}"]
    if op not in doc.operations and op in CHECKED_AGAINST_V1:
        doc, op = V1_DOC, CHECKED_AGAINST_V1[op]
    if op not in doc.operations:
        if status >= 400:
            return _check_error(entry)
        return [f"{where}: {doc.relpath} has no operation {op!r}"]
    errors = doc.validate_response(op, status, body, strict_enums=True)
    if status >= 400:
        errors += _check_error(entry)
    return [f"{where}: {e}" for e in errors]


def _check_v1(entry: dict[str, Any]) -> list[str]:
    """A v1 answer against the v1 spec (widened by V1_WIDENINGS), or, for the v1 routes outside
    it, against the preview swagger's operation (V1_OUTSIDE_THE_SPEC) or the chat subset."""
    op, status, body = entry.get("operation"), int(entry["status"]), entry.get("response_body")
    by_deployment = bool(re.search(r"/deployments/[^/]+/chat/completions$", entry["path"]))
    errors: list[str] = []
    if op == "ChatCompletions_Create" and by_deployment:
        if status == 200:
            return sw.chat_completion_validator().errors(body)
    elif op in V1_OUTSIDE_THE_SPEC:
        preview = sw.swagger(sw.DATA_PLANE_SWAGGERS[PREVIEW])
        errors = preview.validate_response(op, status, body, strict_enums=True)
    elif op in V1_OPERATION_IDS:
        errors = V1_DOC.validate_response(V1_OPERATION_IDS[op], status, body, strict_enums=True)
    elif status < 400:
        return [f"{sw.V1_SPEC} has no operation for {op!r}, and no deviation names it"]
    if status >= 400:
        errors += _check_error(entry)
    return errors


def _check_error(entry: dict[str, Any]) -> list[str]:
    body, path = entry.get("response_body"), entry["path"]
    where = f"{entry['method']} {path} → {entry['status']} ({entry.get('operation')})"
    if sw.is_arm_path(path):
        return [f"{where}: {e}" for e in sw.arm_error_validator().errors(body)]
    doc = sw.swagger(sw.DATA_PLANE_SWAGGERS[STABLE])
    errors = doc.validate_response("Files_Get", 404, body, strict_enums=True)
    return [f"{where}: data-plane ErrorResponse: {e}" for e in errors]


# --------------------------------------------------------------------------------------------------
# The tests


def _version(entry: dict[str, Any]) -> str | None:
    """The contract version of a logged request: "v1" on the v1 paths, else its api-version."""
    return sw.contract_version(entry["path"], _query(entry).get("api-version"))


def _is_v1_route(listed: dict[str, Any]) -> bool:
    return listed.get("api_versions") == [V1]


def _elsewhere(listed: dict[str, Any]) -> bool:
    """Routes this scenario does not drive: the control plane, and the Azure ML plane with its
    blob service and serverless endpoints (tests/contract/test_azureml_contract.py checks
    those)."""
    ml = "Microsoft.MachineLearningServices" in str(listed.get("path", ""))
    return listed.get("plane") in ("control", "blob", "serverless") or ml


def test_every_listed_operation_is_exercised(scenario: Scenario) -> None:
    ok: set[tuple[str | None, str | None]] = set()
    for e in scenario.log:
        if 200 <= int(e["status"]) < 300:
            ok.add((e.get("operation"), _version(e)))
    ok_ops = {op for op, _ in ok}
    missing = []
    for listed in scenario.listed:
        op = listed["operation"]
        if _elsewhere(listed) or str(listed.get("path", "")).startswith("/_emulator"):
            continue
        versions = listed.get("api_versions") or []
        if not versions:
            if op not in ok_ops:
                missing.append(op)
            continue
        vendored = set(sw.DATA_PLANE_SWAGGERS) | set(sw.ARM_SWAGGERS)
        for v in versions:
            if v in vendored and (op, v) not in ok:
                missing.append(f"{op}@{v}")
        if not any(v in vendored for v in versions):
            missing.append(f"{op} (no vendored api-version among {versions})")
    v1_chat = [e for e in scenario.log if _version(e) == V1 and e.get("operation") == CHAT]
    if {e["path"].endswith("/openai/v1/chat/completions") for e in v1_chat} != {True, False}:
        missing.append("ChatCompletions_Create@v1 at both of its paths")
    assert not missing, f"listed by the emulator but never exercised successfully: {missing}"


def test_listed_operations_exist_in_the_swagger(scenario: Scenario) -> None:
    unknown = []
    for listed in scenario.listed:
        op = listed["operation"]
        if _elsewhere(listed) or str(listed.get("path", "")).startswith("/_emulator"):
            continue
        if _is_v1_route(listed):  # see test_v1_routes_are_operations_of_the_v1_spec
            continue
        files = listed.get("swagger") or []
        if not files:
            if op not in (CHAT, *CHECKED_AGAINST_V1) and not _is_lro_poll(
                {"operation": op, "path": listed.get("path", "")}
            ):
                unknown.append(f"{op} (no swagger file named)")
            continue
        for rel in files:
            try:
                doc = sw.swagger(rel)
            except sw.ContractError:
                unknown.append(f"{op} ({rel} is not vendored)")
                continue
            if op not in doc.operations:
                unknown.append(f"{op} (not in {rel})")
            elif doc.operation(op).method != listed["method"].upper():
                unknown.append(f"{op} method {listed['method']} != {doc.operation(op).method}")
    assert not unknown, unknown


def test_operations_outside_their_contract_are_exactly_these(scenario: Scenario) -> None:
    """The versioned routes that name no swagger are chat (the inference spec, not vendored) and
    CHECKED_AGAINST_V1, which the versioned swaggers still lack and the v1 spec has; every v1
    route mirrors a versioned one (v1's /chat/completions names the deployment in the body)."""
    data = [e for e in scenario.listed if e.get("plane") == "data"]
    versioned = [e for e in data if not _is_v1_route(e)]
    unnamed = {e["operation"] for e in versioned if not e.get("swagger")}
    assert unnamed == {CHAT, *CHECKED_AGAINST_V1}, unnamed
    for operation, v1_operation in CHECKED_AGAINST_V1.items():
        path = next(e["swagger_path"] for e in versioned if e["operation"] == operation)
        for version in (STABLE, PREVIEW):
            paths = sw.swagger(sw.DATA_PLANE_SWAGGERS[version]).doc["paths"]
            assert path not in paths, f"{operation}@{version} is in its swagger: check it there"
        assert V1_DOC.operation(v1_operation).path == path
    mirrors = {(e["operation"], e["swagger_path"]) for e in versioned}
    v1_routes = [e for e in data if _is_v1_route(e)]
    assert all(e["path"].startswith("/{accountName}/openai/v1/") for e in v1_routes)
    mirrorless = [
        e["path"] for e in v1_routes if (e["operation"], e["swagger_path"]) not in mirrors
    ]
    assert mirrorless == ["/{accountName}/openai/v1/chat/completions"], mirrorless


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_v1_routes_are_operations_of_the_v1_spec(scenario: Scenario) -> None:
    """Each v1 route is the v1 spec's operation V1_OPERATION_IDS names, at the same method and
    path, or one of the listed routes outside it (which must still be outside it)."""
    operations = {
        (op.method, _template(op.path)): op.operation_id for op in V1_DOC.operations.values()
    }
    problems = []
    for e in scenario.listed:
        if not _is_v1_route(e):
            continue
        key = (e["method"], _template(e["swagger_path"]))
        outside = e["operation"] in V1_OUTSIDE_THE_SPEC or key[1] == V1_CHAT_BY_DEPLOYMENT
        if outside:
            if key in operations:
                problems.append(f"{key} is in the v1 spec now ({operations[key]}): check it there")
        elif operations.get(key) != V1_OPERATION_IDS.get(e["operation"]):
            problems.append(f"{e['operation']} {key}: the v1 spec has {operations.get(key)!r}")
    listed = {e["operation"] for e in scenario.listed if _is_v1_route(e)}
    assert set(V1_OUTSIDE_THE_SPEC) <= listed, set(V1_OUTSIDE_THE_SPEC) - listed
    assert not problems, problems


def test_every_v1_widening_is_needed(scenario: Scenario) -> None:
    """Each deviation of V1_WIDENINGS lets through an answer the emulator gave (else it is stale,
    e.g. the spec now has it): without it, some recorded v1 answer drifts."""
    v1_entries = [
        e for e in scenario.log
        if _version(e) == V1 and e.get("operation") in V1_OPERATION_IDS
        and int(e["status"]) < 400
    ]  # fmt: skip
    unused = []
    for widening in V1_WIDENINGS:
        others = [w for w in V1_WIDENINGS if w is not widening]
        without = sw.SwaggerDoc(sw.V1_SPEC, widenings=others)
        if not any(
            without.validate_response(
                V1_OPERATION_IDS[e["operation"]], e["status"], e.get("response_body"),
                strict_enums=True,
            )
            for e in v1_entries
        ):  # fmt: skip
            unused.append(f"{widening.pointer} ({widening.reason})")
    assert not unused, f"deviations no recorded answer needs: {unused}"


def test_every_response_matches_the_swagger(scenario: Scenario) -> None:
    assert scenario.log, "the emulator recorded no requests"
    assert all("response_body" in e for e in scenario.log[:1]), "record_bodies is off"
    drift = [err for e in scenario.log for err in _check_entry(e)]
    assert not drift, "responses drift from the swagger:\n" + "\n".join(drift[:60])


def test_error_bodies_follow_the_documented_shapes(scenario: Scenario) -> None:
    errors = [e for e in scenario.log if int(e["status"]) >= 400]
    assert any(not sw.is_arm_path(e["path"]) for e in errors), "no data-plane error was recorded"
    assert any(sw.is_arm_path(e["path"]) for e in errors), "no ARM error was recorded"
    codes = set(sw.data_plane_error_codes(sw.swagger(sw.DATA_PLANE_SWAGGERS[STABLE])))
    problems = []
    for e in errors:
        problems += _check_error(e)
        body = e.get("response_body") or {}
        code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
        if not sw.is_arm_path(e["path"]) and code not in codes:
            problems.append(f"{e['method']} {e['path']} → {e['status']}: code {code!r} ∉ ErrorCode")
    assert not problems, "\n".join(problems)


def test_official_example_requests_are_answered_as_documented(scenario: Scenario) -> None:
    assert scenario.raw, "no example request was sent"
    sent = {(a.what, a.operation) for a in scenario.raw}
    for ex in (ex for doc in sw.all_swaggers() for ex in doc.examples()):
        if ex.request_body is not None:
            assert (ex.name, ex.operation_id) in sent, ex.name
    problems = []
    for a in scenario.raw:
        where = f"{a.what} → {a.status}"
        if str(a.status) not in a.expected_statuses:
            problems.append(f"{where}: expected one of {a.expected_statuses}; body {a.body!r:.300}")
            continue
        problems += [f"{where}: {e}" for e in a.doc.validate_response(
            a.operation, a.status, a.body, strict_enums=True)]  # fmt: skip
        problems += [f"{where}: {e}" for e in _echo_problems(a.echo, a.body)]
    assert not problems, "\n".join(problems)


def test_verbatim_example_requests_get_a_documented_answer(scenario: Scenario) -> None:
    """Byte-for-byte example bodies (ids of resources this emulator never had): success as
    documented, or a documented error (400/404 ErrorResponse)."""
    assert scenario.verbatim, "no verbatim example request was sent"
    problems = []
    for a in scenario.verbatim:
        where = f"{a.what} (verbatim) → {a.status}"
        if str(a.status) in a.expected_statuses:
            problems += [f"{where}: {e}" for e in a.doc.validate_response(
                a.operation, a.status, a.body, strict_enums=True)]  # fmt: skip
        elif a.status in (400, 404, 409):
            entry = {"method": "?", "path": "/subscriptions/" if a.doc.relpath in
                     sw.ARM_SWAGGERS.values() else "/x", "status": a.status,
                     "operation": a.operation, "response_body": a.body}  # fmt: skip
            problems += _check_error(entry)
        else:
            problems.append(f"{where}: neither documented success nor a client error")
    assert not problems, "\n".join(problems)


def _echo_problems(request: Any, answer: Any, path: str = "") -> list[str]:
    """Request fields the documented response carries back must come back unchanged."""
    if not isinstance(request, dict) or not isinstance(answer, dict):
        return []
    out = []
    for key, value in request.items():
        here = f"{path}/{key}"
        if key not in answer:
            out.append(f"{here}: sent {value!r:.80}, not echoed")
        elif isinstance(value, dict):
            out += _echo_problems(value, answer[key], here)
        elif value != answer[key] and not (key == "capacity" and isinstance(answer[key], int)):
            out.append(f"{here}: sent {value!r:.80}, got {answer[key]!r:.80}")
    return out


def test_lro_status_polls_were_checked(scenario: Scenario) -> None:
    polls = [e for e in scenario.log if _is_lro_poll(e)]
    assert polls, "the deployment PUT/DELETE never polled an async-operation URL"


def test_every_request_url_is_well_formed(scenario: Scenario) -> None:
    problems = []
    for e in scenario.log:
        v1 = sw.is_v1_path(e["path"]) and not sw.is_arm_path(e["path"])
        if v1 and "api-version" in _query(e):
            problems.append(f"{e['method']} {e['path']}: an api-version on a v1 path")
        if not v1 and "api-version" not in _query(e):
            problems.append(f"{e['method']} {e['path']}: no api-version")
        if urlsplit(e["path"]).query:
            problems.append(f"{e['method']} {e['path']}: query left in the logged path")
    assert not problems, problems


def test_the_log_checker_flags_drift() -> None:
    """The checker used above can fail: drifted entries of each kind are reported."""
    dp = f"/{ACCOUNT}/openai/fine_tuning/jobs/ftjob-1"
    arm = f"{ACCOUNT_PREFIX}/{ACCOUNT}/deployments/d"
    op_status = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CognitiveServices/locations/x"
    cases: list[tuple[str, str | None, str, int, Any]] = [
        (dp, STABLE, "FineTuning_Get", 200, {"id": "ftjob-1", "status": "pending"}),  # no model
        (dp, PREVIEW, "FineTuning_Get", 200,
         {"model": "m", "training_file": "f", "status": "queued"}),
        (dp, STABLE, "FineTuning_Get", 404, {"error": {"code": "fileNotFound", "message": "m"}}),
        (dp, STABLE, "FineTuning_Get", 404, {"message": "not found"}),
        (dp, "2023-05-15", "FineTuning_Get", 200, {"model": "m", "training_file": "f"}),
        (dp + "/pause", STABLE, "FineTuning_Pause", 200, {"model": "m", "training_file": "f"}),
        (f"/{ACCOUNT}/openai/uploads", PREVIEW, "UploadFile_Start", 200, {"status": "started"}),
        (f"/{ACCOUNT}/openai/uploads/u/parts", PREVIEW, "UploadFile_Part", 200, {"id": 7}),
        (arm, ARM_VERSION, "Deployments_CreateOrUpdate", 202, None),
        (arm, ARM_VERSION, "Deployments_Get", 404, {"code": "NotFound"}),
        (op_status + "/operationStatuses/1", ARM_VERSION, "OperationStatuses_Get", 200,
         {"id": "1"}),
        (op_status + "/operationResults/1", ARM_VERSION, "OperationResults_Get", 202, {"x": 1}),
        (f"/{ACCOUNT}/openai/deployments/d/chat/completions", STABLE, "ChatCompletions_Create",
         200, {"id": "c", "choices": []}),
    ]  # fmt: skip
    v1 = f"/{ACCOUNT}/openai/v1"
    job = {"object": "fine_tuning.job", "id": "ftjob-1", "created_at": 1, "error": None,
           "fine_tuned_model": None, "finished_at": None, "hyperparameters": {}, "model": "m",
           "organization_id": "", "result_files": [], "status": "paused", "trained_tokens": None,
           "training_file": "f", "validation_file": None, "seed": 1, "metadata": None}  # fmt: skip
    label_model = {"type": "label_model", "name": "l", "model": "m", "input": [], "labels": ["a"],
                   "passing_labels": ["a"]}  # fmt: skip
    cases += [
        (f"{v1}/fine_tuning/jobs", None, "FineTuning_Create", 201, job),  # v1 answers 200
        (f"{v1}/fine_tuning/jobs/j", None, "FineTuning_Get", 200,
         {k: v for k, v in job.items() if k != "organization_id"}),
        (f"{v1}/fine_tuning/jobs/j", None, "FineTuning_Get", 200, {**job, "status": "pausing"}),
        (f"{v1}/fine_tuning/jobs/j", None, "FineTuning_Get", 200,
         {**job, "method": {"type": "reinforcement", "reinforcement": {"grader": label_model}}}),
        (f"{v1}/fine_tuning/jobs", None, "FineTuning_List", 200, {"object": "list", "data": []}),
        (f"{v1}/fine_tuning/jobs/j/events", None, "FineTuning_GetEvents", 200,
         {"object": "list", "has_more": False, "data": [{"object": "fine_tuning.job.event",
          "id": "e", "created_at": 1, "level": "warning", "message": "m"}]}),
        (f"{v1}/models/m", None, "Models_Get", 200, {"id": "m", "object": "model", "created": 1}),
        (f"{v1}/files", None, "Files_List", 200, {"object": "list", "data": [], "has_more": False}),
        (f"{v1}/uploads/u/parts", None, "UploadFile_Part", 200, {"id": 7}),  # preview's shape
        (f"{v1}/deployments/d/chat/completions", None, "ChatCompletions_Create", 200, {"id": "c"}),
        (f"{v1}/nowhere", None, "Nowhere_Get", 200, {}),  # in no contract, named by no deviation
        (f"/{ACCOUNT}/openai/fine_tuning/alpha/graders/validate", PREVIEW,
         "FineTuning_ValidateGrader", 200, {"grader": {"type": "string_check"}}),
    ]  # fmt: skip
    for path, version, op, status, body in cases:
        query = {} if version is None else {"api-version": version}
        entry = {"method": "GET", "path": path, "query": query,
                 "operation": op, "status": status, "response_body": body}  # fmt: skip
        errors = _check_entry(entry)
        assert errors, f"not flagged: {op} {status} {body}"
