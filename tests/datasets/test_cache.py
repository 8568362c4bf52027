"""A second inspection of unchanged data tokenizes nothing: the counts come from the cache."""

from __future__ import annotations

from pathlib import Path

from reconciler.datasets import TOKENIZED, inspect_dataset

from .helpers import chat, write_jsonl


def test_second_inspection_tokenizes_nothing(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", [chat(("user", "hi"), ("assistant", "hello"))])
    cache = tmp_path / ".ftops" / "cache" / "tokens"
    first = inspect_dataset(data, base_model="gpt-4o-mini", cache_dir=cache)
    counted = TOKENIZED.examples
    second = inspect_dataset(data, base_model="gpt-4o-mini", cache_dir=cache)
    assert TOKENIZED.examples == counted, "the second inspection tokenized examples"
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.tokens == first.tokens and second.digest == first.digest
    assert second.diagnostics == first.diagnostics
    assert list(cache.glob(f"{first.digest}.o200k_base.*"))


def test_changed_data_is_counted_again(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", [])
    cache = tmp_path / "cache"
    inspect_dataset(data, cache_dir=cache)
    write_jsonl(data, [chat(("user", "a new question"), ("assistant", "a new answer"))])
    before = TOKENIZED.examples
    again = inspect_dataset(data, cache_dir=cache)
    assert not again.from_cache and TOKENIZED.examples == before + 11


def test_another_encoding_is_counted_separately(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", [])
    cache = tmp_path / "cache"
    o200k = inspect_dataset(data, base_model="gpt-4o-mini", cache_dir=cache)
    cl100k = inspect_dataset(data, base_model="gpt-35-turbo-1106", cache_dir=cache)
    assert not cl100k.from_cache
    assert cl100k.tokens is not None and cl100k.tokens.encoding == "cl100k_base"
    assert o200k.tokens is not None and o200k.tokens.encoding == "o200k_base"


def test_a_damaged_cache_file_only_costs_a_recount(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", [])
    cache = tmp_path / "cache"
    first = inspect_dataset(data, cache_dir=cache)
    for file in cache.glob("*.tokens"):
        file.write_bytes(b"garbage")
    again = inspect_dataset(data, cache_dir=cache)
    assert not again.from_cache and again.tokens == first.tokens


def test_no_tokens_skips_counting(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "train.jsonl", [])
    before = TOKENIZED.examples
    report = inspect_dataset(data, count_tokens=False)
    assert report.tokens is None and TOKENIZED.examples == before
    assert len(report.digest) == 64
