"""The Azure ML plane (Microsoft.MachineLearningServices): workspaces, compute clusters, the
default datastore, code / environment / data asset versions and command jobs.

Every resource is an ARM envelope (`id`, `name`, `type`, `properties`, `systemData`) kept in one
table, `ml_resources`, by scope (the workspace's ARM id), kind and name. A workspace's default
datastore, `workspaceblobstore`, is a container of the embedded blob service (`blobs`). A
command job runs on this machine (`azureml_runs`): its code and inputs are copied out of the blob
store, its command runs as one process per instance, and its outputs go back to the blob store.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from typing import Any

from reconciler.emulator import azureml_runs, blobs
from reconciler.emulator.arm import iso, json_object, system_data
from reconciler.emulator.routing import ArmError, Call, Reply

PROVIDER = "Microsoft.MachineLearningServices"
STORAGE_ACCOUNT = "ftopsemulatorstore"
DEFAULT_DATASTORE = "workspaceblobstore"
TYPES = {
    "workspace": "Microsoft.MachineLearningServices/workspaces",
    "compute": "Microsoft.MachineLearningServices/workspaces/computes",
    "datastore": "Microsoft.MachineLearningServices/workspaces/datastores",
    "code": "Microsoft.MachineLearningServices/workspaces/codes",
    "code_version": "Microsoft.MachineLearningServices/workspaces/codes/versions",
    "environment": "Microsoft.MachineLearningServices/workspaces/environments",
    "environment_version": "Microsoft.MachineLearningServices/workspaces/environments/versions",
    "data": "Microsoft.MachineLearningServices/workspaces/data",
    "data_version": "Microsoft.MachineLearningServices/workspaces/data/versions",
    "job": "Microsoft.MachineLearningServices/workspaces/jobs",
    "model": "Microsoft.MachineLearningServices/workspaces/models",
    "model_version": "Microsoft.MachineLearningServices/workspaces/models/versions",
    "serverless": "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints",
}
# Azure ML's per-kind path segment under the workspace.
SEGMENTS = {
    "compute": "computes",
    "datastore": "datastores",
    "code": "codes",
    "environment": "environments",
    "data": "data",
    "job": "jobs",
    "model": "models",
    "serverless": "serverlessEndpoints",
}


# --- the table -----------------------------------------------------------------------------


def workspace_id(call: Call) -> str:
    p = call.params
    return (
        f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}"
        f"/providers/{PROVIDER}/workspaces/{p['workspaceName']}"
    )


def _row(db: sqlite3.Connection, scope: str, kind: str, name: str) -> sqlite3.Row | None:
    return db.execute(
        "SELECT * FROM ml_resources WHERE scope = ? AND kind = ? AND name = ?", (scope, kind, name)
    ).fetchone()


def get_resource(db: sqlite3.Connection, scope: str, kind: str, name: str) -> dict[str, Any] | None:
    row = _row(db, scope, kind, name)
    return None if row is None else dict(json.loads(row["body"]))


def put_resource(
    db: sqlite3.Connection, scope: str, kind: str, name: str, body: dict[str, Any], now: float
) -> None:
    db.execute(
        "INSERT INTO ml_resources (scope, kind, name, body, created_at, modified_at) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT (scope, kind, name) DO UPDATE SET body = excluded.body, "
        "modified_at = excluded.modified_at",
        (scope, kind, name, json.dumps(body), now, now),
    )


def _not_found(kind: str, name: str) -> ArmError:
    label = TYPES[kind].rsplit("/", 1)[-1]
    return ArmError(
        404,
        "UserError",
        f"The {label} '{name}' was not found in this workspace.",
    )


def _envelope(
    call: Call, what: str, rid: str, name: str, properties: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "id": rid,
        "name": name,
        "type": TYPES[what],
        "properties": properties,
        "systemData": system_data(call.now, call.now),
        **extra,
    }


def _workspace(call: Call) -> dict[str, Any]:
    found = get_resource(call.db, workspace_id(call), "workspace", call.params["workspaceName"])
    if found is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{PROVIDER}/workspaces/{call.params['workspaceName']}' under resource "
            f"group '{call.params['resourceGroupName']}' was not found.",
        )
    return found


# --- workspaces ----------------------------------------------------------------------------


def workspace_put(call: Call) -> Reply:
    """Create (or update the tags of) a workspace, with its default blob datastore."""
    scope, name = workspace_id(call), call.params["workspaceName"]
    body = json_object(call)
    existing = get_resource(call.db, scope, "workspace", name)
    location = str(body.get("location") or (existing or {}).get("location") or "eastus2")
    guid = (existing or {}).get("properties", {}).get("workspaceId") or str(uuid.uuid4())
    properties = {
        "friendlyName": name,
        "workspaceId": guid,
        "provisioningState": "Succeeded",
        "discoveryUrl": f"{call.base_url}/discovery",
        "mlFlowTrackingUri": f"azureml://{location}.api.azureml.ms/mlflow/v1.0{scope}",
        "storageAccount": f"{scope.rsplit('/providers/', 1)[0]}/providers/Microsoft.Storage/"
        f"storageAccounts/{STORAGE_ACCOUNT}",
    }
    resource = _envelope(
        call,
        "workspace",
        scope,
        name,
        properties,
        location=location,
        tags=body.get("tags") or {},
        identity={"type": "SystemAssigned"},
        sku={"name": "Basic", "tier": "Basic"},
        kind="Default",
    )
    put_resource(call.db, scope, "workspace", name, resource, call.now)
    _ensure_datastore(call, scope, guid)
    return Reply(200, resource)  # the swagger's 200 (done) rather than 202 (provisioning)


def _ensure_datastore(call: Call, scope: str, guid: str) -> None:
    container = f"azureml-blobstore-{guid}"
    blobs.ensure_container(call.db, STORAGE_ACCOUNT, container, call.now)
    if get_resource(call.db, scope, "datastore", DEFAULT_DATASTORE) is not None:
        return
    properties = {
        "datastoreType": "AzureBlob",
        "accountName": STORAGE_ACCOUNT,
        "containerName": container,
        "endpoint": "core.windows.net",
        "protocol": "https",
        "isDefault": True,
        "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
        # Identity-based access, as ftops uses it on Azure (no key leaves the service).
        "credentials": {"credentialsType": "None"},
        "description": "The workspace's default blob store (the emulator's embedded blob service).",
        "tags": {},
    }
    rid = f"{scope}/datastores/{DEFAULT_DATASTORE}"
    resource = _envelope(call, "datastore", rid, DEFAULT_DATASTORE, properties)
    put_resource(call.db, scope, "datastore", DEFAULT_DATASTORE, resource, call.now)


def workspace_get(call: Call) -> Reply:
    return Reply(200, _workspace(call))


# --- the generic resources under a workspace ------------------------------------------------


def _child_id(call: Call, kind: str, name: str, version: str | None = None) -> str:
    rid = f"{workspace_id(call)}/{SEGMENTS[kind.removesuffix('_version')]}/{name}"
    return rid if version is None else f"{rid}/versions/{version}"


def _get(call: Call, kind: str, name: str) -> Reply:
    _workspace(call)
    found = get_resource(call.db, workspace_id(call), kind, name)
    if found is None:
        raise _not_found(kind, name)
    return Reply(200, found)


def _put(call: Call, kind: str, name: str, rid: str, properties: dict[str, Any]) -> Reply:
    scope = workspace_id(call)
    existing = get_resource(call.db, scope, kind, name)
    resource = _envelope(call, kind, rid, name.rsplit("/", 1)[-1], properties)
    if existing is not None:
        resource["systemData"]["createdAt"] = existing["systemData"]["createdAt"]
    put_resource(call.db, scope, kind, name, resource, call.now)
    return Reply(200 if existing else 201, resource)


def _properties(call: Call) -> dict[str, Any]:
    body = json_object(call)
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise ArmError(400, "UserError", "The request body must have an object 'properties'.")
    return properties


def _list(call: Call, kind: str, prefix: str = "") -> Reply:
    _workspace(call)
    rows = call.db.execute(
        "SELECT body FROM ml_resources WHERE scope = ? AND kind = ? AND substr(name, 1, ?) = ? "
        "ORDER BY created_at",
        (workspace_id(call), kind, len(prefix), prefix),
    ).fetchall()
    return Reply(200, {"value": [json.loads(r["body"]) for r in rows]})


# --- computes --------------------------------------------------------------------------------


def compute_get(call: Call) -> Reply:
    return _get(call, "compute", call.params["computeName"])


def compute_put(call: Call) -> Reply:
    _workspace(call)
    name = call.params["computeName"]
    properties = _properties(call)
    if properties.get("computeType") != "AmlCompute":
        raise ArmError(400, "UserError", "This emulator serves AmlCompute clusters only.")
    inner = properties.setdefault("properties", {})
    inner.setdefault("scaleSettings", {"minNodeCount": 0, "maxNodeCount": 1})
    inner.update(
        {
            "allocationState": "Steady",
            "currentNodeCount": 0,
            "targetNodeCount": 0,
            "allocationStateTransitionTime": iso(call.now),
        }
    )
    properties.update({"provisioningState": "Succeeded", "createdOn": iso(call.now)})
    location = json_object(call).get("location") or _workspace(call).get("location")
    reply = _put(call, "compute", name, _child_id(call, "compute", name), properties)
    reply.body["location"] = location
    put_resource(call.db, workspace_id(call), "compute", name, reply.body, call.now)
    return reply


# --- datastores ------------------------------------------------------------------------------


def datastore_get(call: Call) -> Reply:
    return _get(call, "datastore", call.params["name"])


def datastore_list(call: Call) -> Reply:
    listed = _list(call, "datastore")
    if call.query.get("isDefault", "").lower() == "true":
        listed.body["value"] = [d for d in listed.body["value"] if d["properties"]["isDefault"]]
    return listed


# --- asset versions (code, environment, data) ----------------------------------------------

_ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}$")


def _asset(call: Call) -> tuple[str, str]:
    name, version = call.params["name"], call.params["version"]
    if not _ASSET_NAME.match(name):
        raise ArmError(400, "UserError", f"'{name}' is not a valid asset name.")
    return name, version


def version_getter(kind: str) -> Any:
    def get(call: Call) -> Reply:
        name, version = _asset(call)
        return _get(call, kind, f"{name}/{version}")

    return get


def version_putter(kind: str) -> Any:
    def put(call: Call) -> Reply:
        _workspace(call)
        name, version = _asset(call)
        properties = _properties(call)
        existing = get_resource(call.db, workspace_id(call), kind, f"{name}/{version}")
        if existing is not None and kind != "environment_version":
            # Asset versions are immutable: the same version again must describe the same thing.
            if _asset_core(existing["properties"]) != _asset_core(properties):
                raise ArmError(
                    409,
                    "UserError",
                    f"Version {version} of {name} already exists with different content.",
                )
            return Reply(200, existing)
        if kind != "data_version":  # data versions have no provisioning state
            properties.setdefault("provisioningState", "Succeeded")
        for field in ("properties", "tags"):  # Azure keeps string maps
            if isinstance(properties.get(field), dict):
                properties[field] = {k: str(v) for k, v in properties[field].items()}
        properties.setdefault("isArchived", False)
        properties.setdefault("isAnonymous", False)
        if kind == "model_version":
            properties.setdefault("flavors", {})
        _ensure_container(call, kind.removesuffix("_version"), name)
        return _put(
            call, kind, f"{name}/{version}", _child_id(call, kind, name, version), properties
        )

    return put


def _asset_core(properties: dict[str, Any]) -> Any:
    return {k: properties.get(k) for k in ("codeUri", "dataUri", "image", "dataType")}


def _ensure_container(call: Call, kind: str, name: str) -> None:
    scope = workspace_id(call)
    if get_resource(call.db, scope, kind, name) is not None:
        return
    properties = {"isArchived": False, "latestVersion": None, "nextVersion": None}
    if kind == "data":
        properties["dataType"] = _properties(call).get("dataType", "uri_file")
    resource = _envelope(call, kind, _child_id(call, kind, name), name, properties)
    put_resource(call.db, scope, kind, name, resource, call.now)


def version_lister(kind: str) -> Any:
    def list_versions(call: Call) -> Reply:
        if call.query.get("hash"):
            # The emulator keeps no content hashes: no version matches, and the SDK uploads.
            _workspace(call)
            return Reply(200, {"value": []})
        return _list(call, kind, call.params["name"] + "/")

    return list_versions


def start_pending_upload(call: Call) -> Reply:
    """A SAS URL in the default datastore where the SDK uploads a code snapshot."""
    workspace = _workspace(call)
    name, version = _asset(call)
    container = f"azureml-blobstore-{workspace['properties']['workspaceId']}"
    path = f"LocalUpload/{name}/{version}"
    blob_uri = f"{blobs.blob_url(call.base_url, STORAGE_ACCOUNT)}/{container}/{path}"
    sas = f"{blob_uri}?sv=2025-01-05&sr=c&sp=rcwl&se=2099-01-01T00%3A00%3A00Z&sig=emulator"
    return Reply(
        200,
        {
            "blobReferenceForConsumption": {
                "blobUri": blob_uri,
                "storageAccountArmId": workspace["properties"]["storageAccount"],
                "credential": {"credentialType": "SAS", "sasUri": sas},
            },
            "pendingUploadId": str(uuid.uuid4()),
            "pendingUploadType": "TemporaryBlobReference",
        },
    )


# --- jobs ------------------------------------------------------------------------------------


def job_get(call: Call) -> Reply:
    _workspace(call)
    name = call.params["id"]
    found = get_resource(call.db, workspace_id(call), "job", name)
    if found is None:
        raise _not_found("job", name)
    return Reply(200, found)


def job_list(call: Call) -> Reply:
    return _list(call, "job")


def data_list(call: Call) -> Reply:
    """DataContainer_List: the data assets, by name."""
    return _list(call, "data")


def job_put(call: Call) -> Reply:
    workspace = _workspace(call)
    name = call.params["id"]
    scope = workspace_id(call)
    properties = _properties(call)
    existing = get_resource(call.db, scope, "job", name)
    if existing is not None:
        # A job's definition is immutable once submitted; Azure accepts only tag changes.
        existing["properties"]["tags"] = properties.get("tags", {})
        put_resource(call.db, scope, "job", name, existing, call.now)
        return Reply(200, existing)
    if properties.get("jobType") != "Command":  # FineTuning jobs are azureml_maas's
        raise ArmError(400, "UserError", "This emulator runs command and fine-tuning jobs only.")
    compute = str(properties.get("computeId") or "")
    if get_resource(call.db, scope, "compute", compute.rsplit("/", 1)[-1]) is None:
        raise ArmError(400, "UserError", f"Compute '{compute}' was not found in the workspace.")
    properties.update(
        {
            "status": "NotStarted",
            "services": {
                "Studio": {"jobServiceType": "Studio", "endpoint": f"{call.base_url}/studio/{name}"}
            },
        }
    )
    properties.setdefault("experimentName", "Default")
    properties.setdefault("displayName", name)
    resource = _envelope(call, "job", f"{scope}/jobs/{name}", name, properties)
    put_resource(call.db, scope, "job", name, resource, call.now)
    azureml_runs.schedule(call, scope, name, workspace["properties"]["workspaceId"])
    return Reply(201, resource)


def job_cancel(call: Call) -> Reply:
    _workspace(call)
    name = call.params["id"]
    scope = workspace_id(call)
    found = get_resource(call.db, scope, "job", name)
    if found is None:
        raise _not_found("job", name)
    if found["properties"]["status"] not in azureml_runs.TERMINAL:
        found["properties"]["status"] = "CancelRequested"
        put_resource(call.db, scope, "job", name, found, call.now)
        azureml_runs.cancel(call.db, scope, name)
    # 200 (done), which the swagger allows beside 202: the cancellation is recorded at once and
    # the job reads CancelRequested until its processes are gone.
    return Reply(200, None)
