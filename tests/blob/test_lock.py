"""The apply lock on a real Azurite: a blob lease, renewed while held, released on exit."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import pytest
from azure.storage.blob import BlobLeaseClient, BlobServiceClient

from reconciler.errors import FtopsError, GuardError, ProviderError
from reconciler.providers.blob import BlobLeaseLock, blob_credential
from tests.azurite import RunningAzurite

BLOB = "ftops.lock"


def _lock(azurite: RunningAzurite, container: str, credential: Any, **kw: Any) -> BlobLeaseLock:
    kw.setdefault("lease_seconds", 15)
    return BlobLeaseLock(azurite.blob_url, container, BLOB, credential=credential, **kw)


def _lease_state(service: BlobServiceClient, container: str) -> str:
    props = service.get_blob_client(container, BLOB).get_blob_properties()
    return str(props.lease.state)


def _wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_acquires_creates_renews_and_releases(
    azurite: RunningAzurite, service: BlobServiceClient, container_name: str, credential: Any
) -> None:
    lock = _lock(azurite, container_name, credential, renew_every=0.05, holder="ci-runner-1")
    try:
        with lock:
            # The container and the blob did not exist: the lock created them.
            assert lock.held
            assert _lease_state(service, container_name) == "leased"
            props = service.get_blob_client(container_name, BLOB).get_blob_properties()
            assert props.size == 0
            assert props.metadata["ftops_holder"] == "ci-runner-1"
            assert _wait_for(lambda: lock.renewals >= 3)
            lock.check()
        assert not lock.held
        assert lock.release_error is None
        assert _lease_state(service, container_name) == "available"
    finally:
        service.delete_container(container_name)


def test_second_holder_is_refused_until_the_first_releases(
    azurite: RunningAzurite, container: Any, credential: Any
) -> None:
    first = _lock(azurite, container.container_name, credential, holder="ci-runner-1")
    second = _lock(azurite, container.container_name, credential, holder="ci-runner-2")
    with first:
        started = time.monotonic()
        with pytest.raises(GuardError) as refused:
            second.acquire()
        assert time.monotonic() - started < 5  # fails fast, does not wait for the lease
        err = refused.value
        assert err.code == "GUARD_LOCKED"
        assert err.exit_code == 4
        assert re.search(r"the lease on .* is held by ci-runner-1 for \d+ s \(since ", err.message)
        assert err.hint and "expires within 60 s" in err.hint
        assert not second.held
    with second:
        assert second.held
        with pytest.raises(GuardError):
            first.acquire()


def test_released_when_the_body_raises(
    azurite: RunningAzurite, service: BlobServiceClient, container: Any, credential: Any
) -> None:
    lock = _lock(azurite, container.container_name, credential, renew_every=0.05)
    with pytest.raises(RuntimeError, match="apply failed"), lock:
        assert _lease_state(service, container.container_name) == "leased"
        raise RuntimeError("apply failed")
    assert not lock.held
    assert _lease_state(service, container.container_name) == "available"
    with _lock(azurite, container.container_name, credential) as again:
        assert again.held


def test_a_broken_lease_is_reported_as_lost(
    azurite: RunningAzurite, service: BlobServiceClient, container: Any, credential: Any
) -> None:
    lock = _lock(azurite, container.container_name, credential, renew_every=0.05)
    with lock:
        blob = service.get_blob_client(container.container_name, BLOB)
        BlobLeaseClient(blob).break_lease(lease_break_period=0)
        assert _wait_for(lambda: not lock.held)
        with pytest.raises(ProviderError) as lost:
            lock.check()
        assert lost.value.code == "LOCK_LOST"
    assert lock.release_error is not None  # releasing a broken lease fails, quietly


def test_refuses_plain_http_to_a_remote_host_without_any_network_access(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(FtopsError) as refused:
        BlobLeaseLock("http://mystorage.blob.core.windows.net", "locks", BLOB, credential=None)
    assert refused.value.code == "LOCK_URL_INSECURE"


def test_credential_comes_only_from_the_named_variable() -> None:
    url = "https://mystorage.blob.core.windows.net"
    with pytest.raises(FtopsError) as missing:
        blob_credential(url, key_env="LOCK_KEY", environ={})
    assert missing.value.code == "LOCK_CREDENTIAL_MISSING"
    assert "LOCK_KEY" in missing.value.message

    key = blob_credential(url, key_env="LOCK_KEY", environ={"LOCK_KEY": "c2VjcmV0a2V5"})
    assert key.named_key == ("mystorage", "c2VjcmV0a2V5")
    secret = "AccountName=other;AccountKey=c2VjcmV0;BlobEndpoint=https://x"
    with pytest.raises(FtopsError) as invalid:
        blob_credential(url, key_env="K", environ={"K": "AccountName=a;EndpointSuffix=x"})
    assert invalid.value.code == "LOCK_CREDENTIAL_INVALID"
    assert blob_credential(url, key_env="K", environ={"K": secret}).named_key == (
        "other",
        "c2VjcmV0",
    )
    sas = blob_credential(url, key_env="K", environ={"K": "?sv=2024-11-04&sig=abc"})
    assert sas.signature == "sv=2024-11-04&sig=abc"
