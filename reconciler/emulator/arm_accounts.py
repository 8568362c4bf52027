"""ARM: Cognitive Services accounts and the read-only lists around them.

An account's tenant (for the cross-tenant deployment rule) is taken from the tag
`ftops-emulator-tenant` of its PUT body; without it the account is in `DEFAULT_TENANT`.
Account names are global, as Azure's custom subdomains are: the data plane is `{url}/{name}`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from reconciler.emulator import jobs, part_store
from reconciler.emulator.arm import PROVIDER, arm_account, iso, json_object, page, system_data
from reconciler.emulator.catalog import (
    BASE_MODELS,
    BASE_SKUS,
    FINE_TUNED_SKUS,
    MAX_FILES,
    MAX_FINE_TUNED_DEPLOYMENTS,
    BaseModel,
    openai_models,
)
from reconciler.emulator.routing import ArmError, Call, Reply
from reconciler.emulator.store import dumps, loads
from reconciler.emulator.world import (
    DEFAULT_TENANT,
    TENANT_TAG,
    account_arm_id,
    account_row,
)

# Server-set properties a PUT may not set; they are dropped from the stored body.
READ_ONLY_PROPERTIES = {
    "provisioningState",
    "endpoint",
    "endpoints",
    "internalId",
    "capabilities",
    "dateCreated",
    "callRateLimit",
    "quotaLimit",
    "isMigrated",
    "skuChangeInfo",
    "privateEndpointConnections",
    "deletionDate",
    "scheduledPurgeDate",
    "commitmentPlanAssociations",
    "abusePenalty",
}


def account_json(call: Call, row: sqlite3.Row) -> dict[str, Any]:
    body = loads(row["body"])
    endpoint = f"{call.base_url}/{row['name']}"
    properties = {
        **body.get("properties", {}),
        "provisioningState": "Succeeded",
        "endpoint": endpoint,
        "endpoints": {
            "OpenAI Language Model Instance API": endpoint,
            "OpenAI Fine-Tuning API": endpoint,
        },
        "internalId": row["name"].lower().encode().hex()[:32],
        "dateCreated": iso(row["created_at"]),
        "capabilities": [{"name": "FineTuning"}, {"name": "VirtualNetworks"}],
    }
    properties.setdefault("customSubDomainName", row["name"])
    properties.setdefault("publicNetworkAccess", "Enabled")
    result: dict[str, Any] = {
        "id": account_arm_id(row),
        "name": row["name"],
        "type": f"{PROVIDER}/accounts",
        "location": row["location"],
        "kind": body.get("kind", "OpenAI"),
        "sku": body.get("sku", {"name": "S0"}),
        "etag": f'"{row["name"].lower().encode().hex()[:16]}"',
        "systemData": system_data(row["created_at"], row["created_at"]),
        "properties": properties,
    }
    if body.get("tags"):
        result["tags"] = body["tags"]
    if body.get("identity"):
        result["identity"] = body["identity"]
    return result


def create(call: Call) -> Reply:
    """Accounts_Create: synchronous here (201/200 with provisioningState Succeeded)."""
    body = json_object(call)
    name = call.params["accountName"]
    location = body.get("location")
    if not isinstance(location, str) or not location:
        raise ArmError(
            400, "LocationRequired", "The location property is required for this definition."
        )
    existing = account_row(call.db, name)
    if existing is not None and (
        existing["subscription"].lower() != call.params["subscriptionId"].lower()
        or existing["resource_group"].lower() != call.params["resourceGroupName"].lower()
    ):
        raise ArmError(
            409,
            "CustomDomainInUse",
            f"The subdomain name '{name}' is not available as it's already used by a resource.",
        )
    stored = {
        "kind": body.get("kind", "OpenAI"),
        "sku": body.get("sku") or {"name": "S0"},
        "tags": body.get("tags") or {},
        "identity": body.get("identity"),
        "properties": {
            k: v for k, v in (body.get("properties") or {}).items() if k not in READ_ONLY_PROPERTIES
        },
    }
    tenant = str(stored["tags"].get(TENANT_TAG, DEFAULT_TENANT))
    if existing is None:
        call.db.execute(
            "INSERT INTO accounts (name, subscription, resource_group, location, tenant, body, "
            "created_at) VALUES (?,?,?,?,?,?,?)",
            (
                name,
                call.params["subscriptionId"],
                call.params["resourceGroupName"],
                location,
                tenant,
                dumps(stored),
                call.now,
            ),
        )
    else:
        call.db.execute(
            "UPDATE accounts SET location = ?, tenant = ?, body = ? WHERE name = ?",
            (location, tenant, dumps(stored), name),
        )
    row = arm_account(call)
    return Reply(201 if existing is None else 200, account_json(call, row))


def update(call: Call) -> Reply:
    """Accounts_Update: tags, sku and properties merged into the stored account."""
    row = arm_account(call)
    patch = json_object(call)
    stored = loads(row["body"])
    for key in ("tags", "sku"):
        if key in patch:
            stored[key] = patch[key]
    stored["properties"].update(
        {k: v for k, v in (patch.get("properties") or {}).items() if k not in READ_ONLY_PROPERTIES}
    )
    tenant = str((stored.get("tags") or {}).get(TENANT_TAG, row["tenant"]))
    call.db.execute(
        "UPDATE accounts SET body = ?, tenant = ? WHERE name = ?",
        (dumps(stored), tenant, row["name"]),
    )
    return Reply(200, account_json(call, arm_account(call)))


def delete(call: Call) -> Reply:
    """Accounts_Delete: removes the account with its files, uploads, jobs and deployments."""
    try:
        row = arm_account(call)
    except ArmError:
        return Reply(204, None)
    name = row["name"]
    part_store.delete(call.db, "account = ?", (name,))
    for table in ("files", "uploads", "jobs", "deployments", "operations"):
        call.db.execute(f"DELETE FROM {table} WHERE account = ?", (name,))  # fixed table names
    call.db.execute("DELETE FROM accounts WHERE name = ?", (name,))
    return Reply(200, None)


def get(call: Call) -> Reply:
    return Reply(200, account_json(call, arm_account(call)))


def list_by_resource_group(call: Call) -> Reply:
    rows = call.db.execute(
        "SELECT * FROM accounts WHERE subscription = ? AND resource_group = ? ORDER BY name",
        (call.params["subscriptionId"], call.params["resourceGroupName"]),
    )
    return page(call, [account_json(call, row) for row in rows])


def list_by_subscription(call: Call) -> Reply:
    rows = call.db.execute(
        "SELECT * FROM accounts WHERE subscription = ? ORDER BY name",
        (call.params["subscriptionId"],),
    )
    return page(call, [account_json(call, row) for row in rows])


def list_keys(call: Call) -> Reply:
    row = arm_account(call)
    # Any key is accepted by the data plane; these are stable per account for realism.
    seed = row["name"].lower().encode().hex()
    return Reply(200, {"key1": (seed + "1" * 32)[:32], "key2": (seed + "2" * 32)[:32]})


def list_skus(call: Call) -> Reply:
    arm_account(call)
    sku = {"name": "S0", "tier": "Standard"}
    return Reply(200, {"value": [{"resourceType": f"{PROVIDER}/accounts", "sku": sku}]})


def list_usages(call: Call) -> Reply:
    row = arm_account(call)
    deployments = call.db.execute(
        "SELECT body FROM deployments WHERE account = ?", (row["name"],)
    ).fetchall()
    fine_tuned = sum(1 for d in deployments if ".ft-" in _model_name(loads(d["body"])))
    (files,) = call.db.execute(
        "SELECT COUNT(*) FROM files WHERE account = ? AND purpose != 'fine-tune-results'",
        (row["name"],),
    ).fetchone()
    return Reply(
        200,
        {
            "value": [
                _usage(
                    "OpenAI.FineTunedDeployments",
                    "Fine-tuned model deployments",
                    fine_tuned,
                    MAX_FINE_TUNED_DEPLOYMENTS,
                ),
                _usage("OpenAI.Files", "Fine-tuning files", files, MAX_FILES),
            ]
        },
    )


def _model_name(body: dict[str, Any]) -> str:
    return str((body.get("properties", {}).get("model") or {}).get("name", ""))


def _usage(name: str, label: str, current: int, limit: int) -> dict[str, Any]:
    return {
        "name": {"value": name, "localizedValue": label},
        "unit": "Count",
        "currentValue": current,
        "limit": limit,
        "status": "Included",
    }


def account_model(model: BaseModel) -> dict[str, Any]:
    return {
        "format": "OpenAI",
        "name": model.name,
        "version": model.version,
        "isDefaultVersion": True,
        "lifecycleStatus": "Deprecated" if model.retired_at else "GenerallyAvailable",
        "maxCapacity": 1000,
        "capabilities": {"chatCompletion": "true", "FineTune": str(model.fine_tunable).lower()},
        "skus": [{"name": sku, "usageName": f"OpenAI.{sku}.{model.name}"} for sku in BASE_SKUS],
    }


def fine_tuned_account_model(job: sqlite3.Row) -> dict[str, Any]:
    base = next((m for m in BASE_MODELS if m.model_id == job["base_model"]), None)
    result: dict[str, Any] = {
        "format": "OpenAI",
        "name": job["fine_tuned_model"],
        "version": "1",
        "lifecycleStatus": "GenerallyAvailable",
        "capabilities": {"chatCompletion": "true"},
        "skus": [
            {"name": sku, "usageName": f"OpenAI.{sku}.{job['fine_tuned_model']}"}
            for sku in FINE_TUNED_SKUS
        ],
    }
    if base is not None:
        result["baseModel"] = {"format": "OpenAI", "name": base.name, "version": base.version}
    return result


def list_models(call: Call) -> Reply:
    row = arm_account(call)
    models = [account_model(m) for m in openai_models()]
    models += [
        fine_tuned_account_model(j) for j in jobs.fine_tuned_models(call.db, row["name"], call.now)
    ]
    return page(call, models)


def list_location_models(call: Call) -> Reply:
    """Models_List (per location): the emulator's catalog, the same in every region."""
    items = [
        {"kind": "OpenAI", "skuName": "S0", "model": account_model(m)} for m in openai_models()
    ]
    return page(call, items)
