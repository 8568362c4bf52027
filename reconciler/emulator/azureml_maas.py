"""Models as a service in a hub project: serverless FineTuning jobs, the models they register,
and serverless endpoints that serve them.

A FineTuning job trains nothing here: like an Azure OpenAI job in `training`, its run is a lazy
function of the simulated clock (queued, then running, then completed), settled whenever the
workspace's jobs are read. When it completes, its `registered_model` output becomes a model
version in the workspace, and its output's `uri` names it, as the serverless endpoint's
`modelSettings.modelId` takes it. The service's own checks are kept: the base model must be one
it fine-tunes serverless, from the workspace's region, and the data must be registered assets.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from reconciler.emulator import azureml
from reconciler.emulator.arm import iso, json_object
from reconciler.emulator.models import completion
from reconciler.emulator.routing import ArmError, Call, Reply

QUEUE_SECONDS = 120.0
TRAINING_SECONDS = 1800.0
SIX_REGIONS = ("eastus2", "eastus", "northcentralus", "southcentralus", "westus", "westus3")
# The serverless fine-tuning offer, by registry model name: the regions it trains from.
SERVERLESS_FINE_TUNING = {
    "Phi-4": SIX_REGIONS,
    "Phi-4-mini-instruct": SIX_REGIONS,
    "Phi-4-multimodal-instruct": SIX_REGIONS,
    "Phi-3-mini-4k-instruct": ("eastus2",),
    "Phi-3-mini-128k-instruct": ("eastus2",),
    "Phi-3-medium-4k-instruct": ("eastus2",),
    "Phi-3-medium-128k-instruct": ("eastus2",),
}
_REGISTRY_MODEL = re.compile(r"^azureml://registries/azureml/models/([^/]+)/(labels|versions)/")
_WORKSPACE_MODEL = re.compile(
    r"^azureml://locations/[^/]+/workspaces/[^/]+/models/([^/]+)/versions/(\d+)$"
)
# `azureml:NAME:VERSION`, or the ARM id the SDK resolves it to.
_ASSET_URI = re.compile(
    r"^(?:azureml:([^:/]+):([^:/]+)|/subscriptions/.+/data/([^/]+)/versions/([^/]+))$"
)
TASK_TYPES = ("ChatCompletion", "TextCompletion", "TextClassification", "QuestionAnswering")
SCHEDULE = "maas_schedule"  # a private row per job: when it was submitted


# --- FineTuning jobs -------------------------------------------------------------------------


def job_put(call: Call) -> Reply:
    """Jobs_CreateOrUpdate: a new FineTuning job here, every other (and any job that exists
    already: a job is immutable) as `azureml.job_put` does."""
    name = call.params["id"]
    properties = azureml._properties(call)
    existing = azureml.get_resource(call.db, azureml.workspace_id(call), "job", name)
    if existing is None and properties.get("jobType") == "FineTuning":
        return fine_tuning_put(call, properties, name)
    return azureml.job_put(call)


def job_get(call: Call) -> Reply:
    azureml._workspace(call)
    settle(call)
    return azureml.job_get(call)


def job_list(call: Call) -> Reply:
    azureml._workspace(call)
    settle(call)
    return azureml.job_list(call)


def fine_tuning_put(call: Call, properties: dict[str, Any], name: str) -> Reply:
    """A FineTuning job submitted: queued on the simulated clock."""
    workspace = azureml._workspace(call)
    scope = azureml.workspace_id(call)
    details = properties.get("fineTuningDetails") or {}
    model = _base_model(details, str(workspace.get("location", "")))
    # The service reads the task case-insensitively (azure-ai-ml sends `chatCompletion`) and
    # answers in the contract's spelling.
    task = str(details.get("taskType", ""))
    details["taskType"] = {t.lower(): t for t in TASK_TYPES}.get(task.lower(), task)
    if details["taskType"] not in TASK_TYPES:
        raise ArmError(400, "UserError", f"'{task}' is not a fine-tuning task type.")
    for role in ("trainingData", "validationData"):
        if details.get(role):
            _registered_data(call, scope, str(details[role].get("uri", "")), role)
    output = (properties.get("outputs") or {}).get("registered_model") or {}
    if not output.get("assetName"):
        raise ArmError(400, "UserError", "outputs.registered_model.assetName is required.")
    properties.update(
        {
            "status": "NotStarted",
            "experimentName": properties.get("experimentName") or "Default",
            "displayName": properties.get("displayName") or name,
            "services": {},
        }
    )
    properties.setdefault("properties", {})["ftops.emulator.baseModel"] = model
    resource = azureml._envelope(call, "job", f"{scope}/jobs/{name}", name, properties)
    azureml.put_resource(call.db, scope, "job", name, resource, call.now)
    azureml.put_resource(call.db, scope, SCHEDULE, name, {"submitted": call.now}, call.now)
    return Reply(201, resource)


def _base_model(details: dict[str, Any], region: str) -> str:
    uri = str((details.get("model") or {}).get("uri", ""))
    found = _REGISTRY_MODEL.match(uri)
    if found is None:
        raise ArmError(400, "UserError", f"'{uri}' is not a model of the azureml registry.")
    model = found.group(1)
    regions = SERVERLESS_FINE_TUNING.get(model)
    if regions is None:
        raise ArmError(400, "UserError", f"Model '{model}' cannot be fine-tuned serverless.")
    if region not in regions:
        raise ArmError(
            400,
            "UserError",
            f"Serverless fine-tuning of '{model}' is not available in region '{region}'; "
            f"it is offered in {', '.join(regions)}.",
        )
    return model


def _registered_data(call: Call, scope: str, uri: str, role: str) -> None:
    found = _ASSET_URI.match(uri)
    if found is None:
        raise ArmError(400, "UserError", f"{role} '{uri}' must be a data asset (azureml:NAME:V).")
    name, version = [part for part in found.groups() if part]
    if azureml.get_resource(call.db, scope, "data_version", f"{name}/{version}") is None:
        raise ArmError(400, "UserError", f"{role}: data asset {name}:{version} was not found.")


def settle(call: Call) -> None:
    """Every FineTuning job of the workspace moved on to where the simulated clock says."""
    scope = azureml.workspace_id(call)
    rows = call.db.execute(
        "SELECT name, body FROM ml_resources WHERE scope = ? AND kind = ?", (scope, SCHEDULE)
    ).fetchall()
    for row in rows:
        job = azureml.get_resource(call.db, scope, "job", row["name"])
        if job is None or job["properties"]["status"] in ("Completed", "Failed", "Canceled"):
            continue
        submitted = json.loads(row["body"])["submitted"]
        status = _status_at(submitted, call.now)
        if status == job["properties"]["status"]:
            continue
        job["properties"]["status"] = status
        # When it changed on the clock, not when it was read: status shows how long it trained.
        job["systemData"]["lastModifiedAt"] = iso(_changed_at(submitted, status))
        if status == "Completed":
            _register_output(call, scope, job)
        azureml.put_resource(call.db, scope, "job", row["name"], job, call.now)


def _changed_at(submitted: float, status: str) -> float:
    if status == "Running":
        return submitted + QUEUE_SECONDS
    return submitted + QUEUE_SECONDS + TRAINING_SECONDS  # Completed


def _status_at(submitted: float, now: float) -> str:
    if now < submitted + QUEUE_SECONDS:
        return "Queued"
    if now < submitted + QUEUE_SECONDS + TRAINING_SECONDS:
        return "Running"
    return "Completed"


def _register_output(call: Call, scope: str, job: dict[str, Any]) -> None:
    """The job's model as the next version of its `assetName`, and the output's uri naming it."""
    output = job["properties"]["outputs"]["registered_model"]
    name = output["assetName"]
    versions = call.db.execute(
        "SELECT COUNT(*) FROM ml_resources WHERE scope = ? AND kind = 'model_version' "
        "AND substr(name, 1, ?) = ?",
        (scope, len(name) + 1, name + "/"),
    ).fetchone()[0]
    version = str(versions + 1)
    workspace = azureml._workspace(call)
    location, guid = workspace["location"], workspace["properties"]["workspaceId"]
    uri = f"azureml://locations/{location}/workspaces/{guid}/models/{name}/versions/{version}"
    properties = {
        "modelType": "mlflow_model",
        "modelUri": f"azureml://jobs/{job['name']}/outputs/registered_model",
        "jobName": job["name"],
        "flavors": {},
        "properties": {},
        "tags": {},
        "isArchived": False,
        "isAnonymous": False,
        "provisioningState": "Succeeded",
    }
    rid = f"{scope}/models/{name}/versions/{version}"
    model = azureml._envelope(call, "model_version", rid, version, properties)
    azureml.put_resource(call.db, scope, "model_version", f"{name}/{version}", model, call.now)
    output.update({"uri": uri, "assetVersion": version})


# --- models ----------------------------------------------------------------------------------


def model_version_get(call: Call) -> Reply:
    settle(call)
    return azureml.version_getter("model_version")(call)


def model_versions_list(call: Call) -> Reply:
    settle(call)
    return azureml._list(call, "model_version", call.params["name"] + "/")


# --- serverless endpoints --------------------------------------------------------------------


def endpoint_put(call: Call) -> Reply:
    workspace = azureml._workspace(call)
    scope, name = azureml.workspace_id(call), call.params["name"]
    settle(call)
    body = json_object(call)
    properties = body.get("properties") or {}
    model_id = str((properties.get("modelSettings") or {}).get("modelId", ""))
    if not _model_exists(call, scope, model_id):
        raise ArmError(400, "UserError", f"Model '{model_id}' was not found in this workspace.")
    existing = azureml.get_resource(call.db, scope, "serverless", name)
    address = f"{call.base_url}/serverless/{workspace['properties']['workspaceId']}/{name}"
    keys = (existing or {}).get("_keys") or [secrets.token_hex(16), secrets.token_hex(16)]
    resource = azureml._envelope(
        call,
        "serverless",
        f"{scope}/serverlessEndpoints/{name}",
        name,
        {
            "authMode": properties.get("authMode", "Key"),
            "modelSettings": {"modelId": model_id},
            "provisioningState": "Succeeded",
            "endpointState": "Online",
            "inferenceEndpoint": {
                "uri": address,
                "headers": {},
            },
        },
        location=body.get("location") or workspace["location"],
        tags=body.get("tags") or {},
        sku={"name": "Consumption"},
    )
    stored = resource | {"_keys": keys}
    if existing is not None:
        resource["systemData"]["createdAt"] = existing["systemData"]["createdAt"]
    azureml.put_resource(call.db, scope, "serverless", name, stored, call.now)
    return Reply(200 if existing else 201, resource)


def _model_exists(call: Call, scope: str, model_id: str) -> bool:
    found = _WORKSPACE_MODEL.match(model_id)
    if found is None:
        return False
    name, version = found.groups()
    return azureml.get_resource(call.db, scope, "model_version", f"{name}/{version}") is not None


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def _endpoint(call: Call) -> dict[str, Any]:
    azureml._workspace(call)
    found = azureml.get_resource(
        call.db, azureml.workspace_id(call), "serverless", call.params["name"]
    )
    if found is None:
        raise azureml._not_found("serverless", call.params["name"])
    return found


def endpoint_get(call: Call) -> Reply:
    return Reply(200, _public(_endpoint(call)))


def endpoint_list(call: Call) -> Reply:
    listed = azureml._list(call, "serverless")
    listed.body["value"] = [_public(e) for e in listed.body["value"]]
    return listed


def endpoint_delete(call: Call) -> Reply:
    azureml._workspace(call)
    scope, name = azureml.workspace_id(call), call.params["name"]
    if azureml.get_resource(call.db, scope, "serverless", name) is None:
        return Reply(204, None)
    call.db.execute(
        "DELETE FROM ml_resources WHERE scope = ? AND kind = 'serverless' AND name = ?",
        (scope, name),
    )
    # 204: the contract's answer for a deletion that is over (this one is, at once).
    return Reply(204, None)


def keys(call: Call) -> Reply:
    primary, secondary = _endpoint(call)["_keys"]
    return Reply(200, {"primaryKey": primary, "secondaryKey": secondary})


def chat_completions(call: Call) -> Reply:
    """The serverless endpoint's own chat route: a canned answer for its key."""
    rows = call.db.execute(
        "SELECT body FROM ml_resources WHERE kind = 'serverless' AND name = ?",
        (call.params["name"],),
    ).fetchall()
    suffix = f"/serverless/{call.params['workspaceGuid']}/{call.params['name']}"
    endpoints = [json.loads(r["body"]) for r in rows]
    endpoint = next(
        (e for e in endpoints if e["properties"]["inferenceEndpoint"]["uri"].endswith(suffix)),
        None,
    )
    if endpoint is None:
        raise ArmError(404, "NotFound", "No serverless endpoint answers at this address.")
    given = call.headers.get("api-key") or call.headers.get("authorization", "").removeprefix(
        "Bearer "
    )
    if given not in endpoint["_keys"]:
        raise ArmError(401, "Unauthorized", "The endpoint key is missing or wrong.")
    body = call.json() if call.body else {}
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ArmError(400, "BadRequest", "'messages' is a required property.")
    model = endpoint["properties"]["modelSettings"]["modelId"]
    return Reply(200, completion(model, call.params["name"], messages, call.now))
