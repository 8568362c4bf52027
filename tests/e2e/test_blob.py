"""Blob features against a real Azurite: a dataset imported from a SAS URL, and the project lock
held as a blob lease while apply runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from reconciler.cli import main
from reconciler.emulator.server import RunningEmulator
from tests.azurite import RunningAzurite


@pytest.fixture
def sas_dataset(azurite: RunningAzurite, example) -> tuple[Path, str]:  # type: ignore[no-untyped-def]
    specs = example("quickstart")
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"data{uuid.uuid4().hex[:8]}")
    blob = container.upload_blob("travel.jsonl", (specs / "data" / "travel.jsonl").read_bytes())
    sas = generate_blob_sas(
        account_name=service.account_name,
        container_name=container.container_name,
        blob_name=blob.blob_name,
        account_key=service.credential.account_key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return specs, f"{blob.url}?{sas}"


def test_url_dataset_and_blob_lease_lock(
    use_emulator: RunningEmulator,
    azurite: RunningAzurite,
    sas_dataset: tuple[Path, str],
    monkeypatch,  # type: ignore[no-untyped-def]
    capsys: pytest.CaptureFixture[str],
) -> None:
    specs, url = sas_dataset
    text = (specs / "ftops.yaml").read_text()
    text = text.replace("  path: data/travel.jsonl", f"  url: '{url}'")
    text = text.replace(
        "spec:\n  policy:",
        "spec:\n  lock:\n    azureBlob:\n"
        f"      accountUrl: {azurite.blob_url}\n      container: locks\n"
        "  policy:",
        1,
    )
    (specs / "ftops.yaml").write_text(text)
    (specs / "data" / "travel.jsonl").unlink()  # only the URL has the data now
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)

    assert (
        main(["apply", str(specs), "--emulator", "--yes", "--wait", "--receipt", "receipt.json"])
        == 0
    )
    captured = capsys.readouterr()
    assert "travel.13663c045ca59855.jsonl" in captured.err  # same bytes, same name as a path
    signature = url.split("sig=")[1].split("&")[0]
    for output in (captured.out, captured.err, Path("receipt.json").read_text()):
        assert signature not in output
    assert main(["plan", str(specs), "--emulator", "--detailed-exitcode"]) == 0

    # the lease was released: the lock blob exists and is free
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    props = service.get_blob_client("locks", "ftops.lock").get_blob_properties()
    assert props.lease.state == "available"


def test_apply_is_refused_while_another_holds_the_lease(
    use_emulator: RunningEmulator,  # type: ignore[no-untyped-def]
    azurite: RunningAzurite,
    example,
    monkeypatch,
    capsys,
) -> None:
    specs = example("quickstart")
    container = f"locks{uuid.uuid4().hex[:8]}"
    text = (
        (specs / "ftops.yaml")
        .read_text()
        .replace(
            "spec:\n  policy:",
            "spec:\n  lock:\n    azureBlob:\n"
            f"      accountUrl: {azurite.blob_url}\n      container: {container}\n  policy:",
            1,
        )
    )
    (specs / "ftops.yaml").write_text(text)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(container).upload_blob("ftops.lock", b"")
    lease = service.get_blob_client(container, "ftops.lock").acquire_lease(lease_duration=60)
    try:
        assert main(["apply", str(specs), "--emulator", "--yes"]) == 4
        assert "GUARD_LOCKED" in capsys.readouterr().err
    finally:
        lease.release()
