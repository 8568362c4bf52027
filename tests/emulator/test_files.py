"""Files through the real openai client: upload, processing, list paging, get, content, delete,
import, expiry, and the data-plane checks (auth, api-version)."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.emulator.conftest import advance, chat_lines, upload_processed


def test_upload_is_pending_then_processed(emulator: Any, client: Any) -> None:
    uploaded = client.files.create(
        file=("train.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
    )
    assert uploaded.status == "pending"
    assert uploaded.id.startswith("file-") and len(uploaded.id) == 5 + 32
    assert uploaded.bytes == len(chat_lines())
    advance(emulator, 120)
    processed = client.files.retrieve(uploaded.id)
    assert processed.status == "processed"
    assert client.files.content(uploaded.id).read() == chat_lines()


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (chat_lines(9), "at least 10"),
        (chat_lines(10) + b"{not json\n", "line 11"),
        (chat_lines(10) + b'{"prompt_only": 1}\n', "missing 'messages'"),
        # (ending with the user's message it would be a reinforcement prompt: test_rft.py)
        (
            b'{"messages": [{"role": "user", "content": "hi"}, {"role": "system", '
            b'"content": "be brief"}]}\n' * 10,
            "no assistant message",
        ),
    ],
    ids=["too-few", "bad-json", "no-messages", "no-assistant"],
)
def test_invalid_files_end_in_error_with_details(
    emulator: Any, client: Any, content: bytes, detail: str
) -> None:
    uploaded = upload_processed(emulator, client, content)
    assert uploaded.status == "error"
    assert detail in uploaded.status_details


def test_list_pages_with_after_and_has_more(emulator: Any, client: Any) -> None:
    ids = [
        client.files.create(
            file=(f"f{i}.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
        ).id
        for i in range(5)
    ]
    first = client.files.list(limit=2)
    assert [f.id for f in first.data] == ids[::-1][:2]
    assert first.has_more is True
    assert [f.id for f in client.files.list(limit=2)] == ids[::-1]  # auto-paging follows `after`
    assert [f.id for f in client.files.list(order="asc")] == ids
    assert client.files.list(purpose="batch").data == []


def test_get_and_delete(client: Any) -> None:
    uploaded = client.files.create(
        file=("a.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
    )
    deleted = client.files.delete(uploaded.id)
    assert deleted.deleted is True and deleted.id == uploaded.id
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(uploaded.id)
    assert caught.value.code == "notFound"


def test_expiry_in_both_spellings(emulator: Any, client: Any) -> None:
    expiring = client.files.create(
        file=("a.jsonl", chat_lines(), "application/jsonl"),
        purpose="fine-tune",
        expires_after={"anchor": "created_at", "seconds": 1_209_600},
    )
    assert expiring.expires_at == expiring.created_at + 1_209_600
    dotted = _multipart_upload(
        emulator.url,
        "acct-east",
        {"expires_after.anchor": "created_at", "expires_after.seconds": "1209600"},
    )
    assert dotted["expires_at"] == dotted["created_at"] + 1_209_600
    assert {expiring.id, dotted["id"]} <= {f.id for f in client.files.list()}
    advance(emulator, 1_209_700)
    assert {f.id for f in client.files.list()}.isdisjoint({expiring.id, dotted["id"]})


def _multipart_upload(url: str, account: str, fields: dict[str, str]) -> dict[str, Any]:
    import json

    boundary = uuid.uuid4().hex
    parts = [("purpose", "fine-tune"), *fields.items()]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in parts
    )
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.jsonl"\r\n'
            "Content-Type: application/jsonl\r\n\r\n"
        ).encode()
        + chat_lines()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{url}/{account}/openai/files?api-version=2025-04-01-preview",
        data=body,
        headers={"api-key": "k", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request) as response:  # loopback
        assert response.status == 201
        return dict(json.loads(response.read()))


@pytest.fixture
def content_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            self.send_response(200)
            self.end_headers()
            self.wfile.write(chat_lines(12))

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/train.jsonl?sig=abc"
    server.shutdown()


def test_import_from_loopback_url(emulator: Any, client: Any, content_server: str) -> None:
    body = {"purpose": "fine-tune", "filename": "imported.jsonl", "content_url": content_server}
    imported = client.post("/files/import", body=body, cast_to=openai.types.FileObject)
    assert imported.status == "pending" and imported.filename == "imported.jsonl"
    advance(emulator, 120)
    assert client.files.retrieve(imported.id).status == "processed"
    assert client.files.content(imported.id).read() == chat_lines(12)


def test_import_never_reaches_the_network(client: Any) -> None:
    body = {
        "purpose": "fine-tune",
        "filename": "x.jsonl",
        "content_url": "https://example.blob.core.windows.net/c/x.jsonl?sv=1",
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/files/import", body=body, cast_to=openai.types.FileObject)
    assert caught.value.code == "fileImportFailed"


def test_auth_and_api_version_are_required(emulator: Any, account: str) -> None:
    url = f"{emulator.url}/{account}/openai/files"
    assert _status(url + "?api-version=2024-10-21", {}) == 401
    assert _status(url + "?api-version=2024-10-21", {"api-key": "k"}) == 200
    assert _status(url + "?api-version=2024-10-21", {"Authorization": "Bearer t"}) == 200
    assert _status(url, {"api-key": "k"}) == 404
    assert _status(url + "?api-version=2099-01-01", {"api-key": "k"}) == 404


def test_unknown_account_is_not_found(make_openai: Any) -> None:
    with pytest.raises(openai.NotFoundError):
        make_openai("no-such-account").files.list()


def test_stable_api_version_works_and_has_no_pause(
    emulator: Any, make_openai: Any, account: str
) -> None:
    stable = make_openai(account, api_version="2024-10-21")
    assert stable.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        stable.fine_tuning.jobs.pause("ftjob-x")


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_files_per_account_limit(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconciler.emulator.files.MAX_FILES", 2)
    for index in range(2):
        client.files.create(
            file=(f"{index}.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
        )
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(
            file=("2.jsonl", chat_lines(), "application/jsonl"), purpose="fine-tune"
        )
    assert caught.value.code == "quotaExceeded"
