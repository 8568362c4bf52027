"""The credential for a storage account: Entra by default, or a secret from a named variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential

from reconciler.errors import FtopsError

from .urls import is_loopback_host


def blob_credential(
    account_url: str, *, key_env: str | None = None, environ: Mapping[str, str] | None = None
) -> Any:
    """The credential for a storage account: Entra by default.

    With `key_env`, the named environment variable holds an account key, a connection string
    (`AccountKey=` or `SharedAccessSignature=`) or a SAS token. Its value is never printed.
    """
    if key_env is None:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()
    value = (os.environ if environ is None else environ).get(key_env, "").strip()
    if not value:
        raise FtopsError(
            f"the environment variable {key_env} is not set",
            code="LOCK_CREDENTIAL_MISSING",
            hint=f"set {key_env} to the storage account's connection string or key, "
            "or leave it unset to sign in with Entra (DefaultAzureCredential)",
        )
    return _credential_from_secret(value, account_url, key_env)


def _credential_from_secret(value: str, account_url: str, key_env: str) -> Any:
    fields = _connection_string_fields(value)
    if fields:
        if "accountkey" in fields:
            name = fields.get("accountname") or _account_name(account_url)
            return AzureNamedKeyCredential(name, fields["accountkey"])
        if "sharedaccesssignature" in fields:
            return AzureSasCredential(fields["sharedaccesssignature"].lstrip("?"))
        raise FtopsError(
            f"the connection string in {key_env} has neither AccountKey nor SharedAccessSignature",
            code="LOCK_CREDENTIAL_INVALID",
            hint="copy the connection string from the storage account's access keys",
        )
    if "sig=" in value:
        return AzureSasCredential(value.lstrip("?"))
    return AzureNamedKeyCredential(_account_name(account_url), value)


def _connection_string_fields(value: str) -> dict[str, str]:
    if ";" not in value and not value.lower().startswith(("accountkey=", "sharedaccess")):
        return {}
    fields: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, field = part.partition("=")
        if sep:
            fields[name.strip().lower()] = field.strip()
    return fields


def _account_name(account_url: str) -> str:
    """`mystorage` of https://mystorage.blob.core.windows.net, or of http://127.0.0.1:1/mystorage."""
    parts = urlsplit(account_url)
    if is_loopback_host(parts.hostname):
        return parts.path.strip("/").split("/")[0]
    return (parts.hostname or "").split(".")[0]
