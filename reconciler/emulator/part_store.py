"""The bytes of Upload parts: one SQLite blob per part, written and read in chunks.

A part's bytes live in `part_contents`, apart from its row in `upload_parts`: completing an
upload updates the rows (file, position), and SQLite rewrites a whole row on UPDATE, which would
copy every blob through memory and the WAL. A completed upload's parts are the pieces of its
File (files.file_bytes), so deleting parts is one place for files, uploads and accounts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from reconciler.emulator.routing import CHUNK_BYTES


def write(db: sqlite3.Connection, seq: int, size: int, chunks: Iterable[bytes]) -> None:
    """Store the bytes of part `seq`, `size` of them, streamed chunk by chunk."""
    db.execute("INSERT INTO part_contents (seq, content) VALUES (?, zeroblob(?))", (seq, size))
    if size == 0:
        return
    with db.blobopen("part_contents", "content", seq) as blob:
        for chunk in chunks:
            blob.write(chunk)


def read(db: sqlite3.Connection, seqs: Iterable[int]) -> Iterator[bytes]:
    """The bytes of these parts, in order, in chunks."""
    for seq in seqs:
        with db.blobopen("part_contents", "content", seq, readonly=True) as blob:
            while chunk := blob.read(CHUNK_BYTES):
                yield chunk


def file_seqs(db: sqlite3.Connection, file_id: str) -> list[int]:
    rows = db.execute(
        "SELECT seq FROM upload_parts WHERE file_id = ? ORDER BY position", (file_id,)
    )
    return [int(row["seq"]) for row in rows]


def delete(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> None:
    """Delete the parts matching `where` (an SQL condition on upload_parts) and their bytes."""
    db.execute(
        f"DELETE FROM part_contents WHERE seq IN (SELECT seq FROM upload_parts WHERE {where})",
        args,
    )
    db.execute(f"DELETE FROM upload_parts WHERE {where}", args)
