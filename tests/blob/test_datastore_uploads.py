"""A placed run's uploads to an Azure ML datastore and the download of its outputs, through the
real azure-storage-blob client against Azurite (the full Blob service, beside the emulator's
embedded one): content-addressed names uploaded once, a torn upload replaced, folders in
parallel and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from reconciler.providers.azureml import MLWorkspace, Upload
from reconciler.specs.models import MLWorkspaceSpec
from tests.azurite import azurite  # noqa: F401

SPEC = MLWorkspaceSpec.model_validate(
    {
        "subscription": "00000000-0000-0000-0000-0000000000b1",
        "resourceGroup": "rg",
        "workspaceName": "uploads",
        "region": "eastus2",
    }
)


@pytest.fixture
def workspace(container: ContainerClient) -> MLWorkspace:
    """A workspace whose default datastore is an Azurite container (no Azure ML needed here)."""
    ws = MLWorkspace(SPEC)
    ws.__dict__["container"] = container  # what `container` would resolve from the datastore
    return ws


def test_a_content_addressed_file_is_uploaded_once(workspace: MLWorkspace, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_bytes(b'{"messages": []}\n' * 100)
    name = "ftops/files/abc123/train.jsonl"
    assert workspace.put_file(data, name) is True
    assert workspace.put_file(data, name) is False
    blob = workspace.container.download_blob(name).readall()
    assert blob == data.read_bytes()


def test_a_torn_upload_of_another_size_is_replaced(workspace: MLWorkspace, tmp_path: Path) -> None:
    data = tmp_path / "weights.bin"
    data.write_bytes(bytes(range(256)) * 64)
    name = "ftops/models/def456/weights.bin"
    workspace.container.upload_blob(name, data.read_bytes()[:1000])  # a killed upload's remains
    assert workspace.has_blob(name, data.stat().st_size) is False
    assert workspace.put_file(data, name) is True
    assert workspace.container.download_blob(name).readall() == data.read_bytes()


def test_a_folder_goes_up_in_parallel_and_comes_back_whole(
    workspace: MLWorkspace, tmp_path: Path
) -> None:
    source = tmp_path / "model"
    for i in range(20):
        path = source / f"part-{i // 5}" / f"shard-{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"shard {i}".encode() * (i + 1))
    files = sorted(p for p in source.rglob("*") if p.is_file())
    uploads = [Upload(p, "ftops/models/f00/" + p.relative_to(source).as_posix()) for p in files]
    assert workspace.put_files(uploads) == 20
    assert workspace.put_files(uploads) == 0
    back = tmp_path / "back"
    written = workspace.download_prefix("ftops/models/f00/", back)
    assert len(written) == 20
    for path in files:
        assert (back / path.relative_to(source)).read_bytes() == path.read_bytes()
