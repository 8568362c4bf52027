"""File I/O for the whole reconciler: atomic writes, JSON files, content digests, the digest cache.

One digest format everywhere: the sha256 of the bytes as 64 lowercase hex characters, with no
prefix (datasets, uploaded file names, plans, run keys and adapter files alike). Where a digest is
part of a name, its first 16 characters are used (`short_digest`): `{dataset}.{hex16}.jsonl`, a run
directory, a cached dequantised base.

Writes are atomic: the bytes go to a temporary file in the target's directory, are fsynced, and the
file is renamed over the target, so a reader sees the old file or the new one, never a part.

Standard library only: every package may import this one (`reconciler.datasets` included).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashlib import _Hash

SHORT_DIGEST_CHARS = 16
DIGEST_CACHE_FILE = "digests.json"
_DIGEST = re.compile(r"[0-9a-f]{64}")


# --- digests --------------------------------------------------------------------------------


def new_hasher() -> _Hash:
    """A streaming hasher whose `hexdigest()` is a digest in this module's format."""
    return hashlib.sha256()


def bytes_digest(data: bytes) -> str:
    """The digest of `data`: sha256, 64 lowercase hex characters."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path | str) -> str:
    """The digest of a file's bytes, streamed."""
    digest = new_hasher()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while read := f.readinto(buffer):
            digest.update(view[:read])
    return digest.hexdigest()


def is_digest(text: str) -> bool:
    return _DIGEST.fullmatch(text) is not None


def short_digest(digest: str) -> str:
    """The part of a digest used in names: its first 16 hex characters."""
    return digest[:SHORT_DIGEST_CHARS]


class DigestCache:
    """`(path, size, mtime_ns) → digest`, kept in `{cache_dir}/digests.json`; safe to delete.

    Use it as a context manager (it saves on exit), or call `save()`. Without a `cache_dir` it
    only memoises within the instance. A file that cannot be read or written costs re-hashing.
    """

    def __init__(self, cache_dir: Path | None) -> None:
        self.file = cache_dir / DIGEST_CACHE_FILE if cache_dir is not None else None
        self.entries: dict[str, list[Any]] = _load_entries(self.file)
        self.changed: dict[str, list[Any]] = {}

    def __enter__(self) -> DigestCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.save()

    def lookup(self, path: Path) -> str | None:
        """The digest remembered for the file as it is now (same size and mtime), if any."""
        hit = self.entries.get(_cache_key(path))
        stat = path.stat()
        if hit and hit[:2] == [stat.st_size, stat.st_mtime_ns] and is_digest(str(hit[2])):
            return str(hit[2])
        return None

    def remember(self, path: Path, digest: str, stat: os.stat_result | None = None) -> None:
        """Record `digest` for the file as it is now (or as it was at `stat`)."""
        stat = stat or path.stat()
        key = _cache_key(path)
        self.entries[key] = self.changed[key] = [stat.st_size, stat.st_mtime_ns, digest]

    def digest(self, path: Path) -> str:
        """The file's digest, hashing it only when it changed since it was last hashed."""
        hit = self.lookup(path)
        if hit is not None:
            return hit
        stat = path.stat()  # before hashing: a write during hashing then reads as a change
        value = file_digest(path)
        self.remember(path, value, stat)
        return value

    def save(self) -> None:
        """Merge this instance's new entries into the file (another process may have added
        some meanwhile) and write it atomically."""
        if self.file is None or not self.changed:
            return
        merged = {**_load_entries(self.file), **self.changed}
        with contextlib.suppress(OSError):
            write_json_atomic(self.file, merged)
            self.changed = {}


def _cache_key(path: Path) -> str:
    return str(path.resolve())


def _load_entries(file: Path | None) -> dict[str, list[Any]]:
    value = read_json(file) if file is not None else None
    return {k: v for k, v in (value or {}).items() if isinstance(v, list) and len(v) == 3}


# --- atomic writes --------------------------------------------------------------------------


class AtomicFile:
    """A temporary file beside its target; `commit(target)` fsyncs it and renames it over the
    target. Leaving the `with` block without a commit (or by an exception) removes it.

    For writes whose target is known only at the end (a download named by its digest); when it
    is known up front, `write_atomic` is shorter.
    """

    def __init__(self, directory: Path, name: str = "") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        # 0o666 and the umask, like any new file (mkstemp would make it private).
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self.file: IO[bytes] = os.fdopen(fd, "wb")

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.discard()

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self, target: Path) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.path, target)

    def discard(self) -> None:
        """Close and remove the temporary file, unless it was committed."""
        self.file.close()
        self.path.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (str is written as UTF-8), creating its directory if needed."""
    with AtomicFile(path.parent, path.name) as out:
        out.write(data.encode() if isinstance(data, str) else data)
        out.commit(path)


def write_json_atomic(path: Path, value: Any) -> None:
    """`value` as indented JSON with sorted keys, written atomically."""
    write_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when it is missing, unreadable, or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


__all__ = [
    "SHORT_DIGEST_CHARS",
    "AtomicFile",
    "DigestCache",
    "bytes_digest",
    "file_digest",
    "is_digest",
    "new_hasher",
    "read_json",
    "short_digest",
    "write_atomic",
    "write_json_atomic",
]
