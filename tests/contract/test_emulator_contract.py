"""The emulator against the official swagger: every operation it serves, driven by the real SDKs.

One scenario (module-scoped, one emulator) drives ``openai.AzureOpenAI`` at both data-plane
api-versions and ``CognitiveServicesManagementClient`` through every operation the emulator lists
in ``/_emulator/operations``; the tests then read ``/_emulator/requests`` and check that

* every listed operation was exercised, successfully, at every api-version it is listed for;
* every recorded response body matches the swagger schema of its operation and status (binary
  bodies skipped; ARM async-operation status bodies against the ARM RPC shape);
* error bodies follow ErrorResponse (data plane, ErrorCode values) / common-types (ARM);
* every official ``x-ms-examples`` request body is accepted and answered in the documented shape.
"""

from __future__ import annotations

import copy
import http.server
import json
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
ARM_VERSION = "2025-09-01"
ACCOUNT_PREFIX = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.CognitiveServices"
    f"/accounts"
)


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


def _raw_openai(client: openai.AzureOpenAI, method: str, path: str, body: Any) -> tuple[int, Any]:
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
    clients = {v: openai_client(url, ACCOUNT, api_version=v) for v in (STABLE, PREVIEW)}
    stable, preview = clients[STABLE], clients[PREVIEW]

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
    base_models: list[dict[str, Any]] = []
    for client in clients.values():
        base_models = [m.model_dump() for m in client.models.list()]
        client.models.retrieve(base_models[0]["id"])
    tunable = [m["id"] for m in base_models if m.get("capabilities", {}).get("fine_tune")]
    assert tunable, "the emulator lists no fine-tunable base model"
    base_model = tunable[0]

    # ---- data plane: files ---------------------------------------------------------------------
    uploaded: dict[str, str] = {}
    for version, client in clients.items():
        f = client.files.create(file=("train.jsonl", _training_jsonl(), "application/jsonl"),
                                purpose="fine-tune")  # fmt: skip
        uploaded[version] = f.id
    _until(url, lambda: [stable.files.retrieve(i) for i in uploaded.values()],
           lambda fs: all(_status(f) in ("processed", "error") for f in fs), 60)  # fmt: skip
    for client in clients.values():
        list(client.files.list())
        client.files.retrieve(uploaded[STABLE])
        client.files.content(uploaded[STABLE]).read()
    _raw_openai(stable, "post", "/files/import", {
        "purpose": "fine-tune", "filename": "imported.jsonl",
        "content_url": f"{BLOB_URL}/trainingdata/imported.jsonl",
    })  # fmt: skip
    _raw_openai(preview, "post", "/files/import", {
        "purpose": "fine-tune", "filename": "imported2.jsonl",
        "content_url": f"{BLOB_URL}/trainingdata/puppy.jsonl",
    })  # fmt: skip
    throwaway = preview.files.create(file=("x.jsonl", _training_jsonl(), "application/jsonl"),
                                     purpose="fine-tune")  # fmt: skip
    stable.files.delete(throwaway.id)
    throwaway2 = stable.files.create(file=("y.jsonl", _training_jsonl(), "application/jsonl"),
                                     purpose="fine-tune")  # fmt: skip
    preview.files.delete(throwaway2.id)
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

    # pause / resume (preview only) on a running job
    j = preview.fine_tuning.jobs.create(
        model=base_model, training_file=uploaded[PREVIEW],
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )  # fmt: skip
    j = _until(url, lambda: preview.fine_tuning.jobs.retrieve(j.id),
               lambda x: _status(x) != "pending", 30)  # fmt: skip
    if _status(j) == "running":
        preview.fine_tuning.jobs.pause(j.id)
        _until(url, lambda: preview.fine_tuning.jobs.retrieve(j.id),
               lambda x: _status(x) in ("paused", "failed", "cancelled"), 30)  # fmt: skip
        preview.fine_tuning.jobs.resume(j.id)
        preview.fine_tuning.jobs.cancel(j.id)
    else:
        scenario.notes.append(f"pause/resume: job never ran (status {_status(j)})")

    for version, client in clients.items():
        _raw_openai(client, "delete", f"/fine_tuning/jobs/{cancelled[version].id}", None)

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
    for client in clients.values():
        client.chat.completions.create(
            model="ft-dep", messages=[{"role": "user", "content": "What is 2 plus 2?"}]
        )
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


def _send_examples(
    url: str,
    scenario: Scenario,
    arm: Any,
    clients: dict[str, openai.AzureOpenAI],
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
    if op == "ChatCompletions_Create" and status == 200:
        return [f"{where}: {e}" for e in sw.chat_completion_validator().errors(body)]
    try:
        doc = sw.swagger_for(entry["path"], api_version)
    except sw.ContractError as exc:
        if status >= 400 and body is not None:  # e.g. an unsupported api-version, answered as error
            return _check_error(entry)
        return [f"{where}: {exc}"]
    if op not in doc.operations:
        if status >= 400:
            return _check_error(entry)
        return [f"{where}: {doc.relpath} has no operation {op!r}"]
    errors = doc.validate_response(op, status, body, strict_enums=True)
    if status >= 400:
        errors += _check_error(entry)
    return [f"{where}: {e}" for e in errors]


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


def test_every_listed_operation_is_exercised(scenario: Scenario) -> None:
    ok: set[tuple[str, str | None]] = set()
    for e in scenario.log:
        if 200 <= int(e["status"]) < 300:
            ok.add((e.get("operation"), _query(e).get("api-version")))
    ok_ops = {op for op, _ in ok}
    missing = []
    for listed in scenario.listed:
        op = listed["operation"]
        if listed.get("plane") == "control" or str(listed.get("path", "")).startswith("/_emulator"):
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
    assert not missing, f"listed by the emulator but never exercised successfully: {missing}"


def test_listed_operations_exist_in_the_swagger(scenario: Scenario) -> None:
    unknown = []
    for listed in scenario.listed:
        op = listed["operation"]
        if listed.get("plane") == "control" or str(listed.get("path", "")).startswith("/_emulator"):
            continue
        files = listed.get("swagger") or []
        if not files:
            if op != "ChatCompletions_Create" and not _is_lro_poll(
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
        if "api-version" not in _query(e):
            problems.append(f"{e['method']} {e['path']}: no api-version")
        if urlsplit(e["path"]).query:
            problems.append(f"{e['method']} {e['path']}: query left in the logged path")
    assert not problems, problems


def test_the_log_checker_flags_drift() -> None:
    """The checker used above can fail: drifted entries of each kind are reported."""
    dp = f"/{ACCOUNT}/openai/fine_tuning/jobs/ftjob-1"
    arm = f"{ACCOUNT_PREFIX}/{ACCOUNT}/deployments/d"
    op_status = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.CognitiveServices/locations/x"
    cases = [
        (dp, STABLE, "FineTuning_Get", 200, {"id": "ftjob-1", "status": "pending"}),  # no model
        (dp, PREVIEW, "FineTuning_Get", 200,
         {"model": "m", "training_file": "f", "status": "queued"}),
        (dp, STABLE, "FineTuning_Get", 404, {"error": {"code": "fileNotFound", "message": "m"}}),
        (dp, STABLE, "FineTuning_Get", 404, {"message": "not found"}),
        (dp, "2023-05-15", "FineTuning_Get", 200, {"model": "m", "training_file": "f"}),
        (dp + "/pause", STABLE, "FineTuning_Pause", 200, {"model": "m", "training_file": "f"}),
        (arm, ARM_VERSION, "Deployments_CreateOrUpdate", 202, None),
        (arm, ARM_VERSION, "Deployments_Get", 404, {"code": "NotFound"}),
        (op_status + "/operationStatuses/1", ARM_VERSION, "OperationStatuses_Get", 200,
         {"id": "1"}),
        (op_status + "/operationResults/1", ARM_VERSION, "OperationResults_Get", 202, {"x": 1}),
        (f"/{ACCOUNT}/openai/deployments/d/chat/completions", STABLE, "ChatCompletions_Create",
         200, {"id": "c", "choices": []}),
    ]  # fmt: skip
    for path, version, op, status, body in cases:
        entry = {"method": "GET", "path": path, "query": {"api-version": version},
                 "operation": op, "status": status, "response_body": body}  # fmt: skip
        errors = _check_entry(entry)
        assert errors, f"not flagged: {op} {status} {body}"
