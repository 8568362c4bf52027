"""A whole file scanned on every core, with no core idle while the token tables build.

Forked workers claim byte ranges from counters in shared memory, so nobody has to hand work out
and work goes on while the parent is busy; the ranges shrink toward the end of the file, so
the cores finish together. Fork shares the modules, hash()'s salt and the loaded encoding.

Counting needs the encoding's tables, which the parent builds in one call that holds the GIL
(quicktok's o200k_base: about 0.8 s). Workers forked before that, one fewer than the cores,
check the rules of the ranges they take and count nothing; the workers forked once the tables
exist count those ranges again, counting only, before they take new ranges of their own. The
parent hashes the file while they work, and merges the parts in file order.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.context import ForkContext
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from reconciler.fileio import file_digest, new_hasher

from .encodings import counter_loaded, get_counter
from .findings import Findings
from .reading import line_ranges, read_blocks
from .scan import ScanOptions, ScanResult, count_blocks, hashed, scan_blocks

PARALLEL_MIN_BYTES = 16 << 20  # below this, forking costs more than it saves
RANGE_BYTES = 2 << 20  # the smallest range, and so the most a core can finish after the other
SHARE = 4  # a range is 1/(workers × SHARE) of what is left: big ranges first, small at the end
WAIT_S = 0.5  # how often the parent checks that no worker died while it waits for parts

FULL, RULES, COUNT = "full", "rules", "count"  # what a claimed piece of work is
FAILED = "failed"  # what a worker sends instead of a part, with its error


class WorkerDied(RuntimeError):
    """A worker ended without sending its part (killed, out of memory)."""


class WorkerTraceback(Exception):
    """Where in the worker its error was raised: the cause of the error re-raised here."""


def scan_file(path: Path, options: ScanOptions, workers: int | None = None) -> ScanResult:
    """Scan the whole file and compute its sha256, reading it once per byte."""
    size = path.stat().st_size
    workers = workers if workers is not None else usable_cores()
    result = None
    if workers >= 2 and size >= PARALLEL_MIN_BYTES and can_fork():
        try:
            result = scan_parallel(path, size, options, workers)
        except (OSError, WorkerDied):
            result = None  # no processes to be had here: one process does it all
    if result is None:
        sha = new_hasher()
        with collector_paused():
            result = scan_blocks(hashed(read_blocks(path), sha), options, at_file_start=True)
        result.digest = sha.hexdigest()
    result.size = size
    result.trailing_blanks = []  # blank lines at the very end are fine (editors add them)
    return result


def scan_parallel(path: Path, size: int, options: ScanOptions, workers: int) -> ScanResult:
    ranges = line_ranges(path, size, workers * SHARE, RANGE_BYTES)
    context = multiprocessing.get_context("fork")
    claims = Claims(context, len(ranges))
    parts: Queue[Any] = context.Queue()
    job = Job(str(path), tuple(ranges), options, claims, parts)
    started: list[BaseProcess] = []
    # Objects the collector never visits keep their pages shared with the workers (a
    # collection in a worker would write to every object's header and copy its page).
    gc.freeze()
    try:
        if options.encoding and not counter_loaded(options.encoding):
            started += fork(context, job, early=True, count=workers - 1)
            get_counter(options.encoding)  # the workers forked next inherit the tables
        claims.close_early()
        started += fork(context, job, early=False, count=workers)
        digest = file_digest(path)  # on this process's core while the workers parse
        result = collect(job, started)
    finally:
        gc.unfreeze()
        stop(started)
        parts.close()
    result.digest = digest
    return result


@dataclass(frozen=True)
class Job:
    path: str
    ranges: tuple[tuple[int, int], ...]
    options: ScanOptions
    claims: Claims
    parts: Queue[Any]


class Claims:
    """Who took which range, in shared memory under one lock."""

    def __init__(self, context: ForkContext, ranges: int) -> None:
        self.lock = context.Lock()
        self.ranges = ranges
        self.next_range = context.RawValue("i", 0)
        self.early = context.RawArray("i", ranges)  # the ranges early workers took, in order
        self.early_taken = context.RawValue("i", 0)
        self.recounted = context.RawValue("i", 0)
        self.early_closed = context.RawValue("b", 0)

    def close_early(self) -> None:
        with self.lock:
            self.early_closed.value = 1

    def claim_early(self) -> tuple[str, int] | None:
        with self.lock:
            if self.early_closed.value or self.next_range.value >= self.ranges:
                return None
            index = self.take_range()
            self.early[self.early_taken.value] = index
            self.early_taken.value += 1
            return RULES, index

    def claim(self) -> tuple[str, int] | None:
        """Counting what early workers checked comes first: new ranges shrink toward the end."""
        with self.lock:
            if self.recounted.value < self.early_taken.value:
                self.recounted.value += 1
                return COUNT, self.early[self.recounted.value - 1]
            if self.next_range.value < self.ranges:
                return FULL, self.take_range()
            return None

    def take_range(self) -> int:
        index = self.next_range.value
        self.next_range.value = index + 1
        return index


def fork(context: ForkContext, job: Job, *, early: bool, count: int) -> list[BaseProcess]:
    processes: list[BaseProcess] = [
        context.Process(target=work, args=(job, early), daemon=True) for _ in range(count)
    ]
    for process in processes:
        process.start()
    return processes


def work(job: Job, early: bool) -> None:
    """A worker's loop: claim, scan, send, until nothing is left to claim."""
    claim: Callable[[], tuple[str, int] | None] = (
        job.claims.claim_early if early else job.claims.claim
    )
    gc.disable()  # see collector_paused; this process ends with the scan
    try:
        while (claimed := claim()) is not None:
            kind, index = claimed
            job.parts.put((kind, index, scan_piece(job, kind, index)))
    except KeyboardInterrupt:
        return  # Ctrl-C reached the whole process group: the parent says so, once
    except BaseException as exc:
        job.parts.put((FAILED, -1, (exc, traceback.format_exc())))
        raise


def scan_piece(job: Job, kind: str, index: int) -> ScanResult:
    start, end = job.ranges[index]
    blocks = read_blocks(job.path, start, end)
    if kind == COUNT:
        return count_blocks(blocks, job.options, at_file_start=start == 0)
    options = job.options if kind == FULL else replace(job.options, encoding=None)
    return scan_blocks(blocks, options, at_file_start=start == 0)


def collect(job: Job, workers: list[BaseProcess]) -> ScanResult:
    """Every range's part (and its count, for ranges scanned before the tables existed),
    merged in file order."""
    scanned: dict[int, ScanResult] = {}
    counted: dict[int, ScanResult] = {}
    checked_only = 0
    while len(scanned) < len(job.ranges) or len(counted) < checked_only:
        kind, index, part = next_part(job, workers)
        if kind == COUNT:
            counted[index] = part
            continue
        scanned[index] = part
        checked_only += kind == RULES
    result = ScanResult(findings=Findings(keep=job.options.keep))
    for index in range(len(job.ranges)):
        part = scanned.pop(index)
        if index in counted:
            add_counts(part, counted.pop(index))
        result.merge(part)
    return result


def next_part(job: Job, workers: list[BaseProcess]) -> tuple[str, int, Any]:
    while True:
        try:
            kind, index, part = job.parts.get(timeout=WAIT_S)
        except queue.Empty:
            ends = [w.exitcode for w in workers]
            if None not in ends or any(end not in (None, 0) for end in ends):
                # Killed, or all gone with parts missing: none of them will come now.
                raise WorkerDied(f"a dataset worker ended early (exit codes {ends})") from None
            continue
        if kind == FAILED:
            error, trace = part
            raise error from WorkerTraceback(trace)
        return kind, index, part


def add_counts(part: ScanResult, counts: ScanResult) -> None:
    if len(counts.tokens) != len(part.example_lines):
        raise RuntimeError(
            f"counted {len(counts.tokens)} examples of a range with {len(part.example_lines)}"
        )
    part.tokens = counts.tokens
    part.before_trainable = counts.before_trainable
    part.uncertain_lines = counts.uncertain_lines
    part.tokenized = counts.tokenized


def stop(workers: list[BaseProcess]) -> None:
    """Workers end on their own once nothing is left; on an error, end them here."""
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join()


@contextmanager
def collector_paused() -> Iterator[None]:
    """A scan makes no reference cycles (parsed JSON and the per-line values die by reference
    count), yet allocates enough to set the collector off every few lines: 10-15 % of a scan."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Fork only a single-threaded process: a child forked while another thread holds a lock
    (a logging or HTTP pool lock, say) can deadlock. With threads running, scan in-process."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
