"""Reading a JSONL file: byte ranges cut at line ends, lines with numbers, the head checks.

Lines are read in large blocks and split in C (`bytes.split`), which runs at over 1 GB/s; the
per-line work is then only what the rules need.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

BLOCK = 1 << 20  # 1 MiB: large enough that per-block overhead vanishes, small for memory
BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
HEAD_BYTES = 1 << 16


def read_blocks(path: Path | str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The bytes of [start, end) in blocks."""
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        remaining = (end if end is not None else os.fstat(f.fileno()).st_size) - start
        while remaining > 0:
            block = f.read(min(BLOCK, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block


def numbered_lines(blocks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its `\\n`) for every line, the last one included."""
    number = 0
    carry: list[bytes] = []  # the unfinished line's pieces: a long line is joined once
    for block in blocks:
        lines = block.split(b"\n")
        if len(lines) == 1:
            carry.append(lines[0])
            continue
        if carry:
            carry.append(lines[0])
            lines[0] = b"".join(carry)
        carry = [lines.pop()]
        for line in lines:
            number += 1
            yield number, line
    last = b"".join(carry)
    if last:
        yield number + 1, last


def line_ranges(path: Path | str, size: int, share: int, smallest: int) -> list[tuple[int, int]]:
    """Cut [0, size) into ranges that each end just after a `\\n`: each range is 1/share of
    what is left, and at least `smallest` bytes, so they shrink toward the end."""
    cuts = [0]
    with open(path, "rb") as f:
        while cuts[-1] + smallest < size:
            f.seek(cuts[-1] + max(smallest, (size - cuts[-1]) // share))
            tail = f.readline()
            cut = f.tell()
            if not tail or cut >= size:
                break
            cuts.append(cut)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def read_head(path: Path | str) -> bytes:
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


def looks_like_json_document(head: bytes, whole_file: bool) -> int | None:
    """The line (1-based) that shows the file is one JSON document rather than JSONL.

    Signs (research §5.1): it starts with `[` (an array); a line is only `{` or `[`; the first
    line opens an object or array that it does not close; or, for a file that fits in the
    head, the whole parses as one value while its first line alone does not. The head is
    enough: such files show it at once, and one FILE_NOT_JSONL beats N line errors.
    """
    text = head[len(BOM) :] if head.startswith(BOM) else head
    stripped = text.lstrip()
    if stripped.startswith(b"["):
        return text[: len(text) - len(stripped)].count(b"\n") + 1
    lines = text.split(b"\n")
    for number, line in enumerate(lines[:-1] if len(lines) > 1 else lines, start=1):
        if line.strip() in (b"{", b"["):
            return number
    first = next(((n, line) for n, line in enumerate(lines, start=1) if line.strip()), None)
    if first is None or parses(first[1]):
        return None
    opening = first[1].rstrip().endswith((b"{", b"[", b","))
    return first[0] if opening or (whole_file and parses(text)) else None


def parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True
