"""Token counts cached by (file digest, encoding, rules version) in the cache directory.

The digest is only known after reading the file, so the shared digest cache
(`reconciler.fileio.DigestCache`, `digests.json`) maps a path's (size, mtime) to the digest it
had: when it and a token file agree, the pass skips tokenizing, and the digest it computes anyway
confirms the match (a mismatch re-counts). The cache is disposable: a missing or damaged file
only means counting again.
"""

from __future__ import annotations

import contextlib
from array import array
from dataclasses import dataclass
from pathlib import Path

import orjson

from reconciler.fileio import write_atomic

from .codes import RULES_VERSION


@dataclass(frozen=True)
class CachedTokens:
    tokens: array
    before_trainable: array
    uncertain_lines: array


def tokens_path(cache_dir: Path, digest: str, encoding: str) -> Path:
    return cache_dir / f"{digest}.{encoding}.r{RULES_VERSION}.u32.tokens"  # 32-bit counts


def load_tokens(cache_dir: Path, digest: str, encoding: str) -> CachedTokens | None:
    try:
        data = tokens_path(cache_dir, digest, encoding).read_bytes()
        header, _, body = data.partition(b"\n")
        sizes = orjson.loads(header)["sizes"]
        arrays = []
        offset = 0
        for size in sizes:
            values = array("I")
            values.frombytes(body[offset : offset + size * values.itemsize])
            offset += size * values.itemsize
            arrays.append(values)
        return CachedTokens(*arrays) if offset == len(body) else None
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def store_tokens(cache_dir: Path, digest: str, encoding: str, cached: CachedTokens) -> None:
    arrays = (cached.tokens, cached.before_trainable, cached.uncertain_lines)
    header = orjson.dumps({"version": RULES_VERSION, "sizes": [len(a) for a in arrays]})
    body = b"".join(array("I", a).tobytes() for a in arrays)
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs a recount
        write_atomic(tokens_path(cache_dir, digest, encoding), header + b"\n" + body)
