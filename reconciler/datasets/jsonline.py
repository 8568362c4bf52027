"""Strict JSON per line: orjson (RFC 8259: no NaN, no lone surrogates, no comments), with the
error's column, invalid UTF-8 located by byte, and duplicate keys found cheaply.

orjson, like `json`, keeps the last of two equal keys silently. Walking every parsed object to
look for them would cost as much as the parse, so each line's raw key count (`":` outside
strings; a quote inside a string is always escaped) is compared with the parsed key count, and
only a line whose raw count is higher is parsed again with `object_pairs_hook`. The parsed count
comes from the canonical re-serialisation (sorted keys) that duplicate detection needs anyway, so
both counts are C-speed `bytes.count` calls.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from .findings import Findings

SPECIAL_SUBSTRINGS = (
    b"<|endoftext|>",
    b"<|im_start|>",
    b"<|im_end|>",
    b"<|fim_",
    b"<|endofprompt|>",
)


def check_duplicate_keys(line: bytes, canonical: bytes, number: int, found: Findings) -> None:
    """`canonical` is orjson's re-serialisation of the parsed line: every key once."""
    if raw_key_count(line) > raw_key_count(canonical):
        report_duplicate_keys(line, number, found)


def report_invalid(line: bytes, number: int, exc: orjson.JSONDecodeError, found: Findings) -> None:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as bad:
        found.report(
            "FILE_INVALID_UTF8",
            f"invalid UTF-8 byte 0x{line[bad.start]:02x} at byte {bad.start + 1} of the line",
            number,
            column=len(line[: bad.start].decode("utf-8", "replace")) + 1,
        )
        return
    column: int | None = exc.colno if exc.lineno == 1 else None
    if text.startswith("\ufeff"):
        reason = "a byte-order mark inside the file (only allowed at its very start)"
    else:
        reason = exc.msg
    found.report("LINE_INVALID_JSON", f"not valid JSON: {reason}", number, column=column)


def raw_key_count(line: bytes) -> int:
    # Keys written as `"key" :` are not counted, so their duplicates go unseen; no common
    # writer puts a space there (json.dumps and orjson write `"key":`).
    return line.count(b'":')


def report_duplicate_keys(line: bytes, number: int, found: Findings) -> None:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        duplicates.extend(k for i, k in enumerate(keys) if k in keys[:i])
        return dict(items)

    json.loads(line, object_pairs_hook=pairs)
    for key in duplicates:
        found.report("LINE_DUPLICATE_KEY", f"key {key!r} appears twice in one object", number)


PIPE = ord("|")


def has_special_token_text(line: bytes) -> bool:
    # Looking for one byte is memchr (65 ns a 2 kB line); for the pair, a byte-wise search
    # (2.4 us): most lines have no `|` at all.
    return PIPE in line and b"<|" in line and any(s in line for s in SPECIAL_SUBSTRINGS)
