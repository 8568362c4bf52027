"""Helpers for the emulator's own tests: accounts, training data, the /_emulator controls."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest

BASE_MODEL = "gpt-4o-mini-2024-07-18"
RG = "rg-ftops"


class HasUrl(Protocol):
    url: str


def control(emulator: HasUrl, name: str, body: dict[str, Any] | None = None) -> Any:
    """GET (no body) or POST (body) one of the /_emulator controls."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/{name}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # loopback
        return json.loads(response.read())


def advance(emulator: HasUrl, seconds: float) -> None:
    control(emulator, "clock", {"advance_seconds": seconds})


def chat_lines(count: int = 10, marker: str = "") -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are a travel agent."},
                    {"role": "user", "content": f"Where should I go in month {i}? {marker}"},
                    {"role": "assistant", "content": f"Try destination number {i}."},
                ]
            }
        )
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def create_account(
    arm: Any, name: str, *, location: str = "eastus2", tenant: str | None = None
) -> Any:
    tags = {} if tenant is None else {"ftops-emulator-tenant": tenant}
    body = {"location": location, "kind": "OpenAI", "sku": {"name": "S0"}, "tags": tags}
    return arm.accounts.begin_create(RG, name, body).result()


@pytest.fixture
def account(arm: Any) -> str:
    create_account(arm, "acct-east")
    return "acct-east"


@pytest.fixture
def client(make_openai: Callable[..., Any], account: str) -> Any:
    return make_openai(account)


def upload_processed(
    emulator: HasUrl, client: Any, content: bytes, name: str = "train.jsonl"
) -> Any:
    uploaded = client.files.create(file=(name, content, "application/jsonl"), purpose="fine-tune")
    advance(emulator, 120)
    return client.files.retrieve(uploaded.id)


def trained_job(emulator: HasUrl, client: Any, *, suffix: str = "travel", **kwargs: Any) -> Any:
    """A succeeded job (the clock is advanced past a whole run)."""
    training_file = upload_processed(emulator, client, chat_lines())
    job = client.fine_tuning.jobs.create(
        model=kwargs.pop("model", BASE_MODEL),
        training_file=training_file.id,
        suffix=suffix,
        **kwargs,
    )
    advance(emulator, 5000)
    return client.fine_tuning.jobs.retrieve(job.id)


def deployment_body(
    model: str, *, capacity: int = 1, sku: str = "Standard", **model_extra: str
) -> dict[str, Any]:
    version = "1" if ".ft-" in model else "2024-07-18"
    return {
        "sku": {"name": sku, "capacity": capacity},
        "properties": {
            "model": {"format": "OpenAI", "name": model, "version": version, **model_extra}
        },
    }


def deploy(emulator: HasUrl, arm: Any, account: str, name: str, body: dict[str, Any]) -> Any:
    """PUT a deployment and let simulated time finish it (no real-time polling waits)."""
    arm.deployments.begin_create_or_update(RG, account, name, body, polling=False)
    advance(emulator, 300)
    return arm.deployments.get(RG, account, name)


# --- an emulator in its own process (kill -9, memory) ----------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator_process(state: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "reconciler.emulator",
        "--state",
        str(state),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_emulator/clock", timeout=1)  # loopback
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("emulator subprocess did not start")


class Url:
    """Just enough of RunningEmulator for the control helpers."""

    def __init__(self, url: str) -> None:
        self.url = url
