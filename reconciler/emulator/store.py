"""The emulator's world in one SQLite file.

WAL journal and one transaction per request: a `kill -9` between requests loses nothing that a
client was told had succeeded. Several processes may open the same file one after the other (the
CLI starts an embedded emulator per command), so everything, the simulated clock included, lives
here and nothing only in memory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    subscription TEXT NOT NULL COLLATE NOCASE,
    resource_group TEXT NOT NULL COLLATE NOCASE,
    location TEXT NOT NULL,
    tenant TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL COLLATE NOCASE,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    ready_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    status_details TEXT,
    expires_at INTEGER,
    summary TEXT NOT NULL,
    content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL COLLATE NOCASE,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    mime_type TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    expires_after INTEGER,
    status TEXT NOT NULL,
    file_id TEXT
);
CREATE TABLE IF NOT EXISTS upload_parts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL COLLATE NOCASE,
    upload_id TEXT NOT NULL,
    block_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    bytes INTEGER NOT NULL,
    file_id TEXT,
    position INTEGER
);
CREATE INDEX IF NOT EXISTS upload_parts_upload ON upload_parts (upload_id);
CREATE INDEX IF NOT EXISTS upload_parts_file ON upload_parts (file_id, position);
CREATE TABLE IF NOT EXISTS part_contents (seq INTEGER PRIMARY KEY, content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL COLLATE NOCASE,
    created_at REAL NOT NULL,
    request TEXT NOT NULL,
    base_model TEXT NOT NULL,
    fine_tuned_model TEXT NOT NULL,
    plan TEXT NOT NULL,
    queued_at REAL NOT NULL,
    planned INTEGER NOT NULL DEFAULT 0,
    done_steps INTEGER NOT NULL DEFAULT 0,
    slot_until REAL,
    outcome TEXT,
    error TEXT,
    end_at REAL,
    result_file TEXT,
    finalized INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_job ON timeline (job_id, kind, at);
CREATE TABLE IF NOT EXISTS deployments (
    account TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    etag TEXT NOT NULL,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL,
    last_used_at REAL NOT NULL,
    PRIMARY KEY (account, name)
);
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL COLLATE NOCASE,
    deployment TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at REAL NOT NULL,
    done_at REAL NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    real_time REAL NOT NULL,
    sim_time REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL,
    status INTEGER,
    operation TEXT,
    fault TEXT,
    request_body TEXT,
    response_body TEXT
);
CREATE TABLE IF NOT EXISTS blob_containers (
    account TEXT NOT NULL, name TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (account, name)
);
CREATE TABLE IF NOT EXISTS blobs (
    account TEXT NOT NULL,
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    content BLOB NOT NULL,
    metadata TEXT NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_md5 TEXT,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL,
    PRIMARY KEY (account, container, name)
);
CREATE TABLE IF NOT EXISTS blob_blocks (
    account TEXT NOT NULL,
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    block_id TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (account, container, name, block_id)
);
CREATE TABLE IF NOT EXISTS ml_resources (
    scope TEXT NOT NULL COLLATE NOCASE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL COLLATE NOCASE,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL,
    PRIMARY KEY (scope, kind, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""

TABLES = (
    "accounts",
    "files",
    "uploads",
    "upload_parts",
    "part_contents",
    "jobs",
    "timeline",
    "deployments",
    "operations",
    "requests",
    "counters",
    "meta",
    "blob_containers",
    "blobs",
    "blob_blocks",
    "ml_resources",
)


class Store:
    """One connection, used under a lock: the emulator serializes requests anyway."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a killed process (only an OS crash could lose the tail).
        self.db.execute("PRAGMA synchronous=NORMAL")
        # A big upload passes through the WAL: give the disk back once it is checkpointed.
        self.db.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        self.db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def wipe(self) -> None:
        with self.transaction() as db:
            for table in TABLES:
                db.execute(f"DELETE FROM {table}")  # fixed table names


def get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row["value"])


def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def bump(db: sqlite3.Connection, name: str, by: int = 1) -> None:
    """Add to a counter (`/_emulator/stats`); inside the request's transaction, so a request that
    fails counts nothing."""
    db.execute(
        "INSERT INTO counters (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + ?",
        (name, by, by),
    )


def counter(db: sqlite3.Connection, name: str) -> int:
    row = db.execute("SELECT n FROM counters WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
