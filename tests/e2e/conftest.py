from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from reconciler.emulator.server import RunningEmulator

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def use_emulator(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningEmulator]:
    """The CLI's --emulator talks to this test's emulator."""
    monkeypatch.setenv("FTOPS_EMULATOR_URL", emulator.url)
    yield emulator


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Copy an example into a fresh git work tree, so .ftops/ lands in the test's tmp dir."""

    def copy(name: str) -> Path:
        target = tmp_path / "repo" / name
        shutil.copytree(EXAMPLES / name, target)
        (tmp_path / "repo" / ".git").mkdir(exist_ok=True)
        monkeypatch.chdir(tmp_path / "repo")
        return target

    return copy


def stats(emulator: RunningEmulator) -> dict:  # type: ignore[type-arg]
    return httpx.get(f"{emulator.url}/_emulator/stats").json()
