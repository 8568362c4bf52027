"""Managed online endpoints and their deployments (Microsoft.MachineLearningServices), as ARM
long-running operations on the simulated clock, and their scoring route.

A PUT answers 201 (or 200) with `Azure-AsyncOperation`; the resource is `Creating` (`Updating`)
until its time has passed on the clock, then `Succeeded`. A DELETE answers 202 with `Location`
and the resource is gone once its time has passed. An endpoint's traffic must name its
deployments and add up to 100 (or 0). Scoring runs the deployment's own scoring script on this
machine (`azureml_scoring`): its code asset and model copied out of the blob store, `init()`
once per request's process, then `run()`: what the service's inference server does.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

from reconciler.emulator import azureml, azureml_scoring
from reconciler.emulator.arm import iso, json_object
from reconciler.emulator.routing import ArmError, Call, Reply

ENDPOINT_SECONDS = 90.0  # Azure: a minute or two
DEPLOYMENT_SECONDS = 600.0  # Azure: about ten minutes (image build, model download, init)
UPDATE_SECONDS = 300.0
DELETE_SECONDS = 60.0
ENDPOINT, DEPLOYMENT, OPERATION = "online_endpoint", "online_deployment", "ml_operation"
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
_BUSY = ("Creating", "Updating", "Deleting")

azureml.TYPES[ENDPOINT] = f"{azureml.PROVIDER}/workspaces/onlineEndpoints"
azureml.TYPES[DEPLOYMENT] = f"{azureml.PROVIDER}/workspaces/onlineEndpoints/deployments"


# --- the clock ---------------------------------------------------------------------------------


def settle(call: Call, scope: str | None = None) -> None:
    """Every online resource of the workspace whose operation's time has passed: done."""
    scope = scope or azureml.workspace_id(call)
    rows = call.db.execute(
        "SELECT name, kind, body FROM ml_resources WHERE scope = ? AND kind IN (?, ?)",
        (scope, ENDPOINT, DEPLOYMENT),
    ).fetchall()
    for row in rows:
        resource = json.loads(row["body"])
        due = float(resource.get("_due", 0))
        state = resource["properties"].get("provisioningState")
        if state not in _BUSY or call.now < due:
            continue
        if state == "Deleting":
            _forget(call, scope, row["kind"], row["name"])
            continue
        resource["properties"]["provisioningState"] = "Succeeded"
        resource["systemData"]["lastModifiedAt"] = iso(due)
        azureml.put_resource(call.db, scope, row["kind"], row["name"], resource, call.now)


def _forget(call: Call, scope: str, kind: str, name: str) -> None:
    call.db.execute(
        "DELETE FROM ml_resources WHERE scope = ? AND kind = ? AND (name = ? OR "
        "substr(name, 1, ?) = ?)",
        (scope, kind, name, len(name) + 1, name + "/"),
    )
    if kind == ENDPOINT:  # its deployments go with it
        _forget(call, scope, DEPLOYMENT, name)


def _operation(call: Call, kind: str, name: str, due: float) -> str:
    op_id = str(uuid.uuid4())
    body = {"kind": kind, "name": name, "due": due, "started": call.now}
    azureml.put_resource(call.db, azureml.workspace_id(call), OPERATION, op_id, body, call.now)
    return op_id


def _operation_url(call: Call, op_id: str, what: str) -> str:
    p = call.params
    location = azureml._workspace(call)["location"]
    return (
        f"{call.base_url}/subscriptions/{p['subscriptionId']}/providers/{azureml.PROVIDER}"
        f"/locations/{location}/{what}/{op_id}?api-version={call.api_version}"
    )


def _find_operation(call: Call) -> dict[str, Any]:
    row = call.db.execute(
        "SELECT scope, body FROM ml_resources WHERE kind = ? AND name = ?",
        (OPERATION, call.params["operationId"]),
    ).fetchone()
    if row is None:
        raise ArmError(404, "NotFound", f"Operation {call.params['operationId']} not found.")
    found = json.loads(row["body"])
    return dict(found)


def operation_status(call: Call) -> Reply:
    """The Azure-AsyncOperation status of a PUT."""
    op = _find_operation(call)
    done = call.now >= float(op["due"])
    body: dict[str, Any] = {
        "id": call.path,
        "name": call.params["operationId"],
        "status": "Succeeded" if done else "InProgress",
        "startTime": iso(op["started"]),
    }
    if done:
        body["endTime"] = iso(op["due"])
    return Reply(200, body, {} if done else {"Retry-After": "1"})


def operation_result(call: Call) -> Reply:
    """The Location of a DELETE: 202 while it runs, then 200."""
    op = _find_operation(call)
    if call.now < float(op["due"]):
        url = f"{call.base_url}{call.path}?api-version={call.api_version}"
        return Reply(202, None, {"Location": url, "Retry-After": "1"})
    return Reply(200, None)


# --- endpoints -------------------------------------------------------------------------------


def _public(resource: dict[str, Any], call: Call | None = None) -> dict[str, Any]:
    """The resource as the service shows it; an endpoint's URIs at this emulator's address
    (the embedded one listens on a new port per command)."""
    public = {k: v for k, v in resource.items() if not k.startswith("_")}
    properties = public.get("properties") or {}
    if call is not None and "scoringUri" in properties:
        path = properties["scoringUri"].split("/online/", 1)[1].removesuffix("/score")
        properties["scoringUri"] = f"{call.base_url}/online/{path}/score"
        properties["swaggerUri"] = f"{call.base_url}/online/{path}/swagger.json"
    return public


def _endpoint(call: Call, name: str) -> dict[str, Any]:
    azureml._workspace(call)
    found = azureml.get_resource(call.db, azureml.workspace_id(call), ENDPOINT, name)
    if found is None or found["properties"].get("provisioningState") == "Deleting":
        raise azureml._not_found(ENDPOINT, name)
    return found


def endpoint_get(call: Call) -> Reply:
    settle(call)
    return Reply(200, _public(_endpoint(call, call.params["endpointName"]), call))


def endpoint_list(call: Call) -> Reply:
    settle(call)
    listed = azureml._list(call, ENDPOINT)
    listed.body["value"] = [
        _public(e, call)
        for e in listed.body["value"]
        if e["properties"].get("provisioningState") != "Deleting"
    ]
    return listed


def endpoint_put(call: Call) -> Reply:
    workspace = azureml._workspace(call)
    settle(call)
    scope, name = azureml.workspace_id(call), call.params["endpointName"]
    if not _ENDPOINT_NAME.match(name):
        raise ArmError(400, "UserError", f"'{name}' is not a valid online endpoint name.")
    body = json_object(call)
    properties = dict(body.get("properties") or {})
    existing = azureml.get_resource(call.db, scope, ENDPOINT, name)
    if existing is not None and existing["properties"]["provisioningState"] in _BUSY:
        raise ArmError(409, "Conflict", f"Endpoint {name} has an operation in progress.")
    traffic = {k: int(v) for k, v in (properties.get("traffic") or {}).items()}
    _check_traffic(call, name, traffic)
    guid = workspace["properties"]["workspaceId"]
    keys = (existing or {}).get("_keys") or [secrets.token_hex(16), secrets.token_hex(16)]
    seconds = ENDPOINT_SECONDS if existing is None else 0.0  # a traffic or tag change is quick
    resource = azureml._envelope(
        call,
        ENDPOINT,
        f"{scope}/onlineEndpoints/{name}",
        name,
        {
            "authMode": properties.get("authMode", "Key"),
            "description": properties.get("description"),
            "properties": properties.get("properties") or {},
            "traffic": traffic,
            "mirrorTraffic": properties.get("mirrorTraffic") or {},
            "publicNetworkAccess": properties.get("publicNetworkAccess", "Enabled"),
            "scoringUri": f"{call.base_url}/online/{guid}/{name}/score",
            "swaggerUri": f"{call.base_url}/online/{guid}/{name}/swagger.json",
            "provisioningState": "Creating" if existing is None else "Updating",
        },
        location=body.get("location") or workspace["location"],
        tags=body.get("tags") or {},
        identity=body.get("identity") or {"type": "SystemAssigned"},
    )
    if existing is not None:
        resource["systemData"]["createdAt"] = existing["systemData"]["createdAt"]
    due = call.now + seconds
    stored = resource | {"_keys": keys, "_due": due}
    azureml.put_resource(call.db, scope, ENDPOINT, name, stored, call.now)
    op_id = _operation(call, ENDPOINT, name, due)
    if seconds == 0:
        settle(call)
        resource = _public(_endpoint(call, name), call)
    headers = {"Azure-AsyncOperation": _operation_url(call, op_id, "mfeOperationsStatus")}
    return Reply(200 if existing else 201, resource, headers)


def _check_traffic(call: Call, endpoint: str, traffic: dict[str, int]) -> None:
    """The service's rules: every named deployment exists, and the shares add up to 100 (or are
    all 0)."""
    scope = azureml.workspace_id(call)
    for deployment in traffic:
        found = azureml.get_resource(call.db, scope, DEPLOYMENT, f"{endpoint}/{deployment}")
        if found is None:
            raise ArmError(
                400,
                "UserError",
                f"Traffic names deployment '{deployment}', which endpoint {endpoint} lacks.",
            )
    total = sum(traffic.values())
    if traffic and total not in (0, 100):
        raise ArmError(400, "UserError", f"Traffic adds up to {total}; it must be 100 (or 0).")


def endpoint_delete(call: Call) -> Reply:
    azureml._workspace(call)
    settle(call)
    scope, name = azureml.workspace_id(call), call.params["endpointName"]
    return _start_delete(call, scope, ENDPOINT, name)


def _start_delete(call: Call, scope: str, kind: str, name: str) -> Reply:
    """202 with the operation's Location; the resource reads `Deleting` until it is gone."""
    found = azureml.get_resource(call.db, scope, kind, name)
    if found is None:
        return Reply(204, None)
    due = call.now + DELETE_SECONDS
    found["properties"]["provisioningState"] = "Deleting"
    azureml.put_resource(call.db, scope, kind, name, found | {"_due": due}, call.now)
    op_id = _operation(call, kind, name, due)
    location = _operation_url(call, op_id, "mfeOperationResults")
    return Reply(202, None, {"Location": location, "Retry-After": "1"})


def keys(call: Call) -> Reply:
    primary, secondary = _endpoint(call, call.params["endpointName"])["_keys"]
    return Reply(200, {"primaryKey": primary, "secondaryKey": secondary})


# --- deployments -----------------------------------------------------------------------------


def _deployment_key(call: Call) -> str:
    return f"{call.params['endpointName']}/{call.params['deploymentName']}"


def deployment_get(call: Call) -> Reply:
    settle(call)
    _endpoint(call, call.params["endpointName"])
    found = azureml.get_resource(
        call.db, azureml.workspace_id(call), DEPLOYMENT, _deployment_key(call)
    )
    if found is None or found["properties"].get("provisioningState") == "Deleting":
        raise azureml._not_found(DEPLOYMENT, call.params["deploymentName"])
    return Reply(200, _public(found))


def deployment_list(call: Call) -> Reply:
    settle(call)
    _endpoint(call, call.params["endpointName"])
    listed = azureml._list(call, DEPLOYMENT, call.params["endpointName"] + "/")
    listed.body["value"] = [_public(d) for d in listed.body["value"]]
    return listed


def deployment_put(call: Call) -> Reply:
    settle(call)
    endpoint = _endpoint(call, call.params["endpointName"])
    scope, key = azureml.workspace_id(call), _deployment_key(call)
    body = json_object(call)
    properties = dict(body.get("properties") or {})
    _check_deployment(call, properties)
    existing = azureml.get_resource(call.db, scope, DEPLOYMENT, key)
    if existing is not None and existing["properties"]["provisioningState"] in _BUSY:
        raise ArmError(409, "Conflict", f"Deployment {key} has an operation in progress.")
    sku = dict(body.get("sku") or {"name": "Default", "capacity": 1})
    properties["provisioningState"] = "Creating" if existing is None else "Updating"
    properties.setdefault("endpointComputeType", "Managed")
    properties.setdefault("scaleSettings", {"scaleType": "Default"})
    properties.setdefault("requestSettings", {"maxConcurrentRequestsPerInstance": 1})
    name = call.params["deploymentName"]
    resource = azureml._envelope(
        call,
        DEPLOYMENT,
        f"{endpoint['id']}/deployments/{name}",
        name,
        properties,
        location=body.get("location") or endpoint["location"],
        tags=body.get("tags") or {},
        sku=sku,
        kind=body.get("kind") or "Managed",
    )
    if existing is not None:
        resource["systemData"]["createdAt"] = existing["systemData"]["createdAt"]
    due = call.now + (DEPLOYMENT_SECONDS if existing is None else UPDATE_SECONDS)
    azureml.put_resource(call.db, scope, DEPLOYMENT, key, resource | {"_due": due}, call.now)
    op_id = _operation(call, DEPLOYMENT, key, due)
    headers = {"Azure-AsyncOperation": _operation_url(call, op_id, "mfeOperationsStatus")}
    return Reply(200 if existing else 201, resource, headers)


def _check_deployment(call: Call, properties: dict[str, Any]) -> None:
    """What the service checks before it provisions: the instances, the model, the code."""
    if not str(properties.get("instanceType") or "").startswith("Standard_"):
        raise ArmError(400, "UserError", "A managed online deployment needs an instanceType.")
    scope = azureml.workspace_id(call)
    model = azureml_scoring.model_version(str(properties.get("model") or ""))
    if model is None:
        raise ArmError(400, "UserError", "A managed online deployment needs a registered model.")
    name, version = model
    if azureml.get_resource(call.db, scope, "model_version", f"{name}/{version}") is None:
        raise ArmError(400, "UserError", f"Model {name}:{version} was not found.")
    code = str((properties.get("codeConfiguration") or {}).get("codeId") or "")
    found = re.search(r"/codes/([^/]+)/versions/([^/]+)$", code)
    name = "/".join(found.groups()) if found else ""
    if not found or azureml.get_resource(call.db, scope, "code_version", name) is None:
        raise ArmError(400, "UserError", f"Code {code or '(none)'} was not found.")


def deployment_delete(call: Call) -> Reply:
    settle(call)
    scope, key = azureml.workspace_id(call), _deployment_key(call)
    endpoint = _endpoint(call, call.params["endpointName"])
    if endpoint["properties"]["traffic"].get(call.params["deploymentName"], 0) > 0:
        raise ArmError(400, "UserError", "A deployment that takes traffic cannot be deleted.")
    return _start_delete(call, scope, DEPLOYMENT, key)


# --- scoring ---------------------------------------------------------------------------------


def score(call: Call) -> Reply:
    """The endpoint's scoring URI: its key, then the deployment its traffic goes to, whose
    scoring script answers."""
    rows = call.db.execute(
        "SELECT scope, body FROM ml_resources WHERE kind = ? AND name = ?",
        (ENDPOINT, call.params["name"]),
    ).fetchall()
    suffix = f"/online/{call.params['workspaceGuid']}/{call.params['name']}/score"
    endpoints = [(r["scope"], json.loads(r["body"])) for r in rows]
    found = [(s, e) for s, e in endpoints if e["properties"]["scoringUri"].endswith(suffix)]
    if not found:
        raise ArmError(404, "NotFound", "No online endpoint answers at this address.")
    scope, endpoint = found[0]
    settle(call, scope)
    endpoint = azureml.get_resource(call.db, scope, ENDPOINT, call.params["name"]) or endpoint
    given = call.headers.get("authorization", "").removeprefix("Bearer ")
    if given not in endpoint["_keys"]:
        raise ArmError(401, "Unauthorized", "The endpoint key is missing or wrong.")
    traffic = {k: v for k, v in endpoint["properties"]["traffic"].items() if v > 0}
    if not traffic:
        raise ArmError(424, "NoTraffic", "The endpoint routes no traffic to any deployment.")
    name = max(traffic, key=lambda k: traffic[k])
    deployment = azureml.get_resource(call.db, scope, DEPLOYMENT, f"{call.params['name']}/{name}")
    if deployment is None or deployment["properties"]["provisioningState"] != "Succeeded":
        raise ArmError(503, "NotReady", f"Deployment {name} is not ready.")
    cache = Path(f"{call.emulator.store.path}.online")
    return azureml_scoring.answer(call.db, scope, deployment["properties"], call.body, cache)
