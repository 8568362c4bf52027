"""An embedded Azure Blob service: what Azure ML's datastores and ftops's uploads use of it.

Path-style, as Azurite serves it: `{base}/blob/{storageAccount}/{container}/{blob path}`, so the
real `azure-storage-blob` client works with `account_url={base}/blob/{account}`. It answers the
operations that client sends for uploads and downloads: create container, Put Blob, Put Block,
Put Block List, Get Blob (with a range), Get Blob Properties (HEAD), Set Blob Metadata and List
Blobs. Signatures are not checked (an emulator's accounts have no secrets); every request needs
an `Authorization` header or a SAS signature, as Azure does. Azurite stays what tests of the blob
client against a full implementation use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
import uuid
from email.utils import formatdate
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from reconciler.emulator.routing import ApiError, Call, Reply

PREFIX = "/blob"
BLOB_VERSION = "2025-01-05"
XML = "application/xml"


class BlobError(ApiError):
    """An error in the Blob service's shape: XML, with `x-ms-error-code`."""

    def reply(self) -> Reply:
        body = (
            '<?xml version="1.0" encoding="utf-8"?><Error>'
            f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message></Error>"
        ).encode()
        headers = {"x-ms-error-code": self.code, **_common()}
        return Reply(self.status, body, headers, media_type=XML)


def _common() -> dict[str, str]:
    return {"x-ms-version": BLOB_VERSION, "x-ms-request-id": "00000000-0000-0000-0000-000000000000"}


def _authorised(call: Call) -> None:
    if "authorization" not in call.headers and "sig" not in call.query:
        raise BlobError(403, "NoAuthenticationInformation", "Server failed to authenticate.")


def _container_exists(db: sqlite3.Connection, account: str, container: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM blob_containers WHERE account = ? AND name = ?", (account, container)
    ).fetchone()
    return row is not None


def ensure_container(db: sqlite3.Connection, account: str, container: str, now: float) -> None:
    """Create a container if absent (a workspace's datastore container exists from the start)."""
    db.execute(
        "INSERT OR IGNORE INTO blob_containers (account, name, created_at) VALUES (?, ?, ?)",
        (account, container, now),
    )


def _blob_row(call: Call) -> sqlite3.Row:
    p = call.params
    row = call.db.execute(
        "SELECT rowid, * FROM blobs WHERE account = ? AND container = ? AND name = ?",
        (p["storageAccount"], p["container"], p["blobPath+"]),
    ).fetchone()
    if row is None:
        raise BlobError(404, "BlobNotFound", "The specified blob does not exist.")
    return row


def _etag(content: bytes, now: float) -> str:
    return '"0x' + hashlib.sha256(content + repr(now).encode()).hexdigest()[:16].upper() + '"'


def _metadata(call: Call) -> dict[str, str]:
    return {
        k[len("x-ms-meta-") :]: v for k, v in call.headers.items() if k.startswith("x-ms-meta-")
    }


def _properties(row: sqlite3.Row) -> dict[str, str]:
    headers = {
        "etag": row["etag"],
        "last-modified": formatdate(row["modified_at"], usegmt=True),
        "x-ms-blob-type": "BlockBlob",
        "content-type": row["content_type"],
        "x-ms-creation-time": formatdate(row["created_at"], usegmt=True),
        "accept-ranges": "bytes",
        **_common(),
    }
    if row["content_md5"]:
        headers["content-md5"] = row["content_md5"]
    for key, value in _loads(row["metadata"]).items():
        headers[f"x-ms-meta-{key}"] = value
    return headers


def _loads(text: str) -> dict[str, str]:
    return dict(json.loads(text))


def _dumps(value: dict[str, str]) -> str:
    return json.dumps(value, sort_keys=True)


# --- containers ----------------------------------------------------------------------------


def container_put(call: Call) -> Reply:
    _authorised(call)
    p = call.params
    if call.query.get("restype") != "container":
        raise BlobError(400, "InvalidQueryParameterValue", "restype must be container.")
    if _container_exists(call.db, p["storageAccount"], p["container"]):
        raise BlobError(409, "ContainerAlreadyExists", "The specified container already exists.")
    ensure_container(call.db, p["storageAccount"], p["container"], call.now)
    return Reply(201, None, {"etag": '"0x1"', **_common()})


def container_get(call: Call) -> Reply:
    """Get Container Properties (`restype=container`) or List Blobs (`comp=list`)."""
    _authorised(call)
    p = call.params
    if not _container_exists(call.db, p["storageAccount"], p["container"]):
        raise BlobError(404, "ContainerNotFound", "The specified container does not exist.")
    if call.query.get("comp") != "list":
        return Reply(200, None, {"etag": '"0x1"', **_common()})
    return _list_blobs(call)


def _list_blobs(call: Call) -> Reply:
    p = call.params
    prefix = call.query.get("prefix", "")
    rows = call.db.execute(
        "SELECT name, length(content) AS size, etag, modified_at, content_type, content_md5 "
        "FROM blobs WHERE account = ? AND container = ? AND substr(name, 1, ?) = ? ORDER BY name",
        (p["storageAccount"], p["container"], len(prefix), prefix),
    ).fetchall()
    items = "".join(
        f"<Blob><Name>{escape(r['name'])}</Name><Properties>"
        f"<Last-Modified>{formatdate(r['modified_at'], usegmt=True)}</Last-Modified>"
        f"<Etag>{escape(r['etag'])}</Etag><Content-Length>{r['size']}</Content-Length>"
        f"<Content-Type>{escape(r['content_type'])}</Content-Type>"
        f"<Content-MD5>{escape(r['content_md5'] or '')}</Content-MD5>"
        "<BlobType>BlockBlob</BlobType></Properties></Blob>"
        for r in rows
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><EnumerationResults '
        f'ServiceEndpoint="{escape(call.base_url)}{PREFIX}/{escape(p["storageAccount"])}" '
        f'ContainerName="{escape(p["container"])}"><Prefix>{escape(prefix)}</Prefix>'
        f"<Blobs>{items}</Blobs><NextMarker /></EnumerationResults>"
    ).encode()
    return Reply(200, body, _common(), media_type=XML)


# --- blobs ---------------------------------------------------------------------------------


def blob_put(call: Call) -> Reply:
    """Put Blob, Put Block (`comp=block`), Put Block List (`comp=blocklist`), Set Blob Metadata
    (`comp=metadata`)."""
    _authorised(call)
    p = call.params
    if not _container_exists(call.db, p["storageAccount"], p["container"]):
        raise BlobError(404, "ContainerNotFound", "The specified container does not exist.")
    comp = call.query.get("comp")
    if comp == "block":
        return _put_block(call)
    if comp == "blocklist":
        return _put_block_list(call)
    if comp == "metadata":
        row = _blob_row(call)
        call.db.execute(
            "UPDATE blobs SET metadata = ? WHERE rowid = ?", (_dumps(_metadata(call)), row["rowid"])
        )
        return Reply(200, None, {"etag": row["etag"], **_common()})
    if comp is not None:
        raise BlobError(400, "UnsupportedQueryParameter", f"comp={comp} is not supported here.")
    if "x-ms-copy-source" in call.headers:
        return _copy_blob(call)
    if call.headers.get("x-ms-blob-type", "BlockBlob") != "BlockBlob":
        raise BlobError(400, "InvalidHeaderValue", "Only block blobs are served.")
    return _store_blob(call, call.body)


def _copy_blob(call: Call) -> Reply:
    """Copy Blob from a blob of the same storage account: done at once (`x-ms-copy-status:
    success`), as Azure does copies within an account of blobs this size."""
    p = call.params
    source = urlsplit(call.headers["x-ms-copy-source"]).path
    prefix = f"{PREFIX}/{p['storageAccount']}/"
    if not source.startswith(prefix) or "/" not in source[len(prefix) :]:
        raise BlobError(
            400, "CannotVerifyCopySource", "Only blobs of the same account are copied here."
        )
    container, name = unquote(source[len(prefix) :]).split("/", 1)
    row = call.db.execute(
        "SELECT * FROM blobs WHERE account = ? AND container = ? AND name = ?",
        (p["storageAccount"], container, name),
    ).fetchone()
    if row is None:
        raise BlobError(404, "CannotVerifyCopySource", "The specified blob does not exist.")
    reply = _store_blob(call, bytes(row["content"]))
    headers = {**reply.headers, "x-ms-copy-id": str(uuid.uuid4()), "x-ms-copy-status": "success"}
    headers.pop("content-md5", None)
    return Reply(202, None, headers)


def _store_blob(call: Call, content: bytes) -> Reply:
    p = call.params
    etag, md5 = write_blob(
        call.db,
        p["storageAccount"],
        p["container"],
        p["blobPath+"],
        content,
        call.now,
        metadata=_metadata(call),
        content_type=call.headers.get("x-ms-blob-content-type", "application/octet-stream"),
        md5=call.headers.get("x-ms-blob-content-md5"),
    )
    headers = {"etag": etag, "last-modified": formatdate(call.now, usegmt=True), **_common()}
    headers["content-md5"] = md5
    headers["x-ms-request-server-encrypted"] = "true"
    return Reply(201, None, headers)


def _put_block(call: Call) -> Reply:
    p = call.params
    block_id = call.query.get("blockid", "")
    if not block_id:
        raise BlobError(400, "InvalidQueryParameterValue", "blockid is required.")
    call.db.execute(
        "INSERT INTO blob_blocks (account, container, name, block_id, content) VALUES (?,?,?,?,?) "
        "ON CONFLICT (account, container, name, block_id) DO UPDATE SET content = excluded.content",
        (p["storageAccount"], p["container"], p["blobPath+"], block_id, call.body),
    )
    return Reply(201, None, {"x-ms-request-server-encrypted": "true", **_common()})


_BLOCK_IDS = re.compile(r"<(?:Latest|Uncommitted|Committed)>([^<]*)</")


def _put_block_list(call: Call) -> Reply:
    p = call.params
    key = (p["storageAccount"], p["container"], p["blobPath+"])
    parts = []
    for block_id in _BLOCK_IDS.findall(call.body.decode()):
        row = call.db.execute(
            "SELECT content FROM blob_blocks WHERE account = ? AND container = ? AND name = ? "
            "AND block_id = ?",
            (*key, block_id),
        ).fetchone()
        if row is None:
            raise BlobError(400, "InvalidBlockList", f"Block {block_id} is not uploaded.")
        parts.append(bytes(row["content"]))
    reply = _store_blob(call, b"".join(parts))
    call.db.execute("DELETE FROM blob_blocks WHERE account = ? AND container = ? AND name = ?", key)
    return reply


def blob_get(call: Call) -> Reply:
    _authorised(call)
    row = _blob_row(call)
    content = bytes(row["content"])
    headers = _properties(row)
    wanted = call.headers.get("x-ms-range") or call.headers.get("range")
    if not wanted:
        headers["content-length"] = str(len(content))
        return Reply(200, content, headers, media_type=row["content_type"])
    start, end = _range(wanted, len(content))
    headers["content-range"] = f"bytes {start}-{end}/{len(content)}"
    headers.pop("content-md5", None)
    return Reply(206, content[start : end + 1], headers, media_type=row["content_type"])


def _range(header: str, size: int) -> tuple[int, int]:
    found = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
    if found is None or int(found.group(1)) >= max(size, 1):
        raise BlobError(416, "InvalidRange", "The range specified is invalid.")
    start = int(found.group(1))
    end = min(int(found.group(2)) if found.group(2) else size - 1, size - 1)
    return start, end


def blob_head(call: Call) -> Reply:
    _authorised(call)
    try:
        row = _blob_row(call)
    except BlobError as error:
        # A HEAD reply has no body: the code travels in its header only.
        return Reply(error.status, None, {"x-ms-error-code": error.code, **_common()})
    headers = _properties(row)
    headers["content-length"] = str(len(row["content"]))
    return Reply(200, None, headers)


def blob_delete(call: Call) -> Reply:
    _authorised(call)
    row = _blob_row(call)
    call.db.execute("DELETE FROM blobs WHERE rowid = ?", (row["rowid"],))
    return Reply(202, None, _common())


# --- what the Azure ML plane reads and writes directly --------------------------------------


def read_blobs(
    db: sqlite3.Connection, account: str, container: str, prefix: str
) -> list[tuple[str, bytes]]:
    rows = db.execute(
        "SELECT name, content FROM blobs WHERE account = ? AND container = ? "
        "AND substr(name, 1, ?) = ? ORDER BY name",
        (account, container, len(prefix), prefix),
    ).fetchall()
    return [(str(r["name"]), bytes(r["content"])) for r in rows]


def write_blob(
    db: sqlite3.Connection,
    account: str,
    container: str,
    name: str,
    content: bytes,
    now: float,
    *,
    metadata: dict[str, str] | None = None,
    content_type: str = "application/octet-stream",
    md5: str | None = None,
) -> tuple[str, str]:
    """Store a block blob (replacing one of that name); its (etag, Content-MD5)."""
    etag = _etag(content, now)
    md5 = md5 or base64.b64encode(hashlib.md5(content).digest()).decode()
    db.execute(
        "INSERT INTO blobs (account, container, name, content, metadata, etag, content_type, "
        "content_md5, created_at, modified_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT (account, container, name) DO UPDATE SET content = excluded.content, "
        "metadata = excluded.metadata, etag = excluded.etag, content_type = excluded.content_type, "
        "content_md5 = excluded.content_md5, modified_at = excluded.modified_at",
        (
            account,
            container,
            name,
            content,
            _dumps(metadata or {}),
            etag,
            content_type,
            md5,
            now,
            now,
        ),
    )
    return etag, md5


def blob_url(base_url: str, account: str) -> str:
    return f"{base_url}{PREFIX}/{account}"
