"""Token counts cached by (file digest, encoding, rules version) under `.ftops/cache/tokens/`.

The digest is only known after reading the file, so a small memo maps a path's (size, mtime,
inode) to the digest it had: when the memo and a token file agree, the pass skips tokenizing,
and the digest it computes anyway confirms the match (a mismatch re-counts). The cache is
disposable: a missing or damaged file only means counting again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path

import orjson

from .codes import RULES_VERSION


@dataclass(frozen=True)
class CachedTokens:
    tokens: array
    before_trainable: array
    uncertain_lines: array


def tokens_path(cache_dir: Path, digest: str, encoding: str) -> Path:
    return cache_dir / f"{digest}.{encoding}.r{RULES_VERSION}.tokens"


def memo_path(cache_dir: Path, path: Path) -> Path:
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()
    return cache_dir / "by-path" / f"{key}.json"


def stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def remembered_digest(cache_dir: Path, path: Path) -> str | None:
    try:
        memo = orjson.loads(memo_path(cache_dir, path).read_bytes())
        return str(memo["digest"]) if memo["stat"] == stat_key(path) else None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None


def remember_digest(cache_dir: Path, path: Path, digest: str) -> None:
    write_atomically(
        memo_path(cache_dir, path), orjson.dumps({"stat": stat_key(path), "digest": digest})
    )


def load_tokens(cache_dir: Path, digest: str, encoding: str) -> CachedTokens | None:
    try:
        data = tokens_path(cache_dir, digest, encoding).read_bytes()
        header, _, body = data.partition(b"\n")
        sizes = orjson.loads(header)["sizes"]
        arrays = []
        offset = 0
        for size in sizes:
            values = array("Q")
            values.frombytes(body[offset : offset + size * values.itemsize])
            offset += size * values.itemsize
            arrays.append(values)
        return CachedTokens(*arrays) if offset == len(body) else None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def store_tokens(cache_dir: Path, digest: str, encoding: str, cached: CachedTokens) -> None:
    arrays = (cached.tokens, cached.before_trainable, cached.uncertain_lines)
    header = orjson.dumps({"version": RULES_VERSION, "sizes": [len(a) for a in arrays]})
    body = b"".join(a.tobytes() for a in arrays)
    try:
        write_atomically(tokens_path(cache_dir, digest, encoding), header + b"\n" + body)
    except OSError:
        pass  # a cache that cannot be written only costs a recount


def write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
