"""Azurite, the Azure Storage emulator, as a session-scoped pytest fixture.

Test modules that need it import the fixture by name:

    from tests.azurite import azurite  # noqa: F401

Azurite is the npm dev dependency pinned in the repository's `package.json`. When
`node_modules/.bin/azurite-blob` is missing the fixture runs `npm install` once (CI runs
`npm ci` before pytest); without node/npm the tests fail with a clear message rather than skip.
Only the Blob service is started, on a free loopback port, with its files in a temporary folder.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"

# Azurite's well-known development account and key: public, documented, valid only for emulators.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

START_TIMEOUT_S = 120.0  # generous: a loaded CI runner can take tens of seconds
_LISTENING = re.compile(r"successfully listens on (http://\S+)")


@dataclass(frozen=True)
class RunningAzurite:
    host: str
    port: int

    @property
    def blob_url(self) -> str:
        """The account's blob endpoint, path-style: http://127.0.0.1:PORT/devstoreaccount1."""
        return f"http://{self.host}:{self.port}/{ACCOUNT_NAME}"

    @property
    def account_name(self) -> str:
        return ACCOUNT_NAME

    @property
    def account_key(self) -> str:
        return ACCOUNT_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};"
            f"AccountKey={ACCOUNT_KEY};BlobEndpoint={self.blob_url};"
        )


def ensure_azurite_installed() -> Path:
    """`node_modules/.bin/azurite-blob`, running `npm install` once if it is missing."""
    if AZURITE_BLOB.exists():
        return AZURITE_BLOB
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(
            "Azurite is not installed and npm was not found: install Node.js (>= 20) and run "
            f"`npm ci` in {ROOT}",
            pytrace=False,
        )
    # pytest-xdist workers share the checkout: one installs, the others wait.
    with FileLock(str(Path(tempfile.gettempdir()) / "ftops-npm-install.lock")):
        if not AZURITE_BLOB.exists():
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0 or not AZURITE_BLOB.exists():
                pytest.fail(
                    f"`npm install` failed (exit {done.returncode}) while installing Azurite:\n"
                    f"{done.stderr[-4000:]}",
                    pytrace=False,
                )
    return AZURITE_BLOB


def _wait_for_url(proc: subprocess.Popen[str]) -> str:
    """Read Azurite's output until it says where it listens; drain the rest in the background."""
    found: list[str] = []
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not ready.is_set():
                lines.append(line)
                match = _LISTENING.search(line)
                if match:
                    found.append(match.group(1))
                    ready.set()
        ready.set()

    threading.Thread(target=read, name="azurite-output", daemon=True).start()
    ready.wait(START_TIMEOUT_S)
    if not found:
        proc.kill()
        pytest.fail(
            f"Azurite did not start within {START_TIMEOUT_S:.0f} s:\n{''.join(lines)[-4000:]}",
            pytrace=False,
        )
    return found[0]


def _wait_until_accepting(host: str, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_azurite(location: Path) -> tuple[subprocess.Popen[str], RunningAzurite]:
    binary = ensure_azurite_installed()
    proc = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--silent",
            "--loose",
            "--disableTelemetry",
        ],
        cwd=location,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = _wait_for_url(proc)
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    running = RunningAzurite(host=host, port=int(port))
    _wait_until_accepting(running.host, running.port)
    return proc, running


def stop_azurite(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAzurite]:
    """A running Azurite Blob service, shared by the session (each test uses its own container)."""
    proc, running = start_azurite(tmp_path_factory.mktemp("azurite"))
    try:
        yield running
    finally:
        stop_azurite(proc)
