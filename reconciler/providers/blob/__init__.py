"""Azure Blob Storage: the apply lock (a blob lease) and Dataset `url` downloads.

- `BlobLeaseLock` (lease.py) serializes applies of one project across machines when
  `Project.spec.lock.azureBlob` is set: a lease on one blob, renewed in the background while
  held, released on exit. A second holder is refused at once with `GUARD_LOCKED` (exit 4).
- `fetch_dataset` (fetch.py) streams a Dataset `url` (an Azure Blob SAS URL or any https URL)
  into a content-addressed cache, `{sha256}.jsonl`, so the planner validates, counts and names it
  by content like a file in the repository.

Safe by default (urls.py): every endpoint must be https, except plain http on a loopback address
(Azurite, a local test server). Account keys and connection strings come only from an environment
variable that the caller names, and never appear in a message (credentials.py). URLs reach
messages only through `redact_url` (SAS signatures and every other secret-looking query value are
replaced), and errors from the HTTP libraries are not chained, because their text and attributes
carry the full URL (sdk_errors.py for the lock's).
"""

from __future__ import annotations

from .credentials import blob_credential
from .fetch import DEFAULT_MAX_BYTES, FetchedDataset, fetch_dataset
from .lease import BlobLeaseLock
from .urls import is_loopback_host, redact_text, redact_url, require_secure_url

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
