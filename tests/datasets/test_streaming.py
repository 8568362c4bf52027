"""One pass, constant memory: the pooled scan over byte ranges equals the sequential scan, and
memory does not grow with the file's bytes."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from reconciler.datasets import file_digest, inspect_dataset, parallel

from .helpers import chat, clean, completion, write_jsonl


def messy_file(path: Path) -> Path:
    """Problems of every kind, spread so that 4 kB ranges cut through them."""
    lines: list[dict | bytes] = []
    for i in range(400):
        lines.append(clean(i))
        if i % 37 == 0:
            lines.append(b'{"messages": NaN}')
        if i % 53 == 0:
            lines.append(b"")
        if i % 61 == 0:
            lines.append(clean(i))  # a duplicate
        if i % 71 == 0:
            lines.append(completion())
        if i % 29 == 0:
            lines.append(chat(("user", f"u{i}"), ("assistant", "")))
    return write_jsonl(path, lines, pad=3)


def odd_lines(path: Path) -> Path:
    """Lines a range may start or end on: a BOM, lines that are not objects or of no format,
    DPO, remote images (uncertain counts), whitespace-only lines."""
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    lines: list[dict | bytes] = []
    for i in range(300):
        lines.append(clean(i))
        if i % 13 == 0:
            lines.append(b"[1, 2]")
        if i % 17 == 0:
            lines.append(b'{"foo": 1}')
        if i % 19 == 0:
            image = [remote, {"type": "text", "text": f"see {i}"}]
            lines.append(chat(("user", image), ("assistant", "ok")))
        if i % 23 == 0:
            lines.append(
                {
                    "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
                    "preferred_output": [{"role": "assistant", "content": "yes"}],
                    "non_preferred_output": [{"role": "assistant", "content": "no"}],
                }
            )
        if i % 31 == 0:
            lines.append(b"   ")
    write_jsonl(path, lines, pad=3)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return path


@pytest.mark.parametrize("make", [messy_file, odd_lines])
def test_pooled_scan_equals_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], Path]
) -> None:
    path = make(tmp_path / "messy.jsonl")
    sequential = inspect_dataset(path, workers=1, keep=1000)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 4096)
    pooled = inspect_dataset(path, workers=2, keep=1000)
    assert pooled.diagnostics == sequential.diagnostics
    assert pooled.tokens == sequential.tokens and pooled.tokens is not None
    assert pooled.counts == sequential.counts
    assert pooled.digest == sequential.digest == file_digest(path)
    assert pooled.examples == sequential.examples
    assert pooled.as_json() == sequential.as_json()


def test_the_messy_files_hold_what_they_promise(tmp_path: Path) -> None:
    messy = inspect_dataset(messy_file(tmp_path / "messy.jsonl"), keep=1000)
    assert {"SET_DUPLICATE_EXAMPLE", "LINE_BLANK", "LINE_INVALID_JSON"} <= messy.codes
    odd = inspect_dataset(odd_lines(tmp_path / "odd.jsonl"), keep=1000)
    assert {"FILE_BOM", "LINE_NOT_OBJECT", "EX_UNKNOWN_FORMAT", "FILE_MIXED_FORMATS"} <= odd.codes
    assert odd.tokens is not None and odd.tokens.uncertain


def test_repeats_are_counted_but_capped(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "x.jsonl", [chat(("user", f"{i}"), ("assistant", " ")) for i in range(50)]
    )
    report = inspect_dataset(path, keep=5)
    shown = [d for d in report.diagnostics if d.code == "MSG_EMPTY_CONTENT"]
    assert len(shown) == 6  # 5 located findings and one summary
    assert report.counts["MSG_EMPTY_CONTENT"] == 50
    assert "50 findings" in shown[-1].message


def big_lines_file(path: Path, examples: int) -> Path:
    text = "lorem ipsum dolor sit amet " * 2000  # about 54 kB per example
    with open(path, "wb") as f:
        for i in range(examples):
            f.write(orjson.dumps(chat(("user", f"{i} {text}"), ("assistant", "ok"))) + b"\n")
    return path


def peak_traced(path: Path) -> int:
    tracemalloc.start()
    try:
        inspect_dataset(path, count_tokens=False, workers=1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    small = big_lines_file(tmp_path / "small.jsonl", 200)  # about 11 MB
    large = big_lines_file(tmp_path / "large.jsonl", 800)  # about 43 MB
    small_peak, large_peak = peak_traced(small), peak_traced(large)
    assert large_peak < small_peak * 1.25 + 1_000_000, (small_peak, large_peak)
    assert large_peak < 20_000_000  # a few 4 MiB blocks in flight, not the 43 MB file


def test_no_processes_falls_back_to_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = messy_file(tmp_path / "messy.jsonl")
    expected = inspect_dataset(path, workers=1)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("no fork here")

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "scan_parallel", refuse)
    assert inspect_dataset(path, workers=2).diagnostics == expected.diagnostics
