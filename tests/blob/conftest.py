"""Azurite for every test in tests/blob (one Blob service for the session), and its helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from reconciler.providers.blob import blob_credential
from tests.azurite import RunningAzurite

KEY_ENV = "FTOPS_TEST_STORAGE_CONNECTION_STRING"


@pytest.fixture
def credential(azurite: RunningAzurite) -> Any:
    """The dev account's key, read the way ftops reads it: from a named environment variable."""
    return blob_credential(
        azurite.blob_url, key_env=KEY_ENV, environ={KEY_ENV: azurite.connection_string}
    )


@pytest.fixture
def service(azurite: RunningAzurite) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite.connection_string)


@pytest.fixture
def container_name() -> str:
    return f"t{uuid.uuid4().hex}"


@pytest.fixture
def container(service: BlobServiceClient, container_name: str) -> Iterator[ContainerClient]:
    client = service.create_container(container_name)
    yield client
    client.delete_container()
