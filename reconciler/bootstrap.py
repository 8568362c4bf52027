"""Connecting to the cloud: real Azure, the emulator at $FTOPS_EMULATOR_URL, or an embedded
emulator started for the command, its state under `.ftops/emulator/` so that `plan`, `apply` and
`status` in separate processes see one world."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDKs take a second to import: `ftops validate` never needs them
    from reconciler.desired import DesiredState
    from reconciler.providers.azure import AzureProvider
    from reconciler.specs.models import MLWorkspaceSpec

EMULATOR_URL_ENV = "FTOPS_EMULATOR_URL"


@contextmanager
def connected(desired: DesiredState, *, emulator: bool, state_dir: Path) -> Iterator[Any]:
    """The provider for the desired state's accounts and hub projects (its MLWorkspaces, read
    like accounts), which also reaches the workspaces runs are placed on; None when there are
    none of them (local runs only): then neither the SDKs nor an emulator are loaded."""
    accounts, hubs, project = desired.accounts, desired.hubs, desired.project
    workspaces = desired.placed_workspaces
    if not accounts and not workspaces and not hubs:
        yield None
        return
    from reconciler.providers.azure import AzureProvider

    if not emulator:
        yield _routed(AzureProvider(accounts), hubs, project, None, state_dir.parent)
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
        if workspaces or hubs:
            from reconciler.providers.azureml import ensure_emulator_workspaces

            ensure_emulator_workspaces(url, workspaces | hubs)
        yield _routed(provider, hubs, project, url, state_dir.parent)
    finally:
        if handle is not None:
            handle.stop()


def _routed(
    provider: AzureProvider,
    hubs: dict[str, MLWorkspaceSpec],
    project: str,
    url: str | None,
    root: Path,
) -> Any:
    """The accounts' provider, with the hub projects' beside it where there are any (`root`:
    the repository, whose run directories hold the adapters online endpoints serve)."""
    if not hubs:
        return provider
    need_azure_ml("fine-tunes and endpoints in an ML workspace (workspace:)")
    from reconciler.providers.hub import HubProvider, RoutedCloud

    hub = HubProvider(hubs, project=project, emulator_url=url, root=root)
    return RoutedCloud(provider, hub)


def need_azure_ml(what: str) -> None:
    import importlib.util

    from reconciler.errors import FtopsError

    if importlib.util.find_spec("azure.ai.ml") is None:
        raise FtopsError(
            f"{what} need the Azure ML SDK",
            code="AML_SDK_MISSING",
            hint="pip install 'ftops[azureml]'",
        )
