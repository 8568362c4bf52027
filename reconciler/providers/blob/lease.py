"""The apply lock: a lease on one blob, renewed in the background while held."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobLeaseClient, ContainerClient

from reconciler.errors import GuardError, ProviderError

from .credentials import blob_credential
from .sdk_errors import Translated, azure_message
from .urls import redact_url, require_secure_url

LEASE_MIN_S, LEASE_MAX_S = 15, 60  # Azure's bounds for a fixed-duration lease


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
        url = account_url.rstrip("/")
        self._client = BlobClient(
            url, container, blob, credential=credential, connection_timeout=20, read_timeout=30
        )
        self._container = ContainerClient(
            url, container, credential=credential, connection_timeout=20, read_timeout=30
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

    def __exit__(self, *_: object) -> None:
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
            self.release_error = azure_message(exc)

    def _ensure_blob(self) -> None:
        try:
            self._client.get_blob_properties()
            return
        except ResourceNotFoundError:
            pass
        try:
            self._client.upload_blob(b"", overwrite=False)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                self._container.create_container()
            self._upload_empty()
        except (ResourceExistsError, ResourceModifiedError):
            pass  # another holder created it first

    def _upload_empty(self) -> None:
        with contextlib.suppress(ResourceExistsError, ResourceModifiedError):
            self._client.upload_blob(b"", overwrite=False)

    def _describe_holder(self, lease: BlobLeaseClient) -> None:
        """Best effort: a refused apply names this holder and since when it holds the lock."""
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with contextlib.suppress(AzureError):
            self._client.set_blob_metadata(
                {"ftops_holder": self.holder, "ftops_since": since}, lease=lease
            )

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
                    self._lost = azure_message(exc)
                    return
                self._note_failed_renewal(exc)
            except AzureError as exc:
                self._note_failed_renewal(exc)
            else:
                self.renewals += 1
                self._last_renewed = time.monotonic()

    def _note_failed_renewal(self, exc: AzureError) -> None:
        if time.monotonic() - self._last_renewed >= self.lease_seconds:
            self._lost = f"no renewal for {self.lease_seconds} s: {azure_message(exc)}"

    def _translated(self, doing: str) -> Translated:
        return Translated(doing, self.where)


def _age(since: str) -> str:
    try:
        then = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return ""
    seconds = int((datetime.now(UTC) - then).total_seconds())
    return f" for {seconds} s" if seconds >= 0 else ""


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:200]
