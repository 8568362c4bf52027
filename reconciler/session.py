"""One apply session: the workspace, a cloud provider and the local runner wired into an
`Applier`. The CLI, the tests and the benchmarks all plan and apply through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.applying import Applier, ApplyOptions, Progress
from reconciler.errors import FtopsError
from reconciler.localruns import LocalRunState
from reconciler.providers import CloudProvider
from reconciler.workspace import Workspace


def applier_for(
    ws: Workspace,
    cloud: CloudProvider | None,
    progress: Progress,
    options: ApplyOptions = ApplyOptions(),
    *,
    local_env: dict[str, str] | None = None,
    on_local_progress: Callable[[str, LocalRunState], None] | None = None,
) -> Applier:
    from reconciler.providers.local import LocalRunner, LocalRuns

    here = LocalRuns(
        ws.root,
        timeout_s=options.timeout_s,
        on_progress=on_local_progress,
        runner=LocalRunner(env=local_env),
    )
    local: Any = here
    if ws.desired.placed_workspaces:
        _need_azure_ml()
        from reconciler.providers.cluster_runs import ClusterRuns, PlacedRuns

        cluster = ClusterRuns(
            ws.root,
            ws.desired.placed_workspaces,
            emulator_url=getattr(cloud, "emulator_url", None),
            project=ws.desired.project,
            timeout_s=options.timeout_s,
        )
        local = PlacedRuns(here, cluster)
    return Applier(
        desired=ws.desired,
        cloud=cloud if ws.desired.accounts else None,
        progress=progress,
        options=options,
        catalog=ws.catalog,
        local=local if ws.desired.local_runs else None,
    )


def _need_azure_ml() -> None:
    import importlib.util

    if importlib.util.find_spec("azure.ai.ml") is None:
        raise FtopsError(
            "runs placed on Azure ML (compute.azureML) need the Azure ML SDK",
            code="AML_SDK_MISSING",
            hint="pip install 'ftops[azureml]'",
        )


class Quiet:
    """A `Progress` that prints nothing and remembers the first plan (for tests and benchmarks)."""

    def __init__(self) -> None:
        self.first: Any = None

    def planned(self, plan: Any) -> None:
        self.first = self.first or plan

    def started(self, change: Any) -> None:
        pass

    def finished(self, change: Any, detail: str) -> None:
        pass

    def waiting(self, plan: Any) -> None:
        pass

    def finished_smoke_test(self, address: Any, answer: str, latency_ms: int) -> None:
        pass
