"""URL policy and redaction: https only (http on a loopback address), no secret in a message.

URLs reach messages only through `redact_url` (SAS signatures and every other secret-looking query
value are replaced); `redact_text` scrubs an error's text of the secrets of given URLs.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from reconciler.errors import FtopsError, Location

REDACTED = "REDACTED"
LOOPBACK_HINT = "plain http is accepted only on a loopback address (127.0.0.1, ::1, localhost)"

# Azure Blob endpoints (public and sovereign clouds, DNS-zone endpoints).
BLOB_HOST_SUFFIXES = (
    ".blob.core.windows.net",
    ".blob.core.chinacloudapi.cn",
    ".blob.core.usgovcloudapi.net",
    ".blob.storage.azure.net",
)
# Query fields that say what a SAS allows and until when, never who may use it. Every other
# query value (sig, skoid, skt, any foreign token or key) is redacted.
PUBLIC_QUERY_FIELDS = frozenset(
    {"sv", "ss", "srt", "sp", "st", "se", "spr", "sr", "sip", "si", "snapshot", "versionid"}
)
_SECRET_TEXT = re.compile(
    r"(?i)\b(sig|signature|x-amz-signature|token|access_token|key|api-key|apikey|code|password"
    r"|secret|accountkey|sharedaccesssignature)=([^&\s;'\"<>]+)"
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def redact_url(url: str) -> str:
    """The URL with user info, secret query values and the fragment replaced by REDACTED.

    `https://a.blob.core.windows.net/c/d.jsonl?sv=2024-11-04&sp=r&sig=abc` becomes
    `https://a.blob.core.windows.net/c/d.jsonl?sv=2024-11-04&sp=r&sig=REDACTED`.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = "&".join(_redact_query_pair(pair) for pair in parts.query.split("&") if pair)
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _redact_query_pair(pair: str) -> str:
    name, sep, value = pair.partition("=")
    if not value or name.lower() in PUBLIC_QUERY_FIELDS:
        return pair
    return f"{name}{sep}{REDACTED}"


def redact_text(text: str, *urls: str) -> str:
    """`text` (an error message) with the secrets of `urls`, and anything like `sig=…`, removed."""
    secrets = {secret for url in urls for secret in _url_secrets(url)}
    # The longest first, so that a secret inside a longer one is not left half-replaced.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SECRET_TEXT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def _url_secrets(url: str) -> set[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    secrets: set[str] = set()
    raw = [parts.query] if parts.query else []
    if parts.fragment:
        raw.append(parts.fragment)
    if "@" in parts.netloc:
        raw.append(parts.netloc.rpartition("@")[0])
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if value and name.lower() not in PUBLIC_QUERY_FIELDS:
            raw.append(value)
    for value in raw:
        secrets.update({value, unquote(value)})
    return {s for s in secrets if len(s) >= 4}


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost; decided from the text alone, without resolving names."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(
    url: str, *, what: str, code: str, location: Location | None = None
) -> SplitResult:
    """The parsed URL if it is https, or http on a loopback address; otherwise an error."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise FtopsError(
            f"{what} {redact_url(url)} is not a valid URL",
            code=code,
            location=location,
            hint="give an absolute https URL",
        ) from None
    if parts.scheme == "https" and host:
        return parts
    if parts.scheme == "http" and is_loopback_host(host):
        return parts
    raise FtopsError(
        f"{what} {redact_url(url)} is not https",
        code=code,
        location=location,
        hint=f"use an https URL; {LOOPBACK_HINT}",
    )


def is_blob_url(parts: SplitResult) -> bool:
    """An Azure Blob endpoint, or any URL that carries a service SAS (`sv` and `sig`)."""
    host = (parts.hostname or "").lower()
    if host.endswith(BLOB_HOST_SUFFIXES):
        return True
    fields = {pair.partition("=")[0].lower() for pair in parts.query.split("&")}
    return {"sv", "sig"} <= fields
