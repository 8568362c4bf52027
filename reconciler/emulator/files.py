"""Data plane: files (upload, import, list, get, delete, content).

A file is `pending` until its simulated processing time has passed, then `processed` or `error`
(with `status_details`) according to the JSONL validation done at upload time.

A file's bytes are its `content` blob, followed by the parts of the Upload it was made from, if
any (uploads.py: a completed Upload's parts become the file's pieces, never copied).
"""

from __future__ import annotations

import ipaddress
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from reconciler.emulator import ids, part_store
from reconciler.emulator.catalog import MAX_FILE_BYTES, MAX_FILES
from reconciler.emulator.routing import ApiError, Call, FormFile, Reply
from reconciler.emulator.store import dumps
from reconciler.emulator.validation import FileSummary, validate_file
from reconciler.emulator.world import cursor_page, data_plane_account, data_plane_url

UPLOAD_PURPOSES = {
    "fine-tune",
    "assistants",
    "batch",
    "evals",
    "vision",
    "user_data",
}
# Simulated seconds: a fixed overhead plus throughput, so that big files take visibly longer.
PROCESSING_BASE_SECONDS = 20.0
PROCESSING_BYTES_PER_SECOND = 50_000.0
EXPIRY_MIN_SECONDS = 1_209_600
EXPIRY_MAX_SECONDS = 2_592_000
IMPORT_TIMEOUT_SECONDS = 10.0


def file_json(row: sqlite3.Row, now: float) -> dict[str, Any]:
    status = "pending" if now < row["ready_at"] else row["outcome"]
    body: dict[str, Any] = {
        "object": "file",
        "id": row["id"],
        "created_at": int(row["created_at"]),
        "bytes": row["bytes"],
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": status,
    }
    if status == "error" and row["status_details"]:
        body["status_details"] = row["status_details"]
    if row["expires_at"] is not None:
        body["expires_at"] = row["expires_at"]
    return body


def store_file(
    call: Call,
    account: str,
    *,
    filename: str,
    purpose: str,
    content: bytes,
    expires_after: int | None = None,
) -> sqlite3.Row:
    """Insert a file and return its row. Validation runs now; its result shows when processed."""
    problem, summary = validate_file(purpose, content)
    return insert_file(
        call,
        account,
        filename=filename,
        purpose=purpose,
        size=len(content),
        validated=(problem, summary),
        content=content,
        expires_after=expires_after,
    )


def insert_file(
    call: Call,
    account: str,
    *,
    filename: str,
    purpose: str,
    size: int,
    validated: tuple[str | None, FileSummary],
    content: bytes = b"",
    expires_after: int | None = None,
) -> sqlite3.Row:
    """Insert a file of `size` bytes (`content` and, for an upload, its parts added later)."""
    problem, summary = validated
    file_id = ids.file_id()
    call.db.execute(
        "INSERT INTO files (id, account, filename, purpose, bytes, created_at, ready_at, outcome,"
        " status_details, expires_at, summary, content) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            file_id,
            account,
            filename,
            purpose,
            size,
            call.now,
            call.now + PROCESSING_BASE_SECONDS + size / PROCESSING_BYTES_PER_SECOND,
            "error" if problem else "processed",
            problem,
            None if expires_after is None else int(call.now) + expires_after,
            dumps(summary.as_json()),
            content,
        ),
    )
    return file_row(call.db, account, file_id)


def file_bytes(db: sqlite3.Connection, row: sqlite3.Row) -> bytes:
    pieces = part_store.read(db, part_store.file_seqs(db, row["id"]))
    return bytes(row["content"]) + b"".join(pieces)


def delete_files(db: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> None:
    """Delete the files matching `where` (an SQL condition on files) with their upload parts."""
    part_store.delete(db, f"file_id IN (SELECT id FROM files WHERE {where})", args)
    db.execute(f"DELETE FROM files WHERE {where}", args)


def file_row(db: sqlite3.Connection, account: str, file_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM files WHERE account = ? AND id = ?", (account, file_id)
    ).fetchone()
    if row is None:
        raise ApiError(404, "notFound", f"File with id '{file_id}' not found.")
    return row


def expire_files(db: sqlite3.Connection, now: float) -> None:
    delete_files(db, "expires_at IS NOT NULL AND expires_at <= ?", (now,))


def check_file_quota(call: Call, account: str, size: int) -> None:
    (count, total) = call.db.execute(
        "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM files"
        " WHERE account = ? AND purpose != 'fine-tune-results'",
        (account,),
    ).fetchone()
    if count >= MAX_FILES:
        raise ApiError(
            400,
            "quotaExceeded",
            f"The account has reached its limit of {MAX_FILES} files. Delete files you no longer "
            "need and try again.",
        )
    if total + size > MAX_FILE_BYTES:
        raise ApiError(
            400,
            "quotaExceeded",
            f"The account's fine-tuning files would total {total + size} bytes; the limit is "
            f"{MAX_FILE_BYTES}. Delete files you no longer need and try again.",
        )


def check_purpose(purpose: Any) -> str:
    if not isinstance(purpose, str) or purpose not in UPLOAD_PURPOSES:
        raise ApiError(
            400,
            "invalidPayload",
            f"Invalid value for purpose: '{purpose}'.",
            target="purpose",
        )
    return purpose


def _expires_after(fields: dict[str, Any]) -> int | None:
    """Accept the SDK's bracket spelling and the preview swagger's dot spelling."""
    anchor = fields.get("expires_after[anchor]", fields.get("expires_after.anchor"))
    seconds = fields.get("expires_after[seconds]", fields.get("expires_after.seconds"))
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise ApiError(400, "invalidPayload", "expires_after.anchor must be 'created_at'.")
    try:
        value = int(str(seconds))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "invalidPayload", "expires_after.seconds must be an integer.") from exc
    if not EXPIRY_MIN_SECONDS <= value <= EXPIRY_MAX_SECONDS:
        raise ApiError(
            400,
            "invalidPayload",
            f"expires_after.seconds must be between {EXPIRY_MIN_SECONDS} and {EXPIRY_MAX_SECONDS}.",
        )
    return value


def expires_after_json(value: Any) -> int | None:
    """`expires_after` given as a JSON object ({anchor, seconds}), as imports and uploads do."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, "invalidPayload", "expires_after must be an object.")
    return _expires_after({f"expires_after.{key}": item for key, item in value.items()})


def _created(call: Call, account: str, row: sqlite3.Row) -> Reply:
    location = data_plane_url(call, account, f"/files/{row['id']}")
    return Reply(201, file_json(row, call.now), {"Location": location})


def upload(call: Call) -> Reply:
    account = data_plane_account(call)
    purpose = check_purpose(call.form.get("purpose"))
    upload_part = call.form.get("file")
    if not isinstance(upload_part, FormFile):
        raise ApiError(400, "invalidPayload", "The 'file' part is missing.", target="file")
    filename, content = upload_part.filename, upload_part.read()
    expires = _expires_after(call.form)
    check_file_quota(call, account, len(content))
    row = store_file(
        call, account, filename=filename, purpose=purpose, content=content, expires_after=expires
    )
    return _created(call, account, row)


def is_loopback_url(url: str) -> bool:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    if parsed.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.hostname).is_loopback
    except ValueError:
        return False


def fetch_import(url: str) -> bytes:
    """Fetch an import URL. Runs in a worker thread: the URL may be served by this emulator."""
    if not is_loopback_url(url):
        raise ApiError(
            400,
            "fileImportFailed",
            "The emulator imports only from loopback http(s) URLs; it never reaches the network.",
            target="content_url",
        )
    try:
        # A loopback http(s) URL: checked above.
        with urllib.request.urlopen(url, timeout=IMPORT_TIMEOUT_SECONDS) as response:
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(
            400,
            "fileImportFailed",
            f"Could not download the content from content_url: {exc}",
            target="content_url",
        ) from exc


def import_request(call: Call) -> tuple[str, str, str, int | None]:
    """(purpose, filename, content_url, expires) from a Files_Import body, validated."""
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "invalidPayload", "The request body must be a JSON object.")
    missing = [key for key in ("purpose", "filename", "content_url") if not body.get(key)]
    if missing:
        raise ApiError(
            400, "invalidPayload", f"Missing required field '{missing[0]}'.", target=missing[0]
        )
    return (
        check_purpose(body["purpose"]),
        str(body["filename"]),
        str(body["content_url"]),
        expires_after_json(body.get("expires_after") or None),
    )


def import_file(call: Call) -> Reply:
    """Files_Import: the content was fetched by the app before the transaction (see app.py)."""
    account = data_plane_account(call)
    purpose, filename, _, expires = import_request(call)
    content = call.form["imported_content"]
    check_file_quota(call, account, len(content))
    row = store_file(
        call, account, filename=filename, purpose=purpose, content=content, expires_after=expires
    )
    return _created(call, account, row)


def list_files(call: Call) -> Reply:
    account = data_plane_account(call)
    order = call.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "invalidPayload", "order must be 'asc' or 'desc'.")
    limit = call.int_query("limit", 10000, 1, 10000)
    sql = "SELECT * FROM files WHERE account = ?"
    args: list[Any] = [account]
    if "purpose" in call.query:
        sql += " AND purpose = ?"
        args.append(call.query["purpose"])
    direction = "DESC" if order == "desc" else "ASC"
    sql += f" ORDER BY created_at {direction}, rowid {direction}"
    items = [file_json(row, call.now) for row in call.db.execute(sql, args)]
    page, has_more = cursor_page(items, call.query.get("after"), limit)
    # FileList has no has_more in either swagger; the SDK's cursor paging needs it (contracts §2.4).
    return Reply(200, {"object": "list", "data": page, "has_more": has_more})


def get_file(call: Call) -> Reply:
    account = data_plane_account(call)
    return Reply(200, file_json(file_row(call.db, account, call.params["file-id"]), call.now))


def delete_file(call: Call) -> Reply:
    account = data_plane_account(call)
    row = file_row(call.db, account, call.params["file-id"])
    delete_files(call.db, "id = ?", (row["id"],))
    return Reply(200, {"object": "file", "deleted": True, "id": row["id"]})


def file_content(call: Call) -> Reply:
    account = data_plane_account(call)
    row = file_row(call.db, account, call.params["file-id"])
    if call.now < row["ready_at"]:
        raise ApiError(
            400, "unexpectedEntityState", "The file is still being processed; try again later."
        )
    return Reply(200, file_bytes(call.db, row), media_type="application/octet-stream")
