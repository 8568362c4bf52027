"""What all ARM handlers share: timestamps, list pages with nextLink, resource lookups."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from reconciler.emulator.routing import ArmError, Call, Reply
from reconciler.emulator.world import account_row

PROVIDER = "Microsoft.CognitiveServices"
EMULATOR_USER = "ftops-emulator@example.com"


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def system_data(created: float, modified: float) -> dict[str, str]:
    return {
        "createdBy": EMULATOR_USER,
        "createdByType": "User",
        "createdAt": iso(created),
        "lastModifiedBy": EMULATOR_USER,
        "lastModifiedByType": "User",
        "lastModifiedAt": iso(modified),
    }


def page(call: Call, items: list[dict[str, Any]]) -> Reply:
    """One page of an ARM list; `nextLink` is absolute and carries api-version and a skiptoken."""
    size = int(call.emulator.arm_page_size)
    raw = call.query.get("$skiptoken", call.query.get("$skipToken", "0"))
    try:
        offset = max(0, int(raw))
    except ValueError as exc:
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{raw}' is not valid.") from exc
    body: dict[str, Any] = {"value": items[offset : offset + size]}
    if offset + size < len(items):
        body["nextLink"] = (
            f"{call.base_url}{call.path}?api-version={call.api_version}&$skiptoken={offset + size}"
        )
    return Reply(200, body)


def arm_account(call: Call) -> sqlite3.Row:
    """The account named by the path, checked against its subscription and resource group."""
    name = call.params["accountName"]
    row = account_row(call.db, name)
    if (
        row is None
        or row["subscription"].lower() != call.params["subscriptionId"].lower()
        or row["resource_group"].lower() != call.params["resourceGroupName"].lower()
    ):
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{PROVIDER}/accounts/{name}' under resource group "
            f"'{call.params['resourceGroupName']}' was not found. For more details please go to "
            "https://aka.ms/ARMResourceNotFoundFix",
        )
    return row


def json_object(call: Call) -> dict[str, Any]:
    try:
        body = call.json()
    except Exception as exc:
        raise ArmError(
            400, "InvalidRequestContent", "The request content is not valid JSON."
        ) from exc
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body
