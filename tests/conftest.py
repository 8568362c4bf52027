"""Shared fixtures: a real emulator on a loopback port, and the real SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.server import RunningEmulator, start_background
from tests.azurite import azurite  # noqa: F401  (session fixture: one Azurite, started on use)
from tests.helpers import SUBSCRIPTION, arm_client, openai_client

SMALL_PAGES = 2


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    # Two items a page: every ARM list the tests read crosses a nextLink.
    emu = start_background(
        state=tmp_path / "emulator.sqlite", record_bodies=True, arm_page_size=SMALL_PAGES
    )
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def arm(emulator: RunningEmulator):  # type: ignore[no-untyped-def]
    return arm_client(emulator.url, SUBSCRIPTION)


@pytest.fixture
def make_openai(emulator: RunningEmulator):  # type: ignore[no-untyped-def]
    def make(account: str, **kwargs):  # type: ignore[no-untyped-def]
        return openai_client(emulator.url, account, **kwargs)

    return make
