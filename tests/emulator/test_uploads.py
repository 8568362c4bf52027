"""Uploads (UploadFile_Start / _Part / _Complete / _Cancel) through the real openai client."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from reconciler.emulator import uploads
from tests.emulator.conftest import (
    Url,
    advance,
    chat_lines,
    control,
    create_account,
    emulator_process,
)
from tests.helpers import arm_client, openai_client

JSONL = "application/jsonl"


def _start(client: Any, content: bytes, name: str = "parts.jsonl") -> Any:
    return client.uploads.create(
        bytes=len(content), filename=name, mime_type=JSONL, purpose="fine-tune"
    )


def test_three_parts_make_one_file(emulator: Any, client: Any) -> None:
    content = chat_lines(12)
    upload = _start(client, content)
    assert upload.status == "pending" and upload.expires_at == upload.created_at + 3600
    thirds = [content[:500], content[500:1000], content[1000:]]
    parts = [client.uploads.parts.create(upload.id, data=piece) for piece in thirds]
    assert all(p.object == "upload.part" and p.upload_id == upload.id for p in parts)
    assert all(p.model_extra and p.model_extra["azure_block_id"] for p in parts)
    md5 = hashlib.md5(content).hexdigest()
    done = client.uploads.complete(upload.id, part_ids=[p.id for p in parts], md5=md5)
    assert done.status == "completed" and done.file is not None
    assert done.file.bytes == len(content) and done.file.status == "pending"
    advance(emulator, 120)
    assert client.files.retrieve(done.file.id).status == "processed"
    assert client.files.content(done.file.id).read() == content
    assert control(emulator, "stats")["uploads"] == {
        "started": 1,
        "parts": 3,
        "part_bytes": len(content),
        "completed": 1,
        "cancelled": 0,
    }


def test_parts_in_the_order_of_part_ids(emulator: Any, client: Any) -> None:
    content = chat_lines(10)
    upload = _start(client, content)
    tail = client.uploads.parts.create(upload.id, data=content[700:])
    head = client.uploads.parts.create(upload.id, data=content[:700])
    block_id = head.model_extra["azure_block_id"]  # Azure's own example completes with these
    done = client.uploads.complete(upload.id, part_ids=[block_id, tail.id])
    advance(emulator, 120)
    assert client.files.content(done.file.id).read() == content


def test_upload_file_chunked_with_the_sdk(emulator: Any, client: Any, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_lines(20))
    done = client.uploads.upload_file_chunked(
        file=path, mime_type=JSONL, purpose="fine-tune", part_size=1000
    )
    assert done.status == "completed" and done.file.filename == "train.jsonl"
    assert control(emulator, "stats")["uploads"]["parts"] == -(-path.stat().st_size // 1000)


@pytest.mark.parametrize(
    ("pieces", "md5", "message"),
    [
        ([b"a" * 10], None, "add up to 10 bytes"),
        ([b"a" * 20, b"b" * 20], None, "add up to 40 bytes"),
        ([b"a" * 30], "0" * 32, "md5"),
    ],
    ids=["too-few-bytes", "too-many-bytes", "md5"],
)
def test_complete_is_checked(
    client: Any, pieces: list[bytes], md5: str | None, message: str
) -> None:
    upload = client.uploads.create(
        bytes=30, filename="x.jsonl", mime_type=JSONL, purpose="fine-tune"
    )
    ids = [client.uploads.parts.create(upload.id, data=piece).id for piece in pieces]
    extra = {} if md5 is None else {"md5": md5}
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.complete(upload.id, part_ids=ids, **extra)
    assert message in caught.value.message
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(upload.id, part_ids=["uplprt-unknown"])


def test_the_file_is_validated_like_an_upload(emulator: Any, client: Any) -> None:
    content = chat_lines(9)  # too few examples
    upload = _start(client, content)
    part = client.uploads.parts.create(upload.id, data=content)
    done = client.uploads.complete(upload.id, part_ids=[part.id])
    advance(emulator, 120)
    failed = client.files.retrieve(done.file.id)
    assert failed.status == "error" and "at least 10" in (failed.status_details or "")


def test_cancel_and_expiry(emulator: Any, client: Any) -> None:
    content = chat_lines()
    cancelled = _start(client, content)
    client.uploads.parts.create(cancelled.id, data=content)
    assert client.uploads.cancel(cancelled.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(cancelled.id, data=content)
    expiring = _start(client, content)
    advance(emulator, 3600)
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.parts.create(expiring.id, data=content)
    assert "expired" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client.uploads.cancel("fine-tune-00000000000000000000000000000000")
    assert control(emulator, "stats")["uploads"]["cancelled"] == 1


def test_part_size_limit(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOAD_PART_BYTES", 100)  # instead of sending 64 MiB
    upload = client.uploads.create(
        bytes=101, filename="x.jsonl", mime_type=JSONL, purpose="fine-tune"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.parts.create(upload.id, data=b"x" * 101)
    assert "at most 100" in caught.value.message
    assert client.uploads.parts.create(upload.id, data=b"x" * 100).upload_id == upload.id


def test_the_file_quota_applies(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconciler.emulator.files.MAX_FILES", 1)
    client.files.create(file=("a.jsonl", chat_lines(), JSONL), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as caught:
        _start(client, chat_lines())
    assert caught.value.code == "quotaExceeded"


def test_one_failed_part_is_retried_by_the_sdk(
    emulator: Any, make_openai: Any, account: str
) -> None:
    control(emulator, "faults", {"rules": [{"op": ["UploadFile_Part"], "500": 1, "times": 1}]})
    client = make_openai(account, max_retries=2)  # the SDK's default
    content = chat_lines(10)
    done = client.uploads.upload_file_chunked(
        file=content,
        filename="r.jsonl",
        bytes=len(content),
        mime_type=JSONL,
        purpose="fine-tune",
        part_size=len(content) // 3 + 1,
    )
    assert done.status == "completed"
    stats = control(emulator, "stats")
    assert stats["uploads"]["parts"] == 3  # 3 parts were stored ...
    assert stats["operations"]["UploadFile_Part"] == 4  # ... from 4 requests: one failed
    faults = [r["fault"] for r in control(emulator, "requests")["requests"] if r["fault"]]
    assert faults == ["500"]


def test_a_150_mb_file_in_3_parts_streams_through(tmp_path: Path) -> None:
    """The emulator in its own process, so that its peak memory is its own: parts are streamed
    to SQLite blobs and the completed file is validated chunk by chunk, never held whole."""
    line = (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "x" * 4900},
                    {"role": "assistant", "content": "y"},
                ]
            }
        )
        + "\n"
    )
    path = tmp_path / "big.jsonl"
    path.write_bytes(line.encode() * (150_000_000 // len(line)))
    size = path.stat().st_size
    with emulator_process(tmp_path / "state.sqlite") as (process, url):
        create_account(arm_client(url), "acct")
        before = _peak_rss_kb(process.pid)
        client = openai_client(url, "acct", timeout=120)
        started = time.monotonic()
        done = client.uploads.upload_file_chunked(
            file=path, mime_type=JSONL, purpose="fine-tune", part_size=-(-size // 3)
        )
        elapsed = time.monotonic() - started
        assert done.status == "completed" and done.file.bytes == size
        assert control(Url(url), "stats")["uploads"]["parts"] == 3
        advance(Url(url), 3600)
        assert client.files.retrieve(done.file.id).status == "processed"
        grown_mb = (_peak_rss_kb(process.pid) - before) / 1024
    assert grown_mb < 32, f"the emulator's peak memory grew by {grown_mb:.0f} MB"
    assert elapsed < 60


def _peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        pytest.skip("no /proc: cannot read the emulator's peak memory")
    line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])
