"""Connecting to the cloud: real Azure, the emulator at $FTOPS_EMULATOR_URL, or an embedded
emulator started for the command, its state under `.ftops/emulator/` so that `plan`, `apply` and
`status` in separate processes see one world."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SDKs take a second to import: `ftops validate` never needs them
    from reconciler.providers.azure import AzureProvider
    from reconciler.specs.models import AccountSpec, MLWorkspaceSpec

EMULATOR_URL_ENV = "FTOPS_EMULATOR_URL"


@contextmanager
def connected(
    accounts: dict[str, AccountSpec],
    *,
    emulator: bool,
    state_dir: Path,
    workspaces: dict[str, MLWorkspaceSpec] | None = None,
) -> Iterator[AzureProvider | None]:
    """The provider for `accounts` (and the Azure ML `workspaces` runs are placed on); None when
    there are neither (local runs only): then neither the SDKs nor an emulator are loaded."""
    workspaces = workspaces or {}
    if not accounts and not workspaces:
        yield None
        return
    from reconciler.providers.azure import AzureProvider

    if not emulator:
        yield AzureProvider(accounts)
        return
    url = os.environ.get(EMULATOR_URL_ENV)
    handle = None
    if not url:
        from reconciler.emulator.server import start_background

        handle = start_background(state=state_dir / "emulator" / "state.sqlite")
        url = handle.url
    try:
        provider = AzureProvider(accounts, emulator_url=url)
        provider.ensure_accounts(list(accounts))
        if workspaces:
            from reconciler.providers.azureml import ensure_emulator_workspaces

            ensure_emulator_workspaces(url, workspaces)
        yield provider
    finally:
        if handle is not None:
            handle.stop()
