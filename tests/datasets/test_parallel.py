"""The scan spread over forked workers (reconciler/datasets/parallel.py): ranges checked before
the token tables exist and counted after give what one process gives; a worker that dies or
fails is not a silent wrong answer."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.datasets import inspect_dataset, parallel
from reconciler.datasets.reading import line_ranges
from reconciler.datasets.scan import ScanOptions

from .test_streaming import messy_file, odd_lines

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


@pytest.fixture
def slow_tables(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Tiny ranges, and tables that take 0.3 s to build, so the early worker takes ranges
    whose counts come later; returns the ranges whose counts were added to checked parts."""
    real_get_counter = parallel.get_counter
    recounted: list[int] = []
    real_add_counts = parallel.add_counts

    def slow_get_counter(name: str) -> Any:
        time.sleep(0.3)
        return real_get_counter(name)

    def add_counts(part: Any, counts: Any) -> None:
        recounted.append(len(counts.tokens))
        real_add_counts(part, counts)

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 2048)
    monkeypatch.setattr(parallel, "counter_loaded", lambda name: False)
    monkeypatch.setattr(parallel, "get_counter", slow_get_counter)
    monkeypatch.setattr(parallel, "add_counts", add_counts)
    return recounted


def assert_same_report(path: Path) -> None:
    sequential = inspect_dataset(path, workers=1, keep=1000)
    pooled = inspect_dataset(path, workers=2, keep=1000)
    assert pooled.tokens is not None
    assert pooled.as_json() == sequential.as_json()
    assert pooled.diagnostics == sequential.diagnostics


@pytest.mark.parametrize("make", [messy_file, odd_lines])
def test_ranges_checked_before_the_tables_are_counted_after(
    tmp_path: Path, slow_tables: list[int], make: Callable[[Path], Path]
) -> None:
    assert_same_report(make(tmp_path / "data.jsonl"))
    assert slow_tables, "no range was checked before the tables existed: the test proves nothing"
    assert sum(slow_tables) > 0


def test_every_real_dataset_scans_the_same_split_or_whole(slow_tables: list[int]) -> None:
    files = sorted(REAL.rglob("*.jsonl"))
    assert len(files) >= 10
    for path in files:
        if path.stat().st_size > 8192:  # a few ranges at least
            assert_same_report(path)
    assert slow_tables


def killed() -> None:
    os._exit(9)


def interrupted() -> None:
    raise KeyboardInterrupt  # SIGINT to that worker alone: it ends quietly, with exit code 0


@pytest.mark.parametrize("end", [killed, interrupted])
def test_a_worker_gone_without_its_part_leaves_the_scan_to_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, end: Callable[[], None]
) -> None:
    path = messy_file(tmp_path / "messy.jsonl")
    expected = inspect_dataset(path, workers=1, keep=1000)
    real_scan_piece = parallel.scan_piece
    ended = tmp_path / "ended"

    def ending(job: Any, kind: str, index: int) -> Any:
        if index == 2:
            ended.touch()
            end()
        return real_scan_piece(job, kind, index)

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 4096)
    monkeypatch.setattr(parallel, "WAIT_S", 0.05)
    monkeypatch.setattr(parallel, "scan_piece", ending)
    assert inspect_dataset(path, workers=2, keep=1000).as_json() == expected.as_json()
    assert ended.exists()  # the pooled scan ran, and lost that range


def test_a_worker_that_fails_raises_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = messy_file(tmp_path / "messy.jsonl")

    def failing(job: Any, kind: str, index: int) -> Any:
        raise ValueError(f"range {index} is cursed")

    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "RANGE_BYTES", 4096)
    monkeypatch.setattr(parallel, "scan_piece", failing)
    with pytest.raises(ValueError, match="is cursed"):
        inspect_dataset(path, workers=2)


def test_ranges_shrink_toward_the_end_and_cut_at_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"".join(b"x" * (i % 97) + b"\n" for i in range(20_000)))
    size = path.stat().st_size
    ranges = line_ranges(path, size, 8, 4096)
    data = path.read_bytes()
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert all(data[end - 1 : end] == b"\n" for _, end in ranges)
    lengths = [end - start for start, end in ranges]
    assert lengths[0] > 8 * lengths[-2] and lengths[0] <= size // 8 + 100
    assert min(lengths[:-1]) >= 4096


def test_a_counted_range_must_match_its_checked_part() -> None:
    checked = parallel.scan_blocks([b'{"messages": []}\n'], ScanOptions(), at_file_start=True)
    counted = parallel.count_blocks([b"\n"], ScanOptions(encoding="o200k_base"), True)
    with pytest.raises(RuntimeError, match="counted 0 examples of a range with 1"):
        parallel.add_counts(checked, counted)
