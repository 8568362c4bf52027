"""One apply of a project at a time: an Azure Blob lease when the Project asks for one (CI
runners on different machines), else a file lock in `.ftops/`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from filelock import FileLock, Timeout

from reconciler.errors import GuardError
from reconciler.specs.models import Lock

STORAGE_KEY_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def project_lock(lock: Lock, state_dir: Path, *, emulator: bool) -> AbstractContextManager[Any]:
    """With --emulator, a blob lease is taken only on a loopback (Azurite) account."""
    from reconciler.providers.blob import BlobLeaseLock, is_loopback_host

    blob = lock.azure_blob
    if blob is not None and (not emulator or is_loopback_host(urlsplit(blob.account_url).hostname)):
        key_env = STORAGE_KEY_ENV if os.environ.get(STORAGE_KEY_ENV) else None
        return BlobLeaseLock.from_spec(blob, key_env=key_env)
    return file_lock(state_dir / "apply.lock")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise GuardError(
            "another apply of this project is running",
            code="GUARD_LOCKED",
            hint=f"wait for it to finish (lock: {path})",
        ) from exc
    try:
        yield
    finally:
        lock.release()
