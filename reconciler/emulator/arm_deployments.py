"""ARM: deployments (PUT with Azure-AsyncOperation, PATCH and DELETE with Location, GET, LIST with
nextLink, list SKUs) and the operations that poll them.

Rules of the real service kept here:
- one deployment operation at a time per account: another one while it runs is a 409
  `RequestConflict` (no Retry-After, so the SDK does not retry it);
- a fine-tuned model deploys only where it exists: in this account, or in the account named by
  `properties.model.source` / `sourceAccount` (an ARM id); the target keeps what it received;
- a source account in another tenant needs `x-ms-authorization-auxiliary: Bearer <token>`;
- at most MAX_FINE_TUNED_DEPLOYMENTS fine-tuned deployments per account;
- model and capacity cannot change in one request;
- a fine-tuned deployment without chat traffic for 15 simulated days is deleted;
- a Developer-tier deployment (sku DeveloperTier) is deleted 24 simulated hours after its creation.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from reconciler.emulator import ids, jobs
from reconciler.emulator.arm import PROVIDER, arm_account, iso, json_object, page, system_data
from reconciler.emulator.catalog import (
    BASE_SKUS,
    DEVELOPER_DEPLOYMENT_SECONDS,
    DEVELOPER_SKU,
    FINE_TUNED_MODEL_VERSION,
    FINE_TUNED_SKUS,
    IDLE_DEPLOYMENT_SECONDS,
    MAX_FINE_TUNED_DEPLOYMENTS,
    base_model_for_deployment,
)
from reconciler.emulator.routing import ArmError, Call, Reply
from reconciler.emulator.store import dumps, loads
from reconciler.emulator.world import account_arm_id, account_by_arm_id, account_tenant

# Simulated seconds each operation takes.
CREATE_FINE_TUNED_SECONDS = 120.0
CREATE_BASE_SECONDS = 30.0
UPDATE_SECONDS = 30.0
DELETE_SECONDS = 30.0
AUX_HEADER = "x-ms-authorization-auxiliary"
READ_ONLY_PROPERTIES = {
    "provisioningState",
    "capabilities",
    "callRateLimit",
    "rateLimits",
    "dynamicThrottlingEnabled",
}


FINE_TUNED_MARK = ".ft-"


def is_fine_tuned(model_name: str) -> bool:
    return FINE_TUNED_MARK in model_name


# --- rendering --------------------------------------------------------------------------------


def deployment_json(row: sqlite3.Row) -> dict[str, Any]:
    body = loads(row["body"])
    sku = body["sku"]
    model = body["properties"]["model"]
    properties = {
        **body["properties"],
        "provisioningState": row["state"],
        "currentCapacity": sku.get("capacity", 1),
        "capabilities": {"chatCompletion": "true", "area": "US"},
        "rateLimits": [
            {"key": "request", "renewalPeriod": 10, "count": sku.get("capacity", 1)},
            {"key": "token", "renewalPeriod": 60, "count": 1000 * sku.get("capacity", 1)},
        ],
    }
    properties.setdefault("raiPolicyName", "Microsoft.DefaultV2")
    properties.setdefault(
        "versionUpgradeOption",
        "NoAutoUpgrade" if is_fine_tuned(model["name"]) else "OnceNewDefaultVersionAvailable",
    )
    result: dict[str, Any] = {
        "id": f"{row['account_id']}/deployments/{row['name']}",
        "name": row["name"],
        "type": f"{PROVIDER}/accounts/deployments",
        "sku": sku,
        "etag": row["etag"],
        "systemData": system_data(row["created_at"], row["modified_at"]),
        "properties": properties,
    }
    if body.get("tags"):
        result["tags"] = body["tags"]
    return result


DEPLOYMENT_SELECT = (
    "SELECT d.*, '/subscriptions/' || a.subscription || '/resourceGroups/' || a.resource_group "
    "|| '/providers/Microsoft.CognitiveServices/accounts/' || a.name AS account_id "
    "FROM deployments d JOIN accounts a ON a.name = d.account"
)


def deployment_row(db: sqlite3.Connection, account: str, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        f"{DEPLOYMENT_SELECT} WHERE d.account = ? AND d.name = ?", (account, name)
    ).fetchone()
    return row


def _not_found(name: str) -> ArmError:
    return ArmError(404, "DeploymentNotFound", f"Deployment {name} not found.")


# --- operations (LRO) -------------------------------------------------------------------------


def _check_no_operation_running(call: Call, account: sqlite3.Row) -> None:
    running = call.db.execute(
        "SELECT id FROM operations WHERE account = ? AND applied = 0", (account["name"],)
    ).fetchone()
    if running is not None:
        raise ArmError(
            409,
            "RequestConflict",
            "Another operation is being performed on the parent resource "
            f"'{account_arm_id(account)}'. Please try again later.",
        )


def _start_operation(call: Call, account: sqlite3.Row, name: str, kind: str, seconds: float) -> str:
    op_id = ids.operation_id()
    call.db.execute(
        "INSERT INTO operations (id, account, deployment, kind, started_at, done_at) "
        "VALUES (?,?,?,?,?,?)",
        (op_id, account["name"], name, kind, call.now, call.now + seconds),
    )
    return op_id


def _operation_url(call: Call, account: sqlite3.Row, op_id: str, collection: str) -> str:
    return (
        f"{call.base_url}/subscriptions/{account['subscription']}/providers/{PROVIDER}/locations/"
        f"{account['location']}/{collection}/{op_id}?api-version={call.api_version}"
    )


def settle(db: sqlite3.Connection, now: float) -> None:
    """Apply finished operations, delete idle fine-tuned and expired Developer-tier deployments."""
    finished = db.execute(
        "SELECT * FROM operations WHERE applied = 0 AND done_at <= ? ORDER BY done_at", (now,)
    ).fetchall()
    for op in finished:
        if op["kind"] == "delete":
            db.execute(
                "DELETE FROM deployments WHERE account = ? AND name = ?",
                (op["account"], op["deployment"]),
            )
        else:
            db.execute(
                "UPDATE deployments SET state = 'Succeeded', modified_at = ?, "
                "last_used_at = MAX(last_used_at, ?) WHERE account = ? AND name = ?",
                (op["done_at"], op["done_at"], op["account"], op["deployment"]),
            )
        db.execute("UPDATE operations SET applied = 1 WHERE id = ?", (op["id"],))
    _expire_idle(db, now)
    _expire_developer(db, now)


def _expire_developer(db: sqlite3.Connection, now: float) -> None:
    db.execute(
        "DELETE FROM deployments WHERE json_extract(body, '$.sku.name') = ? AND created_at <= ?",
        (DEVELOPER_SKU, now - DEVELOPER_DEPLOYMENT_SECONDS),
    )


def _expire_idle(db: sqlite3.Connection, now: float) -> None:
    """Fine-tuned deployments idle for 15 days go (base-model ones stay): decided in SQL, as
    this runs on every ARM request and a fleet holds thousands of deployments."""
    db.execute(
        "DELETE FROM deployments WHERE state = 'Succeeded' AND last_used_at <= ? "
        "AND instr(json_extract(body, '$.properties.model.name'), ?) > 0",
        (now - IDLE_DEPLOYMENT_SECONDS, FINE_TUNED_MARK),
    )


def _retry_hint(call: Call, op: sqlite3.Row) -> dict[str, str]:
    """Poll again when the operation will be done (in real seconds), so SDK polling is quick."""
    real = call.emulator.clock.real_seconds(op["done_at"] - call.now)
    millis = int(min(5000, max(10, real * 1000)))
    # Only the millisecond header: azure-core reads Retry-After first and it has whole seconds.
    return {"retry-after-ms": str(millis)}


def _operation(call: Call) -> sqlite3.Row:
    op: sqlite3.Row | None = call.db.execute(
        "SELECT * FROM operations WHERE id = ?", (call.params["operationId"],)
    ).fetchone()
    if op is None:
        raise ArmError(
            404, "OperationNotFound", f"Operation {call.params['operationId']} not found."
        )
    return op


def operation_status(call: Call) -> Reply:
    """The Azure-AsyncOperation status body (contracts.md §3.3)."""
    op = _operation(call)
    done = bool(op["applied"])
    body: dict[str, Any] = {
        "id": call.path,
        "name": op["id"],
        "status": "Succeeded" if done else "InProgress",
        "startTime": iso(op["started_at"]),
    }
    if done:
        body["endTime"] = iso(op["done_at"])
        return Reply(200, body)
    return Reply(200, body, _retry_hint(call, op))


def operation_result(call: Call) -> Reply:
    """The Location target: 202 while running; then 204 (delete) or 200 with the deployment."""
    op = _operation(call)
    if not op["applied"]:
        headers = {"Location": f"{call.base_url}{call.path}?api-version={call.api_version}"}
        return Reply(202, None, {**headers, **_retry_hint(call, op)})
    row = deployment_row(call.db, op["account"], op["deployment"])
    if op["kind"] == "delete" or row is None:
        return Reply(204, None)
    return Reply(200, deployment_json(row))


# --- create or update -------------------------------------------------------------------------


def create_or_update(call: Call) -> Reply:
    account = arm_account(call)
    name = call.params["deploymentName"]
    body = json_object(call)
    _check_no_operation_running(call, account)
    existing = deployment_row(call.db, account["name"], name)
    stored = _desired(call, account, body)
    _check_change(existing, stored)
    model_name = stored["properties"]["model"]["name"]
    if existing is None and is_fine_tuned(model_name):
        _check_fine_tuned_limit(call.db, account)
    seconds = CREATE_FINE_TUNED_SECONDS if is_fine_tuned(model_name) else CREATE_BASE_SECONDS
    op_id = _start_operation(
        call, account, name, "create", seconds if existing is None else UPDATE_SECONDS
    )
    if existing is None:
        call.db.execute(
            "INSERT INTO deployments (account, name, body, state, etag, created_at, modified_at, "
            "last_used_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                account["name"],
                name,
                dumps(stored),
                "Creating",
                ids.etag(),
                call.now,
                call.now,
                call.now,
            ),
        )
    else:
        call.db.execute(
            "UPDATE deployments SET body = ?, state = 'Accepted', etag = ?, modified_at = ? "
            "WHERE account = ? AND name = ?",
            (dumps(stored), ids.etag(), call.now, account["name"], name),
        )
    row = deployment_row(call.db, account["name"], name)
    assert row is not None
    headers = {"Azure-AsyncOperation": _operation_url(call, account, op_id, "operationStatuses")}
    return Reply(201 if existing is None else 200, deployment_json(row), headers)


def _desired(call: Call, account: sqlite3.Row, body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a PUT body, after validating its model, source and SKU."""
    properties = {
        k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY_PROPERTIES
    }
    model = properties.get("model")
    if not isinstance(model, dict) or not model.get("name"):
        raise ArmError(
            400, "InvalidResourceProperties", "The 'properties.model.name' property is required."
        )
    if model.get("format", "OpenAI") != "OpenAI":
        raise ArmError(
            400,
            "DeploymentModelNotSupported",
            f"The model format '{model.get('format')}' is not supported.",
        )
    model = {k: v for k, v in model.items() if k != "callRateLimit"}
    model["format"] = "OpenAI"
    if is_fine_tuned(model["name"]):
        _check_fine_tuned_model(call, account, model)
    else:
        _check_base_model(model)
    sku = body.get("sku")
    if not isinstance(sku, dict) or not sku.get("name"):
        raise ArmError(
            400, "InvalidResourceProperties", "The 'sku' property with a 'name' is required."
        )
    _check_sku(sku, model["name"])
    properties["model"] = model
    stored: dict[str, Any] = {
        "sku": {**sku, "capacity": sku.get("capacity", 1)},
        "properties": properties,
    }
    if body.get("tags"):
        stored["tags"] = body["tags"]
    return stored


def _check_base_model(model: dict[str, Any]) -> None:
    entry = base_model_for_deployment(model["name"], model.get("version"))
    if entry is None:
        raise ArmError(
            400,
            "DeploymentModelNotSupported",
            f"The model '{model['name']}' version '{model.get('version')}' is not available.",
        )
    model["version"] = entry.version


def _check_fine_tuned_model(call: Call, account: sqlite3.Row, model: dict[str, Any]) -> None:
    version = model.setdefault("version", FINE_TUNED_MODEL_VERSION)
    if version != FINE_TUNED_MODEL_VERSION:
        raise ArmError(
            400,
            "DeploymentModelNotSupported",
            f"Fine-tuned models have version '{FINE_TUNED_MODEL_VERSION}', not '{version}'.",
        )
    owner = account
    for key in ("sourceAccount", "source"):
        if model.get(key):
            owner = _source_account(call, account, str(model[key]), key)
            break
    if jobs.succeeded_job_for_model(call.db, owner["name"], model["name"], call.now) is None:
        raise ArmError(
            400,
            "DeploymentModelNotFound",
            f"The model '{model['name']}' was not found in account '{owner['name']}'.",
        )


def _source_account(call: Call, target: sqlite3.Row, arm_id: str, key: str) -> sqlite3.Row:
    source = account_by_arm_id(call.db, arm_id)
    if source is None:
        raise ArmError(
            400,
            "InvalidResourceProperties",
            f"The {key} '{arm_id}' is not the ARM id of an existing Cognitive Services account.",
        )
    if account_tenant(source) != account_tenant(target):
        auxiliary = call.headers.get(AUX_HEADER, "")
        if not auxiliary.lower().startswith("bearer ") or len(auxiliary) <= len("bearer "):
            raise ArmError(
                401,
                "InvalidAuthenticationTokenTenant",
                f"The source account '{arm_id}' is in tenant '{account_tenant(source)}'; deploying "
                f"from it requires a token for that tenant in the '{AUX_HEADER}' header.",
            )
    return source


def _check_sku(sku: dict[str, Any], model_name: str) -> None:
    allowed = FINE_TUNED_SKUS if is_fine_tuned(model_name) else BASE_SKUS
    if sku["name"] not in allowed:
        raise ArmError(
            400,
            "InvalidSkuName",
            f"The SKU '{sku['name']}' is not supported for model '{model_name}'. "
            f"Supported: {', '.join(allowed)}.",
        )
    capacity = sku.get("capacity", 1)
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        raise ArmError(400, "InvalidCapacity", "The sku capacity must be a positive integer.")


def _check_change(existing: sqlite3.Row | None, stored: dict[str, Any]) -> None:
    if existing is None:
        return
    old = loads(existing["body"])
    old_model = old["properties"]["model"]
    new_model = stored["properties"]["model"]
    model_changed = (old_model["name"], old_model.get("version")) != (
        new_model["name"],
        new_model.get("version"),
    )
    capacity_changed = old["sku"].get("capacity") != stored["sku"].get("capacity")
    if model_changed and capacity_changed:
        raise ArmError(
            400,
            "InvalidResourceProperties",
            "Changing the model and the capacity of a deployment in one request is not "
            "supported; change them one at a time.",
        )


def _check_fine_tuned_limit(db: sqlite3.Connection, account: sqlite3.Row) -> None:
    rows = db.execute("SELECT body FROM deployments WHERE account = ?", (account["name"],))
    count = sum(1 for r in rows if is_fine_tuned(loads(r["body"])["properties"]["model"]["name"]))
    if count >= MAX_FINE_TUNED_DEPLOYMENTS:
        raise ArmError(
            400,
            "QuotaExceeded",
            f"The account already has {count} fine-tuned model deployments; the limit is "
            f"{MAX_FINE_TUNED_DEPLOYMENTS}.",
        )


# --- update, delete, read ---------------------------------------------------------------------


def update(call: Call) -> Reply:
    """Deployments_Update: tags and sku; 202 with Location."""
    account = arm_account(call)
    name = call.params["deploymentName"]
    existing = deployment_row(call.db, account["name"], name)
    if existing is None:
        raise _not_found(name)
    patch = json_object(call)
    _check_no_operation_running(call, account)
    stored = loads(existing["body"])
    if "tags" in patch:
        stored["tags"] = patch["tags"] or {}
    if patch.get("sku"):
        sku = {**stored["sku"], **patch["sku"]}
        _check_sku(sku, stored["properties"]["model"]["name"])
        stored["sku"] = sku
    op_id = _start_operation(call, account, name, "update", UPDATE_SECONDS)
    call.db.execute(
        "UPDATE deployments SET body = ?, state = 'Accepted', etag = ?, modified_at = ? "
        "WHERE account = ? AND name = ?",
        (dumps(stored), ids.etag(), call.now, account["name"], name),
    )
    location = _operation_url(call, account, op_id, "operationResults")
    return Reply(202, None, {"Location": location})


def delete(call: Call) -> Reply:
    account = arm_account(call)
    name = call.params["deploymentName"]
    existing = deployment_row(call.db, account["name"], name)
    if existing is None:
        return Reply(204, None)
    _check_no_operation_running(call, account)
    op_id = _start_operation(call, account, name, "delete", DELETE_SECONDS)
    call.db.execute(
        "UPDATE deployments SET state = 'Deleting', modified_at = ? WHERE account = ? AND name = ?",
        (call.now, account["name"], name),
    )
    location = _operation_url(call, account, op_id, "operationResults")
    return Reply(202, None, {"Location": location})


def get(call: Call) -> Reply:
    account = arm_account(call)
    row = deployment_row(call.db, account["name"], call.params["deploymentName"])
    if row is None:
        raise _not_found(call.params["deploymentName"])
    return Reply(200, deployment_json(row))


def list_deployments(call: Call) -> Reply:
    account = arm_account(call)
    rows = call.db.execute(
        f"{DEPLOYMENT_SELECT} WHERE d.account = ? ORDER BY d.name", (account["name"],)
    )
    return page(call, [deployment_json(row) for row in rows])


def list_skus(call: Call) -> Reply:
    account = arm_account(call)
    row = deployment_row(call.db, account["name"], call.params["deploymentName"])
    if row is None:
        raise _not_found(call.params["deploymentName"])
    model_name = loads(row["body"])["properties"]["model"]["name"]
    allowed = FINE_TUNED_SKUS if is_fine_tuned(model_name) else BASE_SKUS
    capacity = {"minimum": 1, "maximum": 1000, "step": 1, "default": 1}
    items = [
        {
            "resourceType": f"{PROVIDER}/accounts/deployments",
            "sku": {"name": sku},
            "capacity": capacity,
        }
        for sku in allowed
    ]
    return page(call, items)
