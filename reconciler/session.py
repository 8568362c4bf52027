"""One apply session: the workspace, a cloud provider and the local runner wired into an
`Applier`. The CLI, the tests and the benchmarks all plan and apply through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.applying import Applier, ApplyOptions, Progress
from reconciler.bootstrap import need_azure_ml
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
        need_azure_ml("runs placed on Azure ML (compute.azureML)")
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
        cloud=cloud if ws.desired.accounts or ws.desired.hubs else None,
        progress=progress,
        options=options,
        catalog=ws.catalog,
        local=local if ws.desired.local_runs else None,
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
