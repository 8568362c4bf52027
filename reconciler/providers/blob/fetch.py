"""Dataset `url` downloads into a content-addressed cache, `{digest}.jsonl`.

Azure Blob URLs go through azure-storage-blob, and a blob version (path and ETag) seen before is
not downloaded again; other https URLs are streamed with urllib, redirects staying https. Errors
from the HTTP libraries are not chained: their text and attributes carry the full URL.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError
from azure.storage.blob import BlobClient

from reconciler.errors import FtopsError, Location, PermanentError, ProviderError, RetryableError
from reconciler.fileio import AtomicFile, bytes_digest, is_digest, new_hasher, write_atomic

from .urls import is_blob_url, is_loopback_host, redact_text, redact_url, require_secure_url

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
HTTP_TIMEOUT_S = 60
MAX_REDIRECTS = 5


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
        write_atomic(ref, fetched.digest)
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
        return self.dest_dir / "refs" / bytes_digest(version.encode())

    def cached(self, ref: Path, size: int) -> FetchedDataset | None:
        try:
            digest = ref.read_text().strip()
        except OSError:
            return None
        path = self.dest_dir / f"{digest}.jsonl"
        if is_digest(digest) and path.is_file() and path.stat().st_size == size:
            return FetchedDataset(path=path, digest=digest, size=size, downloaded=False)
        return None

    def store(self, chunks: Iterable[bytes]) -> FetchedDataset:
        """Write the chunks to a temporary file while hashing them, then rename it by digest."""
        sha = new_hasher()
        size = 0
        with AtomicFile(self.dest_dir, "fetch") as part:
            for chunk in chunks:
                size += len(chunk)
                self.check_size(size)
                sha.update(chunk)
                part.write(chunk)
            digest = sha.hexdigest()
            path = self.dest_dir / f"{digest}.jsonl"
            if not (path.is_file() and path.stat().st_size == size):
                part.commit(path)
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
