"""Dataset `url` downloads from a real Azurite: SAS URLs, the content-addressed cache, refusals."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient, generate_blob_sas

from reconciler.errors import FtopsError, Location, PermanentError
from reconciler.providers.blob import fetch_dataset
from tests.azurite import RunningAzurite

DATA = (
    b'{"messages": [{"role": "user", "content": "Hi"}, '
    b'{"role": "assistant", "content": "Hello"}]}\n'
)


def _sas_url(azurite: RunningAzurite, container: str, blob: str) -> str:
    sas = generate_blob_sas(
        azurite.account_name,
        container,
        blob,
        account_key=azurite.account_key,
        permission="r",
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return f"{azurite.blob_url}/{container}/{blob}?{sas}"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_fetches_a_sas_url_by_content_and_reuses_the_cached_file(
    azurite: RunningAzurite, container: ContainerClient, tmp_path: Path
) -> None:
    container.upload_blob("train.jsonl", DATA)
    url = _sas_url(azurite, container.container_name, "train.jsonl")
    digest = hashlib.sha256(DATA).hexdigest()

    first = fetch_dataset(url, tmp_path)
    assert (first.digest, first.size, first.downloaded) == (digest, len(DATA), True)
    assert first.path == tmp_path / f"{digest}.jsonl"
    assert first.path.read_bytes() == DATA

    again = fetch_dataset(url, tmp_path)
    assert again.path == first.path and again.digest == digest
    assert not again.downloaded  # same blob version (ETag): no second download
    assert not list(tmp_path.glob(".fetch-*"))


def test_a_changed_blob_is_downloaded_again(
    azurite: RunningAzurite, container: ContainerClient, tmp_path: Path
) -> None:
    blob = container.upload_blob("train.jsonl", DATA)
    url = _sas_url(azurite, container.container_name, "train.jsonl")
    before = fetch_dataset(url, tmp_path)
    blob.upload_blob(DATA + DATA, overwrite=True)
    after = fetch_dataset(url, tmp_path)
    assert after.downloaded and after.digest == hashlib.sha256(DATA + DATA).hexdigest()
    assert after.path != before.path and before.path.is_file()


def test_a_url_without_a_sas_is_streamed_over_plain_http(
    azurite: RunningAzurite, service: BlobServiceClient, container_name: str, tmp_path: Path
) -> None:
    # No SAS in the URL: not treated as a blob URL, so the plain HTTP path does the download.
    public = service.create_container(container_name, public_access="blob")
    try:
        public.upload_blob("train.jsonl", DATA)
        fetched = fetch_dataset(f"{azurite.blob_url}/{container_name}/train.jsonl", tmp_path)
        assert fetched.digest == hashlib.sha256(DATA).hexdigest()
        assert fetched.path.read_bytes() == DATA
    finally:
        public.delete_container()


def test_refuses_a_file_over_the_size_limit(
    azurite: RunningAzurite, container: ContainerClient, tmp_path: Path
) -> None:
    container.upload_blob("train.jsonl", DATA)
    url = _sas_url(azurite, container.container_name, "train.jsonl")
    with pytest.raises(FtopsError) as too_large:
        fetch_dataset(url, tmp_path, max_bytes=10)
    assert too_large.value.code == "DATASET_URL_TOO_LARGE"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/x.jsonl",
        "http://mystorage.blob.core.windows.net/c/x.jsonl?sv=2024-11-04&sig=abc",
        "ftp://example.com/x.jsonl",
        "file:///etc/passwd",
        "example.com/x.jsonl",
    ],
)
def test_refuses_insecure_urls_without_any_network_access(
    url: str, tmp_path: Path, no_network: None
) -> None:
    with pytest.raises(FtopsError) as refused:
        fetch_dataset(url, tmp_path / "cache")
    assert refused.value.code == "DATASET_URL_INSECURE"
    assert "sig=abc" not in refused.value.message
    assert refused.value.hint and "https" in refused.value.hint
    assert not (tmp_path / "cache").exists()


def test_errors_never_show_the_signature(
    azurite: RunningAzurite, container: ContainerClient, tmp_path: Path
) -> None:
    container.upload_blob("train.jsonl", DATA)
    good = _sas_url(azurite, container.container_name, "train.jsonl")
    signature = good.partition("sig=")[2].partition("&")[0]
    tampered = good.replace(signature, ("B" if signature[0] == "A" else "A") + signature[1:])
    missing = _sas_url(azurite, container.container_name, "nope.jsonl")
    spec = Location(file="specs/data.yaml", line=7, column=8)
    for url, status in ((tampered, 403), (missing, 404)):
        with pytest.raises(PermanentError) as failed:
            fetch_dataset(url, tmp_path, location=spec)
        err = failed.value
        assert err.location == spec
        assert err.code == "DATASET_URL_FETCH_FAILED" and err.status == status
        assert err.__cause__ is None and err.__suppress_context__
        shown = f"{err.message} {err.hint} {err!r}"
        assert "sig=REDACTED" in err.message
        sig = url.partition("sig=")[2].partition("&")[0]
        assert sig not in shown and sig.replace("%2B", "+").replace("%3D", "=") not in shown


class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://example.com/x.jsonl?sig=secret")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x.jsonl"
    finally:
        server.shutdown()
        server.server_close()


def test_refuses_a_redirect_to_plain_http(redirecting_server: str, tmp_path: Path) -> None:
    with pytest.raises(FtopsError) as refused:
        fetch_dataset(redirecting_server, tmp_path)
    assert refused.value.code == "DATASET_URL_INSECURE"
    assert "secret" not in refused.value.message
    assert not list(tmp_path.glob(".fetch-*"))
