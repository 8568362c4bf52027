"""Azure Blob Storage: the apply lock (a blob lease) and Dataset `url` downloads.

- `BlobLeaseLock` serializes applies of one project across machines when
  `Project.spec.lock.azureBlob` is set: a lease on one blob, renewed in the background while
  held, released on exit. A second holder is refused at once with `GUARD_LOCKED` (exit 4).
- `fetch_dataset` streams a Dataset `url` (an Azure Blob SAS URL or any https URL) into a
  content-addressed cache, `{sha256}.jsonl`, so the planner validates, counts and names it by
  content like a file in the repository.

Safe by default: every endpoint must be https, except plain http on a loopback address (Azurite,
a local test server). Account keys and connection strings come only from an environment variable
that the caller names, and never appear in a message. URLs reach messages only through
`redact_url` (SAS signatures and every other secret-looking query value are replaced), and
errors from the HTTP libraries are not chained, because their text and attributes carry the
full URL.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

from reconciler.errors import (
    FtopsError,
    GuardError,
    Location,
    PermanentError,
    ProviderError,
    RetryableError,
)

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
HTTP_TIMEOUT_S = 60
MAX_REDIRECTS = 5
LEASE_MIN_S, LEASE_MAX_S = 15, 60  # Azure's bounds for a fixed-duration lease
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


# --- URLs: security checks and redaction ----------------------------------------------------


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


# --- Dataset url downloads ------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedDataset:
    """A downloaded dataset: `{digest}.jsonl` in the cache folder."""

    path: Path
    digest: str  # sha256 hex of the bytes
    size: int
    downloaded: bool = True  # False when the cache already held this blob version


def fetch_dataset(
    url: str,
    dest_dir: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    location: Location | None = None,
) -> FetchedDataset:
    """Stream a Dataset `url` into `dest_dir/{sha256}.jsonl`, reusing what is already there.

    Azure Blob URLs (a SAS URL, or a public blob) go through azure-storage-blob: the blob's
    properties are read first, and a blob version (path and ETag) seen before is not downloaded
    again. Other https URLs are streamed with urllib; redirects must stay https. Errors carry
    `location` (the spec's `url` field) and a redacted URL.
    """
    parts = require_secure_url(
        url, what="Dataset url", code="DATASET_URL_INSECURE", location=location
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    fetch = _Fetch(url, dest_dir, max_bytes, location)
    if is_blob_url(parts):
        return fetch.from_blob(parts)
    return fetch.from_http(parts)


@dataclass(frozen=True)
class _Fetch:
    url: str
    dest_dir: Path
    max_bytes: int
    location: Location | None

    def from_blob(self, parts: SplitResult) -> FetchedDataset:
        client = BlobClient.from_blob_url(self.url, connection_timeout=20, read_timeout=60)
        try:
            props = client.get_blob_properties()
            self.check_size(props.size)
            ref = self.ref_path(parts, props.etag)
            cached = self.cached(ref, props.size)
            if cached is not None:
                return cached
            download = client.download_blob(
                etag=props.etag, match_condition=MatchConditions.IfNotModified
            )
            fetched = self.store(download.chunks())
        except AzureError as exc:
            raise self.blob_error(exc) from None
        _write_atomically(ref, fetched.digest)
        return fetched

    def from_http(self, parts: SplitResult) -> FetchedDataset:
        handlers: list[urllib.request.BaseHandler] = [
            _SecureRedirects(self.url, parts, self.location)
        ]
        if is_loopback_host(parts.hostname):
            handlers.append(urllib.request.ProxyHandler({}))  # never send loopback to a proxy
        opener = urllib.request.build_opener(*handlers)
        request = urllib.request.Request(self.url, headers={"User-Agent": "ftops"})
        try:
            with opener.open(request, timeout=HTTP_TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit():
                    self.check_size(int(length))
                return self.store(iter(lambda: response.read(CHUNK_BYTES), b""))
        except urllib.error.HTTPError as exc:
            raise self.http_error(exc.code, str(exc.reason)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self.located(
                RetryableError(
                    f"Dataset url {redact_url(self.url)}: "
                    f"{redact_text(str(getattr(exc, 'reason', exc)), self.url)}",
                    code="DATASET_URL_FETCH_FAILED",
                    hint="check the network and the URL's host; run again",
                )
            ) from None

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise FtopsError(
                f"Dataset url {redact_url(self.url)}: {size} bytes, more than the "
                f"{self.max_bytes}-byte limit",
                code="DATASET_URL_TOO_LARGE",
                location=self.location,
                hint="split the dataset, or raise the limit",
            )

    def ref_path(self, parts: SplitResult, etag: str) -> Path:
        """The cache entry naming the digest of one blob version (its path and ETag)."""
        version = f"{parts.hostname}:{parts.port}{parts.path}\n{etag}"
        return self.dest_dir / "refs" / hashlib.sha256(version.encode()).hexdigest()

    def cached(self, ref: Path, size: int) -> FetchedDataset | None:
        try:
            digest = ref.read_text().strip()
        except OSError:
            return None
        path = self.dest_dir / f"{digest}.jsonl"
        if _HEX64.fullmatch(digest) and path.is_file() and path.stat().st_size == size:
            return FetchedDataset(path=path, digest=digest, size=size, downloaded=False)
        return None

    def store(self, chunks: Iterable[bytes]) -> FetchedDataset:
        """Write the chunks to a temporary file while hashing them, then rename it by digest."""
        sha = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self.dest_dir, prefix=".fetch-", suffix=".part")
        part = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    self.check_size(size)
                    sha.update(chunk)
                    out.write(chunk)
            digest = sha.hexdigest()
            path = self.dest_dir / f"{digest}.jsonl"
            if path.is_file() and path.stat().st_size == size:
                part.unlink()
            else:
                os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return FetchedDataset(path=path, digest=digest, size=size)

    def blob_error(self, exc: AzureError) -> ProviderError:
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            code = getattr(exc, "error_code", None)
            return self.http_error(exc.status_code, str(getattr(code, "value", code) or ""))
        return self.located(
            RetryableError(
                f"Dataset url {redact_url(self.url)}: {redact_text(exc.message or '', self.url)}",
                code="DATASET_URL_FETCH_FAILED",
                hint="check the network and the storage account's name; run again",
            )
        )

    def http_error(self, status: int, reason: str) -> ProviderError:
        hints = {
            403: "the SAS may have expired (se=) or lack read permission (sp=r)",
            404: "check the container and blob names in the URL",
            412: "the blob changed while it was being downloaded; run again",
        }
        retryable = status in (408, 412, 429) or status >= 500
        kind = RetryableError if retryable else PermanentError
        return self.located(
            kind(
                f"Dataset url {redact_url(self.url)}: HTTP {status} "
                f"{redact_text(reason, self.url)}",
                code="DATASET_URL_FETCH_FAILED",
                hint=hints.get(status, "run again" if retryable else "check the URL"),
                status=status,
            )
        )

    def located(self, err: ProviderError) -> ProviderError:
        err.location = self.location
        return err


class _SecureRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a few redirects, never from https to http, never from a remote host to loopback."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, url: str, parts: SplitResult, location: Location | None) -> None:
        super().__init__()
        self.origin_is_loopback = parts.scheme == "http"
        self.url = url
        self.location = location

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        target = require_secure_url(
            newurl, what="Dataset url redirect", code="DATASET_URL_INSECURE", location=self.location
        )
        if is_loopback_host(target.hostname) and not self.origin_is_loopback:
            raise FtopsError(
                f"Dataset url {redact_url(self.url)} redirects to a loopback address",
                code="DATASET_URL_INSECURE",
                location=self.location,
                hint="give the final URL; redirects to this machine are refused",
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".ref-")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(name, path)


# --- Credentials ----------------------------------------------------------------------------


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


# --- The lock -------------------------------------------------------------------------------


class BlobLeaseLock:
    """A lease on one blob, held while the `with` body runs, for `Project.spec.lock.azureBlob`.

    On enter: create the container and the (empty) blob if missing, acquire a fixed-duration
    lease (refused at once with `GUARD_LOCKED` if another holder has it), write who holds it
    into the blob's metadata, and renew it from a background thread every `renew_every`
    seconds. On exit, also after an exception: stop renewing and release it. A holder that dies
    without releasing leaves a lease that expires within `lease_seconds`.
    """

    def __init__(
        self,
        account_url: str,
        container: str,
        blob: str,
        *,
        credential: Any,
        lease_seconds: int = 60,
        renew_every: float | None = None,
        holder: str | None = None,
    ) -> None:
        require_secure_url(account_url, what="Lock accountUrl", code="LOCK_URL_INSECURE")
        if not LEASE_MIN_S <= lease_seconds <= LEASE_MAX_S:
            raise ValueError(f"lease_seconds must be {LEASE_MIN_S}..{LEASE_MAX_S}")
        self.where = f"{redact_url(account_url.rstrip('/'))}/{container}/{blob}"
        self.lease_seconds = lease_seconds
        self.renew_every = renew_every if renew_every is not None else lease_seconds / 3
        self.holder = _ascii(holder or f"{socket.gethostname()} pid {os.getpid()}")
        self.renewals = 0
        self.release_error: str | None = None
        self._client = BlobClient(
            account_url.rstrip("/"),
            container,
            blob,
            credential=credential,
            connection_timeout=20,
            read_timeout=30,
        )
        self._container = ContainerClient(
            account_url.rstrip("/"),
            container,
            credential=credential,
            connection_timeout=20,
            read_timeout=30,
        )
        self._lease: BlobLeaseClient | None = None
        self._lost: str | None = None
        self._last_renewed = 0.0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @classmethod
    def from_spec(
        cls,
        spec: Any,
        *,
        key_env: str | None = None,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> BlobLeaseLock:
        """From a `Project.spec.lock.azureBlob` (`account_url`, `container`, `blob`)."""
        credential = blob_credential(spec.account_url, key_env=key_env, environ=environ)
        return cls(spec.account_url, spec.container, spec.blob, credential=credential, **kwargs)

    def __repr__(self) -> str:
        return f"BlobLeaseLock({self.where!r}, held={self.held})"

    def __enter__(self) -> BlobLeaseLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._lease is not None and self._lost is None

    @property
    def lease_id(self) -> str | None:
        return self._lease.id if self._lease is not None else None

    def acquire(self) -> None:
        if self._lease is not None:
            raise RuntimeError("the lock is already held")
        with self._translated("acquire the lock"):
            self._ensure_blob()
            try:
                lease = self._client.acquire_lease(lease_duration=self.lease_seconds)
            except ResourceExistsError as exc:
                if exc.status_code == 409:
                    raise self._locked() from None
                raise
        self._lease = lease
        self._lost = None
        self._last_renewed = time.monotonic()
        self._describe_holder(lease)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="ftops-lock", daemon=True)
        self._renewer.start()

    def check(self) -> None:
        """Raise if the lease was lost while held (renewals failed past its expiry)."""
        if self._lost is not None:
            raise ProviderError(
                f"lost the lock lease on {self.where}: {self._lost}",
                code="LOCK_LOST",
                hint="another apply may have taken the lock; run apply again",
            )

    def release(self) -> None:
        """Stop renewing and release the lease; a failure is kept in `release_error`."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            self._client.set_blob_metadata({}, lease=lease)
            lease.release()
        except AzureError as exc:
            # Not raised: it would hide the body's own error, and the lease expires anyway.
            self.release_error = _azure_message(exc)

    def _ensure_blob(self) -> None:
        try:
            self._client.get_blob_properties()
            return
        except ResourceNotFoundError:
            pass
        try:
            self._client.upload_blob(b"", overwrite=False)
        except ResourceNotFoundError:
            try:
                self._container.create_container()
            except ResourceExistsError:
                pass
            self._upload_empty()
        except (ResourceExistsError, ResourceModifiedError):
            pass  # another holder created it first

    def _upload_empty(self) -> None:
        try:
            self._client.upload_blob(b"", overwrite=False)
        except (ResourceExistsError, ResourceModifiedError):
            pass

    def _describe_holder(self, lease: BlobLeaseClient) -> None:
        """Best effort: a refused apply names this holder and since when it holds the lock."""
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self._client.set_blob_metadata(
                {"ftops_holder": self.holder, "ftops_since": since}, lease=lease
            )
        except AzureError:
            pass

    def _locked(self) -> GuardError:
        held_by = ""
        kind = "a fixed-duration lease, renewed while its holder runs"
        try:
            props = self._client.get_blob_properties()
            meta = props.metadata or {}
            if meta.get("ftops_holder"):
                held_by = f" by {meta['ftops_holder']}"
            if meta.get("ftops_since"):
                held_by += f"{_age(meta['ftops_since'])} (since {meta['ftops_since']})"
            if props.lease.duration == "infinite":
                kind = "an infinite lease, which never expires on its own"
        except AzureError:
            pass
        return GuardError(
            f"another apply of this project holds the lock: the lease on {self.where} is "
            f"held{held_by}; it is {kind}",
            code="GUARD_LOCKED",
            hint="wait for that apply to finish and run again; a holder that died leaves a "
            f"lease that expires within {LEASE_MAX_S} s (an infinite lease must be broken: "
            "az storage blob lease break)",
        )

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_every):
            lease = self._lease
            if lease is None:
                return
            try:
                lease.renew()
            except HttpResponseError as exc:
                if exc.status_code in (409, 412):  # the lease was broken or taken over
                    self._lost = _azure_message(exc)
                    return
                self._note_failed_renewal(exc)
            except AzureError as exc:
                self._note_failed_renewal(exc)
            else:
                self.renewals += 1
                self._last_renewed = time.monotonic()

    def _note_failed_renewal(self, exc: AzureError) -> None:
        if time.monotonic() - self._last_renewed >= self.lease_seconds:
            self._lost = f"no renewal for {self.lease_seconds} s: {_azure_message(exc)}"

    def _translated(self, doing: str) -> _Translate:
        return _Translate(doing, self.where)


class _Translate:
    """Turns the SDK's errors into ProviderError, without chaining them (they carry URLs)."""

    def __init__(self, doing: str, where: str) -> None:
        self.doing = doing
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not isinstance(exc, AzureError):
            return
        message = f"could not {self.doing} on {self.where}: {_azure_message(exc)}"
        status = exc.status_code if isinstance(exc, HttpResponseError) else None
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            raise PermanentError(
                message,
                code="LOCK_FAILED",
                hint="grant the identity 'Storage Blob Data Contributor' on the container, or "
                "check the key in the environment variable",
                status=status,
            ) from None
        retryable = status is None or status in (408, 429) or status >= 500
        kind = RetryableError if retryable else PermanentError
        raise kind(
            message, code="LOCK_FAILED", hint="check accountUrl and the network", status=status
        ) from None


def _azure_message(exc: AzureError) -> str:
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # the storage SDK's StorageErrorCode enum
    status = getattr(exc, "status_code", None)
    if code or status:
        return " ".join(str(part) for part in (status, code) if part)
    first_line = (exc.message or type(exc).__name__).splitlines()[0]
    return redact_text(first_line)


def _age(since: str) -> str:
    try:
        then = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    seconds = int((datetime.now(UTC) - then).total_seconds())
    return f" for {seconds} s" if seconds >= 0 else ""


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:200]


__all__ = [
    "DEFAULT_MAX_BYTES",
    "BlobLeaseLock",
    "FetchedDataset",
    "blob_credential",
    "fetch_dataset",
    "is_loopback_host",
    "redact_text",
    "redact_url",
    "require_secure_url",
]
