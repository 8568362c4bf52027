"""Data plane: Uploads, a big file sent in parts (start, add a part, complete, cancel).

An Upload is `pending` for an hour (then `expired`). Each part (at most 64 MiB) is streamed from
the request's spooled temporary file into its own SQLite blob, in chunks (part_store.py).
Completing checks that the parts, in the order of `part_ids`, add up to the announced size (and
its md5, if given), then makes them the pieces of a new File, without copying: the File is
validated (streamed), processed and counted against the account's quota exactly like a
Files_Upload file. Stats: the counters `uploads:*` (controls.stats).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sqlite3
from collections.abc import Iterator
from typing import Any

from reconciler.emulator import ids, part_store
from reconciler.emulator.catalog import MAX_UPLOAD_PART_BYTES, UPLOAD_EXPIRY_SECONDS
from reconciler.emulator.files import (
    check_file_quota,
    check_purpose,
    expires_after_json,
    file_json,
    insert_file,
)
from reconciler.emulator.routing import ApiError, Call, FormFile, Reply
from reconciler.emulator.store import bump
from reconciler.emulator.validation import validate_stream
from reconciler.emulator.world import data_plane_account, data_plane_url


def upload_json(db: sqlite3.Connection, row: sqlite3.Row, now: float) -> dict[str, Any]:
    status = row["status"]
    if status == "pending" and now >= row["expires_at"]:
        status = "expired"
    body: dict[str, Any] = {
        "object": "upload",
        "id": row["id"],
        "created_at": int(row["created_at"]),
        "bytes": row["bytes"],
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": status,
        "expires_at": int(row["expires_at"]),
    }
    if row["file_id"] is not None:
        file = db.execute("SELECT * FROM files WHERE id = ?", (row["file_id"],)).fetchone()
        if file is not None:
            body["file"] = file_json(file, now)
    return body


def expire_uploads(db: sqlite3.Connection, now: float) -> None:
    """Free the parts of uploads that expired unfinished."""
    part_store.delete(
        db,
        "file_id IS NULL AND upload_id IN "
        "(SELECT id FROM uploads WHERE status = 'pending' AND expires_at <= ?)",
        (now,),
    )
    db.execute(
        "UPDATE uploads SET status = 'expired' WHERE status = 'pending' AND expires_at <= ?",
        (now,),
    )


# --- start ------------------------------------------------------------------------------------


def start(call: Call) -> Reply:
    account = data_plane_account(call)
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "invalidPayload", "The request body must be a JSON object.")
    purpose = check_purpose(body.get("purpose"))
    filename = _required_text(body, "filename")
    mime_type = _required_text(body, "mime_type")
    size = body.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ApiError(
            400, "invalidPayload", "'bytes' must be a non-negative integer.", target="bytes"
        )
    expires_after = expires_after_json(body.get("expires_after"))
    check_file_quota(call, account, size)
    upload_id = f"{purpose}-{ids.hex32()}"  # Azure's shape, e.g. fine-tune-72a2792e…
    call.db.execute(
        "INSERT INTO uploads (id, account, filename, purpose, bytes, mime_type, created_at, "
        "expires_at, expires_after, status) VALUES (?,?,?,?,?,?,?,?,?, 'pending')",
        (
            upload_id,
            account,
            filename,
            purpose,
            size,
            mime_type,
            call.now,
            call.now + UPLOAD_EXPIRY_SECONDS,
            expires_after,
        ),
    )
    bump(call.db, "uploads:started")
    location = data_plane_url(call, account, f"/uploads/{upload_id}")
    row = _upload_row(call.db, account, upload_id)
    return Reply(200, upload_json(call.db, row, call.now), {"Location": location})


def _required_text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalidPayload", f"'{key}' is required.", target=key)
    return value


# --- parts ------------------------------------------------------------------------------------


def add_part(call: Call) -> Reply:
    account = data_plane_account(call)
    upload = _pending_upload(call, account)
    data = call.form.get("data")
    if not isinstance(data, FormFile):
        raise ApiError(400, "invalidPayload", "The 'data' part is missing.", target="data")
    if data.size > MAX_UPLOAD_PART_BYTES:
        raise ApiError(
            400,
            "invalidPayload",
            f"The part has {data.size} bytes; a part may have at most {MAX_UPLOAD_PART_BYTES}.",
            target="data",
        )
    part = {
        "object": "upload.part",
        "id": f"uplprt-{ids.hex32()}",
        "upload_id": upload["id"],
        "azure_block_id": base64.b64encode(secrets.token_bytes(16)).decode(),
        "created_at": int(call.now),
    }
    _store_part(call, account, part, data)
    bump(call.db, "uploads:parts")
    bump(call.db, "uploads:part_bytes", data.size)
    return Reply(200, part)


def _store_part(call: Call, account: str, part: dict[str, Any], data: FormFile) -> None:
    """Stream the part into a blob of its size, chunk by chunk: never whole in memory."""
    cursor = call.db.execute(
        "INSERT INTO upload_parts (id, account, upload_id, block_id, created_at, bytes) "
        "VALUES (?,?,?,?,?,?)",
        (part["id"], account, part["upload_id"], part["azure_block_id"], call.now, data.size),
    )
    part_store.write(call.db, int(cursor.lastrowid or 0), data.size, data.chunks())


# --- complete and cancel ----------------------------------------------------------------------


def complete(call: Call) -> Reply:
    account = data_plane_account(call)
    upload = _pending_upload(call, account)
    body = call.json()
    part_ids = body.get("part_ids") if isinstance(body, dict) else None
    if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
        raise ApiError(
            400, "invalidPayload", "'part_ids' must be a list of part ids.", target="part_ids"
        )
    parts = _ordered_parts(call.db, upload["id"], part_ids)
    size = sum(int(p["bytes"]) for p in parts)
    if size != upload["bytes"]:
        raise ApiError(
            400,
            "invalidPayload",
            f"The parts add up to {size} bytes; the upload was started for {upload['bytes']}.",
            target="part_ids",
        )
    _check_md5(call.db, parts, body.get("md5"))
    check_file_quota(call, account, size)
    file = insert_file(
        call,
        account,
        filename=upload["filename"],
        purpose=upload["purpose"],
        size=size,
        validated=validate_stream(upload["purpose"], _chunks(call.db, parts)),
        expires_after=upload["expires_after"],
    )
    _attach_parts(call.db, upload["id"], parts, file["id"])
    call.db.execute(
        "UPDATE uploads SET status = 'completed', file_id = ? WHERE id = ?",
        (file["id"], upload["id"]),
    )
    bump(call.db, "uploads:completed")
    return Reply(200, upload_json(call.db, _upload_row(call.db, account, upload["id"]), call.now))


def _ordered_parts(
    db: sqlite3.Connection, upload_id: str, part_ids: list[str]
) -> list[sqlite3.Row]:
    """The parts in the order given; a part is named by its id or its azure_block_id (Azure's
    own example completes with block ids)."""
    rows = db.execute(
        "SELECT seq, id, block_id, bytes FROM upload_parts WHERE upload_id = ?", (upload_id,)
    ).fetchall()
    by_name = {row["id"]: row for row in rows} | {row["block_id"]: row for row in rows}
    unknown = [name for name in part_ids if name not in by_name]
    if unknown:
        raise ApiError(
            400,
            "invalidPayload",
            f"Unknown part of this upload: '{unknown[0]}'.",
            target="part_ids",
        )
    parts = [by_name[name] for name in part_ids]
    if len({row["seq"] for row in parts}) != len(parts):
        raise ApiError(400, "invalidPayload", "A part is listed twice.", target="part_ids")
    return parts


def _chunks(db: sqlite3.Connection, parts: list[sqlite3.Row]) -> Iterator[bytes]:
    return part_store.read(db, [int(part["seq"]) for part in parts])


def _check_md5(db: sqlite3.Connection, parts: list[sqlite3.Row], md5: Any) -> None:
    if md5 is None:
        return
    digest = hashlib.md5(usedforsecurity=False)  # a checksum the client chose, as Azure checks
    for chunk in _chunks(db, parts):
        digest.update(chunk)
    if not isinstance(md5, str) or md5.lower() != digest.hexdigest():
        raise ApiError(
            400,
            "invalidPayload",
            f"The md5 of the parts is {digest.hexdigest()}, not {md5!r}.",
            target="md5",
        )


def _attach_parts(
    db: sqlite3.Connection, upload_id: str, parts: list[sqlite3.Row], file_id: str
) -> None:
    """The listed parts become the file's pieces, in order; unlisted parts are dropped."""
    for position, part in enumerate(parts):
        db.execute(
            "UPDATE upload_parts SET file_id = ?, position = ? WHERE seq = ?",
            (file_id, position, part["seq"]),
        )
    part_store.delete(db, "upload_id = ? AND file_id IS NULL", (upload_id,))


def cancel(call: Call) -> Reply:
    account = data_plane_account(call)
    upload = _pending_upload(call, account)
    part_store.delete(call.db, "upload_id = ?", (upload["id"],))
    call.db.execute("UPDATE uploads SET status = 'cancelled' WHERE id = ?", (upload["id"],))
    bump(call.db, "uploads:cancelled")
    return Reply(200, upload_json(call.db, _upload_row(call.db, account, upload["id"]), call.now))


# --- lookups ----------------------------------------------------------------------------------


def _upload_row(db: sqlite3.Connection, account: str, upload_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM uploads WHERE account = ? AND id = ?", (account, upload_id)
    ).fetchone()
    if row is None:
        raise ApiError(404, "notFound", f"Upload with id '{upload_id}' not found.")
    return row


def _pending_upload(call: Call, account: str) -> sqlite3.Row:
    row = _upload_row(call.db, account, call.params["upload-id"])
    status = upload_json(call.db, row, call.now)["status"]
    if status != "pending":
        raise ApiError(
            400,
            "unexpectedEntityState",
            f"The upload is {status}; only a pending upload takes parts, completes or cancels.",
        )
    return row
