"""Lookups shared by the data plane and ARM: accounts, their ARM ids, paging over lists."""

from __future__ import annotations

import sqlite3
from typing import Any

from reconciler.emulator.routing import V1, ApiError, Call
from reconciler.emulator.store import loads

ACCOUNT_TYPE = "Microsoft.CognitiveServices/accounts"
DEFAULT_TENANT = "72f988bf-0000-0000-0000-000000000000"
TENANT_TAG = "ftops-emulator-tenant"


def account_row(db: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM accounts WHERE name = ?", (name,)
    ).fetchone()
    return row


def data_plane_account(call: Call) -> str:
    """The account a data-plane call addresses; Azure answers an unknown host with 404."""
    row = account_row(call.db, call.params["accountName"])
    if row is None:
        raise ApiError(
            404,
            "notFound",
            f"The account '{call.params['accountName']}' does not exist in this emulator; "
            "create it first with ARM (Accounts_Create).",
        )
    return str(row["name"])


def account_kind(db: sqlite3.Connection, name: str) -> str:
    """The ARM `kind` the account was created with (OpenAI unless told otherwise)."""
    row = account_row(db, name)
    return "OpenAI" if row is None else str(loads(row["body"]).get("kind") or "OpenAI")


def data_plane_url(call: Call, account: str, path: str) -> str:
    """The absolute URL of a data-plane resource, in the API (v1 or api-version) of the call."""
    if call.api_version == V1:
        return f"{call.base_url}/{account}/openai/v1{path}"
    return f"{call.base_url}/{account}/openai{path}?api-version={call.api_version}"


def account_arm_id(row: sqlite3.Row) -> str:
    return (
        f"/subscriptions/{row['subscription']}/resourceGroups/{row['resource_group']}"
        f"/providers/{ACCOUNT_TYPE}/{row['name']}"
    )


def account_by_arm_id(db: sqlite3.Connection, arm_id: str) -> sqlite3.Row | None:
    parts = [p for p in arm_id.strip().split("/") if p]
    lowered = [p.lower() for p in parts]
    expected = ["subscriptions", "resourcegroups", "providers", "microsoft.cognitiveservices"]
    if len(parts) != 8 or [lowered[i] for i in (0, 2, 4, 5)] != expected:
        return None
    if lowered[6] != "accounts":
        return None
    row = account_row(db, parts[7])
    if row is None:
        return None
    if row["subscription"].lower() != lowered[1] or row["resource_group"].lower() != lowered[3]:
        return None
    return row


def account_tenant(row: sqlite3.Row) -> str:
    return str(row["tenant"])


def account_body(row: sqlite3.Row) -> dict[str, Any]:
    body: dict[str, Any] = loads(row["body"])
    return body


def cursor_page(
    items: list[dict[str, Any]], after: str | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """OpenAI-style cursor paging over already ordered items: (page, has_more)."""
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    return items[:limit], len(items) > limit
