"""Every side effect goes through a provider: Azure (the real SDKs) or the local run directory.

`Provider` is the one interface `applying` calls; the SDK errors are translated into
`reconciler.errors.ProviderError` at this boundary, with the SDK's exception chained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from reconciler.live import AccountLive, LiveJob, LiveUsage
from reconciler.plans import DeploymentTarget, TrainJob
from reconciler.specs.models import Grader, Sku


class CloudProvider(Protocol):
    """The cloud as apply sees it: typed requests in; the wire format is the provider's."""

    def read_account(
        self,
        account: str,
        *,
        checkpoints_for: frozenset[str],
        metrics_for: frozenset[str] = frozenset(),
    ) -> AccountLive: ...

    def read_usages(self, account: str) -> dict[str, LiveUsage]: ...

    def with_progress(self, account: str, job: LiveJob) -> LiveJob: ...

    def upload_file(self, account: str, filename: str, path: Path) -> str: ...

    def create_job(self, account: str, job: TrainJob) -> LiveJob: ...

    def pause_job(self, account: str, job_id: str) -> None: ...

    def resume_job(self, account: str, job_id: str) -> None: ...

    def validate_grader(self, account: str, grader: Grader) -> str | None: ...

    def put_deployment(
        self, account: str, target: DeploymentTarget, *, capacity: int | None = None
    ) -> None: ...

    def patch_deployment_sku(self, account: str, name: str, sku: Sku) -> None: ...

    def delete_deployment(self, account: str, name: str) -> None: ...

    def delete_file(self, account: str, file_id: str) -> None: ...

    def download_file(self, account: str, file_id: str) -> bytes: ...

    def complete(self, account: str, deployment: str, messages: list[dict[str, str]]) -> str: ...
